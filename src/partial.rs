//! Results of operations that can partly succeed.
//!
//! Loading a plugin graph is not all-or-nothing: one broken plugin must not take
//! its siblings down. These aliases carry the part that worked together with the
//! errors of the parts that did not.

/// A successful operation where some parts failed without preventing overall
/// success. The `Vec<E>` holds the errors of the parts that were dropped.
pub type PartialSuccess<T, E> = (T, Vec<E>);

/// An operation that may partially succeed or fail.
///
/// - `Ok((value, errors))`: the core succeeded; `errors` are the parts that were
///   dropped along the way.
/// - `Err((primary, errors))`: the operation failed because of `primary`;
///   `errors` are the failures that likely contributed to it.
pub type PartialResult<T, E, F> = Result<(T, Vec<F>), (E, Vec<F>)>;
