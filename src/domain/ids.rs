//! The ids that cross layers, each its own type: a question's id cannot be
//! passed where a poll's is wanted, from the parsed message to the SQL bind.
//!
//! Each is the database's 64-bit row id. On the wire and in JSON it is the
//! bare number (`#[serde(transparent)]`), so clients see no difference; log lines
//! record `id.0`, the number. The store binds and reads it as the integer (`store::ids`).
//!
//! Questions and comments share one id space (a comment promoted to a
//! question keeps its id, and the room log names either by it), so both are
//! a [`PostId`].

use std::fmt;

macro_rules! ids {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash,
            serde::Serialize, serde::Deserialize, utoipa::ToSchema,
        )]
        #[serde(transparent)]
        #[schema(value_type = i64)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> i64 {
                id.0
            }
        }
    )*};
}

ids! {
    /// An event (an open day's visit or a policy lecture), and its live room.
    EventId;
    /// A question or a comment in a live room.
    PostId;
    /// A poll in a live room.
    PollId;
    /// An adoption-feedback record (意见建议).
    OpinionId;
    /// A responsible unit (主责单位).
    UnitId;
    /// A staff account.
    StaffId;
    /// A verified viewer (one mainland mobile number).
    IdentityId;
    /// An update of an event's text feed (图文直播).
    UpdateId;
    /// An image uploaded for the text feed.
    ImageId;
}
