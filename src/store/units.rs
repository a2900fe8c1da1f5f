//! 主责单位: the units that host events.

use crate::domain::ids::UnitId;

use serde::Serialize;
use utoipa::ToSchema;

use super::{Store, StoreError, StoreResult, on_pool};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, ToSchema)]
pub struct Unit {
    pub id: UnitId,
    pub code: String,
    /// Full official name.
    pub name: String,
    /// Name as the plan writes it.
    pub short_name: String,
    /// The district data bureau, which supervises the programme.
    pub supervisor: bool,
}

impl Store {
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn list_units(&self) -> StoreResult<Vec<Unit>> {
        const SQL: &str = "SELECT id, code, name, short_name, supervisor FROM units ORDER BY id";
        Ok(on_pool!(self, read p => sqlx::query_as::<_, Unit>(SQL).fetch_all(p).await)?)
    }

    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn unit(&self, id: UnitId) -> StoreResult<Unit> {
        const SQL: &str = "SELECT id, code, name, short_name, supervisor FROM units WHERE id = $1";
        on_pool!(self, read p => sqlx::query_as::<_, Unit>(SQL).bind(id).fetch_optional(p).await)?
            .ok_or(StoreError::NotFound("unit"))
    }

    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn unit_by_code(&self, code: &str) -> StoreResult<Unit> {
        const SQL: &str = "SELECT id, code, name, short_name, supervisor FROM units WHERE code = $1";
        on_pool!(self, read p => sqlx::query_as::<_, Unit>(SQL).bind(code).fetch_optional(p).await)?
            .ok_or(StoreError::NotFound("unit"))
    }
}
