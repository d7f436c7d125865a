"""`py-probe`: the Python test plugin (see interfaces/probe/probe.wit)."""

import os
import socket
import time

from wit_world import exports
from wit_world.imports import parser, store
from wit_world.imports import outgoing_handler, streams
from wit_world.imports import types as http
from componentize_py_types import Err


def http_get(url: str) -> str:
    """A GET with `wasi:http` (CPython's `urllib` needs sockets, which
    plugins never get): `<status> <body>`, at most 4 KiB of it kept."""
    scheme, _, rest = url.partition("://")
    authority, _, path = rest.partition("/")
    request = http.OutgoingRequest(http.Fields())
    request.set_scheme(http.Scheme_Https() if scheme == "https" else http.Scheme_Http())
    request.set_authority(authority)
    request.set_path_with_query("/" + path)
    try:
        future = outgoing_handler.handle(request, None)
    except Err as e:
        return f"refused: {e.value}"
    with future:
        with future.subscribe() as pollable:
            pollable.block()
        result = future.get()
    if result is None or isinstance(result, Err):
        return "refused: no response"
    if isinstance(result.value, Err):
        return f"refused: {result.value.value}"
    with result.value.value as response:
        status = response.status()
        if 300 <= status < 400:
            with response.headers() as headers:
                location = b"".join(headers.get("location")).decode()
            return f"{status} -> {location}"
        with response.consume() as body:
            with body.stream() as stream:
                kept, read = b"", 0
                while True:
                    try:
                        chunk = stream.blocking_read(64 << 10)
                    except Err as e:
                        if isinstance(e.value, streams.StreamError_Closed):
                            break
                        # wasmtime-wasi-http 48 gives no `error-code` for a
                        # body that failed: its debug string names the cause.
                        code = http.http_error_code(e.value.value)
                        cause = code if code is not None else e.value.value.to_debug_string()
                        return f"refused: {cause} after {read} bytes of the body"
                    read += len(chunk)
                    kept += chunk[: max(0, 4096 - len(kept))]
    return f"{status} {kept.decode(errors='replace')}"


class Probe(exports.Probe):
    def edit(self, source: str) -> list[str]:
        doc = parser.parse(source)
        doc.set_paragraphs(doc.paragraphs() + ["edited in Python"])
        return doc.paragraphs()

    def add(self, a: int, b: int) -> int:
        return (a + b) & 0xFFFFFFFF

    def fail(self, message: str) -> int:
        raise ValueError(message)

    def spin(self) -> int:
        n = 0
        while True:
            n += 1

    def hog(self) -> int:
        kept = []
        while True:
            kept.append(bytearray(1 << 20))

    def read_file(self, path: str) -> str:
        try:
            with open(path) as f:
                return f.read()
        except OSError as e:
            return f"refused: {type(e).__name__}: {e}"

    def write_file(self, path: str, text: str) -> str:
        try:
            with open(path, "w") as f:
                f.write(text)
            return "written"
        except OSError as e:
            return f"refused: {type(e).__name__}: {e}"

    def read_env(self, name: str) -> str:
        value = os.environ.get(name)
        return "unset" if value is None else value

    def connect(self, host: str, port: int) -> str:
        # The host as bytes: a str would need the `idna` codec, which the
        # component does not carry.
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.connect((host.encode(), port))
            return "connected"
        except OSError as e:
            return f"refused: {type(e).__name__}: {e}"

    def sleep(self, ms: int) -> int:
        start = time.monotonic_ns()
        time.sleep(ms / 1000)
        return (time.monotonic_ns() - start) // 1_000_000

    def wall_clock(self) -> int:
        return int(time.time())

    def print(self, line: str) -> int:
        print(line)
        os.write(2, (line + "\n").encode())
        return len(line)

    def http_get(self, url: str) -> str:
        return http_get(url)

    def config(self, key: str) -> str:
        try:
            value = store.get(key)
        except Err as e:
            return f"refused: {e.value}"
        return "unset" if value is None else value
