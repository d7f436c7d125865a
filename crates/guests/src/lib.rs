//! Paths of the guest plugins built from `guests/` (see `build.rs`).
//!
//! Depending on this crate builds the guests first, so tests and the demo can
//! rely on [`DEMO_DIR`] holding every component.

include!(concat!(env!("OUT_DIR"), "/guests.rs"));

/// The built component of the guest crate `name`.
#[must_use]
pub fn component(name: &str) -> Option<&'static str> {
    COMPONENTS.iter().find(|(n, _)| *n == name).map(|(_, path)| *path)
}
