//! `wasm-link new --lang python`: an `app.py` (and a module per exported
//! interface with resources) whose classes have exactly the signatures
//! componentize-py expects, every body raising `NotImplementedError`.
//!
//! The signatures are componentize-py's own: its bindings of the plugin's
//! world (`componentize-py bindings`) hold a `Protocol` class per exported
//! interface (in `wit_world/exports/__init__.py`) and per exported resource
//! (in `wit_world/exports/<interface>.py`). Each becomes a class of the
//! app deriving from it, its abstract methods kept with their annotations
//! and docstrings. componentize-py takes an exported interface's class from
//! the app module, and the classes of its resources from a top-level module
//! named after the interface, beside the app.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use wasm_link_toolchain::Toolchains;

/// Modules the bindings import: an exported interface with resources must
/// not be named like one (see [`files`]).
const TAKEN: &[&str] =
    &["abc", "componentize_py_types", "dataclasses", "enum", "os", "sys", "types", "typing", "weakref", "wit_world"];

/// The files of a new Python plugin `id` (name relative to the plugin
/// folder, text), from componentize-py's bindings of `world_text`.
pub fn files(toolchains: &Toolchains, world_text: &str, id: &str) -> Result<Vec<(String, String)>, String> {
    let temp = tempfile::tempdir().map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let wit = temp.path().join("wit");
    let out = temp.path().join("bindings");
    std::fs::create_dir_all(&wit).map_err(|e| format!("cannot create `{}`: {e}", wit.display()))?;
    std::fs::write(wit.join("world.wit"), world_text).map_err(|e| format!("cannot write the world: {e}"))?;
    toolchains
        .python_bindings(&wit, &crate::wit::world_name(id), &out)
        .map_err(|e| format!("cannot generate the Python bindings: {e}"))?;
    let bindings = Bindings::read(&out.join("wit_world"))?;
    // componentize-py finds an exported interface's resources in a
    // top-level module of the interface's name: named like a module the
    // bindings themselves import, it would hide that module.
    for (module, text) in &bindings.export_modules {
        if TAKEN.contains(&module.as_str()) && text.contains("class ") && text.contains("(Protocol)") {
            return Err(format!(
                "the plug's interface `{module}` exports resources, whose classes componentize-py looks for in a \
                 module `{module}.py`, which would hide Python's own `{module}` module: rename the interface"
            ));
        }
    }
    Ok(generate(&bindings, id))
}

/// What the stubs are made from: the bindings' exports package and the
/// names of the imported interfaces' modules.
#[derive(Debug, Default)]
pub struct Bindings {
    /// `wit_world/exports/__init__.py`.
    pub exports: String,
    /// Each `wit_world/exports/<module>.py`: module name and text.
    pub export_modules: Vec<(String, String)>,
    /// The module names of `wit_world/imports/`.
    pub import_modules: Vec<String>,
}

impl Bindings {
    /// Reads the `wit_world` package componentize-py wrote.
    fn read(wit_world: &Path) -> Result<Self, String> {
        let read = |path: &Path| {
            std::fs::read_to_string(path).map_err(|e| format!("cannot read the bindings' `{}`: {e}", path.display()))
        };
        let exports_dir = wit_world.join("exports");
        let exports = read(&exports_dir.join("__init__.py"))?;
        let mut export_modules = Vec::new();
        for name in modules(&exports_dir) {
            let text = read(&exports_dir.join(format!("{name}.py")))?;
            export_modules.push((name, text));
        }
        Ok(Self { exports, export_modules, import_modules: modules(&wit_world.join("imports")) })
    }
}

/// The Python modules of a package directory, `__init__` left out, sorted.
fn modules(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.strip_suffix(".py").map(ToOwned::to_owned))
        .filter(|name| name != "__init__")
        .collect();
    names.sort();
    names
}

/// `app.py`, and `<interface>.py` for each exported interface with
/// resources. componentize-py looks for the resources of an interface
/// named `app` in module `app`: the app itself then holds them.
pub fn generate(bindings: &Bindings, id: &str) -> Vec<(String, String)> {
    let exports = PyFile::parse(&bindings.exports);
    let resource_modules: Vec<(&str, PyFile<'_>)> = bindings
        .export_modules
        .iter()
        .map(|(name, text)| (name.as_str(), PyFile::parse(text)))
        .filter(|(_, file)| !file.classes.is_empty())
        .collect();

    let mut classes = String::new();
    for class in &exports.classes {
        classes.push_str("\n\n");
        classes.push_str(&class.implement("exports", None));
    }
    let mut imports = exports.imports_used(&classes);
    imports.insert(0, Import::from("wit_world", "exports"));
    let mut see = String::new();
    for (module, file) in &resource_modules {
        if *module != "app" {
            continue;
        }
        let resources = resource_classes(module, file);
        for import in file.imports_used(&resources) {
            add(&mut imports, import);
        }
        add(&mut imports, Import::from("wit_world.exports", module));
        classes.push_str(&resources);
        see.push_str("\n\nThe resources of `app` are classes of this file too.");
    }
    for module in &bindings.import_modules {
        if !imports.iter().any(|i| i.binds(module)) {
            imports.push(Import::from("wit_world.imports", module));
        }
    }
    // The app creates the resources it returns from their own module.
    for (module, file) in resource_modules.iter().filter(|(module, _)| *module != "app") {
        let names: Vec<&str> = file.classes.iter().map(|c| c.name).collect();
        let clash = names.iter().any(|name| imports.iter().any(|i| i.binds(name)));
        if !clash {
            imports
                .push(Import { module: (*module).to_owned(), names: names.iter().map(|n| (*n).to_owned()).collect() });
        }
        let _ = write!(see, "\n\nThe resources of `{module}` are the classes of `{module}.py`, beside this\nfile.");
    }
    let app = format!(
        "\"\"\"Plugin `{id}`, in Python.\n\nIts world is `wit/world.wit` (from `wasm-link wit`); build it with\n\
         `wasm-link build DIR {id}`.{see}\n\"\"\"\n\n{}{classes}",
        print_imports(&imports)
    );
    let mut files = vec![("app.py".to_owned(), app)];
    for (module, file) in resource_modules.iter().filter(|(module, _)| *module != "app") {
        let classes = resource_classes(module, file);
        let mut imports = file.imports_used(&classes);
        imports.push(Import::from("wit_world.exports", module));
        let text = format!(
            "\"\"\"The resources plugin `{id}` exports in `{module}`: componentize-py takes\n\
             their classes from this module.\n\"\"\"\n\n{}{classes}",
            print_imports(&imports)
        );
        files.push((format!("{module}.py"), text));
    }
    files
}

/// The classes implementing the resources of the bindings' `module`.
fn resource_classes(module: &str, file: &PyFile<'_>) -> String {
    let mut classes = String::new();
    for class in &file.classes {
        classes.push_str("\n\n");
        classes.push_str(&class.implement(module, Some(&file.names)));
    }
    classes
}

/// Adds `import` to `imports`, into a statement of the same module when
/// there is one.
fn add(imports: &mut Vec<Import>, import: Import) {
    if imports.contains(&import) {
        return;
    }
    let same =
        imports.iter_mut().find(|i| i.module == import.module && !i.names.is_empty() && !import.names.is_empty());
    if let Some(existing) = same {
        for name in import.names {
            if !existing.names.contains(&name) {
                existing.names.push(name);
            }
        }
    } else {
        imports.push(import);
    }
}

/// An import statement: `from module import names` (or `import module`
/// when `names` is empty).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Import {
    module: String,
    /// Each name as written (`a` or `a as b`).
    names: Vec<String>,
}

impl Import {
    fn from(module: &str, name: &str) -> Self {
        Self { module: module.to_owned(), names: vec![name.to_owned()] }
    }

    /// Whether the statement binds `name` in the importing module.
    fn binds(&self, name: &str) -> bool {
        if self.names.is_empty() {
            return self.module == name;
        }
        self.names.iter().any(|n| bound(n) == name)
    }

    /// Parses an import line of the bindings, relative imports made
    /// absolute (the app is not inside the `wit_world` package).
    fn parse(line: &str) -> Option<Self> {
        if let Some(rest) = line.strip_prefix("from ") {
            let (module, names) = rest.split_once(" import ")?;
            let module = match module.strip_prefix("..") {
                Some("") => "wit_world".to_owned(),
                Some(inner) => format!("wit_world.{inner}"),
                None => module.to_owned(),
            };
            let names = names.split(',').map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()).collect();
            Some(Self { module, names })
        } else {
            let module = line.strip_prefix("import ")?.trim();
            (!module.contains(',')).then(|| Self { module: module.to_owned(), names: Vec::new() })
        }
    }
}

/// The name an imported item is bound to (`a as b` binds `b`).
fn bound(name: &str) -> &str {
    name.rsplit_once(" as ").map_or(name, |(_, alias)| alias.trim())
}

/// The import statements in three groups: the standard library's and
/// componentize-py's, the bindings' (`wit_world`), the plugin's own
/// modules; a blank line between groups.
fn print_imports(imports: &[Import]) -> String {
    let group = |import: &&Import| {
        let package = import.module.split('.').next().unwrap_or_default();
        match package {
            "wit_world" => 1,
            "typing" | "types" | "enum" | "dataclasses" | "abc" | "weakref" | "componentize_py_types" => 0,
            _ => 2,
        }
    };
    let mut sorted: Vec<&Import> = imports.iter().collect();
    // Stable: each group keeps the bindings' order.
    sorted.sort_by_key(group);
    let mut out = String::new();
    let mut last = None;
    for import in sorted {
        let current = group(&import);
        if last.is_some_and(|last| last != current) {
            out.push('\n');
        }
        last = Some(current);
        if import.names.is_empty() {
            let _ = writeln!(out, "import {}", import.module);
        } else {
            let _ = writeln!(out, "from {} import {}", import.module, import.names.join(", "));
        }
    }
    out
}

/// A module of the bindings: its imports, its `Protocol` classes and the
/// names it defines at its top level.
struct PyFile<'a> {
    imports: Vec<Import>,
    classes: Vec<Class<'a>>,
    names: BTreeSet<&'a str>,
}

/// A `class Name(Protocol):` block.
struct Class<'a> {
    name: &'a str,
    /// The lines after the `class` line, trailing blank lines left out.
    body: Vec<&'a str>,
}

impl<'a> PyFile<'a> {
    fn parse(text: &'a str) -> Self {
        let mut imports = Vec::new();
        let mut classes: Vec<Class<'a>> = Vec::new();
        let mut names = BTreeSet::new();
        let mut current: Option<Class<'a>> = None;
        for line in text.lines() {
            let top_level = !line.is_empty() && !line.starts_with(char::is_whitespace);
            if top_level && let Some(class) = current.take() {
                classes.push(class);
            }
            if let Some(class) = current.as_mut() {
                class.body.push(line);
                continue;
            }
            if !top_level {
                continue;
            }
            if let Some(import) = Import::parse(line) {
                imports.push(import);
            } else if let Some(rest) = line.strip_prefix("class ") {
                let name = identifier(rest);
                names.insert(name);
                if rest[name.len()..].starts_with("(Protocol):") {
                    current = Some(Class { name, body: Vec::new() });
                }
            } else {
                let name = identifier(line);
                if !name.is_empty() && line[name.len()..].trim_start().starts_with('=') {
                    names.insert(name);
                }
            }
        }
        classes.extend(current);
        for class in &mut classes {
            while class.body.last().is_some_and(|l| l.trim().is_empty()) {
                class.body.pop();
            }
        }
        Self { imports, classes, names }
    }

    /// The imports of this module that the classes in `code` use, each cut
    /// to the names they use.
    fn imports_used(&self, code: &str) -> Vec<Import> {
        // Names in signatures, decorators and base classes; not the words
        // of docstrings.
        let code_lines = code
            .lines()
            .map(str::trim_start)
            .filter(|l| l.starts_with("def ") || l.starts_with("class ") || l.starts_with('@'));
        let used: BTreeSet<&str> = code_lines.flat_map(identifiers).map(|(_, ident)| ident).collect();
        let mut kept = Vec::new();
        for import in &self.imports {
            if import.names.is_empty() {
                if used.contains(import.module.as_str()) {
                    kept.push(import.clone());
                }
                continue;
            }
            let names: Vec<String> = import.names.iter().filter(|n| used.contains(bound(n))).cloned().collect();
            if !names.is_empty() {
                kept.push(Import { module: import.module.clone(), names });
            }
        }
        kept
    }
}

impl Class<'_> {
    /// The class implementing this protocol: deriving from `module.Name`,
    /// every abstract method raising `NotImplementedError` naming itself.
    /// With `qualify`, the names a signature takes from the bindings'
    /// module bare are prefixed with `module.` (in a module of its own they
    /// would be unbound, or the app's own classes).
    fn implement(&self, module: &str, qualify: Option<&BTreeSet<&str>>) -> String {
        let mut out = format!("class {}({module}.{}):\n", self.name, self.name);
        let mut method = "";
        let mut has_body = false;
        let body = self.body.iter().skip_while(|line| line.trim().is_empty());
        for line in body {
            let trimmed = line.trim();
            if trimmed == "@abstractmethod" {
                continue;
            }
            let indent = &line[..line.len() - line.trim_start().len()];
            if let Some(rest) = trimmed.strip_prefix("def ") {
                method = identifier(rest);
            }
            if trimmed == "raise NotImplementedError" {
                let _ =
                    writeln!(out, "{indent}raise NotImplementedError(\"not yet implemented: {}.{method}\")", self.name);
                continue;
            }
            has_body |= !trimmed.is_empty();
            let line = match qualify {
                Some(names) if trimmed.starts_with("def ") => qualified(line, module, names),
                _ => (*line).to_owned(),
            };
            out.push_str(line.trim_end());
            out.push('\n');
        }
        if !has_body {
            out.push_str("    pass\n");
        }
        out
    }
}

/// `line` with each identifier of `names` not already after a `.` written
/// `module.name`.
fn qualified(line: &str, module: &str, names: &BTreeSet<&str>) -> String {
    let mut out = String::with_capacity(line.len());
    let mut last = 0;
    for (start, ident) in identifiers(line) {
        let after_dot = line[..start].ends_with('.');
        if names.contains(ident) && !after_dot {
            out.push_str(&line[last..start]);
            out.push_str(module);
            out.push('.');
            out.push_str(ident);
            last = start + ident.len();
        }
    }
    out.push_str(&line[last..]);
    out
}

/// The identifier `text` starts with (empty when none).
fn identifier(text: &str) -> &str {
    let end = text.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(text.len());
    if text.starts_with(|c: char| c.is_ascii_digit()) { "" } else { &text[..end] }
}

/// Every identifier of `text`, with its byte offset.
fn identifiers(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut rest = 0;
    std::iter::from_fn(move || {
        loop {
            let tail = text.get(rest..)?;
            let offset = tail.find(|c: char| c.is_alphabetic() || c == '_')?;
            let start = rest + offset;
            // A digit or letter run before it makes it part of a number or
            // a longer word; identifiers never start mid-word.
            let ident = identifier(&text[start..]);
            rest = start + ident.len().max(1);
            let mid_word = text[..start].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_');
            if !mid_word && !ident.is_empty() {
                return Some((start, ident));
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPORTS: &str = r#"# This file is automatically generated by componentize-py
# It is not intended for manual editing.
from typing import TypeVar, Generic, Union, Optional, Protocol, Tuple, List, Any, Self, Callable
from types import TracebackType
from abc import abstractmethod
import weakref

from componentize_py_types import Result, Ok, Err, Some
from ..imports import other
from ..exports import shapes

class Shapes(Protocol):

    @abstractmethod
    def new_canvas(self, w: int) -> shapes.Canvas:
        """
        Makes one.
        """
        raise NotImplementedError

    @abstractmethod
    def describe(self, c: shapes.Canvas) -> Optional[shapes.Metric]:
        raise NotImplementedError


"#;

    const SHAPES: &str = r"from typing import TypeVar, Generic, Union, Optional, Protocol, Tuple, List, Any, Self, Callable
from dataclasses import dataclass
from abc import abstractmethod
import weakref

from componentize_py_types import Result, Ok, Err, Some
from ..imports import other

@dataclass
class Metric:
    name: str
    value: float

Shape = Union[Shape_Circle, Shape_Square]

class Canvas(Protocol):
    
    @abstractmethod
    def __init__(self, width: int) -> None:
        raise NotImplementedError

    @classmethod
    @abstractmethod
    def make(cls, p: other.Point, s: Shape) -> Self:
        raise NotImplementedError

    @abstractmethod
    def take(self) -> List[Metric]:
        raise NotImplementedError


class Pen(Protocol):
    
    @abstractmethod
    def other(self) -> Canvas:
        raise NotImplementedError

";

    fn bindings() -> Bindings {
        Bindings {
            exports: EXPORTS.to_owned(),
            export_modules: vec![("shapes".to_owned(), SHAPES.to_owned())],
            import_modules: vec!["other".to_owned(), "sock".to_owned()],
        }
    }

    #[test]
    fn the_app_implements_each_exported_interface_with_absolute_imports() {
        let files = generate(&bindings(), "rich");
        let (name, app) = &files[0];
        assert_eq!(name, "app.py");
        assert!(app.contains("from typing import Optional\n"), "{app}");
        assert!(app.contains("from wit_world.exports import shapes\n"), "{app}");
        assert!(app.contains("from wit_world import exports\n"), "{app}");
        assert!(app.contains("from wit_world.imports import sock\n"), "every socket importable: {app}");
        assert!(app.contains("from shapes import Canvas, Pen\n"), "{app}");
        assert!(!app.contains("abstractmethod") && !app.contains("weakref") && !app.contains(".."), "{app}");
        assert!(app.contains("class Shapes(exports.Shapes):\n"), "{app}");
        assert!(app.contains("    def new_canvas(self, w: int) -> shapes.Canvas:\n        \"\"\"\n"), "{app}");
        assert!(app.contains("        raise NotImplementedError(\"not yet implemented: Shapes.describe\")\n"), "{app}");
    }

    #[test]
    fn resources_get_a_module_of_their_own_with_the_bindings_names_qualified() {
        let files = generate(&bindings(), "rich");
        let (name, shapes) = &files[1];
        assert_eq!(name, "shapes.py");
        assert!(shapes.contains("from typing import List, Self\n"), "{shapes}");
        assert!(shapes.contains("from wit_world.imports import other\n"), "{shapes}");
        assert!(shapes.contains("from wit_world.exports import shapes\n"), "{shapes}");
        assert!(shapes.contains("class Canvas(shapes.Canvas):\n"), "{shapes}");
        assert!(
            shapes.contains("    @classmethod\n    def make(cls, p: other.Point, s: shapes.Shape) -> Self:"),
            "{shapes}"
        );
        assert!(shapes.contains("def take(self) -> List[shapes.Metric]:"), "{shapes}");
        assert!(shapes.contains("def other(self) -> shapes.Canvas:"), "{shapes}");
        assert!(!shapes.contains("    \n"), "no trailing spaces: {shapes}");
    }

    #[test]
    fn the_resources_of_an_interface_named_app_live_in_the_app() {
        let bindings = Bindings {
            exports: EXPORTS.replace("shapes", "app").replace("class Shapes", "class App"),
            export_modules: vec![("app".to_owned(), SHAPES.to_owned())],
            import_modules: vec!["other".to_owned()],
        };
        let files = generate(&bindings, "rich");
        assert_eq!(files.len(), 1, "one file");
        let app = &files[0].1;
        assert!(app.contains("class App(exports.App):\n"), "{app}");
        assert!(app.contains("class Canvas(app.Canvas):\n"), "{app}");
        assert!(app.contains("from wit_world.exports import app\n"), "{app}");
        assert!(app.contains("from typing import Optional, List, Self\n"), "{app}");
        assert!(!app.contains("from app import"), "{app}");
    }

    #[test]
    fn identifiers_skip_numbers_and_attribute_names_stay_put() {
        let found: Vec<&str> = identifiers("x1 = a.b(2e5, _c)").map(|(_, i)| i).collect();
        assert_eq!(found, ["x1", "a", "b", "_c"]);
        let names = BTreeSet::from(["Metric", "b"]);
        assert_eq!(qualified("def f(m: Metric) -> a.b:", "m", &names), "def f(m: m.Metric) -> a.b:");
    }
}
