//! Tabular exports: a [`Table`] of typed [`Cell`]s, written as CSV
//! ([`to_csv`]) or as an Excel workbook ([`to_xlsx`]).
//!
//! This module only produces bytes; the caller decides what goes in the
//! table (mask citizen text first with
//! [`mask_personal_data`](crate::domain::masking::mask_personal_data)) and
//! how the bytes are sent.

mod csv;
mod xlsx;

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};

pub use csv::to_csv;
pub use xlsx::to_xlsx;

/// One sheet of an export: a name, a header row and the data rows.
///
/// Rows may be shorter or longer than `headers`; cells are written as given.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// The worksheet name in a workbook (sanitised to Excel's rules there); unused in CSV.
    pub name: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// A table with headers and no rows yet.
    pub fn new(name: impl Into<String>, headers: impl IntoIterator<Item = impl Into<String>>) -> Table {
        Table {
            name: name.into(),
            headers: headers.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }
}

/// One typed value.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Written verbatim: a string cell in a workbook, never a formula.
    Text(String),
    Int(i64),
    Float(f64),
    /// A calendar date, shown `YYYY-MM-DD`.
    Date(NaiveDate),
    /// An instant, shown in Asia/Shanghai as `YYYY-MM-DD HH:MM`.
    DateTime(DateTime<Utc>),
    Empty,
}

/// The text a reader sees: what CSV writes, and what column widths are measured on.
impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cell::Text(text) => f.write_str(text),
            Cell::Int(n) => write!(f, "{n}"),
            Cell::Float(x) => write!(f, "{x}"),
            Cell::Date(date) => write!(f, "{}", date.format("%Y-%m-%d")),
            Cell::DateTime(at) => write!(
                f,
                "{}",
                at.with_timezone(&crate::domain::time::shanghai())
                    .format("%Y-%m-%d %H:%M")
            ),
            Cell::Empty => Ok(()),
        }
    }
}

/// `Cell::from` for each plain value a column holds: into its variant.
macro_rules! cells_from {
    ($($value:ty => $variant:ident),* $(,)?) => {
        $(impl From<$value> for Cell {
            fn from(value: $value) -> Cell {
                Cell::$variant(value.into())
            }
        })*
    };
}

cells_from! {
    String => Text,
    &str => Text,
    // What [`mask_personal_data`](crate::domain::masking::mask_personal_data) returns.
    Cow<'_, str> => Text,
    i64 => Int,
    i32 => Int,
    u32 => Int,
    f64 => Float,
    NaiveDate => Date,
    DateTime<Utc> => DateTime,
}

/// `None` is an empty cell.
impl<T: Into<Cell>> From<Option<T>> for Cell {
    fn from(value: Option<T>) -> Cell {
        value.map_or(Cell::Empty, Into::into)
    }
}

/// Why an export could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The workbook writer refused (e.g. more than 1,048,576 rows in a sheet).
    #[error("could not write the workbook: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_convert_and_display() {
        assert_eq!(Cell::from("意见"), Cell::Text("意见".into()));
        assert_eq!(Cell::from(String::from("a")), Cell::Text("a".into()));
        assert_eq!(Cell::from(Cow::Borrowed("b")), Cell::Text("b".into()));
        assert_eq!(Cell::from(7_i32), Cell::Int(7));
        assert_eq!(Cell::from(Some(7_i64)), Cell::Int(7));
        assert_eq!(Cell::from(None::<&str>), Cell::Empty);
        assert_eq!(Cell::from(1.5).to_string(), "1.5");
        let date = NaiveDate::from_ymd_opt(2024, 10, 14).unwrap();
        assert_eq!(Cell::from(date).to_string(), "2024-10-14");
        let at: DateTime<Utc> = "2024-10-14T16:05:59Z".parse().unwrap();
        assert_eq!(Cell::from(at).to_string(), "2024-10-15 00:05");
        assert_eq!(Cell::Empty.to_string(), "");
    }
}
