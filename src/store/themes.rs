//! The programme's themes (专题), in the plan's order.

use serde::Serialize;
use utoipa::ToSchema;

use super::{Store, StoreResult, on_pool};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, ToSchema)]
pub struct Theme {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub position: i64,
}

impl Store {
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn list_themes(&self) -> StoreResult<Vec<Theme>> {
        const SQL: &str = "SELECT id, code, name, position FROM themes ORDER BY position, id";
        Ok(on_pool!(self, read p => sqlx::query_as::<_, Theme>(SQL).fetch_all(p).await)?)
    }
}
