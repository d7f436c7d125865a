//! `wasm-link check`: what loaded, what did not, and why.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::load::open_and_load;
use crate::with_causes;

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
        } else if loaded_ids.contains(id) {
            println!("  ok      {id} (plug `{plug}`)");
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
