//! Changing the plugins of a running tree from the head: replace, add,
//! remove (see `load::swap` for the steps and their rules).

use std::fmt::Display;
use std::sync::Arc;

use crate::PluginData;
use crate::instance::ctx::Caller;
use crate::instance::drive;
use crate::load::swap::PluginSwapError;
use crate::load::{LoadError, SwapError};
use crate::wasm_error::WasmError;

use super::PluginTreeHead;

/// A change that brings a plugin in.
enum Change {
    Replace,
    Add,
}

/// Runs a swap inside its `wasm_link.swap` span (feature `otel`), which
/// records how it ended; without the feature, just runs it.
fn traced<T, E: Display>(
    change: &'static str,
    plugin: Option<&impl Display>,
    swap: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    #[cfg(feature = "otel")]
    {
        let span = crate::trace::swap(change, plugin.map(|p| p as &dyn Display));
        let result = span.in_scope(swap);
        crate::trace::ended(&span, result.as_ref().err().map(|e| e as &dyn Display));
        result
    }
    #[cfg(not(feature = "otel"))]
    {
        let _ = (change, plugin);
        swap()
    }
}

/// [`traced`] for an async swap: the span is entered at each poll. The
/// swap's future is boxed, so the public futures stay small (a swap is
/// rare: one allocation is nothing beside compiling a component).
async fn traced_async<T, E: Display>(
    change: &'static str,
    plugin: Option<&impl Display>,
    swap: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    #[cfg(feature = "otel")]
    {
        use tracing::Instrument as _;
        let span = crate::trace::swap(change, plugin.map(|p| p as &dyn Display));
        let result = Box::pin(swap).instrument(span.clone()).await;
        crate::trace::ended(&span, result.as_ref().err().map(|e| e as &dyn Display));
        result
    }
    #[cfg(not(feature = "otel"))]
    {
        let _ = (change, plugin);
        Box::pin(swap).await
    }
}

impl<P: PluginData> PluginTreeHead<P> {
    /// Replaces the loaded plugin with `plugin`'s id by `plugin` (a new
    /// version of it), while other threads dispatch.
    ///
    /// All or nothing: the new component is compiled (through the plugin's
    /// own [`component`](PluginData::component), so a
    /// [`CompileCache`](crate::dir::CompileCache) applies), its exports
    /// checked against its plug, its sockets linked to the plugins loaded
    /// now, every consumer's import re-checked against it, and it is
    /// instantiated; only then does it take the old version's place. On any
    /// failure nothing changes and the error names the plugin (or the
    /// consumer it would break).
    ///
    /// Calls already running finish on the old version; calls that start
    /// after this returns go to the new one. The new version starts with a
    /// fresh state and fresh [`health`](Self::health) counters (its
    /// [`revision`](crate::PluginHealth::revision) counts the swaps); a
    /// quarantined plugin can be replaced, and the new version is not
    /// quarantined. Resource handles the old version gave to other plugins
    /// keep working until they are dropped (the old instance serves them,
    /// then is freed); handles it gave to the host go stale, as after a
    /// re-instantiation: drop them before replacing a root plugin.
    ///
    /// Compilation runs before the tree is locked: swaps wait for each
    /// other, dispatches never wait for a swap.
    ///
    /// # Errors
    ///
    /// [`SwapError::NotLoaded`] when no plugin has the id,
    /// [`SwapError::PlugChanged`] when the new version plugs elsewhere, and
    /// [`SwapError::Load`] for whatever step of loading it failed. For a
    /// member of a frozen group ([`LoadOptions::freeze`](crate::LoadOptions::freeze)),
    /// the group is composed again with the new version, and
    /// [`SwapError::Recompose`] says why it could not be; a plugin that
    /// sockets an interface composed inside a group is [`SwapError::Frozen`].
    pub fn replace_plugin(&self, plugin: P) -> Result<(), PluginSwapError<P>> {
        let id = plugin.id().ok().cloned();
        traced("replace", id.as_ref(), || self.bring_in_blocking(Change::Replace, plugin))
    }

    /// [`replace_plugin`](Self::replace_plugin) for async hosts: on a tree
    /// loaded with [`load_async`](crate::PluginTree::load_async) the new
    /// version is instantiated with `instantiate_async`.
    ///
    /// # Errors
    ///
    /// As [`replace_plugin`](Self::replace_plugin).
    pub async fn replace_plugin_async(&self, plugin: P) -> Result<(), PluginSwapError<P>> {
        let id = plugin.id().ok().cloned();
        traced_async("replace", id.as_ref(), self.bring_in_async(Change::Replace, plugin)).await
    }

    /// Adds `plugin` to the plugins of its plug, while other threads
    /// dispatch: as [`replace_plugin`](Self::replace_plugin), all or
    /// nothing, and calls that start after this returns see it (a
    /// multi-plugin socket or root then includes it).
    ///
    /// # Errors
    ///
    /// [`SwapError::AlreadyLoaded`] when a plugin has the id,
    /// [`SwapError::UnknownPlug`], and [`SwapError::Load`]: a step of
    /// loading failed, or the interface takes no more plugins
    /// ([`LoadError::CardinalityNotMet`]); [`SwapError::Frozen`] when it
    /// plugs into or sockets an interface composed inside a frozen group.
    pub fn add_plugin(&self, plugin: P) -> Result<(), PluginSwapError<P>> {
        let id = plugin.id().ok().cloned();
        traced("add", id.as_ref(), || self.bring_in_blocking(Change::Add, plugin))
    }

    /// [`add_plugin`](Self::add_plugin) for async hosts.
    ///
    /// # Errors
    ///
    /// As [`add_plugin`](Self::add_plugin).
    pub async fn add_plugin_async(&self, plugin: P) -> Result<(), PluginSwapError<P>> {
        let id = plugin.id().ok().cloned();
        traced_async("add", id.as_ref(), self.bring_in_async(Change::Add, plugin)).await
    }

    /// Removes the plugin `plugin`, while other threads dispatch. Calls
    /// already running in it finish; the handles it gave to other plugins
    /// keep working until dropped; then it is freed.
    ///
    /// # Errors
    ///
    /// [`SwapError::NotLoaded`], and [`SwapError::Needed`] when its interface
    /// would have fewer plugins than its cardinality takes while the root or
    /// a consumer uses it (naming them); [`SwapError::Frozen`] for a member
    /// of a frozen group.
    pub fn remove_plugin(&self, plugin: &P::Id) -> Result<(), PluginSwapError<P>> {
        traced("remove", Some(plugin), || {
            self.outside_calls(Some(plugin))?;
            let mut tree = self.tree.lock_blocking();
            self.removed(&mut tree, plugin)
        })
    }

    /// [`remove_plugin`](Self::remove_plugin) for async hosts: waits for
    /// another swap without blocking the thread.
    ///
    /// # Errors
    ///
    /// As [`remove_plugin`](Self::remove_plugin).
    pub async fn remove_plugin_async(&self, plugin: &P::Id) -> Result<(), PluginSwapError<P>> {
        traced_async("remove", Some(plugin), async {
            self.outside_calls(Some(plugin))?;
            let mut tree = self.tree.lock().await;
            self.removed(&mut tree, plugin)
        })
        .await
    }

    /// Refuses a change asked from inside one of the tree's calls: the swap
    /// would hold the tree while it may wait (instantiating the new plugin
    /// runs its start function, which may call sockets) for a plugin that
    /// the asking call holds.
    fn outside_calls(&self, plugin: Option<&P::Id>) -> Result<(), PluginSwapError<P>> {
        let chain = Caller::host().chain;
        if self.all.load().iter().any(|slot| slot.holds(chain)) {
            return Err(SwapError::InsideCall { plugin: plugin.cloned() });
        }
        Ok(())
    }

    fn removed(&self, tree: &mut crate::load::swap::LoadedTree<P>, plugin: &P::Id) -> Result<(), PluginSwapError<P>> {
        let removed = tree.remove(plugin)?;
        self.all.store(Arc::new(tree.slots()));
        tracing::info!(plugin = %removed.label, version = %removed.version(), "plugin removed");
        Ok(())
    }

    /// [`bring_in`](Self::bring_in) on the calling thread: in one poll on a
    /// synchronous tree, blocking on the asynchronous steps otherwise.
    fn bring_in_blocking(&self, change: Change, plugin: P) -> Result<(), PluginSwapError<P>> {
        self.outside_calls(plugin.id().ok())?;
        if self.asynchronous {
            return drive::block_on(drive::in_chain(self.bring_in(change, plugin)));
        }
        let id = plugin.id().ok().cloned();
        let component = plugin.component(&self.engine);
        let mut tree = self.tree.lock_blocking();
        // Every step of a synchronous tree blocks: one poll completes it.
        drive::now(self.bring_in_locked(&mut tree, change, plugin, component)).unwrap_or_else(|| {
            let source = WasmError::new(wasmtime::format_err!("a synchronous swap suspended; this is a wasm-link bug"));
            Err(match id {
                Some(plugin) => LoadError::Instantiate { plugin, source }.into(),
                None => SwapError::Metadata { plugin: None, accessor: "id", source: Box::new(source) },
            })
        })
    }

    /// [`bring_in`](Self::bring_in) from async code: a synchronous tree's
    /// steps run on the caller's thread, as its dispatches do.
    async fn bring_in_async(&self, change: Change, plugin: P) -> Result<(), PluginSwapError<P>> {
        if self.asynchronous {
            drive::in_chain(self.bring_in(change, plugin)).await
        } else {
            self.bring_in_blocking(change, plugin)
        }
    }

    async fn bring_in(&self, change: Change, plugin: P) -> Result<(), PluginSwapError<P>> {
        self.outside_calls(plugin.id().ok())?;
        // Compiled before the lock: a swap that compiles does not hold up
        // the others longer than it must.
        let component = plugin.component(&self.engine);
        let mut tree = self.tree.lock().await;
        self.bring_in_locked(&mut tree, change, plugin, component).await
    }

    async fn bring_in_locked(
        &self,
        tree: &mut crate::load::swap::LoadedTree<P>,
        change: Change,
        plugin: P,
        component: Result<wasmtime::component::Component, P::Error>,
    ) -> Result<(), PluginSwapError<P>> {
        match change {
            Change::Replace => {
                let old = tree.replace(plugin, component).await?;
                self.all.store(Arc::new(tree.slots()));
                if let Some(new) = self.all.load().iter().find(|slot| slot.id == old.id) {
                    tracing::info!(
                        plugin = %new.label,
                        from = %old.version(),
                        to = %new.version(),
                        revision = new.revision,
                        "plugin replaced"
                    );
                }
            }
            Change::Add => {
                let id = tree.add(plugin, component).await?;
                self.all.store(Arc::new(tree.slots()));
                if let Some(new) = self.all.load().iter().find(|slot| slot.id == id) {
                    tracing::info!(plugin = %new.label, version = %new.version(), "plugin added");
                }
            }
        }
        Ok(())
    }
}
