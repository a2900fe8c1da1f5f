//! The stored and wire names of the domain's plain enums, said once.
//!
//! `names! { enum Type { Variant = "name", … } }` defines the enum (its
//! attributes and docs as written, and the derives every such enum has:
//! `Debug, Clone, Copy, PartialEq, Eq`, serde's with snake_case names) with
//! `as_str` (the name stored in the database and sent on the wire: the same
//! as its serde name, as the tests below check), `parse` (the way back;
//! `None` for a name it does not know) and `ALL` (every variant, in the order
//! given). With `Variant = "name" / "标签"` it also gives `label`, the name
//! shown to people.

macro_rules! names {
    (
        $(#[$attr:meta])* $vis:vis enum $t:ident {
            $($(#[$vattr:meta])* $v:ident = $s:literal / $label:literal),* $(,)?
        }
    ) => {
        $crate::domain::names::names! {
            $(#[$attr])* $vis enum $t { $($(#[$vattr])* $v = $s),* }
        }
        impl $t {
            /// The name shown to people (Chinese).
            pub fn label(self) -> &'static str {
                match self { $(Self::$v => $label),* }
            }
        }
    };
    (
        $(#[$attr:meta])* $vis:vis enum $t:ident {
            $($(#[$vattr:meta])* $v:ident = $s:literal),* $(,)?
        }
    ) => {
        $(#[$attr])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        $vis enum $t { $($(#[$vattr])* $v),* }
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

#[cfg(test)]
mod tests {
    use serde::Serialize;

    /// Every name is the variant's serde name, and parses back.
    fn serde_agrees<T: Serialize + Copy + PartialEq + std::fmt::Debug>(
        all: &[T],
        as_str: fn(T) -> &'static str,
        parse: fn(&str) -> Option<T>,
    ) {
        for &v in all {
            assert_eq!(serde_json::to_value(v).unwrap(), as_str(v), "{v:?}");
            assert_eq!(parse(as_str(v)), Some(v));
        }
    }

    #[test]
    fn stored_names_are_the_wire_names() {
        use crate::domain::{event, opinion, poll, question, staff};
        macro_rules! check {
            ($($t:ty),*) => { $(serde_agrees(<$t>::ALL, <$t>::as_str, <$t>::parse);)* };
        }
        check!(
            event::EventStatus,
            event::EventKind,
            event::EventForm,
            opinion::OpinionSource,
            opinion::AdoptionState,
            opinion::Rating,
            opinion::ExtensionDecision,
            opinion::WithheldCategory,
            poll::PollKind,
            poll::ResultsVisibility,
            poll::PollStatus,
            question::QuestionStatus,
            question::PostKind,
            question::ModerationMode,
            staff::Role,
            crate::store::Backend
        );
    }
}
