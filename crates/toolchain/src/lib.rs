//! Guest toolchains for wasm-link plugins written in Python and JavaScript.
//!
//! A plugin folder's language is told by its files ([`Language::of`]): a
//! `Cargo.toml` is a Rust crate (built by cargo, not here), an `app.py` a
//! Python app built by componentize-py, an `app.js` an ES module built by
//! componentize-js. Both componentizers are pinned ([`COMPONENTIZE_PY`];
//! [`COMPONENTIZE_JS`] with its whole npm tree in `npm/package-lock.json`)
//! and installed on first use under a toolchain directory the caller
//! chooses (the workspace's `target/toolchains`, a plugin directory's
//! `target/toolchains`), never system-wide: Python's with
//! `pip install --target`, JavaScript's with `npm ci`. Each install is made
//! aside and renamed into place, so two builds at once (cargo's build script
//! and the command line) never see half of one.
//!
//! Standard library only: the guests' build script depends on this crate.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The componentize-py release Python plugins are built with (from `PyPI`).
pub const COMPONENTIZE_PY: &str = "0.25.1";
/// The componentize-js release JavaScript plugins are built with (npm).
pub const COMPONENTIZE_JS: &str = "0.23.0";

/// `npm ci` installs exactly this tree.
const PACKAGE_JSON: &str = include_str!("../npm/package.json");
const PACKAGE_LOCK: &str = include_str!("../npm/package-lock.json");

/// The oldest Node.js componentize-js runs on.
const NODE_MAJOR: u32 = 18;

/// The language a plugin is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    /// A crate built with cargo and wit-bindgen for `wasm32-wasip2`.
    Rust,
    /// `app.py`, built with componentize-py.
    Python,
    /// `app.js`, an ES module built with componentize-js.
    JavaScript,
}

impl Language {
    /// The language of the plugin in `folder`, by the file its author edits
    /// (a `Cargo.toml` first: a Rust crate may ship scripts of its own).
    #[must_use]
    pub fn of(folder: &Path) -> Option<Self> {
        [Self::Rust, Self::Python, Self::JavaScript]
            .into_iter()
            .find(|language| folder.join(language.marker()).is_file())
    }

    /// A language by the name the command line takes: `rust`, `python`
    /// (`py`), `js` (`javascript`).
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "rust" | "rs" => Some(Self::Rust),
            "python" | "py" => Some(Self::Python),
            "js" | "javascript" => Some(Self::JavaScript),
            _ => None,
        }
    }

    /// The language's name, for people.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Rust => "Rust",
            Self::Python => "Python",
            Self::JavaScript => "JavaScript",
        }
    }

    /// The file whose presence says the language.
    #[must_use]
    pub fn marker(self) -> &'static str {
        match self {
            Self::Rust => "Cargo.toml",
            Self::Python => "app.py",
            Self::JavaScript => "app.js",
        }
    }

    /// The file a plugin author edits, relative to the plugin folder.
    #[must_use]
    pub fn source(self) -> &'static str {
        match self {
            Self::Rust => "src/lib.rs",
            Self::Python => "app.py",
            Self::JavaScript => "app.js",
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a toolchain could not be installed or a plugin not built.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A program the toolchain needs is not installed (or too old).
    Missing {
        /// The program (`python3`, `node`, ...).
        program: &'static str,
        /// The language whose plugins need it.
        language: Language,
        /// What was found instead, if anything.
        found: Option<String>,
    },
    /// Installing a pinned componentizer failed.
    Install {
        /// The package and version.
        tool: String,
        /// What the installer printed.
        output: String,
    },
    /// The componentizer refused the plugin: a syntax error, an export
    /// missing from the app, a world that does not parse.
    Componentize {
        /// The plugin folder.
        folder: PathBuf,
        /// Its language.
        language: Language,
        /// What the componentizer printed (its own backtrace left out).
        output: String,
    },
    /// A file or program could not be read, written or run.
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Rust plugins are built by cargo, not by a componentizer.
    NotComponentized(Language),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing { program, language, found } => {
                let install = match *program {
                    "node" | "npm" => {
                        format!("Node.js {NODE_MAJOR} or later with npm (Debian: `apt install nodejs npm`)")
                    }
                    _ => "Python 3.9 or later with pip (Debian: `apt install python3 python3-pip`)".to_owned(),
                };
                write!(f, "building {language} plugins needs `{program}`, ")?;
                match found {
                    Some(found) => write!(f, "which is too old or broken here ({found}): ")?,
                    None => write!(f, "which was not found: ")?,
                }
                write!(f, "install {install}")
            }
            Self::Install { tool, output } => write!(f, "installing {tool} failed:\n{output}"),
            Self::Componentize { folder, language, output } => {
                write!(f, "the {language} plugin in `{}` did not build:\n{output}", folder.display())
            }
            Self::Io { path, source } => write!(f, "`{}`: {source}", path.display()),
            Self::NotComponentized(language) => write!(f, "{language} plugins are built with cargo"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

/// The pinned componentizers, installed under one directory.
#[derive(Debug, Clone)]
pub struct Toolchains {
    root: PathBuf,
}

impl Toolchains {
    /// Toolchains kept under `root` (created on first use).
    #[must_use]
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Where they are kept.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Installs the toolchain of `language` unless it is there.
    ///
    /// # Errors
    /// When `python3`/`pip` or `node`/`npm` is missing, or the install fails.
    pub fn ensure(&self, language: Language) -> Result<(), Error> {
        match language {
            Language::Python => self.python().map(drop),
            Language::JavaScript => self.javascript().map(drop),
            Language::Rust => Err(Error::NotComponentized(language)),
        }
    }

    /// Builds the plugin in `folder` into the component `out`: its world is
    /// `world` of the WIT in `folder/wit`, its code [`Language::source`].
    /// The component is written aside and renamed, so `out` is never half
    /// a file (a running watch may be reading it).
    ///
    /// # Errors
    /// A missing or failed toolchain, or the componentizer's own refusal
    /// with what it printed.
    pub fn componentize(&self, language: Language, folder: &Path, world: &str, out: &Path) -> Result<(), Error> {
        let staging = out.with_extension(format!("wasm.{}.new", unique()));
        let output = match language {
            Language::Python => {
                let python = self.python()?;
                // `-p .`: the app and any modules beside it.
                python
                    .command()
                    .current_dir(folder)
                    .args(["-d", "wit", "-w", world, "componentize", "app", "-p", ".", "-o"])
                    .arg(&staging)
                    .output()
                    .map_err(io(folder))?
            }
            Language::JavaScript => {
                let cli = self.javascript()?;
                Command::new("node")
                    .arg(cli)
                    .current_dir(folder)
                    .args(["app.js", "--wit", "wit", "--world-name", world])
                    // No `fetch-event` export: plugins are called through
                    // their plug. `fetch` stays: its `wasi:http` requests
                    // pass the host's gate (approved authorities only).
                    .args(["--disable", "fetch-event", "-o"])
                    .arg(&staging)
                    .output()
                    .map_err(io(folder))?
            }
            Language::Rust => return Err(Error::NotComponentized(language)),
        };
        if !output.status.success() || !staging.is_file() {
            let _ = std::fs::remove_file(&staging);
            return Err(Error::Componentize { folder: folder.to_path_buf(), language, output: printed(&output) });
        }
        std::fs::rename(&staging, out).map_err(io(out))
    }

    /// componentize-py's Python bindings of `world` (in the WIT at `wit`)
    /// written to `out_dir`: the classes an app implements, with the exact
    /// signatures componentize-py expects.
    ///
    /// # Errors
    /// A missing or failed toolchain, or a world componentize-py refuses.
    pub fn python_bindings(&self, wit: &Path, world: &str, out_dir: &Path) -> Result<(), Error> {
        let python = self.python()?;
        let output = python
            .command()
            .arg("-d")
            .arg(wit)
            .args(["-w", world, "bindings"])
            .arg(out_dir)
            .output()
            .map_err(io(wit))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(Error::Componentize { folder: wit.to_path_buf(), language: Language::Python, output: printed(&output) })
        }
    }

    /// componentize-py, installed with `pip install --target` (a plain
    /// directory of packages, unlike a virtual environment movable by
    /// rename) and run by the host's Python.
    fn python(&self) -> Result<Python, Error> {
        let site = self.root.join(format!("componentize-py-{COMPONENTIZE_PY}"));
        let python = std::env::var_os("WASM_LINK_PYTHON").unwrap_or_else(|| "python3".into());
        let version = Command::new(&python).arg("--version").output();
        match version {
            Ok(output) if output.status.success() => {}
            Ok(output) => {
                let found = Some(printed(&output));
                return Err(Error::Missing { program: "python3", language: Language::Python, found });
            }
            Err(_) => return Err(Error::Missing { program: "python3", language: Language::Python, found: None }),
        }
        let tool = format!("componentize-py {COMPONENTIZE_PY}");
        self.install(&site, &tool, |staging| {
            let pip = Command::new(&python).args(["-m", "pip", "--version"]).output();
            if !pip.is_ok_and(|o| o.status.success()) {
                return Err(Error::Missing { program: "pip", language: Language::Python, found: None });
            }
            let output = Command::new(&python)
                .args(["-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--quiet", "--target"])
                .arg(staging)
                .arg(format!("componentize-py=={COMPONENTIZE_PY}"))
                .output()
                .map_err(io(staging))?;
            if output.status.success() {
                Ok(())
            } else {
                Err(Error::Install { tool: tool.clone(), output: printed(&output) })
            }
        })?;
        Ok(Python { python: python.into(), site })
    }

    /// componentize-js's command-line script, its npm tree installed with
    /// `npm ci` from the lockfile this crate carries.
    fn javascript(&self) -> Result<PathBuf, Error> {
        let prefix = self.root.join(format!("componentize-js-{COMPONENTIZE_JS}"));
        let node = Command::new("node").arg("--version").output();
        let major = node.as_ref().ok().filter(|o| o.status.success()).and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout);
            text.trim().trim_start_matches('v').split('.').next().and_then(|m| m.parse::<u32>().ok())
        });
        if major.is_none_or(|major| major < NODE_MAJOR) {
            let found = node.ok().map(|o| printed(&o)).filter(|s| !s.is_empty());
            return Err(Error::Missing { program: "node", language: Language::JavaScript, found });
        }
        let tool = format!("componentize-js {COMPONENTIZE_JS}");
        self.install(&prefix, &tool, |staging| {
            std::fs::write(staging.join("package.json"), PACKAGE_JSON).map_err(io(staging))?;
            std::fs::write(staging.join("package-lock.json"), PACKAGE_LOCK).map_err(io(staging))?;
            let output = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(staging)
                .stdin(Stdio::null())
                .output();
            match output {
                Err(_) => Err(Error::Missing { program: "npm", language: Language::JavaScript, found: None }),
                Ok(output) if output.status.success() => Ok(()),
                Ok(output) => Err(Error::Install { tool: tool.clone(), output: printed(&output) }),
            }
        })?;
        Ok(prefix.join("node_modules/@bytecodealliance/componentize-js/src/cli.js"))
    }

    /// Runs `fill` on a fresh staging directory and renames it to `dir`,
    /// unless `dir` is complete already. A concurrent install that finished
    /// first wins; ours is thrown away.
    fn install(&self, dir: &Path, tool: &str, fill: impl FnOnce(&Path) -> Result<(), Error>) -> Result<(), Error> {
        const COMPLETE: &str = ".complete";
        if dir.join(COMPLETE).is_file() {
            return Ok(());
        }
        std::fs::create_dir_all(&self.root).map_err(io(&self.root))?;
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let staging = self.root.join(format!(".{name}.{}", unique()));
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging).map_err(io(&staging))?;
        eprintln!("installing {tool} into {} (once)", dir.display());
        let filled = fill(&staging).and_then(|()| std::fs::write(staging.join(COMPLETE), tool).map_err(io(&staging)));
        if let Err(error) = filled {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(error);
        }
        // An install is renamed into place whole, `.complete` written first:
        // `dir` is complete or absent. When a concurrent install won, the
        // rename fails and ours is dropped.
        if let Err(error) = std::fs::rename(&staging, dir) {
            let _ = std::fs::remove_dir_all(&staging);
            if !dir.join(COMPLETE).is_file() {
                return Err(Error::Io { path: dir.to_path_buf(), source: error });
            }
        }
        Ok(())
    }
}

/// A name no other staging file of this process or another has now: the
/// process id and a count (two threads, or cargo's build script and the
/// command line, may build at once).
fn unique() -> String {
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let count = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}-{count}", std::process::id())
}

/// componentize-py as installed: the host's Python with the package on its
/// path.
struct Python {
    python: PathBuf,
    site: PathBuf,
}

impl Python {
    fn command(&self) -> Command {
        let mut command = Command::new(&self.python);
        command
            .args([
                "-c",
                "import sys; from componentize_py import script; sys.argv[0] = 'componentize-py'; sys.exit(script())",
            ])
            .env("PYTHONPATH", &self.site)
            // Its errors, without the Rust backtrace of the tool itself.
            .env("RUST_BACKTRACE", "0")
            .env("RUST_LIB_BACKTRACE", "0")
            .env_remove("VIRTUAL_ENV")
            .stdin(Stdio::null());
        command
    }
}

/// What a tool printed, standard error first, without the Rust backtrace
/// componentize-py appends to its own errors, and at most 200 lines.
fn printed(output: &Output) -> String {
    let text = format!("{}{}", String::from_utf8_lossy(&output.stderr), String::from_utf8_lossy(&output.stdout));
    let mut lines: Vec<&str> = text.lines().take_while(|l| !l.starts_with("Stack backtrace:")).collect();
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    if lines.len() > 200 {
        let tail = lines.split_off(lines.len() - 200);
        return format!("...\n{}", tail.join("\n"));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_says_its_language_by_the_file_its_author_edits() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Language::of(dir.path()), None);
        std::fs::write(dir.path().join("app.js"), "").unwrap();
        assert_eq!(Language::of(dir.path()), Some(Language::JavaScript));
        std::fs::write(dir.path().join("app.py"), "").unwrap();
        assert_eq!(Language::of(dir.path()), Some(Language::Python));
        std::fs::write(dir.path().join("Cargo.toml"), "").unwrap();
        assert_eq!(Language::of(dir.path()), Some(Language::Rust));
    }

    #[test]
    fn language_names_on_the_command_line() {
        assert_eq!(Language::parse("py"), Some(Language::Python));
        assert_eq!(Language::parse("JS"), Some(Language::JavaScript));
        assert_eq!(Language::parse("rust"), Some(Language::Rust));
        assert_eq!(Language::parse("go"), None);
    }

    #[test]
    fn a_missing_interpreter_says_what_to_install() {
        let error = Error::Missing { program: "node", language: Language::JavaScript, found: None };
        let text = error.to_string();
        assert!(text.contains("JavaScript") && text.contains("Node.js 18"), "{text}");
    }

    #[test]
    fn the_tools_own_backtrace_is_left_out() {
        use std::os::unix::process::ExitStatusExt;
        let output = Output {
            status: std::process::ExitStatus::from_raw(1 << 8),
            stdout: Vec::new(),
            stderr: b"Traceback: NameError\n\nStack backtrace:\n  0: main\n".to_vec(),
        };
        assert_eq!(printed(&output), "Traceback: NameError");
    }
}
