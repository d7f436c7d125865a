//! A loaded tree's plugins, and changing them while it runs: replacing a
//! plugin by a new version, adding one, removing one.
//!
//! Each change is all or nothing. The new plugin goes through the steps of
//! a load ([`Env::prepare`], [`Env::instantiate`]) against the plugins
//! loaded now; then every consumer of its interface is re-checked against
//! it, and the interface's cardinality against its new number of plugins.
//! Only when all of that holds is the interface's member list swapped
//! ([`Members::store`]): calls already running finish on the plugins they
//! started with, later calls see the new list.
//!
//! A replaced or removed plugin is not destroyed while anything uses it:
//! calls running in it finish, and the resource handles it gave to other
//! plugins keep working (methods on them are routed to it) until they are
//! dropped. Then its store is freed. Handles the *host* holds from it (from
//! [`PluginTreeHead::dispatch`](crate::PluginTreeHead::dispatch)) go stale
//! with it, as after a re-instantiation.

use std::sync::Arc;

use wasmtime::component::Component;

use super::link::ImportSite;
use super::{Env, Loaded, Provider};
use crate::PluginData;
use crate::graph::InterfaceIndex;
use crate::instance::PluginSlot;
use crate::instance::members::Members;
use crate::load::freeze::Kept;
use crate::load::{FreezeReport, LoadError, NestedLoadError, SwapError};

/// The error of a change to a tree of plugins of type `P`.
pub(crate) type PluginSwapError<P> = SwapError<<P as PluginData>::Id, <P as PluginData>::InterfaceId>;

/// Every loaded plugin of a tree, and the member lists that link them.
pub(crate) struct LoadedTree<P: PluginData> {
    pub(crate) env: Env<P>,
    /// Per interface, its loaded plugins, as its consumers' sockets and (for
    /// the root) the head read them.
    pub(crate) members: Vec<Arc<Members<P>>>,
    /// Every loaded plugin, each after the plugins it was linked to.
    plugins: Vec<Loaded<P>>,
    pub(crate) root: InterfaceIndex,
    /// Versions replaced or removed that may still run (they serve the
    /// handles they gave out): their sockets read the current member
    /// lists, so a change must not close a cycle through them either.
    retired: Vec<Retired<P>>,
    /// What the load froze.
    frozen: FreezeReport<P::Id, P::InterfaceId>,
    /// The frozen groups, as replacing a member composes them again.
    #[cfg_attr(not(feature = "freeze"), allow(dead_code, reason = "groups are made only with `freeze`"))]
    groups: Vec<Kept<P>>,
}

/// A replaced or removed version, as the cycle check sees it.
struct Retired<P: PluginData> {
    slot: std::sync::Weak<PluginSlot<P>>,
    plug: InterfaceIndex,
    sockets: Vec<InterfaceIndex>,
}

/// What [`LoadedTree::read`] finds in a plugin's metadata.
struct Read<P: PluginData> {
    id: P::Id,
    plug: InterfaceIndex,
    sockets: Vec<InterfaceIndex>,
}

impl<P: PluginData> LoadedTree<P> {
    pub(crate) fn new(
        env: Env<P>,
        members: Vec<Arc<Members<P>>>,
        plugins: Vec<Loaded<P>>,
        root: InterfaceIndex,
        frozen: FreezeReport<P::Id, P::InterfaceId>,
        groups: Vec<Kept<P>>,
    ) -> Self {
        // Every interface's list holds every plugin of it that loaded: the
        // load filled only those a consumer or the root reached, and later
        // swaps count from these lists.
        let mut by_plug: Vec<Vec<_>> = vec![Vec::new(); members.len()];
        for plugin in &plugins {
            if let Some(list) = by_plug.get_mut(plugin.slot.plug.0) {
                list.push(plugin.slot.clone());
            }
        }
        for (members, list) in members.iter().zip(by_plug) {
            members.store(list);
        }
        Self { env, members, plugins, root, retired: Vec::new(), frozen, groups }
    }

    /// What the load froze.
    pub(crate) fn freeze_report(&self) -> &FreezeReport<P::Id, P::InterfaceId> {
        &self.frozen
    }

    /// Refuses a change to a frozen group: to one of its members, or a
    /// plugin that would plug into or socket an interface composed inside
    /// one (nothing serves it outside its group). Composites are made at
    /// load; a change to one is a new load.
    fn refuse_frozen(&self, plugin: &P::Id, interfaces: &[InterfaceIndex]) -> Result<(), PluginSwapError<P>> {
        let group = self.frozen.groups.iter().find(|group| {
            group.members.contains(plugin)
                || group.edges.iter().any(|(_, edge, _)| interfaces.iter().any(|&i| self.env.interfaces[i].id == *edge))
        });
        match group {
            Some(group) => Err(SwapError::Frozen { plugin: plugin.clone(), group: group.plugin.clone() }),
            None => Ok(()),
        }
    }

    /// Every loaded plugin, sorted by id.
    pub(crate) fn slots(&self) -> Vec<Arc<PluginSlot<P>>> {
        let mut slots: Vec<_> = self.plugins.iter().map(|p| p.slot.clone()).collect();
        slots.sort_by(|a, b| a.id.cmp(&b.id));
        slots
    }

    fn position(&self, id: &P::Id) -> Option<usize> {
        self.plugins.iter().position(|p| p.slot.id == *id)
    }

    fn interface(&self, id: &P::InterfaceId) -> Option<InterfaceIndex> {
        self.env.interfaces.iter().position(|i| i.id == *id).map(InterfaceIndex)
    }

    /// The id, plug and sockets of a plugin about to come in.
    fn read(&self, data: &P) -> Result<Read<P>, PluginSwapError<P>> {
        let metadata = |plugin: Option<&P::Id>, accessor, source: P::Error| SwapError::Metadata {
            plugin: plugin.cloned(),
            accessor,
            source: Box::new(source),
        };
        let id = data.id().map_err(|e| metadata(None, "id", e))?.clone();
        let plug_id = data.plug().map_err(|e| metadata(Some(&id), "plug", e))?;
        let plug = self
            .interface(plug_id)
            .ok_or_else(|| SwapError::UnknownPlug { plugin: id.clone(), interface: plug_id.clone() })?;
        let mut sockets = Vec::new();
        for socket in data.sockets().map_err(|e| metadata(Some(&id), "sockets", e))? {
            let index = self
                .interface(socket)
                .ok_or_else(|| LoadError::UnknownSocket { plugin: id.clone(), interface: socket.clone() })?;
            if !sockets.contains(&index) {
                sockets.push(index);
            }
        }
        Ok(Read { id, plug, sockets })
    }

    /// Refuses a plugin whose sockets lead back to its own plug through the
    /// plugins loaded now (`replacing` left out): linked, it would call
    /// itself, and the tree would hold itself.
    fn check_cycle(&mut self, read: &Read<P>, replacing: Option<usize>) -> Result<(), PluginSwapError<P>> {
        self.retired.retain(|retired| retired.slot.strong_count() > 0);
        let retired = self.retired.iter().filter_map(|r| Some((r.slot.upgrade()?.id.clone(), r.plug, &r.sockets)));
        let running = self
            .plugins
            .iter()
            .enumerate()
            .filter(|&(position, _)| Some(position) != replacing)
            .map(|(_, p)| (p.slot.id.clone(), p.slot.plug, &p.sockets));
        let plugins: Vec<(P::Id, InterfaceIndex, &Vec<InterfaceIndex>)> = running.chain(retired).collect();
        let mut seen = vec![false; self.env.interfaces.len()];
        // (interface, the plugins on the way to it)
        let mut stack: Vec<(InterfaceIndex, Vec<P::Id>)> =
            read.sockets.iter().map(|&s| (s, vec![read.id.clone()])).collect();
        while let Some((interface, path)) = stack.pop() {
            if interface == read.plug {
                return Err(LoadError::DependencyCycle {
                    plugin: read.id.clone(),
                    interface: self.env.interfaces[interface].id.clone(),
                    cycle: path,
                }
                .into());
            }
            if std::mem::replace(&mut seen[interface], true) {
                continue;
            }
            for (id, _, sockets) in plugins.iter().filter(|(_, plug, _)| *plug == interface) {
                for &socket in *sockets {
                    let mut path = path.clone();
                    path.push(id.clone());
                    stack.push((socket, path));
                }
            }
        }
        Ok(())
    }

    /// The plugins behind each socket now, refused where their number does
    /// not satisfy the socket's cardinality.
    fn providers(&self, read: &Read<P>) -> Result<Vec<Provider<'_, P>>, PluginSwapError<P>> {
        read.sockets
            .iter()
            .map(|&socket| {
                let members = &self.members[socket];
                let targets: Vec<&Loaded<P>> = members
                    .load()
                    .iter()
                    .filter_map(|slot| self.plugins.iter().find(|p| Arc::ptr_eq(&p.slot, slot)))
                    .collect();
                let interface = &self.env.interfaces[socket];
                if !interface.cardinality.accepts(targets.len()) {
                    let source = LoadError::CardinalityNotMet {
                        interface: interface.id.clone(),
                        cardinality: interface.cardinality,
                        loaded: targets.iter().map(|t| t.slot.id.clone()).collect(),
                        failed: Vec::new(),
                    };
                    return Err(LoadError::SocketUnavailable {
                        plugin: read.id.clone(),
                        interface: interface.id.clone(),
                        source: NestedLoadError(Arc::new(source)),
                    }
                    .into());
                }
                Ok(Provider { members: members.clone(), targets })
            })
            .collect()
    }

    /// Re-checks every consumer of interface `plug` against a plugin about
    /// to serve it: each import must keep the shape it was linked with.
    fn check_consumers(
        &self,
        id: &P::Id,
        plug: InterfaceIndex,
        exported: &str,
        plug_types: &[wasmtime::component::types::ComponentFunc],
        names: &crate::types::ResourceNames,
    ) -> Result<(), PluginSwapError<P>> {
        let interface = &self.env.interfaces[plug];
        for consumer in &self.plugins {
            for import in consumer.imports.iter().filter(|i| i.interface == plug) {
                let site: ImportSite<'_, P> = ImportSite {
                    consumer: &consumer.slot.id,
                    interface,
                    imported: &import.imported,
                    name: &import.name,
                    function: import.function,
                    declared: &import.declared,
                    names: &consumer.names,
                    single: import.single,
                };
                site.fit(id, exported, plug_types, names, Some(import.shape))?;
            }
        }
        Ok(())
    }

    /// Replaces the loaded plugin with `data`'s id by `data`; returns the
    /// version it replaced.
    pub(crate) async fn replace(
        &mut self,
        data: P,
        component: Result<Component, P::Error>,
    ) -> Result<Arc<PluginSlot<P>>, PluginSwapError<P>> {
        let read = self.read(&data)?;
        #[cfg(feature = "freeze")]
        if let Some(group) = self.groups.iter().position(|g| g.position(&read.id).is_some()) {
            return self.replace_member(group, read, data, component).await;
        }
        self.refuse_frozen(&read.id, &read.sockets)?;
        let position = self.position(&read.id).ok_or_else(|| SwapError::NotLoaded { plugin: read.id.clone() })?;
        let old = &self.plugins[position].slot;
        if old.plug != read.plug {
            return Err(SwapError::PlugChanged {
                plugin: read.id,
                from: self.env.interfaces[old.plug].id.clone(),
                to: self.env.interfaces[read.plug].id.clone(),
            });
        }
        let revision = old.revision + 1;
        self.check_cycle(&read, Some(position))?;
        let loaded = self.bring_in(read, data, component, revision, Vec::new()).await?;
        Ok(self.install(position, loaded))
    }

    /// Puts `loaded` in the place of the plugin at `position` (same id);
    /// returns the version it replaced.
    fn install(&mut self, position: usize, loaded: Loaded<P>) -> Arc<PluginSlot<P>> {
        let plug = loaded.slot.plug;
        let slots = self.members[plug]
            .load()
            .iter()
            .map(|slot| if slot.id == loaded.slot.id { loaded.slot.clone() } else { slot.clone() })
            .collect();
        // Last in the list: the plugins the new version depends on come
        // before it.
        let old = self.plugins.remove(position);
        self.plugins.push(loaded);
        self.members[plug].store(slots);
        self.retire(&old);
        old.slot
    }

    /// Replaces a member of a frozen group: the group is composed again
    /// with the new version and replaces the running composite, all or
    /// nothing like any replacement.
    #[cfg(feature = "freeze")]
    async fn replace_member(
        &mut self,
        group: usize,
        read: Read<P>,
        data: P,
        component: Result<Component, P::Error>,
    ) -> Result<Arc<PluginSlot<P>>, PluginSwapError<P>> {
        let plugin = read.id.clone();
        let top = self.groups[group].members[0].id.clone();
        let refused = |reason: String| SwapError::Recompose { plugin: plugin.clone(), group: top.clone(), reason };
        let component = component.map_err(|e| LoadError::Component { plugin: plugin.clone(), source: Arc::new(e) })?;
        // Checked alone first, as at load: its own grants, sockets, plug.
        self.env.check_alone(&read.id, read.plug, &read.sockets, &data, &component)?;
        let position = self.position(&top).ok_or_else(|| SwapError::NotLoaded { plugin: top.clone() })?;
        let names: Vec<String> = self.env.interfaces.iter().map(|i| i.name.instance.clone()).collect();
        let name = |interface: InterfaceIndex| names[interface].clone();
        let kept = &mut self.groups[group];
        let member = kept.position(&read.id).unwrap_or_default();
        let recomposed = kept
            .recompose(&self.env.engine, &name, member, data, component, (read.plug, read.sockets))
            .map_err(refused)?;
        let top_read = Read { id: top.clone(), plug: kept.members[0].plug, sockets: recomposed.sockets };
        let revision = self.plugins[position].slot.revision + 1;
        let versions = crate::load::freeze::group::versions(&recomposed.members);
        let loaded = match self.check_cycle(&top_read, Some(position)) {
            Ok(()) => self.bring_in(top_read, recomposed.top, Ok(recomposed.composite), revision, versions).await,
            Err(error) => Err(error),
        };
        match loaded {
            Ok(loaded) => {
                self.groups[group].commit(Some(recomposed.members), recomposed.spare);
                tracing::info!(%plugin, group = %top, "frozen group composed again");
                Ok(self.install(position, loaded))
            }
            Err(error) => {
                if recomposed.took_spare {
                    self.groups[group].commit(None, recomposed.spare);
                }
                Err(error)
            }
        }
    }

    /// Adds `data` to the plugins of its plug; returns its id.
    pub(crate) async fn add(
        &mut self,
        data: P,
        component: Result<Component, P::Error>,
    ) -> Result<P::Id, PluginSwapError<P>> {
        let read = self.read(&data)?;
        self.refuse_frozen(&read.id, &[&[read.plug], &read.sockets[..]].concat())?;
        if self.position(&read.id).is_some() {
            return Err(SwapError::AlreadyLoaded { plugin: read.id });
        }
        let interface = &self.env.interfaces[read.plug];
        let mut now: Vec<P::Id> = self.members[read.plug].load().iter().map(|s| s.id.clone()).collect();
        if !interface.cardinality.accepts(now.len() + 1) {
            now.push(read.id);
            return Err(LoadError::CardinalityNotMet {
                interface: interface.id.clone(),
                cardinality: interface.cardinality,
                loaded: now,
                failed: Vec::new(),
            }
            .into());
        }
        self.check_cycle(&read, None)?;
        let plug = read.plug;
        let loaded = self.bring_in(read, data, component, 0, Vec::new()).await?;
        let mut slots: Vec<_> = self.members[plug].load().iter().cloned().collect();
        slots.push(loaded.slot.clone());
        let id = loaded.slot.id.clone();
        self.plugins.push(loaded);
        self.members[plug].store(slots);
        Ok(id)
    }

    /// Prepares, checks against the consumers, and instantiates a plugin.
    async fn bring_in(
        &self,
        read: Read<P>,
        data: P,
        component: Result<Component, P::Error>,
        revision: u64,
        group: Vec<(P::Id, String)>,
    ) -> Result<Loaded<P>, PluginSwapError<P>> {
        let providers = self.providers(&read)?;
        let Read { id, plug, sockets } = read;
        let mut prepared = self.env.prepare(id.clone(), plug, sockets, data, component, &providers)?;
        if !group.is_empty() {
            prepared.version = Some(crate::load::freeze::group::group_version(&group));
            prepared.frozen = group;
        }
        drop(providers);
        self.check_consumers(&id, plug, &prepared.exported, &prepared.plug_types, &prepared.names)?;
        Ok(self.env.instantiate(prepared, revision).await?)
    }

    /// Removes the plugin `id`; returns it.
    pub(crate) fn remove(&mut self, id: &P::Id) -> Result<Arc<PluginSlot<P>>, PluginSwapError<P>> {
        self.refuse_frozen(id, &[])?;
        let position = self.position(id).ok_or_else(|| SwapError::NotLoaded { plugin: id.clone() })?;
        let plug = self.plugins[position].slot.plug;
        let interface = &self.env.interfaces[plug];
        let slots: Vec<_> = self.members[plug].load().iter().filter(|s| s.id != *id).cloned().collect();
        if !interface.cardinality.accepts(slots.len()) {
            let consumers: Vec<P::Id> =
                self.plugins.iter().filter(|p| p.sockets.contains(&plug)).map(|p| p.slot.id.clone()).collect();
            let root = plug == self.root;
            if root || !consumers.is_empty() {
                return Err(SwapError::Needed {
                    plugin: id.clone(),
                    interface: interface.id.clone(),
                    cardinality: interface.cardinality,
                    consumers,
                    root,
                });
            }
        }
        let removed = self.plugins.remove(position);
        self.members[plug].store(slots);
        self.retire(&removed);
        Ok(removed.slot)
    }

    fn retire(&mut self, old: &Loaded<P>) {
        self.retired.push(Retired {
            slot: Arc::downgrade(&old.slot),
            plug: old.slot.plug,
            sockets: old.sockets.clone(),
        });
    }
}

impl<P: PluginData> Drop for LoadedTree<P> {
    fn drop(&mut self) {
        // Every member list emptied first: a consumer's sockets then hold
        // no plugin, and no plugin is freed by another's drop (a deep tree
        // would otherwise free its whole chain recursively, one native stack
        // frame per plugin). Then the plugins go, consumers first.
        for members in &self.members {
            members.store(Vec::new());
        }
        while let Some(plugin) = self.plugins.pop() {
            drop(plugin);
        }
    }
}
