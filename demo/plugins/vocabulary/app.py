"""Plugin `vocabulary`, in Python: how varied the document's words are.

Its world is `wit/world.wit` (from `wasm-link wit`); build it with
`wasm-link build DIR vocabulary`.
"""

from wit_world import exports
from wit_world.exports.analyser import Metric
from wit_world.imports.parser import Document


class Analyser(exports.Analyser):
    def analyse(self, doc: Document) -> list[Metric]:
        words = [w.strip(".,;:!?()[]\"'`").lower() for p in doc.paragraphs() for w in p.split()]
        words = [w for w in words if w]
        distinct = set(words)
        longest = max(distinct, key=len, default="")
        return [
            Metric("distinct words", float(len(distinct))),
            Metric("lexical diversity", round(len(distinct) / len(words), 2) if words else 0.0),
            Metric("longest word", float(len(longest))),
        ]
