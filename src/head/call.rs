//! The root's calls: one call of one root plugin, blocking or awaited, with
//! the checks of the host's arguments (count, return, handles). The public
//! face that picks the plugins and shapes the results is the head's
//! (`mod.rs`).

use std::sync::Arc;

use wasmtime::component::Val;

use crate::PluginData;
use crate::dispatch_error::DispatchError;
use crate::graph::FunctionIndex;
use crate::instance::ctx::{Caller, Chain, Mode};
use crate::instance::{CallSite, Fail, PluginSlot, drive};

/// One call of a root function as the host made it: where it goes (the
/// function's site and index) and what it brings.
pub(super) struct RootCall<'a, P: PluginData> {
    pub(super) site: &'a CallSite<P>,
    pub(super) index: FunctionIndex,
    /// Whether the host expects a value back.
    pub(super) has_return: bool,
    pub(super) args: &'a [Val],
}

// By hand: a derive would ask `P: Copy` of the plugin type.
impl<P: PluginData> Clone for RootCall<'_, P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P: PluginData> Copy for RootCall<'_, P> {}

/// What one root plugin's call gives.
pub(super) type DispatchResult<P> = Result<Val, DispatchError<<P as PluginData>::Id>>;

/// Calls one root plugin (whichever instance of it is free), in `mode`.
pub(super) async fn call<P: PluginData>(
    mode: Mode,
    slot: &Arc<PluginSlot<P>>,
    call: RootCall<'_, P>,
) -> DispatchResult<P> {
    if mode == Mode::Sync {
        return call_blocking(slot, call);
    }
    let chain = Chain::polled().unwrap_or(Chain::NONE);
    call_on(mode, slot.route(chain, call.args), call).await
}

/// Calls instance `slot` of a root plugin, in `mode`.
pub(super) async fn call_on<P: PluginData>(
    mode: Mode,
    slot: &Arc<PluginSlot<P>>,
    call: RootCall<'_, P>,
) -> DispatchResult<P> {
    if mode == Mode::Sync {
        return call_now_on(slot, call);
    }
    let RootCall { site, index, args, .. } = call;
    let caller = Caller::host_async();
    let mut entered = slot.enter_call(mode, &caller, site).await?;
    let outcome = async {
        let live = entered.live()?;
        let returns = check_args(slot, live, call)?;
        let mut out = [Val::Bool(false)];
        live.call_vals_async(index, args, &mut out[..usize::from(returns)], false).await?;
        let [value] = out;
        Ok(if returns { value } else { Val::Tuple(Vec::new()) })
    }
    .await;
    entered.finish(outcome).await
}

/// [`call`], synchronously.
#[inline]
pub(super) fn call_blocking<P: PluginData>(slot: &Arc<PluginSlot<P>>, call: RootCall<'_, P>) -> DispatchResult<P> {
    call_now_on(slot.route(Caller::host().chain, call.args), call)
}

/// [`call_on`], synchronously.
#[inline]
pub(super) fn call_now_on<P: PluginData>(slot: &Arc<PluginSlot<P>>, call: RootCall<'_, P>) -> DispatchResult<P> {
    let RootCall { site, index, args, .. } = call;
    drive::with_stack(|| {
        let caller = Caller::host();
        let mut entered = slot.enter_blocking(&caller, site)?;
        let outcome = entered.live().and_then(|live| {
            let returns = check_args(slot, live, call)?;
            let mut out = [Val::Bool(false)];
            live.call_vals_blocking(index, args, &mut out[..usize::from(returns)], false)?;
            let [value] = out;
            Ok(if returns { value } else { Val::Tuple(Vec::new()) })
        });
        entered.finish_blocking(outcome)
    })
}

/// Refuses arguments of the wrong number, a return that is not there (or
/// is), and handles the plugin does not own; `Ok` says whether the function
/// returns a value.
#[inline]
pub(super) fn check_args<P: PluginData>(
    slot: &PluginSlot<P>,
    live: &crate::instance::Live<P>,
    call: RootCall<'_, P>,
) -> Result<bool, Fail<P::Id>> {
    let RootCall { site, index, has_return, args } = call;
    let refuse = |error| Err(Fail::Refused(Box::new(error)));
    let expected = live.param_counts[index];
    if args.len() != expected {
        return refuse(DispatchError::ArgumentCount {
            plugin: slot.id.clone(),
            interface: site.interface.clone(),
            function: site.function.clone(),
            expected,
            found: args.len(),
        });
    }
    let returns = live.result_counts[index] == 1;
    if returns != has_return {
        return refuse(DispatchError::ReturnMismatch {
            plugin: slot.id.clone(),
            interface: site.interface.clone(),
            function: site.function.clone(),
            returns,
        });
    }
    if live.param_resources[index] && args.iter().any(|arg| has_foreign_handle(arg, &live.resource_types)) {
        return refuse(DispatchError::InvalidResource {
            plugin: slot.id.clone(),
            interface: site.interface.clone(),
            function: site.function.clone(),
            reason: "a handle in the arguments is not owned by this plugin (or is stale)".to_owned(),
        });
    }
    Ok(returns)
}

/// The error of a synchronous call that did not complete when polled,
/// which the synchronous path never does: reported, never trusted.
#[cold]
pub(super) fn suspended<P: PluginData>(slot: &PluginSlot<P>) -> DispatchError<P::Id> {
    DispatchError::Unavailable {
        plugin: slot.id.clone(),
        interface: "(synchronous call)".into(),
        function: "(synchronous call)".into(),
        source: crate::wasm_error::WasmError::new(wasmtime::format_err!(
            "a synchronous call suspended; this is a wasm-link bug"
        )),
    }
}

/// Whether `val` holds a handle of a resource type the plugin's current
/// instance does not define: another plugin's, an earlier instance's, or a
/// proxy the host cannot vouch for.
pub(super) fn has_foreign_handle(val: &Val, types: &[Option<wasmtime::component::ResourceType>]) -> bool {
    match val {
        Val::Resource(handle) => !types.iter().flatten().any(|t| *t == handle.ty()),
        Val::List(items) | Val::Tuple(items) | Val::FixedLengthList(items) => {
            items.iter().any(|v| has_foreign_handle(v, types))
        }
        Val::Record(fields) => fields.iter().any(|(_, v)| has_foreign_handle(v, types)),
        Val::Variant(_, Some(v)) | Val::Option(Some(v)) | Val::Result(Ok(Some(v)) | Err(Some(v))) => {
            has_foreign_handle(v, types)
        }
        Val::Map(entries) => entries.iter().any(|(k, v)| has_foreign_handle(k, types) || has_foreign_handle(v, types)),
        _ => false,
    }
}
