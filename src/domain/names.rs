//! The stored and wire names of the domain's plain enums, said once.
//!
//! `names!(Type { Variant = "name", … })` gives the type `as_str` (the name
//! stored in the database and sent on the wire, the same as its serde name),
//! `parse` (the way back; `None` for a name it does not know) and `ALL` (every
//! variant, in the order given). With `Variant = "name" / "标签"` it also
//! gives `label`, the name shown to people.

macro_rules! names {
    ($t:ty { $($v:ident = $s:literal / $label:literal),* $(,)? }) => {
        $crate::domain::names::names!($t { $($v = $s),* });
        impl $t {
            /// The name shown to people (Chinese).
            pub fn label(self) -> &'static str {
                match self { $(Self::$v => $label),* }
            }
        }
    };
    ($t:ty { $($v:ident = $s:literal),* $(,)? }) => {
        impl $t {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),* }
            }
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some(Self::$v),)* _ => None }
            }
            pub const ALL: &'static [Self] = &[$(Self::$v),*];
        }
    };
}
pub(crate) use names;
