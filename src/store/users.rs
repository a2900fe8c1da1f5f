//! Staff accounts. Passwords are kept only as Argon2id hashes.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{OnConstraint, Store, StoreError, StoreResult, on_pool};
use crate::domain::ids::{StaffId, UnitId};
use crate::domain::staff::{Role, Staff, Username};
use crate::domain::time::now;

#[derive(Debug, Clone, sqlx::FromRow)]
pub(super) struct UserRow {
    id: StaffId,
    username: String,
    display_name: String,
    role: String,
    unit_id: Option<UnitId>,
    active: bool,
    created_at: DateTime<Utc>,
}

/// An account as administrators see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Account {
    #[serde(flatten)]
    pub staff: Staff,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

impl UserRow {
    pub(super) fn into_account(self) -> StoreResult<Account> {
        let role = Role::parse(&self.role).ok_or(StoreError::Conflict(format!("unknown role {}", self.role)))?;
        Ok(Account {
            staff: Staff {
                id: self.id,
                username: self.username,
                display_name: self.display_name,
                role,
                unit_id: self.unit_id,
            },
            active: self.active,
            created_at: self.created_at,
        })
    }
}

/// What a login checks: the account and its stored hash.
pub struct Credentials {
    pub account: Account,
    pub password_hash: String,
}

impl Store {
    #[tracing::instrument(skip(self, password_hash), fields(username = username.as_str()), err(level = "debug"))]
    pub async fn create_user(
        &self,
        username: &Username,
        display_name: &str,
        password_hash: &str,
        role: Role,
        unit_id: Option<UnitId>,
    ) -> StoreResult<Account> {
        const SQL: &str = "INSERT INTO users (username, display_name, password_hash, role, unit_id, active, created_at)
             VALUES ($1, $2, $3, $4, $5, TRUE, $6)
             RETURNING id, username, display_name, role, unit_id, active, created_at";
        let row = on_pool!(self, write p => sqlx::query_as::<_, UserRow>(SQL)
            .bind(username.as_str())
            .bind(display_name)
            .bind(password_hash)
            .bind(role.as_str())
            .bind(unit_id)
            .bind(now())
            .fetch_one(p)
            .await)
        .on_unique(|| format!("the username `{}` is taken", username.as_str()))?;
        row.into_account()
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn list_users(&self) -> StoreResult<Vec<Account>> {
        const SQL: &str = "SELECT id, username, display_name, role, unit_id, active, created_at FROM users ORDER BY id";
        let rows = on_pool!(self, read p => sqlx::query_as::<_, UserRow>(SQL).fetch_all(p).await)?;
        rows.into_iter().map(UserRow::into_account).collect()
    }

    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn credentials(&self, username: &str) -> StoreResult<Option<Credentials>> {
        const SQL: &str = "SELECT id, username, display_name, role, unit_id, active, created_at, password_hash
             FROM users WHERE username = $1";
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            user: UserRow,
            password_hash: String,
        }
        let row = on_pool!(self, read p => sqlx::query_as::<_, Row>(SQL).bind(username).fetch_optional(p).await)?;
        row.map(|r| {
            Ok(Credentials {
                account: r.user.into_account()?,
                password_hash: r.password_hash,
            })
        })
        .transpose()
    }

    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn account(&self, id: StaffId) -> StoreResult<Account> {
        const SQL: &str =
            "SELECT id, username, display_name, role, unit_id, active, created_at FROM users WHERE id = $1";
        let row = on_pool!(self, read p => sqlx::query_as::<_, UserRow>(SQL).bind(id).fetch_optional(p).await)?;
        row.ok_or(StoreError::NotFound("user"))?.into_account()
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn admin_exists(&self) -> StoreResult<bool> {
        const SQL: &str = "SELECT COUNT(*) FROM users WHERE role = 'admin' AND active";
        let n: i64 = on_pool!(self, read p => sqlx::query_scalar(SQL).fetch_one(p).await)?;
        Ok(n > 0)
    }

    /// Set an account's password and end every session it has, in one
    /// transaction: whoever knew the old password (or held a session made
    /// with it) is shut out the moment it changes. Returns how many sessions
    /// ended.
    #[tracing::instrument(skip(self, password_hash), err(level = "debug"))]
    pub async fn set_password(&self, user_id: StaffId, password_hash: &str) -> StoreResult<u64> {
        const SET: &str = "UPDATE users SET password_hash = $1 WHERE id = $2";
        const END_SESSIONS: &str = "DELETE FROM sessions WHERE user_id = $1";
        let (done, ended) = on_pool!(self, write p => async {
            let mut tx = p.begin().await?;
            let done = sqlx::query(SET).bind(password_hash).bind(user_id).execute(&mut *tx).await?.rows_affected();
            let ended = sqlx::query(END_SESSIONS).bind(user_id).execute(&mut *tx).await?.rows_affected();
            tx.commit().await?;
            Ok::<_, sqlx::Error>((done, ended))
        }.await)?;
        if done == 0 {
            return Err(StoreError::NotFound("user"));
        }
        Ok(ended)
    }
}
