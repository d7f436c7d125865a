//! Typed socket adapters: the common signatures forwarded without `Val`s.
//!
//! A socket function imported in plain shape (`T`, one plugin behind it, no
//! resources) whose parameters and result are scalars or strings of one type
//! is defined with `func_wrap` and forwarded to the provider's `TypedFunc`:
//! no value is boxed, lifted into a `Val` or lowered from one. Everything else
//! goes through the dynamic adapter ([`Adapter::call`](crate::socket::Adapter::call)).

use std::sync::Arc;

use wasmtime::component::types::{ComponentFunc, Type};
use wasmtime::component::{ComponentNamedList, Lift, LinkerInstance, Lower};

use wasmtime::StoreContextMut;

use crate::PluginData;
use crate::instance::ctx::{Mode, PluginCtx};
use crate::instance::drive;
use crate::shape::Shape;
use crate::socket::Adapter;

/// Defines `name` with a typed forwarder when its signature allows one;
/// `Ok(false)` when it does not (the caller defines it dynamically).
pub(crate) fn define<P: PluginData + Send + 'static>(
    linker: &mut LinkerInstance<'_, PluginCtx<P>>,
    name: &str,
    declared: &ComponentFunc,
    adapter: &Arc<Adapter<P>>,
) -> wasmtime::Result<bool> {
    if adapter.shape != Shape::Plain
        || adapter.method
        || adapter.cardinality != crate::InterfaceCardinality::ExactlyOne
        || adapter.convert_params
        || adapter.convert_result
    {
        return Ok(false);
    }
    let params: Vec<Type> = declared.params().map(|(_, t)| t).collect();
    let result = declared.results().next();
    // One element type for every parameter and the result keeps the number
    // of instantiations small while covering the usual `f(x) -> y` sockets.
    let element = match (params.first(), &result) {
        (Some(first), _) => first.clone(),
        (None, Some(result)) => result.clone(),
        (None, None) => return wrap::<P, (), ()>(linker, name, adapter).map(|()| true),
    };
    if !params.iter().all(|p| *p == element) || result.as_ref().is_some_and(|r| *r != element) {
        return Ok(false);
    }
    macro_rules! by_arity {
        ($t:ty) => {
            match (params.len(), result.is_some()) {
                (0, true) => wrap::<P, (), ($t,)>(linker, name, adapter),
                (1, true) => wrap::<P, ($t,), ($t,)>(linker, name, adapter),
                (2, true) => wrap::<P, ($t, $t), ($t,)>(linker, name, adapter),
                (1, false) => wrap::<P, ($t,), ()>(linker, name, adapter),
                (2, false) => wrap::<P, ($t, $t), ()>(linker, name, adapter),
                _ => return Ok(false),
            }
        };
    }
    match element {
        Type::U32 => by_arity!(u32),
        Type::S32 => by_arity!(i32),
        Type::U64 => by_arity!(u64),
        Type::S64 => by_arity!(i64),
        Type::Float32 => by_arity!(f32),
        Type::Float64 => by_arity!(f64),
        Type::Bool => by_arity!(bool),
        Type::String => by_arity!(String),
        _ => return Ok(false),
    }?;
    Ok(true)
}

/// Defines `name` as a typed call into the one plugin behind the socket,
/// synchronous or async by the adapter's mode.
fn wrap<P, Params, Results>(
    linker: &mut LinkerInstance<'_, PluginCtx<P>>,
    name: &str,
    adapter: &Arc<Adapter<P>>,
) -> wasmtime::Result<()>
where
    P: PluginData + Send + 'static,
    Params: ComponentNamedList + Lift + Lower + Send + Sync + 'static,
    Results: ComponentNamedList + Lift + Lower + Send + Sync + 'static,
{
    let adapter = adapter.clone();
    match adapter.mode {
        // The synchronous twin of `forward`: the same three steps, without
        // futures, on enough native stack.
        Mode::Sync => linker.func_wrap(name, move |store: StoreContextMut<'_, PluginCtx<P>>, params: Params| {
            let targets = adapter.members.load();
            let Some(target) = targets.first() else {
                return Err(wasmtime::format_err!("socket `{}` has no plugin", adapter.site.interface));
            };
            let caller = store.data().call.as_caller();
            let result = drive::with_stack(|| {
                let mut entered = target.pick(caller.chain).enter_now(&caller, &adapter.site)?;
                let outcome =
                    entered.live().and_then(|live| live.call_typed_now::<_, Params, Results>(adapter.function, params));
                entered.finish_now(outcome)
            });
            result.map_err(crate::socket::trap)
        }),
        Mode::Async => linker.func_wrap_async(name, move |store: StoreContextMut<'_, PluginCtx<P>>, params: Params| {
            let adapter = adapter.clone();
            Box::new(async move { forward::<P, Params, Results>(&adapter, store, params).await })
        }),
    }
}

/// One call through a typed socket function, asynchronously (the
/// synchronous form is written out in `wrap`).
async fn forward<P, Params, Results>(
    adapter: &Adapter<P>,
    store: StoreContextMut<'_, PluginCtx<P>>,
    params: Params,
) -> wasmtime::Result<Results>
where
    P: PluginData + Send + 'static,
    Params: ComponentNamedList + Lift + Lower + Send + Sync + 'static,
    Results: ComponentNamedList + Lift + Lower + Send + Sync + 'static,
{
    let targets = adapter.members.load_full();
    let Some(target) = targets.first() else {
        return Err(wasmtime::format_err!("socket `{}` has no plugin", adapter.site.interface));
    };
    let caller = store.data().call.as_caller();
    let result = async {
        let mut entered = target.pick(caller.chain).enter_call(Mode::Async, &caller, &adapter.site).await?;
        let outcome =
            async { entered.live()?.call_typed_async::<_, Params, Results>(adapter.function, params).await }.await;
        entered.finish(outcome).await
    }
    .await;
    result.map_err(crate::socket::trap)
}
