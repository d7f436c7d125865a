// `js-probe`: the JavaScript test plugin (see interfaces/probe/probe.wit).

import { parse } from "demo:parser/parser@0.1.0";

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
    // StarlingMonkey has no file API: what a script can reach is `fetch`.
    try {
      return typeof globalThis.require === "function" ? String(globalThis.require("fs").readFileSync(path)) : "refused: no file API";
    } catch (e) {
      return `refused: ${e}`;
    }
  },
  writeFile(path, text) {
    return "refused: no file API";
  },
  readEnv(name) {
    const env = globalThis.process?.env;
    return env && name in env ? String(env[name]) : "unset";
  },
  connect(host, port) {
    // No socket API in StarlingMonkey; `fetch` is the way out, and its
    // `wasi:http` import is not built in (`--disable http`).
    try {
      const pending = fetch(`http://${host}:${port}/`);
      return `refused: fetch gave ${pending} and never completes`;
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
};
