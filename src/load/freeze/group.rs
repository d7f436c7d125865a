//! A frozen group as the loaded tree keeps it: what composing it again
//! needs when one of its members is replaced.

// Without the `freeze` feature no group is ever made: the tree keeps an
// empty list of them.
#![cfg_attr(not(feature = "freeze"), allow(dead_code, reason = "groups are made only with `freeze`"))]

use wasmtime::component::Component;

use crate::graph::InterfaceIndex;
use crate::load::LoadOptions;
use crate::{Limits, PluginData, Recovery};

/// One member of a frozen group, as last composed.
#[derive(Clone)]
pub(crate) struct Member<Id> {
    pub(crate) id: Id,
    pub(crate) plug: InterfaceIndex,
    pub(crate) sockets: Vec<InterfaceIndex>,
    pub(crate) bytes: Vec<u8>,
    /// Compiled alone (and so checked alone, by its own `component`).
    pub(crate) component: Component,
    /// Its own version: `PluginData::version`, or a hash of its bytes.
    pub(crate) version: String,
}

/// The settings every member of a group shares: its one store has one set
/// of budgets, one recovery policy and one set of grants.
#[derive(PartialEq)]
pub(crate) struct Settings {
    pub(crate) limits: Limits,
    pub(crate) recovery: Recovery,
    pub(crate) grants: Option<Vec<String>>,
}

impl Settings {
    /// The settings of the plugin `data`.
    pub(crate) fn of<P: PluginData>(data: &P) -> Self {
        Self { limits: data.limits(), recovery: data.recovery(), grants: data.grants() }
    }
}

/// A frozen group of the loaded tree.
pub(crate) struct Kept<P: PluginData> {
    /// Top member first.
    pub(crate) members: Vec<Member<P::Id>>,
    /// (consumer, interface, provider), members by position.
    pub(crate) edges: Vec<(usize, InterfaceIndex, usize)>,
    pub(crate) settings: Settings,
    /// A fresh value of the top member, for the store of a composite made
    /// when another member is replaced (the running composite's store
    /// holds the top member's value): `PluginData::replica`.
    pub(crate) spare: Option<P>,
    pub(crate) options: LoadOptions,
}

/// A group composed again with one member replaced, ready to load.
#[cfg(feature = "freeze")]
pub(crate) struct Recomposed<P: PluginData> {
    pub(crate) composite: Component,
    /// The members' sockets left dynamic.
    pub(crate) sockets: Vec<InterfaceIndex>,
    /// The top member's value for the composite's store.
    pub(crate) top: P,
    /// The members as they will be once it serves.
    pub(crate) members: Vec<Member<P::Id>>,
    /// The next spare.
    pub(crate) spare: Option<P>,
    /// Whether the group's spare was taken for `top` (when another member
    /// than the top is replaced): if the composite then fails to load, the
    /// next spare takes its place.
    pub(crate) took_spare: bool,
}

/// A plugin's own version, or a hash of its bytes.
pub(crate) fn version_of<P: PluginData>(data: &P, bytes: &[u8]) -> String {
    data.version().unwrap_or_else(|| {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        bytes.hash(&mut hasher);
        format!("{:016x}", hasher.finish())
    })
}

/// The members' ids with their own versions, top first.
pub(crate) fn versions<Id: Clone>(members: &[Member<Id>]) -> Vec<(Id, String)> {
    members.iter().map(|m| (m.id.clone(), m.version.clone())).collect()
}

/// A group's version: one hash of its members' ids and versions.
pub(crate) fn group_version<Id: std::fmt::Display>(members: &[(Id, String)]) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for (id, version) in members {
        id.to_string().hash(&mut hasher);
        version.hash(&mut hasher);
    }
    format!("{:016x}", hasher.finish())
}

impl<P: PluginData> Kept<P> {
    /// Where `id` is among the members.
    pub(crate) fn position(&self, id: &P::Id) -> Option<usize> {
        self.members.iter().position(|m| m.id == *id)
    }

    /// Composes the group again with `data` (compiled alone as `component`,
    /// plugging into `plug` with `sockets`) in place of the member at
    /// `position`. Nothing changes here until [`commit`](Self::commit).
    #[cfg(feature = "freeze")]
    pub(crate) fn recompose(
        &mut self,
        engine: &wasmtime::Engine,
        name: &dyn Fn(InterfaceIndex) -> String,
        position: usize,
        data: P,
        component: Component,
        (plug, sockets): (InterfaceIndex, Vec<InterfaceIndex>),
    ) -> Result<Recomposed<P>, String> {
        let old = &self.members[position];
        if plug != old.plug || !same_set(&sockets, &old.sockets) {
            return Err("its plug or sockets changed; a group's shape is set at load".to_owned());
        }
        if Settings::of(&data) != self.settings || data.instances() > 1 {
            return Err("its limits, recovery, grants or instances differ from its group's".to_owned());
        }
        let bytes = data
            .component_bytes()
            .map_err(|e| format!("its component bytes cannot be read: {}", crate::error_chain(&e)))?
            .ok_or("it hands over no component bytes (`PluginData::component_bytes`)")?;
        let mut members = self.members.clone();
        members[position] =
            Member { id: old.id.clone(), plug, sockets, version: version_of(&data, &bytes), bytes, component };
        let plan = super::plan::Plan {
            top: 0,
            members: (0..members.len()).collect(),
            edges: self.edges.clone(),
            sockets: dynamic_sockets(&members, &self.edges),
        };
        let parts: Vec<(&[u8], &Component)> = members.iter().map(|m| (m.bytes.as_slice(), &m.component)).collect();
        let composite = super::compose::composite(engine, &self.options, name, &plan, members[0].plug, &parts)?;
        // The store's value last: nothing above may fail once it is taken.
        let top = if position == 0 {
            data
        } else {
            drop(data);
            self.spare.take().ok_or("its group's top member gives no fresh value (`PluginData::replica`)")?
        };
        let spare = top.replica();
        Ok(Recomposed { composite, sockets: plan.sockets, top, members, spare, took_spare: position != 0 })
    }
}

impl<P: PluginData> Kept<P> {
    /// The group as it serves once a replacement composed by
    /// [`recompose`](Self::recompose) loaded (or, with the members as they
    /// were, after it failed: the spare made for it is as fresh).
    pub(crate) fn commit(&mut self, members: Option<Vec<Member<P::Id>>>, spare: Option<P>) {
        if let Some(members) = members {
            self.members = members;
        }
        self.spare = spare;
    }
}

/// The members' sockets that no edge of the group serves, without repeats.
pub(crate) fn dynamic_sockets<Id>(
    members: &[Member<Id>],
    edges: &[(usize, InterfaceIndex, usize)],
) -> Vec<InterfaceIndex> {
    let mut sockets = Vec::new();
    for (position, member) in members.iter().enumerate() {
        for &socket in &member.sockets {
            let composed = edges.iter().any(|&(c, i, _)| c == position && i == socket);
            if !composed && !sockets.contains(&socket) {
                sockets.push(socket);
            }
        }
    }
    sockets
}

#[cfg(feature = "freeze")]
fn same_set(a: &[InterfaceIndex], b: &[InterfaceIndex]) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.contains(x))
}
