//! Plugging one consumer's sockets into the plugins behind them.
//!
//! For each socket the consumer imports, every imported function is defined in
//! the consumer's linker with `func_new`, forwarding calls to the plugin(s)
//! behind the socket, each in its own store. The import's declared type picks
//! the result shape once, at load time ([`Shape`]); each call then only moves
//! values and, where the types hold resources, translates handles.

pub(crate) mod resources;
pub(crate) mod typed;

use std::borrow::Cow;
use std::sync::{Arc, OnceLock, Weak};

use wasmtime::component::types::{ComponentFunc, ComponentItem, Type};
use wasmtime::component::{Resource, Val};
use wasmtime::{AsContextMut, StoreContextMut};

use crate::PluginData;
use crate::dispatch_error::{DispatchError, SocketTrap};
use crate::graph::{FunctionIndex, InterfaceIndex};
use crate::instance::ctx::{Caller, Mode, PluginCtx};
use crate::instance::members::Members;
use crate::instance::{CallSite, Fail, Live, PluginSlot};
use crate::shape::{self, Shape};
use crate::types::ResourceNames;
use resources::{Endpoint, HandleError, Proxy, ResourceKinds};

/// The consumer's side of a socket call whose handles cross: its slot (none
/// during its own instantiation) and the resource types its instance
/// defines, read once per call.
struct Consumer<'a, P: PluginData> {
    slot: Option<&'a Arc<PluginSlot<P>>>,
    types: Vec<Option<wasmtime::component::ResourceType>>,
}

impl<'a, P: PluginData> Consumer<'a, P> {
    fn of(slot: Option<&'a Arc<PluginSlot<P>>>) -> Self {
        Self { slot, types: slot.map(|c| c.resource_types().clone()).unwrap_or_default() }
    }

    /// The consumer's store as one side of a crossing.
    fn endpoint<'e, 's>(
        &'e self,
        store: StoreContextMut<'s, PluginCtx<P>>,
        taken: Option<&'e mut Vec<resources::Taken<P>>>,
    ) -> Endpoint<'e, 's, P> {
        Endpoint {
            slot: self.slot,
            generation: self.slot.map_or(0, |c| c.generation()),
            resource_types: &self.types,
            store,
            taken,
        }
    }
}

/// The target's live instance as one side of a crossing.
fn target_endpoint<'e, P: PluginData>(target: &'e Arc<PluginSlot<P>>, live: &'e mut Live<P>) -> Endpoint<'e, 'e, P> {
    Endpoint {
        slot: Some(target),
        generation: live.generation,
        resource_types: &live.resource_types,
        store: live.store.as_context_mut(),
        taken: None,
    }
}

/// Everything a socket function needs at call time, resolved at load time.
pub(crate) struct Adapter<P: PluginData> {
    pub(crate) site: CallSite<P>,
    /// The consumer's own slot, set once it is instantiated (a weak link: the
    /// consumer's store owns this adapter).
    pub(crate) consumer: Arc<OnceLock<Weak<PluginSlot<P>>>>,
    /// The consumer's id, for errors raised before its slot exists (a call
    /// from its start function).
    pub(crate) consumer_id: P::Id,
    /// The plugins behind the socket, by id, as they are when a call starts.
    pub(crate) members: Arc<Members<P>>,
    /// The socket interface (an index into the tree's interfaces).
    pub(crate) interface: InterfaceIndex,
    /// The interface's cardinality: an `ExactlyOne` socket has one plugin
    /// behind it, however plugins are swapped.
    pub(crate) cardinality: crate::InterfaceCardinality,
    /// The function's index in the socket interface.
    pub(crate) function: FunctionIndex,
    pub(crate) shape: Shape,
    pub(crate) method: bool,
    pub(crate) convert_params: bool,
    pub(crate) convert_result: bool,
    pub(crate) kinds: Arc<ResourceKinds>,
    /// How the consumer calls through the socket: synchronously in a tree
    /// loaded with `load`, asynchronously (awaiting the plugins behind it) in
    /// one loaded with `load_async`.
    pub(crate) mode: Mode,
}

impl<P: PluginData> Adapter<P> {
    /// Defines the socket's resources and functions in `linker`.
    pub(crate) fn define_resource(
        linker: &mut wasmtime::component::LinkerInstance<'_, PluginCtx<P>>,
        name: &str,
        ty: wasmtime::component::ResourceType,
    ) -> wasmtime::Result<()> {
        linker.resource(name, ty, |mut store: StoreContextMut<'_, PluginCtx<P>>, rep| {
            // Dropping the proxy drops the owner's handle, within what is
            // left of the dropping call's deadline.
            let caller = store.data().call.as_caller();
            let removed: Result<Proxy<P>, _> =
                store.data_mut().plugin_mut().resource_table().delete(Resource::new_own(rep));
            if let Ok(proxy) = removed {
                proxy.drop_for(&caller);
            }
            Ok(())
        })
    }

    /// Defines socket function `name` in the consumer's linker: a host
    /// function forwarding to [`call`](Self::call), synchronous or async by
    /// the adapter's mode.
    pub(crate) fn define(
        self: Arc<Self>,
        linker: &mut wasmtime::component::LinkerInstance<'_, PluginCtx<P>>,
        name: &str,
    ) -> wasmtime::Result<()> {
        match self.mode {
            Mode::Sync => linker.func_new(name, move |store, ty, params: &[Val], results: &mut [Val]| {
                crate::instance::drive::on_stack(self.call(store, &ty, params, results))
                    .unwrap_or_else(|| Err(wasmtime::format_err!("a synchronous socket call suspended")))
            }),
            Mode::Async => linker.func_new_async(name, move |store, ty, params: &[Val], results: &mut [Val]| {
                let adapter = self.clone();
                Box::new(async move { adapter.call(store, &ty, params, results).await })
            }),
        }
    }

    /// Handles one call the consumer made through the socket.
    pub(crate) async fn call(
        &self,
        mut store: StoreContextMut<'_, PluginCtx<P>>,
        ty: &ComponentFunc,
        params: &[Val],
        results: &mut [Val],
    ) -> wasmtime::Result<()> {
        let mut taken = Vec::new();
        let outcome = self.forward(&mut store, ty, params, results, &mut taken).await;
        for handle in &taken {
            handle.release_undelivered();
        }
        if self.convert_params || self.method {
            resources::release_borrows(self.mode, params, &taken, &mut store).await;
        }
        outcome
    }

    async fn forward(
        &self,
        store: &mut StoreContextMut<'_, PluginCtx<P>>,
        ty: &ComponentFunc,
        params: &[Val],
        results: &mut [Val],
        taken: &mut Vec<resources::Taken<P>>,
    ) -> wasmtime::Result<()> {
        let caller = store.data().call.as_caller();
        // The consumer's own slot matters only when handles cross.
        let handles_cross = self.convert_params || self.convert_result || self.method;
        let slot = if handles_cross { self.consumer.get().and_then(Weak::upgrade) } else { None };
        // The instance of the consumer making the call (one of a pool).
        let consumer = Consumer::of(slot.as_ref().map(|slot| slot.instance(store.data().replica)));
        let result_ty = if self.convert_result { shape::inner_type(ty.results().next(), self.shape) } else { None };
        if self.method {
            let outcome = self.call_method(&caller, &consumer, store, taken, params, result_ty.as_ref()).await;
            return self.deliver_single(outcome, results);
        }
        let result_ty = result_ty.as_ref();
        // The plugins as they are now: a swap meanwhile changes later calls.
        let targets = self.members.load();
        // The plugins behind a socket are called in turn: the consumer's
        // store, which their arguments and results cross, is one.
        macro_rules! call {
            ($target:expr) => {
                self.invoke(&caller, $target, &consumer, store, taken, params, result_ty).await
            };
        }
        match self.shape {
            Shape::Plain | Shape::Result(_) if targets.len() == 1 => {
                let outcome = call!(&targets[0]);
                self.deliver_single(outcome, results)
            }
            Shape::Plain => {
                // A function without a result on a multi-plugin socket: call all.
                for target in targets.iter() {
                    call!(target).map_err(trap)?;
                }
                Ok(())
            }
            Shape::Result(_) => Err(wasmtime::format_err!("socket `{}` has no plugin", self.site.interface)),
            Shape::Tagged(kind) => {
                let Some(target) = targets.first() else {
                    return Err(wasmtime::format_err!("socket `{}` has no plugin", self.site.interface));
                };
                let outcome = call!(target);
                set(results, shape::wrap_tagged(&target.label, outcome, kind));
                Ok(())
            }
            Shape::OptionTagged(kind) => {
                let value = match targets.first() {
                    None => None,
                    Some(target) => Some(Box::new(shape::wrap_tagged(&target.label, call!(target), kind))),
                };
                set(results, Val::Option(value));
                Ok(())
            }
            Shape::MapTagged(kind) => {
                let mut pairs = Vec::with_capacity(targets.len());
                for target in targets.iter() {
                    let outcome = call!(target);
                    pairs.push((Val::String(target.label.to_string()), shape::wrap_result(outcome, kind)));
                }
                set(results, Val::Map(pairs));
                Ok(())
            }
            Shape::Option | Shape::OptionResult(_) => {
                let value = match targets.first() {
                    None => Val::Option(None),
                    Some(target) => {
                        let value = match self.shape {
                            Shape::OptionResult(kind) => shape::wrap_result(call!(target), kind),
                            _ => unwrap_value(call!(target).map_err(trap)?),
                        };
                        Val::Option(Some(Box::new(value)))
                    }
                };
                set(results, value);
                Ok(())
            }
            Shape::List | Shape::ListResult(_) | Shape::ListTagged(_) => {
                let mut items = Vec::with_capacity(targets.len());
                for target in targets.iter() {
                    let outcome = call!(target);
                    items.push(match self.shape {
                        Shape::ListResult(kind) => shape::wrap_result(outcome, kind),
                        Shape::ListTagged(kind) => {
                            Val::Tuple(vec![Val::String(target.label.to_string()), shape::wrap_result(outcome, kind)])
                        }
                        _ => unwrap_value(outcome.map_err(trap)?),
                    });
                }
                set(results, Val::List(items));
                Ok(())
            }
        }
    }

    fn deliver_single(
        &self,
        outcome: Result<Option<Val>, DispatchError<P::Id>>,
        results: &mut [Val],
    ) -> wasmtime::Result<()> {
        match self.shape {
            Shape::Result(kind) | Shape::OptionResult(kind) | Shape::ListResult(kind) | Shape::ListTagged(kind) => {
                set(results, shape::wrap_result(outcome, kind));
            }
            _ => {
                if let Some(value) = outcome.map_err(trap)? {
                    set(results, value);
                }
            }
        }
        Ok(())
    }

    /// Calls the function on one plugin, translating handles both ways.
    #[allow(clippy::too_many_arguments, reason = "the two stores and their context")]
    async fn invoke(
        &self,
        caller: &Caller,
        target: &Arc<PluginSlot<P>>,
        consumer: &Consumer<'_, P>,
        store: &mut StoreContextMut<'_, PluginCtx<P>>,
        taken: &mut Vec<resources::Taken<P>>,
        params: &[Val],
        result_ty: Option<&Type>,
    ) -> Result<Option<Val>, DispatchError<P::Id>> {
        // A pooled plugin given back one of its handles runs the call on the
        // instance that made it.
        let routed = if self.convert_params && target.is_pooled() {
            let mut src = consumer.endpoint(store.as_context_mut(), Some(&mut *taken));
            resources::route_owner(params, &mut src, &self.kinds).filter(|owner| owner.id == target.id)
        } else {
            None
        };
        let target = routed.as_ref().unwrap_or_else(|| target.pick(caller.chain));
        let mut entered = match self.mode {
            Mode::Sync => target.enter_blocking(caller, &self.site)?,
            Mode::Async => target.enter_call(Mode::Async, caller, &self.site).await?,
        };
        let outcome = async {
            let live = entered.live()?;
            let mut lent = Vec::new();
            let args: Cow<'_, [Val]> = if self.convert_params {
                let mut args = Vec::with_capacity(params.len());
                self.lend_args(target, consumer, live, store, taken, params, &mut args, &mut lent).await?;
                Cow::Owned(args)
            } else {
                Cow::Borrowed(params)
            };
            self.finish_call(target, live, consumer, store, &args, &mut lent, result_ty).await
        }
        .await;
        match self.mode {
            Mode::Sync => entered.finish_blocking(outcome),
            Mode::Async => entered.finish(outcome).await,
        }
    }

    /// Calls a resource method on the plugin that owns the resource.
    async fn call_method(
        &self,
        caller: &Caller,
        consumer: &Consumer<'_, P>,
        store: &mut StoreContextMut<'_, PluginCtx<P>>,
        taken: &mut Vec<resources::Taken<P>>,
        params: &[Val],
        result_ty: Option<&Type>,
    ) -> Result<Option<Val>, DispatchError<P::Id>> {
        let Some(Val::Resource(handle)) = params.first() else {
            return Err(self.invalid_handle("a method call without a resource handle".to_owned()));
        };
        let mut src = consumer.endpoint(store.as_context_mut(), Some(&mut *taken));
        let resources::Held { owner, generation, handle: inner, .. } =
            resources::take_handle(*handle, &mut src, &self.kinds)
                .map_err(|e| self.invalid_handle(describe_handle_error(e)))?;
        self.check_owner(&owner)?;
        let mut entered = owner.enter_call(self.mode, caller, &self.site).await?;
        let outcome = async {
            let live = entered.live()?;
            self.check_generation(&owner, live, generation)?;
            let mut lent = Vec::new();
            let mut args = Vec::with_capacity(params.len());
            args.push(Val::Resource(inner));
            if params.len() > 1 {
                self.lend_args(&owner, consumer, live, store, taken, params, &mut args, &mut lent).await?;
            }
            self.finish_call(&owner, live, consumer, store, &args, &mut lent, result_ty).await
        }
        .await;
        entered.finish(outcome).await
    }

    /// Converts the arguments in `params` after those already in `args`
    /// (the method's own handle) from the consumer's store into the
    /// target's, translating handles; on failure the borrows lent so far are
    /// taken back.
    #[allow(clippy::too_many_arguments, reason = "the two stores and their context")]
    async fn lend_args(
        &self,
        target: &Arc<PluginSlot<P>>,
        consumer: &Consumer<'_, P>,
        live: &mut Live<P>,
        store: &mut StoreContextMut<'_, PluginCtx<P>>,
        taken: &mut Vec<resources::Taken<P>>,
        params: &[Val],
        args: &mut Vec<Val>,
        lent: &mut Vec<(u32, wasmtime::component::ResourceAny)>,
    ) -> Result<(), Fail<P::Id>> {
        let param_types: Vec<Type> = live.func_types[self.function].params().map(|(_, t)| t).collect();
        let failed = {
            let mut src = consumer.endpoint(store.as_context_mut(), Some(taken));
            let mut dst = target_endpoint(target, live);
            let mut failed = None;
            for (param, ty) in params.iter().zip(param_types).skip(args.len()) {
                match resources::convert(param.clone(), &ty, &mut src, &mut dst, &self.kinds, lent) {
                    Ok(arg) => args.push(arg),
                    Err(error) => {
                        failed = Some(error);
                        break;
                    }
                }
            }
            failed
        };
        if let Some(error) = failed {
            resources::return_lent(self.mode, &mut live.store.as_context_mut(), lent).await;
            if let HandleError::Lent(limit) = error {
                // The consumer's budget, recorded in its call (so that a
                // consumer trapped by it is charged with it).
                let budget = crate::Budget::Handles { limit };
                store.data_mut().call.hit = Some(budget.clone());
                return Err(Fail::refused(DispatchError::BudgetExceeded {
                    plugin: self.consumer_id.clone(),
                    interface: self.site.interface.clone(),
                    function: self.site.function.clone(),
                    budget,
                    reinstantiated: false,
                }));
            }
            return Err(self.handle_failure(target, error));
        }
        Ok(())
    }

    /// Runs the call on `live` and brings the result back to the consumer.
    #[allow(clippy::too_many_arguments, reason = "the two stores and their context")]
    async fn finish_call(
        &self,
        target: &Arc<PluginSlot<P>>,
        live: &mut Live<P>,
        consumer: &Consumer<'_, P>,
        store: &mut StoreContextMut<'_, PluginCtx<P>>,
        args: &[Val],
        lent: &mut Vec<(u32, wasmtime::component::ResourceAny)>,
        result_ty: Option<&Type>,
    ) -> Result<Option<Val>, Fail<P::Id>> {
        let returns = live.result_counts[self.function] == 1;
        let mut out = [Val::Bool(false)];
        let slots = &mut out[..usize::from(returns)];
        let called = match self.mode {
            Mode::Sync => live.call_vals_blocking(self.function, args, slots, true),
            Mode::Async => live.call_vals_async(self.function, args, slots, true).await,
        };
        if !lent.is_empty() {
            resources::return_lent(self.mode, &mut live.store.as_context_mut(), lent).await;
        }
        called?;
        if !returns {
            return Ok(None);
        }
        let [value] = out;
        let Some(ty) = result_ty else {
            return Ok(Some(value));
        };
        let mut src = target_endpoint(target, live);
        let mut dst = consumer.endpoint(store.as_context_mut(), None);
        let mut no_lending = Vec::new();
        let converted = resources::convert(value, ty, &mut src, &mut dst, &self.kinds, &mut no_lending);
        converted.map(Some).map_err(|error| self.result_failure(target, store, error))
    }

    /// Why a result's handles could not reach the consumer. Over the
    /// consumer's handle budget, the consumer's failure, not the
    /// provider's, which did its part: the handle went back to the provider,
    /// and the budget is recorded in the consumer's call, so that a consumer
    /// trapped by it is charged with it. Anything else is the provider's.
    #[cold]
    fn result_failure(
        &self,
        target: &Arc<PluginSlot<P>>,
        store: &mut StoreContextMut<'_, PluginCtx<P>>,
        error: HandleError,
    ) -> Fail<P::Id> {
        let HandleError::Budget(limit) = error else {
            return self.handle_failure(target, error);
        };
        let budget = crate::Budget::Handles { limit };
        store.data_mut().call.hit = Some(budget.clone());
        Fail::refused(DispatchError::BudgetExceeded {
            plugin: self.consumer_id.clone(),
            interface: self.site.interface.clone(),
            function: self.site.function.clone(),
            budget,
            reinstantiated: false,
        })
    }

    /// The consumer's mistake with the handle a method was called on.
    #[cold]
    fn invalid_handle(&self, reason: String) -> DispatchError<P::Id> {
        DispatchError::InvalidResource {
            plugin: self.consumer_id.clone(),
            interface: self.site.interface.clone(),
            function: self.site.function.clone(),
            reason,
        }
    }

    /// A method goes to the owner's plug, not to the plugins behind the
    /// socket now: a plugin replaced or removed since keeps serving the
    /// handles it gave out until they are dropped. The owner must serve this
    /// socket's interface all the same.
    fn check_owner(&self, owner: &PluginSlot<P>) -> Result<(), DispatchError<P::Id>> {
        if owner.plug == self.interface {
            return Ok(());
        }
        Err(self.invalid_handle(format!("plugin `{}` is not behind this socket", owner.label)))
    }

    /// A handle of an instance of the owner since replaced (after a trap)
    /// is gone with it.
    fn check_generation(&self, owner: &PluginSlot<P>, live: &Live<P>, generation: u64) -> Result<(), Fail<P::Id>> {
        if live.generation == generation {
            return Ok(());
        }
        Err(Fail::refused(DispatchError::InvalidResource {
            plugin: owner.id.clone(),
            interface: self.site.interface.clone(),
            function: self.site.function.clone(),
            reason: "the resource belonged to an earlier instance of the plugin".to_owned(),
        }))
    }

    fn handle_failure(&self, target: &Arc<PluginSlot<P>>, error: HandleError) -> Fail<P::Id> {
        if let HandleError::Budget(limit) = error {
            return Fail::refused(DispatchError::BudgetExceeded {
                plugin: target.id.clone(),
                interface: self.site.interface.clone(),
                function: self.site.function.clone(),
                budget: crate::Budget::Handles { limit },
                reinstantiated: false,
            });
        }
        Fail::refused(DispatchError::InvalidResource {
            plugin: target.id.clone(),
            interface: self.site.interface.clone(),
            function: self.site.function.clone(),
            reason: describe_handle_error(error),
        })
    }
}

fn describe_handle_error(error: HandleError) -> String {
    match error {
        HandleError::Foreign(reason) => reason,
        HandleError::Stale => "the resource belonged to an earlier instance of its plugin".to_owned(),
        HandleError::Wasm(error) => crate::wasm_error::WasmError::new(error).to_string(),
        HandleError::Budget(limit) => format!("the receiver already holds its limit of {limit} handles"),
        HandleError::Lent(limit) => format!("the caller lends more than its limit of {limit} handles at once"),
    }
}

fn set(results: &mut [Val], value: Val) {
    if let Some(slot) = results.first_mut() {
        *slot = value;
    }
}

fn unwrap_value(value: Option<Val>) -> Val {
    value.unwrap_or(Val::Tuple(Vec::new()))
}

/// Turns a socket failure into the error that traps the consumer.
pub(crate) fn trap<Id: crate::Key>(error: DispatchError<Id>) -> wasmtime::Error {
    wasmtime::Error::new(SocketTrap(Arc::new(error)))
}

/// The socket functions a consumer imports and the shapes it declared them in.
pub(crate) struct SocketImports {
    pub(crate) resources: Vec<(String, usize)>,
    pub(crate) functions: Vec<(String, usize, ComponentFunc)>,
}

/// Reads what a consumer imports from a socket instance.
pub(crate) fn socket_imports(
    engine: &wasmtime::Engine,
    instance_name: &str,
    item: &ComponentItem,
    functions: &[crate::graph::FunctionMeta],
    resources: &[String],
    names: &ResourceNames,
) -> Result<SocketImports, String> {
    let ComponentItem::ComponentInstance(instance) = item else {
        return Err("it is imported as something other than an instance".to_owned());
    };
    let mut imports = SocketImports { resources: Vec::new(), functions: Vec::new() };
    for (name, export) in instance.exports(engine) {
        match export.ty {
            // A resource another imported interface defines, re-exported here
            // by a WIT `use`: wasmtime ties it to that import, nothing to define.
            ComponentItem::Resource(ty) if names.name(&ty).is_some_and(|(owner, _)| owner != instance_name) => {}
            ComponentItem::Resource(_) => match resources.iter().position(|r| r == name) {
                Some(index) => imports.resources.push((name.to_owned(), index)),
                None => {
                    return Err(format!("it imports resource `{name}`, which the interface does not declare"));
                }
            },
            ComponentItem::ComponentFunc(ty) => match functions.iter().position(|f| f.name == name) {
                Some(index) => imports.functions.push((name.to_owned(), index, ty)),
                None => {
                    return Err(format!("it imports function `{name}`, which the interface does not declare"));
                }
            },
            ComponentItem::Type(_) => {}
            _ => {
                return Err(format!("it imports `{name}`, which is neither a function nor a resource"));
            }
        }
    }
    Ok(imports)
}
