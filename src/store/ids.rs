//! The domain's ids ([`crate::domain::ids`]) as SQL values: each binds and
//! reads as the 64-bit integer column it is, on both backends.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Database, Decode, Encode, Type};

use crate::domain::ids::{EventId, IdentityId, ImageId, OpinionId, PollId, PostId, StaffId, UnitId, UpdateId};
use crate::domain::question::LogItem;

macro_rules! sql_ids {
    ($($id:ident),*) => {$(
        impl<DB: Database> Type<DB> for $id
        where
            i64: Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <i64 as Type<DB>>::type_info()
            }
            fn compatible(ty: &DB::TypeInfo) -> bool {
                <i64 as Type<DB>>::compatible(ty)
            }
        }

        impl<'q, DB: Database> Encode<'q, DB> for $id
        where
            i64: Encode<'q, DB>,
        {
            fn encode_by_ref(&self, buf: &mut <DB as Database>::ArgumentBuffer) -> Result<IsNull, BoxDynError> {
                <i64 as Encode<'q, DB>>::encode_by_ref(&self.0, buf)
            }
        }

        impl<'r, DB: Database> Decode<'r, DB> for $id
        where
            i64: Decode<'r, DB>,
        {
            fn decode(value: <DB as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
                <i64 as Decode<'r, DB>>::decode(value).map(Self)
            }
        }
    )*};
}

sql_ids!(
    EventId, PostId, PollId, OpinionId, UnitId, StaffId, IdentityId, UpdateId, ImageId, LogItem
);
