"""`py-probe`: the Python test plugin (see interfaces/probe/probe.wit)."""

import os
import socket
import time

from wit_world import exports
from wit_world.imports import parser


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
