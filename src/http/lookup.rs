//! Codes in requests turned into rows. An unknown code is the client's
//! mistake (422 naming the field); a store that fails stays a store failure
//! (503), never "there is no such unit". And an event in the request's path,
//! for those who may manage it.

use super::AppState;
use super::error::{ApiError, ApiResult};
use crate::domain::ids::EventId;
use crate::domain::staff::Staff;
use crate::store::StoreError;
use crate::store::events::Event;
use crate::store::units::Unit;

/// The unit with `code` (already checked by [`crate::domain::values::Code`]).
pub async fn unit(state: &AppState, code: &str) -> ApiResult<Unit> {
    match state.store.unit_by_code(code).await {
        Ok(unit) => Ok(unit),
        Err(StoreError::NotFound(_)) => Err(unknown("unit", code)),
        Err(e) => Err(e.into()),
    }
}

/// The 422 for a code that names nothing: `what` is the field.
pub fn unknown(what: &'static str, code: &str) -> ApiError {
    ApiError::invalid(format!("there is no {what} with code `{code}`"))
        .with_details(serde_json::json!({ "field": what }))
}

/// The event, if `staff` may manage it (the data bureau, or one of its host
/// units); 403 `refusal` otherwise.
pub async fn managed_event(state: &AppState, staff: &Staff, id: EventId, refusal: &'static str) -> ApiResult<Event> {
    let event = state.store.event(id).await?;
    if staff.manages(&event.host_ids()) {
        Ok(event)
    } else {
        Err(ApiError::forbidden(refusal))
    }
}
