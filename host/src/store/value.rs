//! What the tables' owners hand the store and get back, whichever the backend:
//! values, statements and rows.
//!
//! Owners write one SQL text for both backends, in the dialect SQLite and
//! PostgreSQL share, with numbered `?1`, `?2` … placeholders (the PostgreSQL
//! backend rewrites them as `$1`, `$2` …), integers for times (ms) and text for
//! JSON. A statement that answers a value (an `INSERT … RETURNING id`) is made
//! with [`Stmt::returning`].

use std::borrow::Cow;

use super::StoreError;

/// One SQL value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Value {
        Value::Int(v.into())
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Int(v.into())
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Real(v)
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(v.to_owned())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

/// `args![a, b, …]`: the values of a statement's `?1`, `?2`, ….
macro_rules! args {
    ($($v:expr),* $(,)?) => { vec![$($crate::store::Value::from($v)),*] };
}
pub(crate) use args;

/// One statement of a write, with its values.
#[derive(Debug, Clone)]
pub struct Stmt {
    pub(super) sql: Cow<'static, str>,
    pub(super) args: Vec<Value>,
    /// Answers the first column of its first row (else the rows it changed).
    pub(super) returning: bool,
    /// A check whose effect lasts the transaction (a lock, a raised error):
    /// run once per transaction however many of its jobs carry it.
    pub(super) guard: bool,
}

impl Stmt {
    /// A statement answering how many rows it changed.
    pub fn exec(sql: impl Into<Cow<'static, str>>, args: Vec<Value>) -> Stmt {
        Stmt {
            sql: sql.into(),
            args,
            returning: false,
            guard: false,
        }
    }

    /// A check that holds for the rest of the transaction once it passed
    /// (it takes a lock, or fails the transaction): jobs that share a
    /// transaction and carry the same guard run it once (PostgreSQL's
    /// writer; elsewhere it simply runs each time). Answers a count of 1.
    pub fn guard(sql: impl Into<Cow<'static, str>>, args: Vec<Value>) -> Stmt {
        Stmt {
            guard: true,
            ..Stmt::exec(sql, args)
        }
    }

    /// A statement answering the rows it returns (`… RETURNING id`); its
    /// count is the first column of its first row (0 if none).
    pub fn returning(sql: impl Into<Cow<'static, str>>, args: Vec<Value>) -> Stmt {
        Stmt {
            sql: sql.into(),
            args,
            returning: true,
            guard: false,
        }
    }
}

/// What one statement of a write answered.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    /// The rows it changed; for a [`Stmt::returning`], the first column of its first row (0 if none).
    pub count: i64,
    /// A [`Stmt::returning`]'s rows.
    pub rows: Vec<Row>,
}

impl Answer {
    pub(super) fn returned(rows: Vec<Row>) -> Answer {
        let count = rows.first().and_then(|r| r.get::<i64>(0).ok()).unwrap_or(0);
        Answer { count, rows }
    }
}

/// One row a query answered.
#[derive(Debug, Clone)]
pub struct Row(pub(super) Vec<Value>);

impl Row {
    /// Column `i` as `T`; a missing column or another type is an error that names both.
    pub fn get<T: FromValue>(&self, i: usize) -> Result<T, StoreError> {
        let v = self.0.get(i).unwrap_or(&Value::Null);
        T::from_value(v)
            .ok_or_else(|| StoreError::Decode(format!("column {i} is {v:?}, not {}", T::WHAT)))
    }

    /// Column `i` as text, taken out of the row (no copy).
    pub fn take_text(&mut self, i: usize) -> Result<String, StoreError> {
        match self.0.get_mut(i).map(|v| std::mem::replace(v, Value::Null)) {
            Some(Value::Text(s)) => Ok(s),
            other => Err(StoreError::Decode(format!(
                "column {i} is {other:?}, not text"
            ))),
        }
    }

    /// Column `i`, a JSON text, parsed (`null` when it is not JSON).
    pub fn json(&mut self, i: usize) -> Result<serde_json::Value, StoreError> {
        Ok(serde_json::from_str(&self.take_text(i)?).unwrap_or(serde_json::Value::Null))
    }
}

/// A Rust type a column converts to.
pub trait FromValue: Sized {
    const WHAT: &'static str;
    fn from_value(v: &Value) -> Option<Self>;
}

impl FromValue for i64 {
    const WHAT: &'static str = "an integer";
    fn from_value(v: &Value) -> Option<i64> {
        match v {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
}

impl FromValue for u32 {
    const WHAT: &'static str = "a small integer";
    fn from_value(v: &Value) -> Option<u32> {
        i64::from_value(v).and_then(|i| u32::try_from(i).ok())
    }
}

impl FromValue for bool {
    const WHAT: &'static str = "a boolean";
    fn from_value(v: &Value) -> Option<bool> {
        i64::from_value(v).map(|i| i != 0)
    }
}

impl FromValue for f64 {
    const WHAT: &'static str = "a number";
    fn from_value(v: &Value) -> Option<f64> {
        match v {
            Value::Real(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }
}

impl FromValue for String {
    const WHAT: &'static str = "text";
    fn from_value(v: &Value) -> Option<String> {
        match v {
            Value::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    const WHAT: &'static str = T::WHAT;
    fn from_value(v: &Value) -> Option<Option<T>> {
        match v {
            Value::Null => Some(None),
            v => T::from_value(v).map(Some),
        }
    }
}

/// `sql` with SQLite's `?N` placeholders as PostgreSQL's `$N` (not inside quoted text).
pub(super) fn dollar_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    for c in sql.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => out.push('$'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_dollars_outside_quotes_only() {
        assert_eq!(
            dollar_placeholders("SELECT a FROM t WHERE b = ?1 AND c = '?' LIMIT ?12"),
            "SELECT a FROM t WHERE b = $1 AND c = '?' LIMIT $12"
        );
    }

    #[test]
    fn rows_convert_and_name_what_they_found() {
        let mut r = Row(vec![
            Value::Int(3),
            Value::Null,
            Value::Text("{\"a\":1}".into()),
        ]);
        assert_eq!(r.get::<i64>(0).unwrap(), 3);
        assert!(r.get::<bool>(0).unwrap());
        assert_eq!(r.get::<Option<String>>(1).unwrap(), None);
        let e = r.get::<String>(0).unwrap_err().to_string();
        assert!(e.contains("column 0 is Int(3), not text"), "{e}");
        assert_eq!(r.json(2).unwrap()["a"], 1);
    }
}
