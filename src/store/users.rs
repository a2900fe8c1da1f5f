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
    must_change_password: bool,
    second_factor: bool,
}

/// An account as administrators see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Account {
    #[serde(flatten)]
    pub staff: Staff,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    /// Signed in with a one-time password from an administrator's reset:
    /// nothing but a password change until it is changed.
    pub must_change_password: bool,
    /// A second factor (TOTP) is enrolled: sign-in needs its code.
    pub second_factor: bool,
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
            must_change_password: self.must_change_password,
            second_factor: self.second_factor,
        })
    }
}

/// How a password is set: whose session stays (the one changing its own
/// password), and whether it must be changed at the next sign-in.
#[derive(Debug, Clone, Copy, Default)]
pub struct PasswordChange<'a> {
    pub keep_session: Option<&'a str>,
    pub must_change: bool,
}

/// What an administrator changes of an account.
#[derive(Debug, Clone, Default)]
pub struct AccountChange {
    pub display_name: Option<String>,
    pub role: Option<Role>,
    /// `Some(None)`: no unit.
    pub unit_id: Option<Option<UnitId>>,
    pub active: Option<bool>,
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
             RETURNING id, username, display_name, role, unit_id, active, created_at, must_change_password, (totp_enabled_at IS NOT NULL) AS second_factor";
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
        const SQL: &str = "SELECT id, username, display_name, role, unit_id, active, created_at, must_change_password, (totp_enabled_at IS NOT NULL) AS second_factor FROM users ORDER BY id";
        let rows = on_pool!(self, read p => sqlx::query_as::<_, UserRow>(SQL).fetch_all(p).await)?;
        rows.into_iter().map(UserRow::into_account).collect()
    }

    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn credentials(&self, username: &str) -> StoreResult<Option<Credentials>> {
        const SQL: &str =
            "SELECT id, username, display_name, role, unit_id, active, created_at, must_change_password, (totp_enabled_at IS NOT NULL) AS second_factor, password_hash
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
        const SQL: &str = "SELECT id, username, display_name, role, unit_id, active, created_at, must_change_password, (totp_enabled_at IS NOT NULL) AS second_factor FROM users WHERE id = $1";
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
    #[tracing::instrument(skip(self, password_hash, change), err(level = "debug"))]
    pub async fn set_password(
        &self,
        user_id: StaffId,
        password_hash: &str,
        change: PasswordChange<'_>,
    ) -> StoreResult<u64> {
        const SET: &str = "UPDATE users SET password_hash = $1, must_change_password = $2 WHERE id = $3";
        const END_SESSIONS: &str = "DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2";
        let keep = change.keep_session.map(super::sessions::token_hash).unwrap_or_default();
        let (done, ended) = on_pool!(self, write p => async {
            let mut tx = p.begin().await?;
            let done = sqlx::query(SET).bind(password_hash).bind(change.must_change).bind(user_id)
                .execute(&mut *tx).await?.rows_affected();
            let ended = sqlx::query(END_SESSIONS).bind(user_id).bind(&keep).execute(&mut *tx).await?.rows_affected();
            tx.commit().await?;
            Ok::<_, sqlx::Error>((done, ended))
        }.await)?;
        if done == 0 {
            return Err(StoreError::NotFound("user"));
        }
        Ok(ended)
    }

    /// Change an account as an administrator says; disabling ends its
    /// sessions in the same transaction. The account after.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn change_account(&self, id: StaffId, c: &AccountChange) -> StoreResult<Account> {
        const SQL: &str = "UPDATE users SET display_name = COALESCE($1, display_name), role = COALESCE($2, role),
               unit_id = CASE WHEN $3 THEN $4 ELSE unit_id END, active = COALESCE($5, active) WHERE id = $6";
        const END_SESSIONS: &str = "DELETE FROM sessions WHERE user_id = $1";
        let role = c.role.map(Role::as_str);
        let (set_unit, unit) = match c.unit_id {
            Some(unit) => (true, unit),
            None => (false, None),
        };
        let done = on_pool!(self, write p => async {
            let mut tx = p.begin().await?;
            let done = sqlx::query(SQL).bind(&c.display_name).bind(role).bind(set_unit).bind(unit).bind(c.active)
                .bind(id).execute(&mut *tx).await?.rows_affected();
            if c.active == Some(false) {
                sqlx::query(END_SESSIONS).bind(id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(done)
        }.await)
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_check_violation() => {
                StoreError::Conflict("unit staff need a unit".into())
            }
            _ => StoreError::Database(e),
        })?;
        if done == 0 {
            return Err(StoreError::NotFound("user"));
        }
        self.account(id).await
    }
}
