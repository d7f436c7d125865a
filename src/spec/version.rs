//! Interface versions: which component-level names one interface answers
//! to, and which version serves which.
//!
//! An interface travels as a component instance named `ns:pkg/iface@1.4.2`.
//! Plugins are built against different releases of one interface, so names
//! are matched by semver, not by spelling: a name *serves* another when both
//! name the same interface path, their versions lie on one compatible track,
//! and the serving version is the newer or the same. The tracks are Cargo's
//! caret requirements, as wasmtime's linker resolves imports:
//!
//! - from `1.0.0` on, one track per major version (`1.4.2` serves `1.0.0`
//!   to `1.4.2`);
//! - below it, one per minor version (`0.2.5` serves `0.2.0` to `0.2.5`, not
//!   `0.1.x`), and every `0.0.z` is a track of its own;
//! - a pre-release (`1.0.0-rc.1`) and a version that is not semver are
//!   matched only exactly, as is a name without a version.
//!
//! Two tracks of one interface (`parser@0.1.0` and `parser@0.2.0`) are two
//! interfaces: they can stand side by side in one tree.

use semver::Version;

/// A component-level interface name split at its `@`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Versioned<'a> {
    /// `ns:pkg/iface`.
    pub(crate) path: &'a str,
    /// What follows the `@`, if anything.
    pub(crate) version: Option<&'a str>,
}

impl<'a> Versioned<'a> {
    pub(crate) fn of(name: &'a str) -> Self {
        match name.split_once('@') {
            Some((path, version)) => Self { path, version: Some(version) },
            None => Self { path: name, version: None },
        }
    }
}

/// The track a version lies on, or `None` when it is matched only exactly.
fn track(version: &Version) -> Option<(u64, u64, u64)> {
    if !version.pre.is_empty() {
        return None;
    }
    Some(match (version.major, version.minor) {
        (0, 0) => (0, 0, version.patch),
        (0, minor) => (0, minor, 0),
        (major, _) => (major, 0, 0),
    })
}

/// Whether a component offering the instance `offered` serves one built
/// against `wanted`: the same name, or the same path with versions on one
/// track and `offered` the newer or the same.
pub(crate) fn serves(offered: &str, wanted: &str) -> bool {
    offered == wanted || {
        let (offered, wanted) = (Versioned::of(offered), Versioned::of(wanted));
        offered.path == wanted.path
            && match (parse(offered.version), parse(wanted.version)) {
                (Some(offered), Some(wanted)) => {
                    track(&offered).is_some_and(|t| Some(t) == track(&wanted)) && offered >= wanted
                }
                _ => false,
            }
    }
}

/// Whether two names are one interface on one track, whichever is newer:
/// the names a component's imports and exports are looked up by.
pub(crate) fn same_track(a: &str, b: &str) -> bool {
    serves(a, b) || serves(b, a)
}

/// The version after the `@` of `name`, if any, as written.
#[cfg(feature = "wit")]
pub(crate) fn version_of(name: &str) -> Option<&str> {
    Versioned::of(name).version
}

fn parse(version: Option<&str>) -> Option<Version> {
    version.and_then(|v| Version::parse(v).ok())
}

/// Among `names`, the one that stands for `wanted` (the interface's own
/// instance name): `wanted` itself if present, else the newest on its
/// track. Used to find a plugin's import or export of an interface whose
/// version it may spell differently.
pub(crate) fn find<'n>(names: impl IntoIterator<Item = &'n str>, wanted: &str) -> Option<&'n str> {
    let mut best: Option<&'n str> = None;
    for name in names {
        if name == wanted {
            return Some(name);
        }
        if same_track(name, wanted) && best.is_none_or(|b| serves(name, b)) {
            best = Some(name);
        }
    }
    best
}

/// Among `names`, one with the path of `wanted` at a version off its track:
/// what a component has instead of a release that fits, to name in an error.
pub(crate) fn other_release<'n>(names: impl IntoIterator<Item = &'n str>, wanted: &str) -> Option<&'n str> {
    let path = Versioned::of(wanted).path;
    names.into_iter().find(|name| Versioned::of(name).path == path && !same_track(name, wanted))
}

#[cfg(test)]
mod tests {
    use super::{find, same_track, serves};

    const P: &str = "demo:parser/parser";

    fn at(version: &str) -> String {
        format!("{P}@{version}")
    }

    #[test]
    fn a_newer_patch_or_minor_serves_an_older_one_on_its_track() {
        assert!(serves(&at("1.4.2"), &at("1.0.0")));
        assert!(serves(&at("1.4.2"), &at("1.4.0")));
        assert!(serves(&at("1.4.2"), &at("1.4.2")));
        assert!(serves(&at("0.1.1"), &at("0.1.0")));
        assert!(serves(&at("0.2.9"), &at("0.2.0")));
    }

    #[test]
    fn an_older_version_does_not_serve_a_newer_one() {
        assert!(!serves(&at("1.3.9"), &at("1.4.0")));
        assert!(!serves(&at("0.1.0"), &at("0.1.1")));
        assert!(same_track(&at("0.1.0"), &at("0.1.1")));
    }

    #[test]
    fn another_major_or_zero_minor_is_another_interface() {
        assert!(!same_track(&at("2.0.0"), &at("1.9.9")));
        assert!(!same_track(&at("0.2.0"), &at("0.1.0")));
        assert!(!same_track(&at("0.0.2"), &at("0.0.1")));
        assert!(!same_track(&at("1.0.0"), &at("0.9.0")));
    }

    #[test]
    fn pre_releases_unversioned_and_non_semver_names_match_only_exactly() {
        assert!(serves(&at("1.0.0-rc.1"), &at("1.0.0-rc.1")));
        assert!(!same_track(&at("1.0.0-rc.2"), &at("1.0.0-rc.1")));
        assert!(!same_track(&at("1.0.0"), &at("1.0.0-rc.1")));
        assert!(!same_track(P, &at("1.0.0")));
        assert!(serves(P, P));
        assert!(!same_track(&at("one"), &at("one.1")));
        assert!(!same_track("demo:other/parser@1.0.0", &at("1.0.0")));
    }

    #[test]
    fn find_prefers_the_exact_name_then_the_newest_on_the_track() {
        let names = [at("0.1.0"), at("0.1.3"), at("0.2.0"), at("0.1.2")];
        let names = || names.iter().map(String::as_str);
        assert_eq!(find(names(), &at("0.1.2")), Some(at("0.1.2").as_str()));
        assert_eq!(find(names(), &at("0.1.1")), Some(at("0.1.3").as_str()));
        assert_eq!(find(names(), &at("0.2.1")), Some(at("0.2.0").as_str()));
        assert_eq!(find(names(), &at("0.3.0")), None);
    }
}
