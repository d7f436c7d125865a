//! The typed fast path: a root function resolved once, called with Rust
//! values instead of `Val`s.

use std::marker::PhantomData;

use wasmtime::component::{ComponentNamedList, Lift, Lower};

use std::sync::Arc;

use crate::dispatch_error::DispatchError;
use crate::graph::FunctionIndex;
use crate::head::PluginTreeHead;
use crate::instance::ctx::{Caller, Mode};
use crate::instance::{CallSite, Fail, PluginSlot, drive};
use crate::{InterfaceCardinality, PluginData, Socket};

/// The parameters of a typed call: a tuple of Rust values wasmtime lowers
/// into a plugin (`(u32, String)`, `()`). Implemented for every such tuple.
pub trait TypedParams: ComponentNamedList + Lower + Send + Sync + 'static {}

impl<T: ComponentNamedList + Lower + Send + Sync + 'static> TypedParams for T {}

/// The results of a typed call: a tuple of Rust values wasmtime lifts out
/// of a plugin (`(u32,)`, `()`). Implemented for every such tuple.
pub trait TypedResults: ComponentNamedList + Lift + Send + Sync + 'static {}

impl<T: ComponentNamedList + Lift + Send + Sync + 'static> TypedResults for T {}

/// A root function with Rust parameter and result types, from
/// [`PluginTreeHead::typed`]. Calls skip `Val` boxing and the name lookup;
/// on an `ExactlyOne` or `AtMostOne` root they allocate nothing.
///
/// ```
/// # use wasm_link::*;
/// # fn example<P: PluginData>(head: &PluginTreeHead<P>) {
/// let add = head.typed::<(u32, u32), (u32,)>("add").expect("`add` takes two u32s");
/// if let Socket::ExactlyOne(Ok((sum,))) = add.call((2, 3)) {
///     assert_eq!(sum, 5);
/// }
/// # }
/// ```
pub struct TypedDispatch<'a, P: PluginData, Params, Results> {
    head: &'a PluginTreeHead<P>,
    index: FunctionIndex,
    _types: PhantomData<fn(Params) -> Results>,
}

/// The result of a typed call: per plugin, in the root's cardinality shape.
pub type TypedResult<Results, Id> = Socket<Result<Results, DispatchError<Id>>, Id>;

impl<'a, P, Params, Results> TypedDispatch<'a, P, Params, Results>
where
    P: PluginData,
    Params: TypedParams + Clone,
    Results: TypedResults,
{
    pub(crate) fn new(head: &'a PluginTreeHead<P>, index: FunctionIndex) -> Self {
        Self { head, index, _types: PhantomData }
    }

    /// Calls the function on every plugin behind the root, in the root's
    /// cardinality shape. Resource methods are routed to their owner by
    /// [`PluginTreeHead::dispatch`] only; here they go to every plugin.
    /// Blocks like [`PluginTreeHead::dispatch`].
    pub fn call(&self, params: Params) -> TypedResult<Results, P::Id> {
        let site = self.head.site(self.index);
        if self.head.is_async() {
            return drive::block_on(drive::in_chain(self.call_in(Mode::Async, params)));
        }
        let plugins = self.head.root_plugins();
        // The common case, without the per-plugin bookkeeping below.
        if self.head.cardinality() == InterfaceCardinality::ExactlyOne
            && let [slot] = plugins.as_slice()
        {
            return Socket::ExactlyOne(call_blocking(slot, site, self.index, Some(params)));
        }
        // The last plugin takes the parameters; the others get copies.
        let mut left = plugins.len();
        let mut params = Some(params);
        self.head.plugins_of(&plugins).each(|slot| {
            left = left.saturating_sub(1);
            let params = if left == 0 { params.take() } else { params.clone() };
            call_blocking(slot, site, self.index, params)
        })
    }

    /// [`call`](Self::call) for async hosts, as a `Send` future: see
    /// [`PluginTreeHead::dispatch_async`].
    pub async fn call_async(&self, params: Params) -> TypedResult<Results, P::Id> {
        if !self.head.is_async() {
            return self.call(params);
        }
        drive::in_chain(self.call_in(Mode::Async, params)).await
    }

    async fn call_in(&self, mode: Mode, params: Params) -> TypedResult<Results, P::Id> {
        let site = self.head.site(self.index);
        let plugins = self.head.root_plugins_full();
        if self.head.cardinality() == InterfaceCardinality::ExactlyOne
            && let [slot] = plugins.as_slice()
        {
            return Socket::ExactlyOne(call_one(mode, slot, site, self.index, params).await);
        }
        drop(plugins);
        // Every plugin's call owns its copy of the parameters: they run
        // concurrently.
        self.head
            .each_async(|slot| {
                let params = params.clone();
                async move { call_one(mode, &slot, site, self.index, params).await }
            })
            .await
    }
}

/// One plugin's typed call, in `mode`.
async fn call_one<P, Params, Results>(
    mode: Mode,
    slot: &Arc<PluginSlot<P>>,
    site: &CallSite<P>,
    index: FunctionIndex,
    params: Params,
) -> Result<Results, DispatchError<P::Id>>
where
    P: PluginData,
    Params: TypedParams,
    Results: TypedResults,
{
    let caller = Caller::host_in(mode);
    let slot = slot.pick(caller.chain);
    let mut entered = slot.enter_call(mode, &caller, site).await?;
    let outcome = async { entered.live()?.call_typed_async(index, params).await }.await;
    entered.finish(outcome).await
}

/// One plugin's typed call, synchronously, with parameters that may have
/// run out. Always inlined, for the reason `Entered::finish_blocking` is.
#[allow(clippy::inline_always, reason = "measured: see `instance::invoke`")]
#[inline(always)]
fn call_blocking<P, Params, Results>(
    slot: &Arc<PluginSlot<P>>,
    site: &CallSite<P>,
    index: FunctionIndex,
    params: Option<Params>,
) -> Result<Results, DispatchError<P::Id>>
where
    P: PluginData,
    Params: TypedParams,
    Results: TypedResults,
{
    drive::with_stack(|| {
        let caller = Caller::host();
        let slot = slot.pick(caller.chain);
        let mut entered = slot.enter_blocking(&caller, site)?;
        let outcome = match params {
            Some(params) => entered.live().and_then(|live| live.call_typed_blocking(index, params)),
            None => Err(Fail::InvalidArguments(wasmtime::format_err!("no parameters left"))),
        };
        entered.finish_blocking(outcome)
    })
}
