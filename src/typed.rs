//! The typed fast path: a root function resolved once, called with Rust
//! values instead of `Val`s.

use std::any::Any;
use std::marker::PhantomData;

use wasmtime::component::{ComponentNamedList, Lift, Lower, TypedFunc};

use crate::dispatch_error::{DispatchError, SocketTrap};
use crate::plugin_instance::{CallFailure, Live};
use crate::plugin_tree_head::PluginTreeHead;
use crate::{InterfaceData, PluginData, Socket};

/// A root function with Rust parameter and result types, from
/// [`PluginTreeHead::typed`]. Calls skip `Val` boxing and the name lookup;
/// on an `ExactlyOne` or `AtMostOne` root they allocate nothing.
///
/// ```
/// # use wasm_link::*;
/// # fn example<I: InterfaceData, P: PluginData + Send + 'static>(head: &PluginTreeHead<I, P>) {
/// let add = head.typed::<(u32, u32), (u32,)>("add").expect("`add` takes two u32s");
/// if let Socket::ExactlyOne(Ok((sum,))) = add.call((2, 3)) {
///     assert_eq!(sum, 5);
/// }
/// # }
/// ```
pub struct TypedDispatch<'a, I: InterfaceData, P: PluginData + Send + 'static, Params, Results> {
    head: &'a PluginTreeHead<I, P>,
    index: usize,
    _types: PhantomData<fn(Params) -> Results>,
}

/// The result of a typed call: per plugin, in the root's cardinality shape.
pub type TypedResult<Results, Id> = Socket<Result<Results, DispatchError<Id>>, Id>;

impl<'a, I, P, Params, Results> TypedDispatch<'a, I, P, Params, Results>
where
    I: InterfaceData,
    P: PluginData + Send + 'static,
    Params: ComponentNamedList + Lower + Clone + Send + Sync + 'static,
    Results: ComponentNamedList + Lift + Send + Sync + 'static,
{
    pub(crate) fn new(head: &'a PluginTreeHead<I, P>, index: usize) -> Self {
        Self { head, index, _types: PhantomData }
    }

    /// Calls the function on every plugin behind the root, in the root's
    /// cardinality shape. Resource methods are routed to their owner by
    /// [`PluginTreeHead::dispatch`] only; here they go to every plugin.
    pub fn call(&self, params: Params) -> TypedResult<Results, P::Id> {
        let site = self.head.site(self.index);
        // The common case, without the per-plugin bookkeeping below.
        if let Some(slot) = self.head.exactly_one() {
            return Socket::ExactlyOne(slot.call(site, |live| self.call_one(live, params)));
        }
        // The last plugin takes the parameters; the others get copies.
        let mut left = self.head.plugin_count();
        let mut params = Some(params);
        self.head.each_slot(|slot| {
            left = left.saturating_sub(1);
            let params = if left == 0 { params.take() } else { params.clone() };
            slot.call(site, |live| {
                let Some(params) = params else {
                    return Err(CallFailure::InvalidArguments(wasmtime::format_err!("no parameters left")));
                };
                self.call_one(live, params)
            })
        })
    }

    fn call_one(&self, live: &mut Live<P>, params: Params) -> Result<Results, CallFailure<P::Id>> {
        let func = typed_func::<P, Params, Results>(live, self.index).map_err(CallFailure::InvalidArguments)?;
        func.call(&mut live.store, params).map_err(|error| {
            let ran = error.downcast_ref::<wasmtime::Trap>().is_some()
                || error.chain().any(|cause| cause.downcast_ref::<SocketTrap<P::Id>>().is_some());
            if ran { CallFailure::Ran(error) } else { CallFailure::InvalidArguments(error) }
        })
    }
}

/// The instance's `TypedFunc` for function `index`, type-checked once per
/// instance and cached in it.
#[inline]
pub(crate) fn typed_func<P: 'static, Params, Results>(
    live: &mut Live<P>,
    index: usize,
) -> wasmtime::Result<TypedFunc<Params, Results>>
where
    Params: ComponentNamedList + Lower + Send + Sync + 'static,
    Results: ComponentNamedList + Lift + Send + Sync + 'static,
{
    if let Some(Some(cached)) = live.typed.get(index)
        && let Some(func) = cached.downcast_ref::<TypedFunc<Params, Results>>()
    {
        return Ok(*func);
    }
    check_typed_func(live, index)
}

/// The first typed call of function `index` on this instance: type-checks it
/// and caches the result.
#[cold]
fn check_typed_func<P: 'static, Params, Results>(
    live: &mut Live<P>,
    index: usize,
) -> wasmtime::Result<TypedFunc<Params, Results>>
where
    Params: ComponentNamedList + Lower + Send + Sync + 'static,
    Results: ComponentNamedList + Lift + Send + Sync + 'static,
{
    let func = live
        .funcs
        .get(index)
        .ok_or_else(|| wasmtime::format_err!("no function at index {index}"))?
        .typed::<Params, Results>(&live.store)?;
    if let Some(slot) = live.typed.get_mut(index) {
        *slot = Some(Box::new(func) as Box<dyn Any + Send + Sync>);
    }
    Ok(func)
}
