//! Resource handles crossing plugins: proxies, routing and drop forwarding.
//!
//! A resource lives in the store of the plugin that created it (its *owner*).
//! When a handle crosses a socket into another plugin, that plugin receives a
//! handle of a host resource type the runtime defined for its import, whose
//! table entry (a [`Proxy`]) records the owner and the owner's handle. Method
//! calls on it are routed to the owner; dropping it drops the owner's handle.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use wasmtime::StoreContextMut;
use wasmtime::component::types::Type;
use wasmtime::component::{Resource, ResourceAny, ResourceDynamic, ResourceType, Val};

use crate::PluginData;
use crate::graph::InterfaceIndex;
use crate::instance::PluginSlot;
use crate::instance::ctx::{Mode, PluginCtx};

/// A handle owned by another plugin, as held in a consumer's resource table.
pub(crate) struct Proxy<P: PluginData> {
    pub(crate) owner: Arc<PluginSlot<P>>,
    pub(crate) generation: u64,
    handle: Option<ResourceAny>,
    /// Whether dropping the proxy drops the owner's handle (false for the
    /// temporary entries that lend a borrow for one call).
    owned: bool,
    /// The holder's count of held handles, decremented on drop.
    held: Option<Arc<std::sync::atomic::AtomicUsize>>,
}

impl<P: PluginData> Proxy<P> {
    /// Drops the proxy as `caller`'s doing (a consumer dropping its
    /// handle during a call): the owner's destructor runs within that
    /// call's deadline.
    pub(crate) fn drop_for(mut self, caller: &crate::instance::ctx::Caller) {
        if self.owned
            && let Some(handle) = self.handle.take()
        {
            self.owner.release_for(self.generation, handle, caller);
        }
    }
}

impl<P: PluginData> Drop for Proxy<P> {
    fn drop(&mut self) {
        if let Some(held) = &self.held {
            held.fetch_sub(1, Ordering::Relaxed);
        }
        if self.owned
            && let Some(handle) = self.handle.take()
        {
            self.owner.release(self.generation, handle);
        }
    }
}

/// One resource type of one interface, as consumers import it.
pub(crate) struct ResourceKind {
    pub(crate) payload: u32,
    pub(crate) ty: ResourceType,
    /// Index of the interface that defines it, and of the resource in it.
    pub(crate) interface: InterfaceIndex,
    pub(crate) resource: usize,
}

/// Every resource kind of a loaded tree.
#[derive(Default)]
pub(crate) struct ResourceKinds(pub(crate) Vec<ResourceKind>);

/// Payloads for `ResourceType::host_dynamic`, unique in the process so that
/// handles of two trees can never be confused.
static NEXT_PAYLOAD: AtomicU32 = AtomicU32::new(0x574c_0000);

impl ResourceKinds {
    pub(crate) fn add(&mut self, interface: InterfaceIndex, resource: usize) -> u32 {
        let payload = NEXT_PAYLOAD.fetch_add(1, Ordering::Relaxed);
        self.0.push(ResourceKind { payload, ty: ResourceType::host_dynamic(payload), interface, resource });
        payload
    }

    pub(crate) fn by_type(&self, ty: &ResourceType) -> Option<&ResourceKind> {
        self.0.iter().find(|kind| kind.ty == *ty)
    }

    pub(crate) fn find(&self, interface: InterfaceIndex, resource: usize) -> Option<&ResourceKind> {
        self.0.iter().find(|k| k.interface == interface && k.resource == resource)
    }
}

/// Why a handle could not cross.
#[derive(Debug)]
pub(crate) enum HandleError {
    /// The handle belongs to neither the receiving plugin nor a type it imports.
    Foreign(String),
    /// The owner was re-instantiated since the handle was made.
    Stale,
    /// wasmtime refused the conversion (a dropped or mistyped handle).
    Wasm(wasmtime::Error),
    /// The receiver already holds as many handles as its budget allows.
    Budget(usize),
    /// The lender lends more borrows at once than its handle budget allows
    /// (each lent borrow is an entry in the receiver's table for the call).
    Lent(usize),
}

impl From<wasmtime::Error> for HandleError {
    fn from(error: wasmtime::Error) -> Self {
        Self::Wasm(error)
    }
}

impl From<wasmtime::component::ResourceTableError> for HandleError {
    fn from(error: wasmtime::component::ResourceTableError) -> Self {
        Self::Wasm(wasmtime::Error::new(error))
    }
}

/// One side of a crossing: a plugin's store, and its slot when known.
pub(crate) struct Endpoint<'a, 's, P: PluginData> {
    pub(crate) slot: Option<&'a Arc<PluginSlot<P>>>,
    pub(crate) generation: u64,
    pub(crate) resource_types: &'a [Option<ResourceType>],
    pub(crate) store: StoreContextMut<'s, PluginCtx<P>>,
    /// Handles already taken out of this (source) store during the current
    /// socket call: the same arguments go to every plugin behind a socket, and
    /// a handle can be lifted out of a store only once.
    pub(crate) taken: Option<&'a mut Vec<Taken<P>>>,
}

/// A handle taken out of a consumer's store: the consumer's handle, the
/// owner, the owner's generation and handle, and whether it was an owned one
/// (which can go to one plugin only).
pub(crate) struct Taken<P: PluginData> {
    from: ResourceAny,
    owner: Arc<PluginSlot<P>>,
    generation: u64,
    handle: ResourceAny,
    owned: bool,
    /// False while the handle was only taken to find its owner (the
    /// instance a call to a pooled plugin must go to): the next conversion
    /// delivers it.
    delivered: bool,
}

impl<P: PluginData> Taken<P> {
    /// Gives an owned handle that was taken but never delivered (the call
    /// failed first) back to its owner.
    pub(crate) fn release_undelivered(&self) {
        if self.owned && !self.delivered {
            self.owner.release(self.generation, self.handle);
        }
    }
}

/// The owner of the first handle in `params` that `src` holds of another
/// plugin: the instance a call given it must run on. The handle is taken
/// out of `src` (recorded, not yet delivered: the call's conversion
/// delivers it).
pub(crate) fn route_owner<P: PluginData>(
    params: &[Val],
    src: &mut Endpoint<'_, '_, P>,
    kinds: &ResourceKinds,
) -> Option<Arc<PluginSlot<P>>> {
    let handle = *first_proxy(params, kinds)?;
    // Taken already (for another plugin behind the socket): its owner.
    if let Some(taken) = src.taken.as_deref().and_then(|t| t.iter().find(|t| t.from == handle)) {
        return Some(taken.owner.clone());
    }
    let Held { owner, .. } = take_handle(handle, src, kinds).ok()?;
    if let Some(taken) = src.taken.as_deref_mut().and_then(|t| t.iter_mut().find(|t| t.from == handle)) {
        taken.delivered = false;
    }
    Some(owner)
}

/// The first handle in `vals` of a resource the runtime proxies.
fn first_proxy<'v>(vals: &'v [Val], kinds: &ResourceKinds) -> Option<&'v ResourceAny> {
    vals.iter().find_map(|val| match val {
        Val::Resource(handle) => kinds.by_type(&handle.ty()).is_some().then_some(handle),
        Val::List(items) | Val::Tuple(items) | Val::FixedLengthList(items) => first_proxy(items, kinds),
        Val::Record(fields) => fields.iter().find_map(|(_, v)| first_proxy(std::slice::from_ref(v), kinds)),
        Val::Variant(_, Some(v)) | Val::Option(Some(v)) | Val::Result(Ok(Some(v)) | Err(Some(v))) => {
            first_proxy(std::slice::from_ref(&**v), kinds)
        }
        Val::Map(entries) => entries.iter().find_map(|(k, v)| {
            first_proxy(std::slice::from_ref(k), kinds).or_else(|| first_proxy(std::slice::from_ref(v), kinds))
        }),
        _ => None,
    })
}

/// Refuses to lend one more borrow for a call than the lender's handle
/// budget: `lent` are already lent.
fn lends_within_budget<P: PluginData>(
    borrow: bool,
    lender: Option<&Arc<PluginSlot<P>>>,
    lent: usize,
) -> Result<(), HandleError> {
    match lender {
        Some(lender) if borrow && lent >= lender.limits.handles => Err(HandleError::Lent(lender.limits.handles)),
        _ => Ok(()),
    }
}

/// Moves `val` from `src`'s store into `dst`'s, where it has type `ty`,
/// translating every resource handle in it. Table entries made only to lend a
/// borrow for one call are recorded in `lent`, to be removed after the call.
pub(crate) fn convert<P: PluginData>(
    val: Val,
    ty: &Type,
    src: &mut Endpoint<'_, '_, P>,
    dst: &mut Endpoint<'_, '_, P>,
    kinds: &ResourceKinds,
    lent: &mut Vec<(u32, ResourceAny)>,
) -> Result<Val, HandleError> {
    Ok(match (val, ty) {
        (Val::Resource(handle), Type::Own(expected) | Type::Borrow(expected)) => {
            let borrow = matches!(ty, Type::Borrow(_));
            let held = take_handle(handle, src, kinds)?;
            if let Some(kind) = kinds.by_type(expected) {
                // A borrow is lent for one call and taken back after it: the
                // lender, which decides how many it lends, may lend as many
                // at once as its budget holds.
                lends_within_budget(borrow, src.slot, lent.len())?;
                let rep = proxy_into(dst, held, borrow)?;
                // A borrow is lent as an owned host handle: wasmtime can only
                // mint borrows inside a call of the receiving store, and an own
                // handle lowers into a `borrow` parameter all the same. It is
                // taken back after the call.
                let any = ResourceDynamic::new_own(rep, kind.payload).try_into_resource_any(&mut dst.store)?;
                if borrow {
                    lent.push((rep, any));
                }
                Val::Resource(any)
            } else {
                let Held { owner, generation, handle, given_up } = held;
                let is_owner = dst.slot.is_some_and(|slot| Arc::ptr_eq(slot, &owner));
                if !is_owner || handle.ty() != *expected {
                    if given_up {
                        // The consumer gave it up: give it back to its owner
                        // rather than leak it there.
                        owner.release(generation, handle);
                    }
                    if dst.slot.is_some_and(|slot| slot.id == owner.id) {
                        // A pooled plugin: the handle is another instance's.
                        return Err(HandleError::Foreign(format!(
                            "the handle was made by another instance of pooled plugin `{}`: give it back through a method of its resource",
                            owner.label
                        )));
                    }
                    return Err(HandleError::Foreign(format!(
                        "a handle owned by plugin `{}` cannot be given to plugin `{}`",
                        owner.label,
                        dst.slot.map_or("<host>", |s| &*s.label)
                    )));
                }
                if generation != dst.generation {
                    return Err(HandleError::Stale);
                }
                Val::Resource(handle)
            }
        }
        (Val::List(items), Type::List(list)) => {
            let item_ty = list.ty();
            Val::List(
                items
                    .into_iter()
                    .map(|item| convert(item, &item_ty, src, dst, kinds, lent))
                    .collect::<Result<_, _>>()?,
            )
        }
        (Val::Option(Some(inner)), Type::Option(option)) => {
            Val::Option(Some(Box::new(convert(*inner, &option.ty(), src, dst, kinds, lent)?)))
        }
        (Val::Result(result), Type::Result(result_ty)) => Val::Result(match result {
            Ok(Some(inner)) => match result_ty.ok() {
                Some(t) => Ok(Some(Box::new(convert(*inner, &t, src, dst, kinds, lent)?))),
                None => Ok(Some(inner)),
            },
            Err(Some(inner)) => match result_ty.err() {
                Some(t) => Err(Some(Box::new(convert(*inner, &t, src, dst, kinds, lent)?))),
                None => Err(Some(inner)),
            },
            other => other,
        }),
        (Val::Tuple(items), Type::Tuple(tuple)) => Val::Tuple(
            items
                .into_iter()
                .zip(tuple.types())
                .map(|(item, t)| convert(item, &t, src, dst, kinds, lent))
                .collect::<Result<_, _>>()?,
        ),
        (Val::Record(fields), Type::Record(record)) => Val::Record(
            fields
                .into_iter()
                .zip(record.fields())
                .map(|((name, value), field)| Ok((name, convert(value, &field.ty, src, dst, kinds, lent)?)))
                .collect::<Result<_, HandleError>>()?,
        ),
        (Val::Variant(case, Some(payload)), Type::Variant(variant)) => {
            let case_ty = variant.cases().find(|c| c.name == case).and_then(|c| c.ty);
            match case_ty {
                Some(t) => {
                    let payload = convert(*payload, &t, src, dst, kinds, lent)?;
                    Val::Variant(case, Some(Box::new(payload)))
                }
                None => Val::Variant(case, Some(payload)),
            }
        }
        (val, _) => val,
    })
}

/// Gives `dst` a proxy of the owner's handle in `held`: the rep of its entry
/// in `dst`'s table, for a handle of a proxied resource kind. An owned handle
/// (`borrow` false) is the receiver's to keep and counts against its budget;
/// over it, a handle the sender gave up goes back to its owner.
pub(crate) fn proxy_into<P: PluginData>(
    dst: &mut Endpoint<'_, '_, P>,
    Held { owner, generation, handle, given_up }: Held<P>,
    borrow: bool,
) -> Result<u32, HandleError> {
    // The receiver's count and limit are its store's: a start function,
    // which runs before the receiver's slot exists, is held to them too.
    let held = if borrow { None } else { Some(dst.store.data().held.clone()) };
    let limit = dst.store.data().held_limit;
    if let Some(count) = &held
        && count.fetch_add(1, Ordering::Relaxed) >= limit
    {
        count.fetch_sub(1, Ordering::Relaxed);
        if given_up {
            owner.release(generation, handle);
        }
        return Err(HandleError::Budget(limit));
    }
    let proxy = Proxy { owner, generation, handle: Some(handle), owned: !borrow, held };
    Ok(dst.store.data_mut().plugin_mut().resource_table().push(proxy)?.rep())
}

/// The owner, the owner's generation and the owner's handle behind proxy
/// `rep` in `store`'s table, as a method call on it needs them (the handle
/// stays the holder's).
pub(crate) fn proxied<P: PluginData>(
    store: &mut StoreContextMut<'_, PluginCtx<P>>,
    rep: u32,
) -> Result<(Arc<PluginSlot<P>>, u64, ResourceAny), HandleError> {
    let proxy: &Proxy<P> = store.data_mut().plugin_mut().resource_table().get(&Resource::new_borrow(rep))?;
    let inner = proxy.handle.ok_or(HandleError::Stale)?;
    Ok((proxy.owner.clone(), proxy.generation, inner))
}

/// A handle taken out of a store.
pub(crate) struct Held<P: PluginData> {
    /// The plugin instance whose store the resource lives in.
    pub(crate) owner: Arc<PluginSlot<P>>,
    /// The owner's generation when the handle was made.
    pub(crate) generation: u64,
    /// The owner's handle.
    pub(crate) handle: ResourceAny,
    /// Whether the taker now owns it (it was given up by the store it was
    /// taken from): undelivered, it goes back to its owner.
    pub(crate) given_up: bool,
}

/// Takes a handle out of `src`: the owner, the owner's generation and the
/// owner's handle.
pub(crate) fn take_handle<P: PluginData>(
    handle: ResourceAny,
    src: &mut Endpoint<'_, '_, P>,
    kinds: &ResourceKinds,
) -> Result<Held<P>, HandleError> {
    if kinds.by_type(&handle.ty()).is_some() {
        if let Some(taken) = src.taken.as_deref_mut().and_then(|t| t.iter_mut().find(|t| t.from == handle)) {
            if !taken.delivered {
                taken.delivered = true;
                return Ok(Held {
                    owner: taken.owner.clone(),
                    generation: taken.generation,
                    handle: taken.handle,
                    given_up: taken.owned,
                });
            }
            if taken.owned {
                return Err(HandleError::Foreign(format!(
                    "an owned handle went to plugin `{}` already and cannot be given twice",
                    taken.owner.label
                )));
            }
            return Ok(Held {
                owner: taken.owner.clone(),
                generation: taken.generation,
                handle: taken.handle,
                given_up: false,
            });
        }
        let is_own = handle.owned();
        let rep = handle.try_into_resource_dynamic(&mut src.store)?.rep();
        let (owner, generation, inner) = if is_own {
            let table = src.store.data_mut().plugin_mut().resource_table();
            let mut proxy: Proxy<P> = table.delete(Resource::new_own(rep))?;
            let inner = proxy.handle.take().ok_or(HandleError::Stale)?;
            (proxy.owner.clone(), proxy.generation, inner)
        } else {
            proxied(&mut src.store, rep)?
        };
        if let Some(taken) = src.taken.as_deref_mut() {
            taken.push(Taken {
                from: handle,
                owner: owner.clone(),
                generation,
                handle: inner,
                owned: is_own,
                delivered: true,
            });
        }
        Ok(Held { owner, generation, handle: inner, given_up: is_own })
    } else {
        let Some(slot) = src.slot else {
            return Err(HandleError::Foreign("the handle's owner is unknown".to_owned()));
        };
        if !src.resource_types.iter().flatten().any(|t| *t == handle.ty()) {
            return Err(HandleError::Foreign(format!(
                "plugin `{}` passed a handle of a resource it does not define",
                slot.label
            )));
        }
        // The source's own resource: an owned handle was given up by the
        // source (a result, or an `own` argument) and must be dropped in it if
        // it cannot be delivered.
        Ok(Held { owner: slot.clone(), generation: src.generation, handle, given_up: handle.owned() })
    }
}

/// Takes back the handles lent for one call, and their table entries.
pub(crate) async fn return_lent<P: PluginData>(
    mode: Mode,
    store: &mut StoreContextMut<'_, PluginCtx<P>>,
    lent: &mut Vec<(u32, ResourceAny)>,
) {
    for (rep, handle) in lent.drain(..) {
        // A host-defined handle without destructor: this only frees the slot.
        let _ = crate::instance::drop_in(mode, handle, &mut *store).await;
        let _: Result<Proxy<P>, _> = store.data_mut().plugin_mut().resource_table().delete(Resource::new_own(rep));
    }
}

/// Releases the borrowed handles among `params` that no conversion took out
/// of the consumer's store (a call failed before reaching them): wasmtime
/// requires every borrow lent to the host to be released before it returns.
pub(crate) async fn release_borrows<P: PluginData>(
    mode: Mode,
    params: &[Val],
    taken: &[Taken<P>],
    store: &mut StoreContextMut<'_, PluginCtx<P>>,
) {
    let mut untaken = Vec::new();
    for param in params {
        untaken_borrows(param, taken, &mut untaken);
    }
    for handle in untaken {
        let _ = crate::instance::drop_in(mode, handle, &mut *store).await;
    }
}

/// The borrowed handles in `val` that no conversion took.
fn untaken_borrows<P: PluginData>(val: &Val, taken: &[Taken<P>], out: &mut Vec<ResourceAny>) {
    match val {
        Val::Resource(handle) => {
            let was_taken = taken.iter().any(|t| t.from == *handle && t.delivered);
            if !handle.owned() && !was_taken {
                out.push(*handle);
            }
        }
        Val::List(items) | Val::Tuple(items) | Val::FixedLengthList(items) => {
            for item in items {
                untaken_borrows(item, taken, out);
            }
        }
        Val::Record(fields) => {
            for (_, item) in fields {
                untaken_borrows(item, taken, out);
            }
        }
        Val::Variant(_, Some(item)) | Val::Option(Some(item)) | Val::Result(Ok(Some(item)) | Err(Some(item))) => {
            untaken_borrows(item, taken, out);
        }
        Val::Map(entries) => {
            for (key, item) in entries {
                untaken_borrows(key, taken, out);
                untaken_borrows(item, taken, out);
            }
        }
        _ => {}
    }
}
