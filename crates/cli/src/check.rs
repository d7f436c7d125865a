//! `wasm-link check`: what loaded, what did not, and why.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::load::open_and_load;
use crate::with_causes;

/// The interface release a loaded plugin serves: the name it exports its
/// plug under, with its version (the directory's, or a newer one on its
/// track). A frozen group answers for its top member only.
fn print_export(loaded: &crate::load::Loaded, id: &str) {
    let Ok(head) = &loaded.head else { return };
    if let Some(health) = head.health().into_iter().find(|h| h.plugin == id) {
        println!("          exports {}", health.plug);
    }
}

/// `wasm-link check`.
pub fn run(dir: &Path, cache: Option<PathBuf>, freeze: bool) -> Result<ExitCode, String> {
    let loaded = open_and_load(dir, None, cache, freeze)?;
    let mut reasons: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut general = Vec::new();
    for error in &loaded.build_errors {
        let text = format!("{} ({})", with_causes(error), build_kind(error));
        match error.plugin() {
            Some(plugin) => reasons.entry(plugin.as_str()).or_default().push(text),
            None => general.push(text),
        }
    }
    for error in &loaded.load_errors {
        let text = format!("{} ({})", with_causes(error), load_kind(error));
        match error.plugin() {
            Some(plugin) => reasons.entry(plugin.as_str()).or_default().push(text),
            None => general.push(text),
        }
    }
    let loaded_ids: Vec<String> = match &loaded.head {
        Ok(head) => head.loaded_plugin_ids().into_iter().cloned().collect(),
        Err(_) => Vec::new(),
    };
    println!("directory: {}", dir.display());
    println!("root interface: {}", loaded.root);
    println!("plugins:");
    for (id, plug) in &loaded.plugins {
        if let Some(why) = reasons.get(id.as_str()) {
            println!("  FAILED  {id} (plug `{plug}`)");
            for reason in why {
                println!("          {reason}");
            }
        } else if let Some(group) = frozen_into(&loaded, id) {
            println!("  ok      {id} (plug `{plug}`), frozen into `{group}`");
            print_wasi(&loaded, id);
            print_capabilities(&loaded, id);
            print_export(&loaded, id);
        } else if loaded_ids.contains(id) {
            println!("  ok      {id} (plug `{plug}`)");
            print_wasi(&loaded, id);
            print_capabilities(&loaded, id);
            print_export(&loaded, id);
        } else {
            println!("  idle    {id} (plug `{plug}`): not loaded, no loaded plugin depends on it");
        }
    }
    if !loaded.dir_errors.is_empty() {
        println!("skipped files:");
        for error in &loaded.dir_errors {
            println!("  {}", with_causes(error));
        }
    }
    if !general.is_empty() {
        println!("interfaces:");
        for text in &general {
            println!("  {text}");
        }
    }
    if let (true, Ok(head)) = (freeze, &loaded.head) {
        print_frozen(head.freeze_report());
    }
    match &loaded.head {
        Ok(_) => {
            println!("result: the root `{}` can be served", loaded.root);
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            println!("result: the root `{}` cannot be served: {error}", loaded.root);
            Ok(ExitCode::FAILURE)
        }
    }
}

/// What a plugin that requested capabilities got (all it requested: a
/// plugin whose requests the policy refuses is not loaded, and its refusal
/// is under "skipped files").
fn print_capabilities(loaded: &crate::load::Loaded, id: &str) {
    if let Some(got) = loaded.capabilities.get(id) {
        println!("          approved: {}", got.describe().join(", "));
    }
}

/// The WASI a loaded plugin imports, and what that gives it: nothing
/// beyond the baseline unless its manifest grants it (see the library's
/// `dir::baseline`). Nothing when the component imports no WASI or cannot
/// be read (a remote plugin has no component).
fn print_wasi(loaded: &crate::load::Loaded, id: &str) {
    let Some((manifest, component)) = loaded.files.get(id) else { return };
    let Ok(bytes) = std::fs::read(component) else { return };
    let imports = wasi_imports(&bytes);
    if imports.is_empty() {
        return;
    }
    let grants = std::fs::read_to_string(manifest)
        .ok()
        .and_then(|text| toml::from_str::<wasm_link::dir::PluginManifest>(&text).ok())
        .map(|manifest| manifest.grants)
        .unwrap_or_default();
    let mut packages: Vec<&str> = imports.iter().map(|i| i.split('/').next().unwrap_or(i)).collect();
    packages.dedup();
    println!("          imports wasi: {}", packages.join(", "));
    let none = wasm_link::dir::Capabilities::default();
    let approved = loaded.capabilities.get(id).unwrap_or(&none);
    let (facts, granted) = wasi_facts(&imports, &grants, approved);
    if facts.is_empty() {
        return;
    }
    if granted.is_empty() {
        println!("          nothing granted: {}", facts.join(", "));
    } else {
        println!("          granted {}: {}", granted.join(", "), facts.join(", "));
    }
}

/// What a plugin importing the WASI interfaces `imports` (`cli/stdout`,
/// ...) gets with `grants` and what the policy `approved`, and the grants
/// that changed it (the approvals are printed on their own line).
fn wasi_facts(
    imports: &[String],
    grants: &[String],
    approved: &wasm_link::dir::Capabilities,
) -> (Vec<String>, Vec<String>) {
    const BASELINE: &[&str] = &["cli", "clocks", "filesystem", "io", "random", "sockets", "http", "config", "logging"];
    let imports_any = |prefixes: &[&str]| imports.iter().any(|i| prefixes.iter().any(|p| i.starts_with(p)));
    let grants_it = |grant: &str| grants.iter().any(|g| g == grant);
    let mut facts = Vec::new();
    let mut granted = Vec::new();
    if imports_any(&["cli/environment"]) {
        facts.push(if approved.env.is_empty() { "no env" } else { "env as approved" }.to_owned());
    }
    if imports_any(&["filesystem/"]) {
        facts.push(if approved.files.is_empty() { "no files" } else { "files as approved" }.to_owned());
    }
    if imports_any(&["sockets/"]) {
        facts.push("sockets refused".to_owned());
    }
    if imports_any(&["http/outgoing-handler"]) {
        facts.push(if approved.http.is_empty() { "http refused" } else { "http to approved authorities" }.to_owned());
    }
    if imports_any(&["config/"]) {
        facts.push(if approved.config.is_empty() { "no config" } else { "config as approved" }.to_owned());
    }
    if imports_any(&["logging/"]) {
        facts.push("wasi:logging to the log".to_owned());
    }
    if imports_any(&["clocks/"]) {
        if grants_it("wasi:clocks") {
            facts.push("the host's clocks".to_owned());
            granted.push("wasi:clocks".to_owned());
        } else {
            facts.push("virtual clocks".to_owned());
        }
    }
    if imports_any(&["cli/stdout", "cli/stderr"]) {
        if grants_it("stdio") {
            facts.push("the host's stdout and stderr".to_owned());
            granted.push("stdio".to_owned());
        } else {
            facts.push("stdout and stderr to the log".to_owned());
        }
    }
    // Anything else loaded only because the manifest grants it.
    for import in imports.iter().filter(|i| !BASELINE.iter().any(|b| i.split('/').next() == Some(b))) {
        let name = format!("wasi:{import}");
        if let Some(grant) = grants.iter().find(|g| name.starts_with(g.as_str())) {
            facts.push(format!("{name} as granted"));
            if !granted.contains(grant) {
                granted.push(grant.clone());
            }
        }
    }
    (facts, granted)
}

/// The WASI interfaces a component imports (`cli/environment` for
/// `wasi:cli/environment@0.2.6`), sorted, without duplicates. Only the
/// component's own imports count, not those of the modules and
/// components inside it.
fn wasi_imports(bytes: &[u8]) -> Vec<String> {
    use wasmparser::{Parser, Payload};
    let mut imports = std::collections::BTreeSet::new();
    let mut depth = 0_u32;
    for payload in Parser::new(0).parse_all(bytes) {
        let Ok(payload) = payload else { break };
        match payload {
            Payload::Version { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 1 => {
                for import in reader.into_iter().filter_map(Result::ok) {
                    if let Some(rest) = import.name.name.strip_prefix("wasi:") {
                        imports.insert(rest.split('@').next().unwrap_or(rest).to_owned());
                    }
                }
            }
            _ => {}
        }
    }
    imports.into_iter().collect()
}

/// The group a plugin was frozen into, when it was.
fn frozen_into<'a>(loaded: &'a crate::load::Loaded, plugin: &str) -> Option<&'a str> {
    let head = loaded.head.as_ref().ok()?;
    let group = head.freeze_report().groups.iter().find(|group| group.members.iter().any(|m| m == plugin))?;
    Some(group.plugin.as_str())
}

/// `--freeze`: each group composed, each `ExactlyOne` edge left dynamic.
fn print_frozen(report: &wasm_link::FreezeReport<String, String>) {
    println!("frozen:");
    if report.groups.is_empty() {
        println!("  no group");
    }
    for group in &report.groups {
        println!("  `{}`: {}", group.plugin, group.members.join(" + "));
        for (consumer, interface, provider) in &group.edges {
            println!("          {consumer} -> {interface} -> {provider}");
        }
    }
    if !report.dynamic.is_empty() {
        println!("left dynamic:");
        for edge in &report.dynamic {
            println!("  {} -> {}: {}", edge.consumer, edge.interface, edge.reason);
        }
    }
}

fn build_kind(error: &wasm_link::PluginTreeError<String, String>) -> &'static str {
    use wasm_link::PluginTreeError as E;
    match error {
        E::UnknownPlug { .. } => "unknown plug",
        E::DuplicatePlugin { .. } | E::DuplicateInterface { .. } => "duplicate",
        _ => "metadata",
    }
}

fn load_kind(error: &wasm_link::LoadError<String, String>) -> &'static str {
    use wasm_link::LoadError as E;
    match error {
        E::Component { source, .. } => {
            if source.to_string().contains("does not match its plug") {
                "type mismatch"
            } else {
                "compile error"
            }
        }
        E::MissingExport { .. } | E::SignatureMismatch { .. } | E::SocketSignature { .. } | E::SocketImport { .. } => {
            "type mismatch"
        }
        E::SocketUnavailable { .. } | E::UnknownSocket { .. } => "missing socket",
        E::DependencyCycle { .. } => "cycle",
        E::NotGranted { .. } => "not granted",
        E::CardinalityNotMet { .. } => "cardinality",
        E::Link { .. } | E::Instantiate { .. } => "instantiation",
        _ => "load",
    }
}
