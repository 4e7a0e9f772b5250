//! A value as every backend binds it or hands it back: what the engines (`sql`, `pg`) share,
//! kept apart so that neither engine file needs the other's.

/// A parameter as every backend binds it, or a column value as a row holds it.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}
