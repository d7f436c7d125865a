// `js-probe`: the JavaScript test plugin (see interfaces/probe/probe.wit).

import { parse } from "demo:parser/parser@0.1.0";
import { get as configGet } from "wasi:config/store@0.2.0-rc.1";
import { getEnvironment } from "wasi:cli/environment@0.2.12";
import { getDirectories } from "wasi:filesystem/preopens@0.2.12";

// StarlingMonkey has no file or environment API: a script reaches the
// directories and variables the host approved through WASI's own imports.
function open(path, flags, openFlags) {
  for (const [descriptor, guest] of getDirectories()) {
    const prefix = guest.endsWith("/") ? guest : `${guest}/`;
    if (path.startsWith(prefix)) {
      return descriptor.openAt({}, path.slice(prefix.length), openFlags, flags);
    }
  }
  throw new Error("no-entry: no approved directory holds it");
}

function why(e) {
  return e && e.payload !== undefined ? String(e.payload) : String(e);
}

export const probe = {
  edit(source) {
    const doc = parse(source);
    doc.setParagraphs([...doc.paragraphs(), "edited in JavaScript"]);
    return doc.paragraphs();
  },
  add(a, b) {
    return (a + b) >>> 0;
  },
  fail(message) {
    throw new Error(message);
  },
  spin() {
    let n = 0;
    for (;;) {
      n += 1;
    }
  },
  hog() {
    const kept = [];
    for (;;) {
      kept.push(new Uint8Array(1 << 20).fill(1));
    }
  },
  readFile(path) {
    try {
      const file = open(path, { read: true }, {});
      const [bytes] = file.read(1n << 20n, 0n);
      return new TextDecoder().decode(bytes);
    } catch (e) {
      return `refused: ${why(e)}`;
    }
  },
  writeFile(path, text) {
    try {
      const file = open(path, { write: true }, { create: true, truncate: true });
      file.write(new TextEncoder().encode(text), 0n);
      return "written";
    } catch (e) {
      return `refused: ${why(e)}`;
    }
  },
  readEnv(name) {
    const found = getEnvironment().find(([key]) => key === name);
    return found ? found[1] : "unset";
  },
  async connect(host, port) {
    // No socket API in StarlingMonkey: `fetch` is the one way out, and it
    // passes the host's HTTP gate.
    try {
      await fetch(`http://${host}:${port}/`);
      return "connected";
    } catch (e) {
      return `refused: ${e}`;
    }
  },
  sleep(ms) {
    // JavaScript has no blocking sleep: the clock read across nothing.
    const start = performance.now();
    return BigInt(Math.round(performance.now() - start));
  },
  wallClock() {
    return BigInt(Math.floor(Date.now() / 1000));
  },
  print(line) {
    console.log(line);
    console.error(line);
    return line.length;
  },
  // StarlingMonkey's `fetch` over `wasi:http`; an async export runs the
  // event loop until its promise settles.
  async httpGet(url) {
    try {
      const response = await fetch(url, { redirect: "manual" });
      if (response.status >= 300 && response.status < 400) {
        return `${response.status} -> ${response.headers.get("location")}`;
      }
      const reader = response.body.getReader();
      let kept = "";
      let read = 0;
      const decoder = new TextDecoder();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        read += value.length;
        if (kept.length < 4096) kept += decoder.decode(value).slice(0, 4096 - kept.length);
      }
      return `${response.status} ${kept}`;
    } catch (e) {
      return `refused: ${e}`;
    }
  },
  config(key) {
    try {
      const value = configGet(key);
      return value === undefined || value === null ? "unset" : value;
    } catch (e) {
      return `refused: ${JSON.stringify(e)}`;
    }
  },
};
