//! How `wasm-link call` prints results: readable text by default, WAVE, or
//! JSON for scripts.

use serde_json::{Map, Value, json};
use wasm_link::Val;

/// `call --output`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// A string result as its text (newlines and all); anything else in WAVE.
    Text,
    /// Every result in WAVE, strings quoted and escaped.
    Wave,
    /// One JSON document: `{"value": ..}` or `{"error": ".."}`, or for a
    /// multi-plugin interface a list of them, each with its `"plugin"`.
    Json,
}

/// A value as text (see [`Output`]; `Json` goes through [`json()`]).
pub fn text(value: &Val, output: Output) -> String {
    match (value, output) {
        (Val::String(text), Output::Text) => text.clone(),
        _ => wave(value),
    }
}

/// A value in WAVE; what WAVE cannot spell (a resource, a stream, a
/// future, an error context) as `<resource>` (`<stream>`, ...) inside the
/// WAVE of the rest, and a map as a list of `(key, value)` pairs.
pub fn wave(value: &Val) -> String {
    let join = |items: &mut dyn Iterator<Item = String>| items.collect::<Vec<_>>().join(", ");
    let payload = |name: &str, inner: &Option<Box<Val>>| match inner {
        Some(inner) => format!("{name}({})", wave(inner)),
        None => name.to_owned(),
    };
    if spellable(value) {
        // wasm-wave panics on what it cannot spell; `spellable` kept that out.
        return wasm_wave::to_string(value).unwrap_or_else(|_| "<value>".to_owned());
    }
    match value {
        Val::Resource(_) => "<resource>".to_owned(),
        Val::Future(_) => "<future>".to_owned(),
        Val::Stream(_) => "<stream>".to_owned(),
        Val::ErrorContext(_) => "<error-context>".to_owned(),
        Val::List(items) | Val::FixedLengthList(items) => format!("[{}]", join(&mut items.iter().map(wave))),
        Val::Tuple(items) => format!("({})", join(&mut items.iter().map(wave))),
        Val::Map(pairs) => format!("[{}]", join(&mut pairs.iter().map(|(k, v)| format!("({}, {})", wave(k), wave(v))))),
        Val::Record(fields) => {
            format!("{{{}}}", join(&mut fields.iter().map(|(name, v)| format!("{name}: {}", wave(v)))))
        }
        Val::Variant(case, inner) => payload(case, inner),
        Val::Option(Some(inner)) => format!("some({})", wave(inner)),
        Val::Result(Ok(inner)) => payload("ok", inner),
        Val::Result(Err(inner)) => payload("err", inner),
        _ => "<value>".to_owned(),
    }
}

/// Whether wasm-wave can write `value` (it panics on the others).
fn spellable(value: &Val) -> bool {
    let boxed = |inner: &Option<Box<Val>>| inner.as_deref().is_none_or(spellable);
    match value {
        Val::Resource(_) | Val::Future(_) | Val::Stream(_) | Val::ErrorContext(_) | Val::Map(_) => false,
        Val::List(items) | Val::Tuple(items) | Val::FixedLengthList(items) => items.iter().all(spellable),
        Val::Record(fields) => fields.iter().all(|(_, v)| spellable(v)),
        Val::Variant(_, inner) | Val::Option(inner) | Val::Result(Ok(inner) | Err(inner)) => boxed(inner),
        _ => true,
    }
}

/// A value as JSON: numbers, strings and booleans as themselves, lists
/// and tuples as arrays, records as objects, `option` as the value or
/// `null`, `result` as `{"ok": ..}` / `{"err": ..}`, variants as
/// `{"case": value}` (or `"case"`), enums as their case, flags as a list of
/// names, maps as a list of `[key, value]` pairs; what JSON cannot hold (a
/// resource, a non-finite float) as its WAVE text.
pub fn json(value: &Val) -> Value {
    let boxed = |v: &Option<Box<Val>>| v.as_deref().map_or(Value::Null, json);
    match value {
        Val::Bool(b) => json!(b),
        Val::S8(n) => json!(n),
        Val::U8(n) => json!(n),
        Val::S16(n) => json!(n),
        Val::U16(n) => json!(n),
        Val::S32(n) => json!(n),
        Val::U32(n) => json!(n),
        Val::S64(n) => json!(n),
        Val::U64(n) => json!(n),
        Val::Float32(f) => {
            serde_json::Number::from_f64(f64::from(*f)).map_or_else(|| json!(wave(value)), Value::Number)
        }
        Val::Float64(f) => serde_json::Number::from_f64(*f).map_or_else(|| json!(wave(value)), Value::Number),
        Val::Char(c) => json!(c.to_string()),
        Val::String(s) => json!(s),
        Val::List(items) | Val::Tuple(items) | Val::FixedLengthList(items) => items.iter().map(json).collect(),
        Val::Map(pairs) => pairs.iter().map(|(k, v)| json!([json(k), json(v)])).collect(),
        Val::Record(fields) => fields.iter().map(|(name, v)| (name.clone(), json(v))).collect::<Map<_, _>>().into(),
        Val::Variant(case, None) | Val::Enum(case) => json!(case),
        Val::Variant(case, payload) => json!({ case.as_str(): boxed(payload) }),
        Val::Option(inner) => boxed(inner),
        Val::Result(Ok(inner)) => json!({ "ok": boxed(inner) }),
        Val::Result(Err(inner)) => json!({ "err": boxed(inner) }),
        Val::Flags(names) => json!(names),
        _ => json!(wave(value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_as_json_a_script_expects() {
        let value = Val::Record(vec![
            ("name".to_owned(), Val::String("a\nb".to_owned())),
            ("n".to_owned(), Val::U32(7)),
            ("maybe".to_owned(), Val::Option(None)),
            ("outcome".to_owned(), Val::Result(Err(Some(Box::new(Val::String("no".to_owned())))))),
            ("kind".to_owned(), Val::Variant("some".to_owned(), Some(Box::new(Val::Bool(true))))),
            ("flags".to_owned(), Val::Flags(vec!["x".to_owned()])),
            ("pair".to_owned(), Val::Tuple(vec![Val::Char('c'), Val::Float64(0.5)])),
        ]);
        assert_eq!(
            json(&value),
            json!({"name": "a\nb", "n": 7, "maybe": null, "outcome": {"err": "no"}, "kind": {"some": true},
                   "flags": ["x"], "pair": ["c", 0.5]})
        );
        assert_eq!(json(&Val::Float32(f32::NAN)), json!("nan"), "WAVE spells it");
    }

    #[test]
    fn a_string_prints_as_its_text_unless_wave_is_asked_for() {
        let value = Val::String("line 1\nline \"2\"".to_owned());
        assert_eq!(text(&value, Output::Text), "line 1\nline \"2\"");
        assert_eq!(text(&value, Output::Wave), r#""line 1\nline \"2\"""#);
        assert_eq!(text(&Val::U8(3), Output::Text), "3");
    }

    #[test]
    fn what_wave_cannot_spell_is_named_not_a_panic() {
        let map = Val::Map(vec![(Val::String("k".to_owned()), Val::U8(1))]);
        let value = Val::Record(vec![("m".to_owned(), map), ("o".to_owned(), Val::Option(None))]);
        assert_eq!(wave(&value), r#"{m: [("k", 1)], o: none}"#);
        assert_eq!(json(&Val::List(vec![Val::U8(1)])), json!([1]));
    }
}
