// Plugin `code-spans`, in JavaScript: marks the names of programs as code
// (in their own spelling, whatever a transform before it capitalized).
//
// Its world is `wit/world.wit` (from `wasm-link wit`); build it with
// `wasm-link build DIR code-spans`.

const NAMES = /(?<![`\w-])(wasm-link|wasmtime)(?![`\w-])/gi;

export const transform = {
  apply(doc) {
    let marked = 0;
    const paragraphs = doc.paragraphs().map((paragraph) =>
      paragraph.replace(NAMES, (name) => {
        marked += 1;
        return "`" + name.toLowerCase() + "`";
      }),
    );
    doc.setParagraphs(paragraphs);
    return `marked ${marked} program name(s) as code`;
  },
};
