//! The typed fast path: a root function resolved once, called with Rust
//! values instead of `Val`s.

use std::marker::PhantomData;

use wasmtime::component::{ComponentNamedList, Lift, Lower};

use crate::dispatch_error::DispatchError;
use crate::head::PluginTreeHead;
use crate::instance::Fail;
use crate::instance::ctx::Caller;
use crate::{PluginData, Socket};

/// A root function with Rust parameter and result types, from
/// [`PluginTreeHead::typed`]. Calls skip `Val` boxing and the name lookup;
/// on an `ExactlyOne` or `AtMostOne` root they allocate nothing.
///
/// ```
/// # use wasm_link::*;
/// # fn example<P: PluginData + Send + 'static>(head: &PluginTreeHead<P>) {
/// let add = head.typed::<(u32, u32), (u32,)>("add").expect("`add` takes two u32s");
/// if let Socket::ExactlyOne(Ok((sum,))) = add.call((2, 3)) {
///     assert_eq!(sum, 5);
/// }
/// # }
/// ```
pub struct TypedDispatch<'a, P: PluginData + Send + 'static, Params, Results> {
    head: &'a PluginTreeHead<P>,
    index: usize,
    _types: PhantomData<fn(Params) -> Results>,
}

/// The result of a typed call: per plugin, in the root's cardinality shape.
pub type TypedResult<Results, Id> = Socket<Result<Results, DispatchError<Id>>, Id>;

impl<'a, P, Params, Results> TypedDispatch<'a, P, Params, Results>
where
    P: PluginData + Send + 'static,
    Params: ComponentNamedList + Lower + Clone + Send + Sync + 'static,
    Results: ComponentNamedList + Lift + Send + Sync + 'static,
{
    pub(crate) fn new(head: &'a PluginTreeHead<P>, index: usize) -> Self {
        Self { head, index, _types: PhantomData }
    }

    /// Calls the function on every plugin behind the root, in the root's
    /// cardinality shape. Resource methods are routed to their owner by
    /// [`PluginTreeHead::dispatch`] only; here they go to every plugin.
    pub fn call(&self, params: Params) -> TypedResult<Results, P::Id> {
        let site = self.head.site(self.index);
        let caller = Caller::host();
        // The common case, without the per-plugin bookkeeping below.
        if let Some(slot) = self.head.exactly_one() {
            return Socket::ExactlyOne(slot.invoke(&caller, site, |live| live.call_typed(self.index, params)));
        }
        // The last plugin takes the parameters; the others get copies.
        let mut left = self.head.plugin_count();
        let mut params = Some(params);
        self.head.each(|slot| {
            left = left.saturating_sub(1);
            let params = if left == 0 { params.take() } else { params.clone() };
            slot.invoke(&caller, site, |live| match params {
                Some(params) => live.call_typed(self.index, params),
                None => Err(Fail::InvalidArguments(wasmtime::format_err!("no parameters left"))),
            })
        })
    }
}
