//! Capabilities: what a plugin may reach outside itself beyond the
//! baseline, *requested* by its manifest and *approved* by the host.
//!
//! A plugin's `plugin.toml` says what it needs (`[requests]`); the policy of
//! whoever runs the host says what each plugin gets (`[policy.<plugin id>]`
//! in the directory's `wasm-link.toml`, or a [`Policy`] given to
//! [`PluginDir::open_with_policy`](super::PluginDir::open_with_policy),
//! which replaces it). A plugin gets what it requested and the policy
//! approved, nothing more: an approval nobody requested is not given, and a
//! request the policy does not approve drops the plugin with
//! [`DirError::NotApproved`](super::DirError::NotApproved), naming each
//! refused capability (the rest of the tree loads).
//!
//! ```toml
//! # plugins/table-formatter/plugin.toml
//! [requests]
//! files = { "/styles" = "read" }   # a directory, by the path the plugin sees
//! env = ["TABLE_STYLE"]            # environment variables, by name
//! config = ["title-rule"]          # `wasi:config/store` keys
//! http = ["api.example.com"]       # where it sends requests: `host`, `host:port` or `host:*`
//!
//! # wasm-link.toml
//! [policy.table-formatter]
//! files = { "/styles" = { path = "styles", access = "read" } }   # relative to this directory
//! env = { TABLE_STYLE = "rounded" }                              # a value the host sets
//! env-from-host = ["LANG"]                                       # or the host's own value
//! config = { title-rule = "~" }                                  # what `wasi:config/store` answers
//! http = ["api.example.com", "127.0.0.1:*"]                      # `host` alone: ports 80 and 443 by scheme
//! http-response-bytes = 1048576                                  # the largest response body (8 MiB unset)
//! ```
//!
//! Files are wasmtime-wasi preopened directories: a plugin reaches only what
//! is under them (`..`, absolute paths and symbolic links pointing out are
//! refused by the capability-based file system, whenever they were made),
//! and a `read` grant refuses every write. Outgoing HTTP is wasmtime-wasi-http
//! behind the gate of `wasi:http` ([`MAX_HTTP_IN_FLIGHT`](super::MAX_HTTP_IN_FLIGHT)): approved authorities only, each
//! request bounded by the calling plugin's time left and a response budget.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// How much of a directory a plugin may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// List and read.
    Read,
    /// Also create, write, rename and remove.
    ReadWrite,
}

/// `[requests]` of a plugin manifest: what the plugin asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Requests {
    /// Directories, by the absolute path the plugin sees (`/styles`).
    #[serde(default)]
    pub files: BTreeMap<String, Access>,
    /// Environment variables, by name.
    #[serde(default)]
    pub env: Vec<String>,
    /// `wasi:config/store` keys.
    #[serde(default)]
    pub config: Vec<String>,
    /// Where it sends HTTP requests: `host` (ports 80 and 443, by scheme),
    /// `host:port` or `host:*`.
    #[serde(default)]
    pub http: Vec<String>,
}

impl Requests {
    /// Whether the plugin asks for nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.env.is_empty() && self.config.is_empty() && self.http.is_empty()
    }

    /// What the plugin asks for, for people: `files /styles (read), http api.example.com`.
    #[must_use]
    pub fn describe(&self) -> Vec<String> {
        let files = self.files.iter().map(|(guest, &access)| format!("files {guest} ({})", access_word(access)));
        let env = self.env.iter().map(|name| format!("env {name}"));
        let config = self.config.iter().map(|key| format!("config {key}"));
        files.chain(env).chain(config).chain(self.http.iter().map(|a| format!("http {a}"))).collect()
    }
}

/// A directory the host approves: where it is, and how much of it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DirApproval {
    /// The host directory, relative to the plugin directory's top (or
    /// absolute).
    pub path: PathBuf,
    /// The most the plugin may do there.
    pub access: Access,
}

/// What the host approves for one plugin (`[policy.<plugin id>]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Approval {
    /// Directories, by the path the plugin sees.
    #[serde(default)]
    pub files: BTreeMap<String, DirApproval>,
    /// Environment variables and the values the host gives them.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Environment variables given the host's own value.
    #[serde(default)]
    pub env_from_host: Vec<String>,
    /// `wasi:config/store` keys and their values.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Authorities the plugin may send HTTP requests to: `host` (ports 80
    /// and 443, by scheme), `host:port` or `host:*`.
    #[serde(default)]
    pub http: Vec<String>,
    /// The largest HTTP response body the plugin may receive, in bytes
    /// ([`DEFAULT_RESPONSE_BYTES`](super::DEFAULT_HTTP_RESPONSE_BYTES) unset).
    #[serde(default)]
    pub http_response_bytes: Option<u64>,
}

/// The host's policy: an [`Approval`] per plugin id. A plugin without one
/// is approved nothing.
pub type Policy = BTreeMap<String, Approval>;

impl Approval {
    /// Adds what `more` approves: its directories, variables and keys
    /// replace those of the same name, its authorities are added, its
    /// response budget replaces this one when set.
    pub fn extend(&mut self, more: Approval) {
        self.files.extend(more.files);
        self.env.extend(more.env);
        self.config.extend(more.config);
        for name in more.env_from_host {
            if !self.env_from_host.contains(&name) {
                self.env_from_host.push(name);
            }
        }
        for authority in more.http {
            if !self.http.contains(&authority) {
                self.http.push(authority);
            }
        }
        if more.http_response_bytes.is_some() {
            self.http_response_bytes = more.http_response_bytes;
        }
    }
}

/// Adds one approval written on a command line to `policy`:
/// `PLUGIN.KEY=VALUE`, where `KEY` is a field of [`Approval`] as
/// `[policy.<plugin id>]` writes it and `VALUE` a TOML value; a bare word
/// is a string, and a string where a list is expected a list of one.
///
/// ```
/// # use wasm_link::dir::{Policy, allow};
/// let mut policy = Policy::new();
/// allow(&mut policy, "summariser.http=api.example.com")?;
/// allow(&mut policy, "summariser.env={ LANG = \"C\" }")?;
/// allow(&mut policy, r#"formatter.files={ "/styles" = { path = "styles", access = "read" } }"#)?;
/// assert_eq!(policy["summariser"].http, ["api.example.com"]);
/// assert_eq!(policy["summariser"].env["LANG"], "C");
/// # Ok::<(), String>(())
/// ```
///
/// # Errors
/// The rule is not of that form, names no field of [`Approval`], or its
/// value is not of the field's type; the message says which.
pub fn allow(policy: &mut Policy, rule: &str) -> Result<(), String> {
    use serde::Deserialize as _;
    let form = || format!("`{rule}`: an approval is `PLUGIN.KEY=VALUE` (`summariser.http=api.example.com`)");
    let (target, value) = rule.split_once('=').ok_or_else(form)?;
    let (plugin, key) = target.trim().rsplit_once('.').ok_or_else(form)?;
    if plugin.is_empty() || key.is_empty() {
        return Err(form());
    }
    let value = value.trim();
    let mut parsed = format!("v = {value}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut table| table.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_owned()));
    if matches!(key, "http" | "env-from-host") && parsed.is_str() {
        parsed = toml::Value::Array(vec![parsed]);
    }
    let table: toml::Table = [(key.to_owned(), parsed)].into_iter().collect();
    let approval =
        Approval::deserialize(toml::Value::Table(table)).map_err(|e| format!("`{rule}`: {}", e.message()))?;
    policy.entry(plugin.to_owned()).or_default().extend(approval);
    Ok(())
}

/// A directory a plugin got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preopen {
    /// The path the plugin sees.
    pub guest: String,
    /// The host directory.
    pub host: PathBuf,
    /// What it may do there: what it asked for (at most what was approved).
    pub access: Access,
}

/// What a plugin got: its requests, as the policy approved them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// Preopened directories.
    pub files: Vec<Preopen>,
    /// Environment variables and their values.
    pub env: Vec<(String, String)>,
    /// `wasi:config/store` keys and their values.
    pub config: Vec<(String, String)>,
    /// Authorities it may send HTTP requests to (as it requested them).
    pub http: Vec<String>,
    /// The largest HTTP response body it may receive, in bytes.
    pub http_response_bytes: u64,
}

impl Default for Capabilities {
    fn default() -> Self {
        Self {
            files: Vec::new(),
            env: Vec::new(),
            config: Vec::new(),
            http: Vec::new(),
            http_response_bytes: super::http::DEFAULT_HTTP_RESPONSE_BYTES,
        }
    }
}

impl Capabilities {
    /// Whether the plugin got nothing beyond the baseline.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.env.is_empty() && self.config.is_empty() && self.http.is_empty()
    }

    /// What the plugin got, for people: `files /styles (read), env TABLE_STYLE`.
    #[must_use]
    pub fn describe(&self) -> Vec<String> {
        let files = self.files.iter().map(|f| format!("files {} ({})", f.guest, access_word(f.access)));
        let env = self.env.iter().map(|(name, _)| format!("env {name}"));
        let config = self.config.iter().map(|(key, _)| format!("config {key}"));
        let http = self.http.iter().map(|a| format!("http {a} (responses up to {} bytes)", self.http_response_bytes));
        files.chain(env).chain(config).chain(http).collect()
    }
}

fn access_word(access: Access) -> &'static str {
    match access {
        Access::Read => "read",
        Access::ReadWrite => "read-write",
    }
}

/// The capabilities of a plugin that requested `requests` under
/// `approval`, or every request the approval refuses, each with why.
/// `top` is the plugin directory (approved paths are relative to it);
/// `host_env` reads the host's environment.
pub(super) fn resolve(
    requests: &Requests,
    approval: Option<&Approval>,
    top: &Path,
    host_env: impl Fn(&str) -> Option<String>,
) -> Result<Capabilities, Vec<String>> {
    let empty = Approval::default();
    let approval = approval.unwrap_or(&empty);
    let mut refused = Vec::new();
    let mut got = Capabilities::default();
    for (guest, &access) in &requests.files {
        let what = format!("files {guest} ({})", access_word(access));
        if !guest.starts_with('/') || guest.split('/').any(|part| part == "..") {
            refused.push(format!("{what}: the path a plugin sees must be absolute, without `..`"));
            continue;
        }
        let Some(approved) = approval.files.get(guest) else {
            refused.push(format!("{what}: not in the policy"));
            continue;
        };
        if access > approved.access {
            refused.push(format!("{what}: the policy approves {} only", access_word(approved.access)));
            continue;
        }
        let host = top.join(&approved.path);
        match host.canonicalize() {
            Ok(host) if host.is_dir() => got.files.push(Preopen { guest: guest.clone(), host, access }),
            _ => refused.push(format!("{what}: the approved directory `{}` does not exist", host.display())),
        }
    }
    for name in &requests.env {
        if let Some(value) = approval.env.get(name) {
            got.env.push((name.clone(), value.clone()));
        } else if approval.env_from_host.contains(name) {
            match host_env(name) {
                Some(value) => got.env.push((name.clone(), value)),
                None => refused.push(format!("env {name}: approved from the host's environment, where it is not set")),
            }
        } else {
            refused.push(format!("env {name}: not in the policy"));
        }
    }
    for key in &requests.config {
        match approval.config.get(key) {
            Some(value) => got.config.push((key.clone(), value.clone())),
            None => refused.push(format!("config {key}: not in the policy")),
        }
    }
    let approved: Vec<super::http::Authority> =
        approval.http.iter().filter_map(|a| super::http::Authority::parse(a).ok()).collect();
    for asked in &requests.http {
        let what = format!("http {asked}");
        match super::http::Authority::parse(asked) {
            Err(why) => refused.push(format!("{what}: {why}")),
            Ok(authority) if approved.iter().any(|a| a.covers(&authority)) => got.http.push(authority.to_string()),
            Ok(_) => refused.push(format!("{what}: not in the policy")),
        }
    }
    got.http_response_bytes = approval.http_response_bytes.unwrap_or(super::DEFAULT_HTTP_RESPONSE_BYTES);
    if refused.is_empty() { Ok(got) } else { Err(refused) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn requests(files: &[(&str, Access)], env: &[&str]) -> Requests {
        Requests {
            files: files.iter().map(|(g, a)| ((*g).to_owned(), *a)).collect(),
            env: env.iter().map(|e| (*e).to_owned()).collect(),
            ..Requests::default()
        }
    }

    #[test]
    fn a_plugin_gets_what_it_asked_for_and_the_policy_approved_and_no_more() {
        let top = tempfile::tempdir().unwrap();
        std::fs::create_dir(top.path().join("styles")).unwrap();
        let approval = Approval {
            files: [("/styles".to_owned(), DirApproval { path: "styles".into(), access: Access::ReadWrite })].into(),
            env: [("STYLE".to_owned(), "rounded".to_owned()), ("UNASKED".to_owned(), "x".to_owned())].into(),
            env_from_host: vec!["LANG".to_owned()],
            ..Approval::default()
        };
        let got =
            resolve(&requests(&[("/styles", Access::Read)], &["STYLE", "LANG"]), Some(&approval), top.path(), |_| {
                Some("C".to_owned())
            })
            .unwrap();
        assert_eq!(got.files.len(), 1);
        assert_eq!(got.files[0].access, Access::Read, "what it asked for, not the most approved");
        assert_eq!(got.env, [("STYLE".to_owned(), "rounded".to_owned()), ("LANG".to_owned(), "C".to_owned())]);
    }

    #[test]
    fn every_refused_request_is_named_with_why() {
        let top = tempfile::tempdir().unwrap();
        std::fs::create_dir(top.path().join("styles")).unwrap();
        let approval = Approval {
            files: [
                ("/styles".to_owned(), DirApproval { path: "styles".into(), access: Access::Read }),
                ("/gone".to_owned(), DirApproval { path: "gone".into(), access: Access::Read }),
            ]
            .into(),
            env: BTreeMap::new(),
            env_from_host: vec!["UNSET".to_owned()],
            ..Approval::default()
        };
        let asked = requests(
            &[
                ("/styles", Access::ReadWrite),
                ("/gone", Access::Read),
                ("/other", Access::Read),
                ("/a/../b", Access::Read),
            ],
            &["SECRET", "UNSET"],
        );
        let refused = resolve(&asked, Some(&approval), top.path(), |_| None).unwrap_err();
        let text = refused.join("\n");
        for expected in [
            "files /styles (read-write): the policy approves read only",
            "files /gone (read): the approved directory",
            "files /other (read): not in the policy",
            "files /a/../b (read): the path a plugin sees must be absolute, without `..`",
            "env SECRET: not in the policy",
            "env UNSET: approved from the host's environment, where it is not set",
        ] {
            assert!(text.contains(expected), "`{expected}` in:\n{text}");
        }
    }

    #[test]
    fn configuration_and_http_are_given_as_asked_within_the_policy() {
        let top = tempfile::tempdir().unwrap();
        let approval = Approval {
            config: [("rule".to_owned(), "~".to_owned()), ("secret".to_owned(), "x".to_owned())].into(),
            http: vec!["127.0.0.1:*".to_owned(), "api.example.com".to_owned()],
            http_response_bytes: Some(1024),
            ..Approval::default()
        };
        let asked = Requests {
            config: vec!["rule".to_owned()],
            http: vec!["127.0.0.1:8080".to_owned(), "API.example.com".to_owned()],
            ..Requests::default()
        };
        let got = resolve(&asked, Some(&approval), top.path(), |_| None).unwrap();
        assert_eq!(got.config, [("rule".to_owned(), "~".to_owned())], "only the keys it asked for");
        assert_eq!(got.http, ["127.0.0.1:8080", "api.example.com"], "what it asked for, not the wider approval");
        assert_eq!(got.http_response_bytes, 1024);

        let wider = Requests {
            config: vec!["other".to_owned()],
            http: vec!["api.example.com:8443".to_owned(), "10.0.0.1".to_owned(), "not a host".to_owned()],
            ..Requests::default()
        };
        let text = resolve(&wider, Some(&approval), top.path(), |_| None).unwrap_err().join("\n");
        for expected in [
            "config other: not in the policy",
            "http api.example.com:8443: not in the policy",
            "http 10.0.0.1: not in the policy",
            "http not a host: `not a host` is not `host`, `host:port` or `host:*`",
        ] {
            assert!(text.contains(expected), "`{expected}` in:\n{text}");
        }
    }

    #[test]
    fn an_approval_from_the_command_line_adds_to_the_policy() {
        let mut policy = Policy::new();
        allow(&mut policy, "p.http=127.0.0.1:8080").unwrap();
        allow(&mut policy, "p.http=[\"a.example\", \"127.0.0.1:8080\"]").unwrap();
        allow(&mut policy, "p.http-response-bytes=1024").unwrap();
        allow(&mut policy, "p.config={ rule = \"~\" }").unwrap();
        allow(&mut policy, "my.plugin.env-from-host=LANG").unwrap();
        assert_eq!(policy["p"].http, ["127.0.0.1:8080", "a.example"]);
        assert_eq!(policy["p"].http_response_bytes, Some(1024));
        assert_eq!(policy["p"].config["rule"], "~");
        assert_eq!(policy["my.plugin"].env_from_host, ["LANG"]);
        for (rule, says) in [
            ("p", "an approval is `PLUGIN.KEY=VALUE`"),
            ("http=x", "an approval is `PLUGIN.KEY=VALUE`"),
            ("p.sockets=x", "unknown field `sockets`"),
            ("p.http-response-bytes=lots", "invalid type"),
        ] {
            let error = allow(&mut policy, rule).unwrap_err();
            assert!(error.contains(says), "{rule}: {error}");
        }
    }

    #[test]
    fn without_an_approval_nothing_is_given() {
        let top = tempfile::tempdir().unwrap();
        assert!(resolve(&Requests::default(), None, top.path(), |_| None).unwrap().is_empty());
        assert!(resolve(&requests(&[], &["HOME"]), None, top.path(), |_| Some("/root".to_owned())).is_err());
    }
}
