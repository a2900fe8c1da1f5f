//! Pure types and rules: no I/O here.

pub mod calendar;
pub mod deadlines;
pub mod error_code;
pub mod event;
pub mod identity;
pub mod ids;
pub mod masking;
pub mod media;
pub(crate) mod names;
pub mod opinion;
pub mod performance;
pub mod plan;
pub mod poll;
pub mod question;
pub mod random;
pub mod report;
pub mod screen;
pub mod search;
pub mod security;
pub mod selection;
pub mod staff;
pub mod time;
pub mod transcript;
pub mod update;
pub mod values;
