//! `wasm-link new`: a plugin folder with sources that build.
//!
//! Writes `plugins/ID/plugin.toml` and `wit/world.wit` (the world
//! `wasm-link wit` prints: the plug exported, each socket imported in its
//! cardinality's plain shape, only the packages it uses), and beside them
//! the plugin's sources in its language:
//!
//! - Rust (the default): a crate, `Cargo.toml` (wit-bindgen, the guests'
//!   release profile) and `src/lib.rs` implementing every export of the
//!   plug with `todo!()` bodies, signatures as the crate's own wit-bindgen
//!   will expect them (taken from its stub implementations).
//! - Python: `app.py` (and a module per exported interface with resources)
//!   in the signatures of componentize-py's bindings, each body raising
//!   `NotImplementedError` (see [`crate::python`]).
//! - JavaScript: `app.js`, an ES module exporting the plug's object, each
//!   function throwing (see [`crate::javascript`]).

use std::path::Path;
use std::process::ExitCode;

use wasm_link::InterfaceData;
use wasm_link::dir::{DirOptions, PluginDir};
use wasm_link_toolchain::Language;

use crate::with_causes;

/// The wit-bindgen the generated crate depends on: the one whose stubs give
/// its signatures.
const WIT_BINDGEN: &str = "0.61.1";

/// `wasm-link new`: plugin `id` of `dir` in `language`.
pub fn run(dir: &Path, id: &str, plug: &str, sockets: &[String], language: Language) -> Result<ExitCode, String> {
    if !valid_id(id) {
        return Err(format!(
            "`{id}` is not a plugin id: use lowercase letters, digits and single dashes, starting with a \
             letter, and not a word WIT, Rust or Cargo keeps (`list`, `type`, `test`, ...)"
        ));
    }
    let plugin_dir = PluginDir::open(dir, &DirOptions::default())
        .map_err(|e| format!("cannot open `{}`: {}", dir.display(), with_causes(&e)))?;
    let folder = dir.join("plugins").join(id);
    if plugin_dir.plugins.iter().any(|p| p.plugin_id() == id)
        || crate::wit::unbuilt(&plugin_dir.errors, id).is_some()
        || folder.exists()
    {
        return Err(format!("`{}` already has a plugin `{id}`", dir.display()));
    }
    let known: Vec<&str> = plugin_dir.interfaces.iter().filter_map(|i| i.id().ok().map(String::as_str)).collect();
    let find = |name: &str| {
        plugin_dir
            .interfaces
            .iter()
            .find(|i| i.id().is_ok_and(|i| i == name))
            .ok_or_else(|| format!("`{}` has no interface `{name}` (it has: {})", dir.display(), known.join(", ")))
    };
    let plug_interface = find(plug)?;
    let socket_interfaces = sockets.iter().map(|s| find(s)).collect::<Result<Vec<_>, _>>()?;
    let world = crate::wit::world(id, plug_interface, &socket_interfaces)?;
    if language != Language::Rust {
        let socket_names: Vec<&str> = socket_interfaces.iter().filter_map(|s| s.package_name().ok()).collect();
        let missing = imported_besides(&world, id, &socket_names)?;
        if !missing.is_empty() {
            // Named by their ids in the directory where they have one.
            let ids: Vec<&str> = missing
                .iter()
                .map(|name| {
                    let known = plugin_dir.interfaces.iter().find(|i| i.package_name().is_ok_and(|n| n == name));
                    known.and_then(|i| i.id().ok()).map_or(name.as_str(), String::as_str)
                })
                .collect();
            let flags: Vec<String> = ids.iter().map(|id| format!("--socket {id}")).collect();
            return Err(format!(
                "the plug `{plug}` uses types of {}, which its world then imports: a {language} plugin imports \
                 such interfaces whole (its componentizer keeps every function of them), and a plugin may \
                 import only its sockets. Add them as sockets ({}), or write it in Rust",
                ids.iter().map(|id| format!("`{id}`")).collect::<Vec<_>>().join(", "),
                flags.join(" ")
            ));
        }
    }
    // The sources, each a path relative to the plugin folder and its text.
    let sources: Vec<(String, String)> = match language {
        Language::Rust => {
            vec![("Cargo.toml".to_owned(), cargo_toml(id)), ("src/lib.rs".to_owned(), stubs(&world, id)?)]
        }
        Language::Python => crate::python::files(&crate::build::toolchains(dir), &world, id)?,
        Language::JavaScript => vec![("app.js".to_owned(), crate::javascript::app(&world, id)?)],
    };
    let manifest = format!(
        "id = \"{id}\"\nplug = \"{plug}\"\nsockets = [{}]\ncomponent = \"{id}.wasm\"\n",
        sockets.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", ")
    );
    let write = |path: &Path, text: &str| {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("cannot create `{}`: {e}", parent.display()))?;
        }
        std::fs::write(path, text).map_err(|e| format!("cannot write `{}`: {e}", path.display()))
    };
    // Written aside, then renamed into place: a failure leaves no half-made
    // plugin (which would block a retry, and which a running watch would see).
    let staging = dir.join("plugins").join(format!(".{id}.new"));
    let _ = std::fs::remove_dir_all(&staging);
    let written = (|| {
        write(&staging.join("wit/world.wit"), &world)?;
        for (path, text) in &sources {
            write(&staging.join(path), text)?;
        }
        write(&staging.join("plugin.toml"), &manifest)?;
        std::fs::rename(&staging, &folder).map_err(|e| format!("cannot create `{}`: {e}", folder.display()))
    })();
    if let Err(error) = written {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(error);
    }
    println!("created {language} plugin `{id}` in {}", folder.display());
    println!("next:");
    println!("  1. implement its exports in {}", folder.join(language.source()).display());
    println!("  2. wasm-link build {} {id}", dir.display());
    println!("  3. wasm-link check {}", dir.display());
    Ok(ExitCode::SUCCESS)
}

/// The interfaces the world of plugin `id` imports besides its `sockets`
/// (full names, `demo:parser/parser@0.1.0`): those whose types its plug
/// uses, brought in by the world's elaboration. The runtime's own types
/// (`wasm-link:runtime`) are every plugin's.
fn imported_besides(world_text: &str, id: &str, sockets: &[&str]) -> Result<Vec<String>, String> {
    let mut resolve = wit_parser::Resolve::new();
    let package = resolve.push_str("world.wit", world_text).map_err(|e| format!("the world does not parse: {e:#}"))?;
    let world = resolve.select_world(&[package], Some(&crate::wit::world_name(id))).map_err(|e| format!("{e:#}"))?;
    let mut names = Vec::new();
    for item in resolve.worlds[world].imports.values() {
        let wit_parser::WorldItem::Interface { id: interface, .. } = item else { continue };
        let Some(name) = resolve.id_of(*interface) else { continue };
        if !sockets.contains(&name.as_str()) && !name.starts_with("wasm-link:runtime/") {
            names.push(name);
        }
    }
    Ok(names)
}

/// Lowercase letters, digits and single dashes, starting with a letter: a
/// folder name, a crate name and a WIT world name at once.
fn valid_id(id: &str) -> bool {
    // Words WIT, Rust or Cargo keep for themselves: a world, crate or
    // library of that name does not build.
    const RESERVED: &[&str] = &[
        "as",
        "async",
        "bool",
        "borrow",
        "char",
        "constructor",
        "core",
        "crate",
        "enum",
        "export",
        "f32",
        "f64",
        "flags",
        "fn",
        "func",
        "import",
        "include",
        "interface",
        "list",
        "option",
        "own",
        "package",
        "record",
        "resource",
        "result",
        "s16",
        "s32",
        "s64",
        "s8",
        "self",
        "static",
        "std",
        "string",
        "super",
        "test",
        "tuple",
        "type",
        "u16",
        "u32",
        "u64",
        "u8",
        "use",
        "variant",
        "with",
        "world",
    ];
    !RESERVED.contains(&id)
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && !id.ends_with('-')
        && !id.contains("--")
        && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// The crate's manifest: a `cdylib` with wit-bindgen, standing alone (not in
/// an enclosing workspace), with the release profile the demo's guests use
/// (so that a shared target directory reuses their dependencies).
fn cargo_toml(id: &str) -> String {
    format!(
        r#"[package]
name = "{id}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
wit-bindgen = {{ version = "={WIT_BINDGEN}", default-features = false, features = ["macros", "realloc"] }}

# A crate of its own, even inside another workspace's folders.
[workspace]

[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
panic = "abort"
strip = true
"#
    )
}

/// `src/lib.rs`: the bindings, and every export of the world implemented
/// with `todo!()` bodies, in the signatures wit-bindgen's stubs have.
fn stubs(world_text: &str, id: &str) -> Result<String, String> {
    use wit_bindgen_core::WorldGenerator;
    use wit_bindgen_core::wit_parser::Resolve;
    let mut resolve = Resolve::new();
    let package = resolve.push_str("world.wit", world_text).map_err(|e| format!("the world does not parse: {e:#}"))?;
    let world = resolve.select_world(&[package], Some(id)).map_err(|e| format!("{e:#}"))?;
    let mut files = wit_bindgen_core::Files::default();
    let opts = wit_bindgen_rust::Opts { stubs: true, generate_all: true, ..Default::default() };
    // wit-bindgen asserts its own invariants with panics: one must not take
    // the command down.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| opts.build().generate(&mut resolve, world, &mut files)))
        .map_err(|_| "wit-bindgen could not generate the bindings".to_owned())?
        .map_err(|e| format!("wit-bindgen: {e:#}"))?;
    let bindings = files.iter().map(|(_, bytes)| String::from_utf8_lossy(bytes).into_owned()).collect::<String>();
    let mut items = String::new();
    for block in stub_impls(&bindings) {
        let block = block
            .replace("for Stub", "for Plugin")
            .replace("= Stub;", "= Plugin;")
            .replace("unreachable!()", "todo!()")
            .replace("_rt::String", "String")
            .replace("_rt::Vec", "Vec");
        items.push_str(&block);
        items.push('\n');
    }
    items.push_str("export!(Plugin);\n");
    // The items formatted as rustfmt would (as written when they do not
    // parse), a blank line between them.
    let items = syn::parse_file(&items).map_or(items, |file| prettyplease::unparse(&file));
    let mut out = format!(
        "//! Plugin `{id}`. Its world is `wit/world.wit` (from `wasm-link wit`); build it\n\
         //! with `wasm-link build DIR {id}`.\n\n\
         wit_bindgen::generate!({{\n    path: \"wit\",\n    world: \"wasm-link:scaffold/{id}\",\n    generate_all,\n}});\n\n\
         /// The plugin.\nstruct Plugin;\n"
    );
    for line in items.lines() {
        if line.starts_with("impl") || line.starts_with("export!") {
            out.push('\n');
        }
        out.push_str(line);
        out.push('\n');
    }
    Ok(out)
}

/// The `impl ... for Stub { ... }` blocks of generated bindings, each from
/// its first line to its closing brace.
fn stub_impls(bindings: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<(String, i64)> = None;
    let mut indent = 0;
    for line in bindings.lines() {
        let trimmed = line.trim_start();
        if current.is_none() && trimmed.starts_with("impl ") && trimmed.contains(" for Stub") {
            current = Some((String::new(), 0));
            indent = line.len() - trimmed.len();
        }
        if let Some((block, depth)) = current.as_mut() {
            block.push_str(line.get(indent.min(line.len() - trimmed.len())..).unwrap_or(trimmed));
            block.push('\n');
            *depth += i64::try_from(line.matches('{').count()).unwrap_or(0);
            *depth -= i64::try_from(line.matches('}').count()).unwrap_or(0);
            if *depth <= 0
                && line.contains('}')
                && let Some((block, _)) = current.take()
            {
                blocks.push(block);
            }
        }
    }
    blocks
}
