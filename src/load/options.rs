//! [`LoadOptions`]: how [`PluginTree::load_with`](crate::PluginTree::load_with) loads.

/// How [`PluginTree::load_with`](crate::PluginTree::load_with) and
/// [`load_async_with`](crate::PluginTree::load_async_with) load a tree.
/// The default is what [`load`](crate::PluginTree::load) does.
///
/// ```
/// let options = wasm_link::LoadOptions::new();
/// # #[cfg(feature = "freeze")]
/// let options = options.freeze(true);
/// # let _ = options;
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct LoadOptions {
    pub(crate) stats_off: bool,
    #[cfg(feature = "freeze")]
    pub(crate) freeze: bool,
    #[cfg(feature = "dir")]
    pub(crate) cache: Option<crate::dir::CompileCache>,
}

impl LoadOptions {
    /// The options of a plain [`load`](crate::PluginTree::load).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Composes the groups of plugins joined by plain `ExactlyOne` edges into
    /// one component each, so calls between them cost what calls inside one
    /// component cost (feature `freeze`). Each group then runs in one store,
    /// with one budget, one re-instantiation and one quarantine; see
    /// [`FreezeReport`](crate::FreezeReport) for what freezes and
    /// [`PluginTreeHead::freeze_report`](crate::PluginTreeHead::freeze_report)
    /// for what did. Plugins hand over their bytes with
    /// [`PluginData::component_bytes`](crate::PluginData::component_bytes).
    #[cfg(feature = "freeze")]
    #[must_use]
    pub fn freeze(mut self, freeze: bool) -> Self {
        self.freeze = freeze;
        self
    }

    /// Whether the tree counts the calls of each edge, for
    /// [`PluginTreeHead::stats`](crate::PluginTreeHead::stats); on by
    /// default. Off, a call saves a few nanoseconds (the `stats` section
    /// of the runtime bench measures how many) and `stats` is empty.
    #[must_use]
    pub fn stats(mut self, on: bool) -> Self {
        self.stats_off = !on;
        self
    }

    /// Compiles what the load composes (frozen groups) through `cache`.
    #[cfg(feature = "dir")]
    #[must_use]
    pub fn compile_cache(mut self, cache: crate::dir::CompileCache) -> Self {
        self.cache = Some(cache);
        self
    }
}
