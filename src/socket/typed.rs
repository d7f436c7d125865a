//! Typed socket adapters: the common signatures forwarded without `Val`s.
//!
//! A socket function imported in plain shape (`T`, one plugin behind it, no
//! resources) whose parameters and result are scalars or strings of one type
//! is defined with `func_wrap` and forwarded to the provider's `TypedFunc`:
//! no value is boxed, lifted into a `Val` or lowered from one. So are the
//! usual resource functions of such a signature: a constructor (or any
//! function) returning a fresh `own<R>`, and a method on `borrow<R>`; their
//! handles cross by the same steps as the dynamic adapter's
//! ([`resources::proxy_into`], [`resources::proxied`]). Everything else
//! goes through the dynamic adapter ([`Adapter::call`](crate::socket::Adapter::call)).

use std::sync::Arc;

use wasmtime::component::types::{ComponentFunc, Type};

use wasmtime::component::{ComponentType, Lift, LinkerInstance, Lower, ResourceAny, ResourceDynamic, ResourceType};
use wasmtime::{AsContextMut, StoreContextMut};

use crate::instance::ctx::{Mode, PluginCtx};
use crate::instance::drive;
use crate::shape::Shape;
use crate::socket::resources::{self, Endpoint};
use crate::socket::{Adapter, target_endpoint};
use crate::{PluginData, TypedParams, TypedResults};

/// Defines `name` with a typed forwarder when its signature allows one;
/// `Ok(false)` when it does not (the caller defines it dynamically).
/// `proxied` gives the payload of the proxied kind a resource type of the
/// declared signature stands for, if it is one of the socket's own.
pub(crate) fn define<P: PluginData>(
    linker: &mut LinkerInstance<'_, PluginCtx<P>>,
    name: &str,
    declared: &ComponentFunc,
    adapter: &Arc<Adapter<P>>,
    proxied: &dyn Fn(&ResourceType) -> Option<u32>,
) -> wasmtime::Result<bool> {
    if adapter.shape != Shape::Plain {
        return Ok(false);
    }
    let mut params: Vec<Type> = declared.params().map(|(_, t)| t).collect();
    let mut result = declared.results().next();
    let form = match (adapter.method, adapter.convert_params, adapter.convert_result) {
        (false, false, false) => Form::Plain,
        // A method on `borrow<R>` whose other parameters and result hold no
        // handles: routed to the owner of `R`.
        (true, _, false) if matches!(params.first(), Some(Type::Borrow(ty)) if proxied(ty).is_some()) => {
            params.remove(0);
            if params.iter().any(crate::types::has_resources) {
                return Ok(false);
            }
            Form::Method
        }
        // A function of plain parameters giving a fresh handle of the
        // socket's own (proxied) resource.
        (false, false, true) => match &result {
            Some(Type::Own(ty)) if let Some(payload) = proxied(ty) => {
                result = None;
                Form::Constructor(payload)
            }
            _ => return Ok(false),
        },
        _ => return Ok(false),
    };
    if form != Form::Method && adapter.cardinality != crate::InterfaceCardinality::ExactlyOne {
        return Ok(false);
    }
    // One element type for every parameter and the result keeps the number
    // of instantiations small while covering the usual `f(x) -> y` sockets.
    let element = match (params.first(), &result) {
        (Some(first), _) => first.clone(),
        (None, Some(result)) => result.clone(),
        (None, None) => return by_form::<P, (), ()>(form, linker, name, adapter).map(|()| true),
    };
    if !params.iter().all(|p| *p == element) || result.as_ref().is_some_and(|r| *r != element) {
        return Ok(false);
    }
    macro_rules! by_arity {
        ($t:ty) => {
            match (params.len(), result.is_some()) {
                (0, true) => by_form::<P, (), ($t,)>(form, linker, name, adapter),
                (1, true) => by_form::<P, ($t,), ($t,)>(form, linker, name, adapter),
                (2, true) => by_form::<P, ($t, $t), ($t,)>(form, linker, name, adapter),
                (1, false) => by_form::<P, ($t,), ()>(form, linker, name, adapter),
                (2, false) => by_form::<P, ($t, $t), ()>(form, linker, name, adapter),
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

/// What a typed adapter forwards: a plain call, a method routed to the
/// owner of its `self`, or a call whose result is a fresh handle.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    Plain,
    Method,
    /// The payload of the handle's proxied kind.
    Constructor(u32),
}

/// Defines `name` by its form; `Params` and `Results` are the plain
/// parameters and result (without the method's `self` or the constructor's
/// handle).
fn by_form<P, Params, Results>(
    form: Form,
    linker: &mut LinkerInstance<'_, PluginCtx<P>>,
    name: &str,
    adapter: &Arc<Adapter<P>>,
) -> wasmtime::Result<()>
where
    P: PluginData,
    Params: Prepend + Values,
    Results: Values,
{
    match form {
        Form::Plain => wrap::<P, Params, Results>(linker, name, adapter),
        Form::Method => wrap_method::<P, Params, Results>(linker, name, adapter),
        Form::Constructor(payload) => wrap_constructor::<P, Params>(linker, name, adapter, payload),
    }
}

/// Defines `name` as a typed call into the one plugin behind the socket,
/// synchronous or async by the adapter's mode.
fn wrap<P, Params, Results>(
    linker: &mut LinkerInstance<'_, PluginCtx<P>>,
    name: &str,
    adapter: &Arc<Adapter<P>>,
) -> wasmtime::Result<()>
where
    P: PluginData,
    Params: Values,
    Results: Values,
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
                let mut entered = target.pick(caller.chain).enter_blocking(&caller, &adapter.site)?;
                let outcome = entered
                    .live()
                    .and_then(|live| live.call_typed_blocking::<_, Params, Results>(adapter.function, params));
                entered.finish_blocking(outcome)
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
    P: PluginData,
    Params: Values,
    Results: Values,
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

/// The parameters or results a typed adapter both receives and forwards
/// (lifted from one store, lowered into another).
pub(crate) trait Values: TypedParams + TypedResults + Lift + Lower {}

impl<T: TypedParams + TypedResults + Lift + Lower> Values for T {}

/// One value of a [`Values`] tuple.
pub(crate) trait Value: ComponentType + Lift + Lower + Send + Sync + 'static {}

impl<T: ComponentType + Lift + Lower + Send + Sync + 'static> Value for T {}

/// A tuple of parameters with a handle put in front (a method's `self`) and
/// taken off again: the consumer's side lifts it as the proxy's
/// [`ResourceDynamic`], the owner's side gets its own [`ResourceAny`].
pub(crate) trait Prepend: Sized {
    /// The parameters with `H` in front.
    type With<H: Value>: Values;
    fn prepend<H: Value>(self, head: H) -> Self::With<H>;
    fn split<H: Value>(with: Self::With<H>) -> (H, Self);
}

impl Prepend for () {
    type With<H: Value> = (H,);
    fn prepend<H: Value>(self, head: H) -> (H,) {
        (head,)
    }
    fn split<H: Value>((head,): (H,)) -> (H, Self) {
        (head, ())
    }
}

impl<A: Value> Prepend for (A,) {
    type With<H: Value> = (H, A);
    fn prepend<H: Value>(self, head: H) -> (H, A) {
        (head, self.0)
    }
    fn split<H: Value>((head, a): (H, A)) -> (H, Self) {
        (head, (a,))
    }
}

impl<A, B> Prepend for (A, B)
where
    A: Value,
    B: Value,
{
    type With<H: Value> = (H, A, B);
    fn prepend<H: Value>(self, head: H) -> (H, A, B) {
        (head, self.0, self.1)
    }
    fn split<H: Value>((head, a, b): (H, A, B)) -> (H, Self) {
        (head, (a, b))
    }
}

/// Defines `$name` in `$linker` as a host function taking `$params` that
/// runs `$forward(&adapter, store, params, ..)` (an async fn of this
/// module): polled once on enough native stack in a synchronous tree,
/// awaited in an async one.
macro_rules! forwarder {
    ($linker:expr, $name:expr, $adapter:expr, $params:ty, $forward:expr $(, $extra:expr)*) => {{
        let adapter = $adapter.clone();
        match adapter.mode {
            Mode::Sync => $linker.func_wrap($name, move |store: StoreContextMut<'_, PluginCtx<P>>, params: $params| {
                drive::on_stack($forward(&adapter, store, params $(, $extra)*))
                    .unwrap_or_else(|| Err(wasmtime::format_err!("a synchronous socket call suspended")))
            }),
            Mode::Async => {
                $linker.func_wrap_async($name, move |store: StoreContextMut<'_, PluginCtx<P>>, params: $params| {
                    let adapter = adapter.clone();
                    Box::new(async move { $forward(&adapter, store, params $(, $extra)*).await })
                })
            }
        }
    }};
}

/// Defines method `name`: a typed call on the plugin that owns `self`.
fn wrap_method<P, Params, Results>(
    linker: &mut LinkerInstance<'_, PluginCtx<P>>,
    name: &str,
    adapter: &Arc<Adapter<P>>,
) -> wasmtime::Result<()>
where
    P: PluginData,
    Params: Prepend + Values,
    Results: Values,
{
    forwarder!(linker, name, adapter, Params::With<ResourceDynamic>, method::<P, Params, Results>)
}

/// One typed method call: the owner of the proxy `self` stands for, called
/// with its own handle (the dynamic adapter's `call_method`, without `Val`s).
async fn method<P, Params, Results>(
    adapter: &Adapter<P>,
    mut store: StoreContextMut<'_, PluginCtx<P>>,
    params: Params::With<ResourceDynamic>,
) -> wasmtime::Result<Results>
where
    P: PluginData,
    Params: Prepend + Values,
    Results: Values,
{
    let (this, params) = Params::split(params);
    let caller = store.data().call.as_caller();
    let result = async {
        let (owner, generation, inner) = resources::proxied(&mut store, this.rep())
            .map_err(|e| adapter.invalid_handle(super::describe_handle_error(e)))?;
        adapter.check_owner(&owner)?;
        let mut entered = owner.enter_call(adapter.mode, &caller, &adapter.site).await?;
        let outcome = async {
            let live = entered.live()?;
            adapter.check_generation(&owner, live, generation)?;
            let params = params.prepend(inner);
            match adapter.mode {
                Mode::Sync => live.call_typed_blocking::<_, _, Results>(adapter.function, params),
                Mode::Async => live.call_typed_async::<_, _, Results>(adapter.function, params).await,
            }
        }
        .await;
        entered.finish(outcome).await
    }
    .await;
    result.map_err(crate::socket::trap)
}

/// Defines `name`, a function of plain parameters giving a fresh handle: a
/// typed call into the one plugin behind the socket, its handle proxied in
/// the consumer's table.
fn wrap_constructor<P, Params>(
    linker: &mut LinkerInstance<'_, PluginCtx<P>>,
    name: &str,
    adapter: &Arc<Adapter<P>>,
    payload: u32,
) -> wasmtime::Result<()>
where
    P: PluginData,
    Params: Values,
{
    forwarder!(linker, name, adapter, Params, construct::<P, Params>, payload)
}

/// One typed call giving a fresh handle (the dynamic adapter's `invoke` and
/// `finish_call` for a result `own<R>`, without `Val`s).
async fn construct<P, Params>(
    adapter: &Adapter<P>,
    mut store: StoreContextMut<'_, PluginCtx<P>>,
    params: Params,
    payload: u32,
) -> wasmtime::Result<(ResourceDynamic,)>
where
    P: PluginData,
    Params: Values,
{
    let targets = adapter.members.load_full();
    let Some(target) = targets.first() else {
        return Err(wasmtime::format_err!("socket `{}` has no plugin", adapter.site.interface));
    };
    let caller = store.data().call.as_caller();
    let result = async {
        let target = target.pick(caller.chain);
        let mut entered = target.enter_call(adapter.mode, &caller, &adapter.site).await?;
        let outcome = async {
            let live = entered.live()?;
            let (handle,) = match adapter.mode {
                Mode::Sync => live.call_typed_blocking::<_, Params, (ResourceAny,)>(adapter.function, params)?,
                Mode::Async => live.call_typed_async::<_, Params, (ResourceAny,)>(adapter.function, params).await?,
            };
            let mut src = target_endpoint(target, live);
            let held = resources::take_handle(handle, &mut src, &adapter.kinds)
                .map_err(|error| adapter.handle_failure(target, error))?;
            // The consumer's store is all the new handle needs: its count
            // and limit are the store's.
            let mut dst =
                Endpoint { slot: None, generation: 0, resource_types: &[], store: store.as_context_mut(), taken: None };
            resources::proxy_into(&mut dst, held, false)
                .map_err(|error| adapter.result_failure(target, &mut store, error))
        }
        .await;
        entered.finish(outcome).await
    }
    .await;
    result.map(|rep| (ResourceDynamic::new_own(rep, payload),)).map_err(crate::socket::trap)
}
