//! Component values on the wire, in wRPC's value encoding, so a peer built
//! with wRPC's own bindings reads what this writes and the other way round.
//!
//! The leaves use wasm-tokio's codecs, the ones wRPC's `Encode`/`Decode`
//! implementations use: `bool`, `u8` and `s8` as one byte, the other integers
//! as (signed) LEB128, floats little-endian (NaN canonical), `char` as UTF-8,
//! `string` as a LEB128 length and its bytes. Composites follow wRPC's rules:
//! a list is its LEB128 length and its items, records and tuples their fields
//! in order, a variant or enum its case's index in LEB128 then any payload,
//! an option or result a byte (`0` none / ok, `1` some / err) then any
//! payload, flags a little-endian bit set of `ceil(n / 8)` bytes.
//!
//! Decoding trusts nothing: a length is checked against the bytes that are
//! left before anything is allocated for it, every value decoded is charged
//! to a budget (a list of empty tuples costs no bytes, but does cost values),
//! and the whole message must be used.

use bytes::{Buf as _, BufMut as _, BytesMut};
use tokio_util::codec::{Decoder as _, Encoder as _};
use wasm_tokio::cm::{BoolCodec, F32Codec, F64Codec, S8Codec, U8Codec};
use wasm_tokio::{
    CoreNameDecoder, CoreNameEncoder, Leb128DecoderI16, Leb128DecoderI32, Leb128DecoderI64, Leb128DecoderU16,
    Leb128DecoderU32, Leb128DecoderU64, Leb128Encoder, Utf8Codec,
};
use wasmtime::component::{Type, Val};

/// Why a value could not be encoded or decoded.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodecError {
    /// The value does not have the type it was to be encoded as.
    #[error("a value does not match its type: expected {expected}")]
    Mismatch {
        /// The type expected, in short.
        expected: &'static str,
    },
    /// The type cannot cross the wire: resources, futures, streams, error
    /// contexts.
    #[error("values of type {0} cannot cross the wire")]
    Unsupported(&'static str),
    /// The message ended inside a value.
    #[error("the message ends inside a value")]
    Truncated,
    /// The message holds bytes after the last value.
    #[error("{0} byte(s) follow the last value")]
    #[cfg(test)]
    Trailing(usize),
    /// The message is malformed: a bad discriminant, flag or character.
    #[error("malformed value: {0}")]
    Malformed(String),
    /// The message holds more values than a message may.
    #[error("the message holds more than {0} values")]
    TooManyValues(usize),
}

/// The most values one message may decode to. A decoded value costs some
/// forty bytes of memory where it may take one on the wire: without this
/// bound a 16 MiB message of bytes would cost 640 MiB. A longer list (a
/// `list<u8>` of more than a million bytes) is refused.
pub const MAX_VALUES: usize = 1 << 20;

/// Appends `values`, of types `types`, to `dst`.
///
/// # Errors
/// A value that does not match its type, or whose type cannot cross the
/// wire.
pub fn encode_all(values: &[Val], types: &[Type], dst: &mut BytesMut) -> Result<(), CodecError> {
    if values.len() != types.len() {
        return Err(CodecError::Mismatch { expected: "as many values as types" });
    }
    for (value, ty) in values.iter().zip(types) {
        encode(value, ty, dst)?;
    }
    Ok(())
}

/// Decodes a whole message: one value of each of `types`, and nothing after.
///
/// # Errors
/// A truncated, malformed or oversized message, or one with bytes left over.
#[cfg(test)]
pub fn decode_all(types: &[Type], mut src: BytesMut) -> Result<Vec<Val>, CodecError> {
    let mut budget = MAX_VALUES;
    let values = types.iter().map(|ty| decode(ty, &mut src, &mut budget)).collect::<Result<Vec<_>, _>>()?;
    if !src.is_empty() {
        return Err(CodecError::Trailing(src.len()));
    }
    Ok(values)
}

/// Decodes one value of each of `types` from the front of `src`, if all
/// of them are there yet: `Ok(None)` when `src` ends inside them (read
/// more), the values and the bytes they took otherwise. What follows them
/// is left alone.
///
/// # Errors
/// A malformed or oversized message.
pub fn decode_prefix(types: &[Type], src: &[u8]) -> Result<Option<(Vec<Val>, usize)>, CodecError> {
    let mut buffer = BytesMut::from(src);
    let mut budget = MAX_VALUES;
    let mut values = Vec::with_capacity(types.len());
    for ty in types {
        match decode(ty, &mut buffer, &mut budget) {
            Ok(value) => values.push(value),
            Err(CodecError::Truncated) => return Ok(None),
            Err(error) => return Err(error),
        }
    }
    Ok(Some((values, src.len() - buffer.len())))
}

fn io(error: &std::io::Error) -> CodecError {
    if error.kind() == std::io::ErrorKind::UnexpectedEof {
        CodecError::Truncated
    } else {
        CodecError::Malformed(error.to_string())
    }
}

macro_rules! put {
    ($codec:expr, $value:expr, $dst:expr) => {
        $codec.encode($value, $dst).map_err(|e| io(&e))
    };
}

/// Appends `value`, of type `ty`, to `dst`.
///
/// # Errors
/// A value that does not match its type, or whose type cannot cross the wire.
#[allow(clippy::too_many_lines, reason = "one arm per type, as the encoding lists them")]
pub fn encode(value: &Val, ty: &Type, dst: &mut BytesMut) -> Result<(), CodecError> {
    let mismatch = |expected| Err(CodecError::Mismatch { expected });
    match (ty, value) {
        (Type::Bool, Val::Bool(v)) => put!(BoolCodec, *v, dst),
        (Type::S8, Val::S8(v)) => put!(S8Codec, *v, dst),
        (Type::U8, Val::U8(v)) => put!(U8Codec, *v, dst),
        (Type::S16, Val::S16(v)) => put!(Leb128Encoder, *v, dst),
        (Type::U16, Val::U16(v)) => put!(Leb128Encoder, *v, dst),
        (Type::S32, Val::S32(v)) => put!(Leb128Encoder, *v, dst),
        (Type::U32, Val::U32(v)) => put!(Leb128Encoder, *v, dst),
        (Type::S64, Val::S64(v)) => put!(Leb128Encoder, *v, dst),
        (Type::U64, Val::U64(v)) => put!(Leb128Encoder, *v, dst),
        (Type::Float32, Val::Float32(v)) => put!(F32Codec, *v, dst),
        (Type::Float64, Val::Float64(v)) => put!(F64Codec, *v, dst),
        (Type::Char, Val::Char(v)) => put!(Utf8Codec, *v, dst),
        (Type::String, Val::String(v)) => put!(CoreNameEncoder, v.as_str(), dst),
        (Type::List(list), Val::List(items)) => {
            put!(Leb128Encoder, length(items.len())?, dst)?;
            let item_ty = list.ty();
            items.iter().try_for_each(|item| encode(item, &item_ty, dst))
        }
        (Type::Record(record), Val::Record(fields)) => {
            let types: Vec<_> = record.fields().collect();
            if types.len() != fields.len() {
                return mismatch("a record with every field");
            }
            for (field, (name, value)) in types.iter().zip(fields) {
                if field.name != name {
                    return mismatch("the record's fields, in order");
                }
                encode(value, &field.ty, dst)?;
            }
            Ok(())
        }
        (Type::Tuple(tuple), Val::Tuple(items)) => {
            let types: Vec<_> = tuple.types().collect();
            if types.len() != items.len() {
                return mismatch("a tuple of the right length");
            }
            items.iter().zip(&types).try_for_each(|(item, ty)| encode(item, ty, dst))
        }
        (Type::Variant(variant), Val::Variant(name, payload)) => {
            let Some((index, case)) = variant.cases().enumerate().find(|(_, case)| case.name == name) else {
                return mismatch("a case of the variant");
            };
            put!(Leb128Encoder, length(index)?, dst)?;
            match (payload, case.ty) {
                (Some(payload), Some(ty)) => encode(payload, &ty, dst),
                (None, None) => Ok(()),
                _ => mismatch("the case's payload"),
            }
        }
        (Type::Enum(cases), Val::Enum(name)) => {
            let Some(index) = cases.names().position(|case| case == name) else {
                return mismatch("a case of the enum");
            };
            put!(Leb128Encoder, length(index)?, dst)
        }
        (Type::Option(option), Val::Option(value)) => match value {
            None => {
                dst.put_u8(0);
                Ok(())
            }
            Some(value) => {
                dst.put_u8(1);
                encode(value, &option.ty(), dst)
            }
        },
        (Type::Result(result), Val::Result(value)) => {
            let (tag, payload, ty) = match value {
                Ok(payload) => (0, payload, result.ok()),
                Err(payload) => (1, payload, result.err()),
            };
            dst.put_u8(tag);
            match (payload, ty) {
                (Some(payload), Some(ty)) => encode(payload, &ty, dst),
                (None, None) => Ok(()),
                _ => mismatch("the result's payload"),
            }
        }
        (Type::Flags(flags), Val::Flags(set)) => {
            let names: Vec<&str> = flags.names().collect();
            let mut bits = vec![0u8; names.len().div_ceil(8)];
            for flag in set {
                let Some(index) = names.iter().position(|name| name == flag) else {
                    return mismatch("flags of the type");
                };
                bits[index / 8] |= 1 << (index % 8);
            }
            dst.put_slice(&bits);
            Ok(())
        }
        (Type::Own(_) | Type::Borrow(_), _) => Err(CodecError::Unsupported("resource")),
        (Type::Future(_), _) => Err(CodecError::Unsupported("future")),
        (Type::Stream(_), _) => Err(CodecError::Unsupported("stream")),
        (Type::ErrorContext, _) => Err(CodecError::Unsupported("error-context")),
        (Type::Map(_), _) => Err(CodecError::Unsupported("map")),
        (Type::FixedLengthList(_), _) => Err(CodecError::Unsupported("fixed-length list")),
        _ => mismatch(short(ty)),
    }
}

/// A length or index as the wire's `u32`.
fn length(n: usize) -> Result<u32, CodecError> {
    u32::try_from(n).map_err(|_| CodecError::Malformed(format!("{n} does not fit in u32")))
}

/// A type's name, for errors.
fn short(ty: &Type) -> &'static str {
    crate::types::primitive_name(ty).unwrap_or(match ty {
        Type::List(_) => "list",
        Type::Record(_) => "record",
        Type::Tuple(_) => "tuple",
        Type::Variant(_) => "variant",
        Type::Enum(_) => "enum",
        Type::Option(_) => "option",
        Type::Result(_) => "result",
        Type::Flags(_) => "flags",
        _ => "a value type",
    })
}

macro_rules! get {
    ($codec:expr, $src:expr) => {
        match $codec.decode($src) {
            Ok(Some(value)) => Ok(value),
            Ok(None) => Err(CodecError::Truncated),
            Err(error) => Err(io(&error)),
        }
    };
}

/// Decodes one value of type `ty` from the front of `src`, charging
/// `budget` one per value.
///
/// # Errors
/// A truncated or malformed value, or one past the budget.
pub fn decode(ty: &Type, src: &mut BytesMut, budget: &mut usize) -> Result<Val, CodecError> {
    *budget = budget.checked_sub(1).ok_or(CodecError::TooManyValues(MAX_VALUES))?;
    Ok(match ty {
        Type::Bool => Val::Bool(get!(BoolCodec, src)?),
        Type::S8 => Val::S8(get!(S8Codec, src)?),
        Type::U8 => Val::U8(get!(U8Codec, src)?),
        Type::S16 => Val::S16(get!(Leb128DecoderI16, src)?),
        Type::U16 => Val::U16(get!(Leb128DecoderU16, src)?),
        Type::S32 => Val::S32(get!(Leb128DecoderI32, src)?),
        Type::U32 => Val::U32(get!(Leb128DecoderU32, src)?),
        Type::S64 => Val::S64(get!(Leb128DecoderI64, src)?),
        Type::U64 => Val::U64(get!(Leb128DecoderU64, src)?),
        Type::Float32 => Val::Float32(get!(F32Codec, src)?),
        Type::Float64 => Val::Float64(get!(F64Codec, src)?),
        Type::Char => Val::Char(get!(Utf8Codec, src)?),
        Type::String => {
            // The decoder reads the length, then waits for that many bytes:
            // a claimed length past the message is a truncation, never an
            // allocation.
            Val::String(get!(CoreNameDecoder::<{ 1 << 16 }>::default(), src)?)
        }
        Type::List(list) => {
            let n = get!(Leb128DecoderU32, src)? as usize;
            let item_ty = list.ty();
            // Room for what the bytes left can hold at most, not what the
            // length claims.
            let mut items = Vec::with_capacity(n.min(src.len()).min(*budget));
            for _ in 0..n {
                items.push(decode(&item_ty, src, budget)?);
            }
            Val::List(items)
        }
        Type::Record(record) => Val::Record(
            record
                .fields()
                .map(|field| Ok((field.name.to_owned(), decode(&field.ty, src, budget)?)))
                .collect::<Result<_, CodecError>>()?,
        ),
        Type::Tuple(tuple) => {
            Val::Tuple(tuple.types().map(|ty| decode(&ty, src, budget)).collect::<Result<_, CodecError>>()?)
        }
        Type::Variant(variant) => {
            let index = get!(Leb128DecoderU32, src)? as usize;
            let case =
                variant.cases().nth(index).ok_or_else(|| CodecError::Malformed(format!("no variant case {index}")))?;
            let payload = match case.ty {
                Some(ty) => Some(Box::new(decode(&ty, src, budget)?)),
                None => None,
            };
            Val::Variant(case.name.to_owned(), payload)
        }
        Type::Enum(cases) => {
            let index = get!(Leb128DecoderU32, src)? as usize;
            let name =
                cases.names().nth(index).ok_or_else(|| CodecError::Malformed(format!("no enum case {index}")))?;
            Val::Enum(name.to_owned())
        }
        Type::Option(option) => match tag(src)? {
            0 => Val::Option(None),
            1 => Val::Option(Some(Box::new(decode(&option.ty(), src, budget)?))),
            other => return Err(CodecError::Malformed(format!("option tag {other}"))),
        },
        Type::Result(result) => {
            let is_err = match tag(src)? {
                0 => false,
                1 => true,
                other => return Err(CodecError::Malformed(format!("result tag {other}"))),
            };
            let ty = if is_err { result.err() } else { result.ok() };
            let payload = match ty {
                Some(ty) => Some(Box::new(decode(&ty, src, budget)?)),
                None => None,
            };
            Val::Result(if is_err { Err(payload) } else { Ok(payload) })
        }
        Type::Flags(flags) => {
            let names: Vec<&str> = flags.names().collect();
            let bytes = names.len().div_ceil(8);
            if src.len() < bytes {
                return Err(CodecError::Truncated);
            }
            let bits = src.split_to(bytes);
            let mut set = Vec::new();
            for (index, byte) in bits.iter().enumerate() {
                for bit in 0..8 {
                    if byte & (1 << bit) == 0 {
                        continue;
                    }
                    let name = names
                        .get(index * 8 + bit)
                        .ok_or_else(|| CodecError::Malformed(format!("flag bit {} is not a flag", index * 8 + bit)))?;
                    set.push((*name).to_owned());
                }
            }
            Val::Flags(set)
        }
        Type::Own(_) | Type::Borrow(_) => return Err(CodecError::Unsupported("resource")),
        Type::Future(_) => return Err(CodecError::Unsupported("future")),
        Type::Stream(_) => return Err(CodecError::Unsupported("stream")),
        Type::ErrorContext => return Err(CodecError::Unsupported("error-context")),
        Type::Map(_) => return Err(CodecError::Unsupported("map")),
        Type::FixedLengthList(_) => return Err(CodecError::Unsupported("fixed-length list")),
    })
}

fn tag(src: &mut BytesMut) -> Result<u8, CodecError> {
    if src.is_empty() {
        return Err(CodecError::Truncated);
    }
    Ok(src.get_u8())
}

/// Whether values of `ty` can cross the wire: no resources, futures,
/// streams or error contexts at any depth.
pub fn crosses(ty: &Type) -> bool {
    match ty {
        Type::List(list) => crosses(&list.ty()),
        Type::Record(record) => record.fields().all(|field| crosses(&field.ty)),
        Type::Tuple(tuple) => tuple.types().all(|ty| crosses(&ty)),
        Type::Variant(variant) => variant.cases().all(|case| case.ty.as_ref().is_none_or(crosses)),
        Type::Option(option) => crosses(&option.ty()),
        Type::Result(result) => result.ok().as_ref().is_none_or(crosses) && result.err().as_ref().is_none_or(crosses),
        Type::Own(_)
        | Type::Borrow(_)
        | Type::Future(_)
        | Type::Stream(_)
        | Type::ErrorContext
        | Type::Map(_)
        | Type::FixedLengthList(_) => false,
        _ => true,
    }
}

/// Differential tests: values encoded here decode with wRPC's own
/// `Decode` implementations of the matching Rust types, values wRPC's
/// `Encode` implementations write decode here, and the bytes are the same.
/// Records are checked against tuples, variants and enums against their
/// discriminant (a `u32`) and payload, flags against their bit set: the
/// Rust types wRPC has for those are generated per interface.
#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use proptest::prelude::*;
    use tokio_util::codec::{Decoder as _, Encoder as _};
    use wasmtime::component::{Type, Val};
    use wrpc_transport::{Decode, Encode};

    use super::{CodecError, decode_all, encode, encode_all};

    const WIT: &str = "package t:t;
        interface t {
            record point { x: s32, label: string }
            variant shape { circle(f64), empty, square(u32) }
            enum color { red, green, blue }
            flags perms { a, b, c, d, e, f, g, h }
            flags wide { w0, w1, w2, w3, w4, w5, w6, w7, w8, w9 }
            f: func(p0: bool, p1: u8, p2: s8, p3: u16, p4: s16, p5: u32, p6: s32, p7: u64, p8: s64,
                    p9: f32, p10: f64, p11: char, p12: string, p13: list<u32>, p14: list<string>,
                    p15: option<u32>, p16: result<string, u8>, p17: tuple<u32, string, bool>,
                    p18: list<option<tuple<s64, char>>>, p19: point, p20: shape, p21: color, p22: perms,
                    p23: list<u8>, p24: wide, p25: result, p26: list<result>);
        }";

    /// The parameter types of `f`, as wasmtime sees them (through the proxy
    /// component, which also proves it builds for 27 parameters).
    fn types() -> Vec<Type> {
        static TYPES: std::sync::OnceLock<Vec<Type>> = std::sync::OnceLock::new();
        TYPES
            .get_or_init(|| {
                let mut resolve = wit_parser::Resolve::new();
                let package = resolve.push_str("t.wit", WIT).expect("the test WIT parses");
                let interface = resolve.packages[package].interfaces["t"];
                let wat = super::super::proxy::component_wat(&resolve, interface, "t:t/t").expect("crosses");
                let engine = wasmtime::Engine::default();
                let component = wasmtime::component::Component::new(&engine, wat).expect("the proxy compiles");
                let ty = component.component_type();
                let Some(wasmtime::component::types::ComponentItem::ComponentInstance(instance)) =
                    ty.get_export(&engine, "t:t/t").map(|e| e.ty)
                else {
                    panic!("the proxy exports its interface")
                };
                let Some(wasmtime::component::types::ComponentItem::ComponentFunc(f)) =
                    instance.get_export(&engine, "f").map(|e| e.ty)
                else {
                    panic!("`f` is exported")
                };
                f.params().map(|(_, ty)| ty).collect()
            })
            .clone()
    }

    fn ty(index: usize) -> Type {
        types()[index].clone()
    }

    fn ours(value: &Val, ty: &Type) -> BytesMut {
        let mut buffer = BytesMut::new();
        encode(value, ty, &mut buffer).expect("encodes");
        buffer
    }

    fn theirs<T: Encode>(value: T) -> BytesMut {
        let mut buffer = BytesMut::new();
        let encoded = T::Encoder::default().encode(value, &mut buffer).is_ok();
        assert!(encoded, "wRPC encodes");
        buffer
    }

    fn theirs_back<T: Decode>(bytes: &BytesMut) -> T {
        let mut buffer = bytes.clone();
        let value = T::Decoder::default().decode(&mut buffer).ok().flatten().expect("wRPC decodes");
        assert!(buffer.is_empty(), "wRPC left {} byte(s)", buffer.len());
        value
    }

    fn back(bytes: BytesMut, ty: &Type) -> Val {
        decode_all(std::slice::from_ref(ty), bytes).expect("decodes").remove(0)
    }

    /// Both ways and byte for byte: `value` (of type `index`) is `rust`.
    fn same<T: Encode + Decode + Clone + PartialEq + std::fmt::Debug>(index: usize, value: &Val, rust: &T) {
        let ty = ty(index);
        let (mine, wrpc) = (ours(value, &ty), theirs(rust.clone()));
        assert_eq!(mine, wrpc, "bytes of {value:?}");
        assert_eq!(&theirs_back::<T>(&mine), rust);
        assert_eq!(&back(wrpc, &ty), value);
    }

    proptest! {
        #[test]
        fn scalars_match_wrpc(
            b: bool, u8v: u8, s8v: i8, u16v: u16, s16v: i16, u32v: u32, s32v: i32, u64v: u64, s64v: i64,
            f32v: f32, f64v: f64, c: char,
        ) {
            same(0, &Val::Bool(b), &b);
            same(1, &Val::U8(u8v), &u8v);
            same(2, &Val::S8(s8v), &s8v);
            same(3, &Val::U16(u16v), &u16v);
            same(4, &Val::S16(s16v), &s16v);
            same(5, &Val::U32(u32v), &u32v);
            same(6, &Val::S32(s32v), &s32v);
            same(7, &Val::U64(u64v), &u64v);
            same(8, &Val::S64(s64v), &s64v);
            if !f32v.is_nan() {
                same(9, &Val::Float32(f32v), &f32v);
            }
            if !f64v.is_nan() {
                same(10, &Val::Float64(f64v), &f64v);
            }
            same(11, &Val::Char(c), &c);
        }

        #[test]
        fn strings_lists_options_results_tuples_match_wrpc(
            s: String,
            numbers: Vec<u32>,
            words: Vec<String>,
            maybe: Option<u32>,
            outcome: Result<String, u8>,
            triple: (u32, String, bool),
            nested: Vec<Option<(i64, char)>>,
        ) {
            same(12, &Val::String(s.clone()), &s);
            same(13, &Val::List(numbers.iter().copied().map(Val::U32).collect()), &numbers);
            same(14, &Val::List(words.iter().cloned().map(Val::String).collect()), &words);
            same(15, &Val::Option(maybe.map(|n| Box::new(Val::U32(n)))), &maybe);
            let result = Val::Result(match &outcome {
                Ok(text) => Ok(Some(Box::new(Val::String(text.clone())))),
                Err(code) => Err(Some(Box::new(Val::U8(*code)))),
            });
            same(16, &result, &outcome);
            let tuple = Val::Tuple(vec![Val::U32(triple.0), Val::String(triple.1.clone()), Val::Bool(triple.2)]);
            same(17, &tuple, &triple);
            let list = Val::List(
                nested
                    .iter()
                    .map(|item| {
                        Val::Option(item.map(|(n, c)| Box::new(Val::Tuple(vec![Val::S64(n), Val::Char(c)]))))
                    })
                    .collect(),
            );
            same(18, &list, &nested);
        }

        #[test]
        fn records_variants_enums_and_flags_match_their_wrpc_shapes(
            x: i32, label: String, radius: f64, side: u32, case in 0u32..3, color in 0u32..3, bits: u8, wide in 0u16..1024,
        ) {
            // A record is its fields in order: a tuple.
            let point = Val::Record(vec![("x".into(), Val::S32(x)), ("label".into(), Val::String(label.clone()))]);
            assert_eq!(ours(&point, &ty(19)), theirs((x, label)));
            assert_eq!(back(ours(&point, &ty(19)), &ty(19)), point);
            // A variant is its case's index, then its payload.
            if !radius.is_nan() {
                let (shape, wire) = match case {
                    0 => (Val::Variant("circle".into(), Some(Box::new(Val::Float64(radius)))), theirs((0u32, radius))),
                    1 => (Val::Variant("empty".into(), None), theirs(1u32)),
                    _ => (Val::Variant("square".into(), Some(Box::new(Val::U32(side)))), theirs((2u32, side))),
                };
                assert_eq!(ours(&shape, &ty(20)), wire);
                assert_eq!(back(wire, &ty(20)), shape);
            }
            // An enum is its case's index.
            let name = ["red", "green", "blue"][color as usize];
            assert_eq!(ours(&Val::Enum(name.into()), &ty(21)), theirs(color));
            // Flags are a little-endian bit set: one byte for eight.
            let names = ["a", "b", "c", "d", "e", "f", "g", "h"];
            let set: Vec<String> = (0..8).filter(|i| bits & (1 << i) != 0).map(|i| names[i].to_owned()).collect();
            assert_eq!(ours(&Val::Flags(set.clone()), &ty(22)), theirs(bits));
            assert_eq!(back(theirs(bits), &ty(22)), Val::Flags(set));
            let wide_set: Vec<String> = (0..10).filter(|i| wide & (1 << i) != 0).map(|i| format!("w{i}")).collect();
            assert_eq!(&ours(&Val::Flags(wide_set.clone()), &ty(24))[..], &wide.to_le_bytes()[..]);
            assert_eq!(back(BytesMut::from(&wide.to_le_bytes()[..]), &ty(24)), Val::Flags(wide_set));
        }

        #[test]
        fn byte_lists_match_wrpc_bytes(bytes: Vec<u8>) {
            let value = Val::List(bytes.iter().copied().map(Val::U8).collect());
            assert_eq!(ours(&value, &ty(23)), theirs(bytes::Bytes::from(bytes.clone())));
            assert_eq!(back(theirs(bytes::Bytes::from(bytes)), &ty(23)), value);
        }

        #[test]
        fn no_input_makes_the_decoder_fail_other_than_cleanly(input: Vec<u8>) {
            // Any bytes, every type: a value or a typed error, never a panic.
            for ty in types() {
                let _ = decode_all(std::slice::from_ref(&ty), BytesMut::from(&input[..]));
            }
        }
    }

    #[test]
    fn bare_results_cross() {
        for value in [Val::Result(Ok(None)), Val::Result(Err(None))] {
            assert_eq!(back(ours(&value, &ty(25)), &ty(25)), value);
        }
        let bare = Val::List(vec![Val::Result(Ok(None)), Val::Result(Err(None))]);
        assert_eq!(&ours(&bare, &ty(26))[..], &[2, 0, 1]);
        assert_eq!(back(ours(&bare, &ty(26)), &ty(26)), bare);
    }

    #[test]
    fn hostile_lengths_are_refused_without_allocating_them() {
        // A list claiming four billion strings, in five bytes.
        let claim = BytesMut::from(&[0xff, 0xff, 0xff, 0xff, 0x0f][..]);
        assert_eq!(decode_all(&[ty(14)], claim), Err(CodecError::Truncated));
        // Four billion one-byte results, in five bytes.
        let claim = BytesMut::from(&[0xff, 0xff, 0xff, 0xff, 0x0f][..]);
        assert_eq!(decode_all(&[ty(26)], claim), Err(CodecError::Truncated));
        // A message of more values than a message may hold.
        let mut many = BytesMut::new();
        let items = vec![Val::Result(Ok(None)); super::MAX_VALUES];
        encode(&Val::List(items), &ty(26), &mut many).expect("encodes");
        assert!(matches!(decode_all(&[ty(26)], many), Err(CodecError::TooManyValues(_))));
        // A string claiming more bytes than follow.
        let claim = BytesMut::from(&[0x80, 0x80, 0x04, b'a'][..]);
        assert_eq!(decode_all(&[ty(12)], claim), Err(CodecError::Truncated));
    }

    #[test]
    fn bad_tags_and_leftovers_are_errors() {
        assert!(matches!(decode_all(&[ty(15)], BytesMut::from(&[2u8][..])), Err(CodecError::Malformed(_))));
        assert!(matches!(decode_all(&[ty(20)], BytesMut::from(&[7u8][..])), Err(CodecError::Malformed(_))));
        assert!(decode_all(&[ty(22)], BytesMut::from(&[0u8][..])).is_ok());
        assert!(matches!(decode_all(&[ty(24)], BytesMut::from(&[0u8, 0x80][..])), Err(CodecError::Malformed(_))));
        assert_eq!(decode_all(&[ty(1)], BytesMut::from(&[1u8, 2][..])), Err(CodecError::Trailing(1)));
        let mut buffer = BytesMut::new();
        assert!(encode_all(&[Val::U32(1)], &[ty(12)], &mut buffer).is_err(), "a u32 is not a string");
        assert_eq!(
            encode(&Val::Enum("purple".into()), &ty(21), &mut buffer),
            Err(CodecError::Mismatch { expected: "a case of the enum" })
        );
    }
}
