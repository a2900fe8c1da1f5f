//! Staff accounts: who may do what. Viewers have no account.

use serde::Serialize;
use utoipa::ToSchema;

use super::ids::{StaffId, UnitId};
use super::names::names;
use super::values::Invalid;

names! {
    #[derive(ToSchema)]
    pub enum Role {
        /// The district data bureau (政务服务和数据管理局): everything.
        Admin = "admin",
        /// Staff of one unit: that unit's events and opinions only.
        UnitStaff = "unit_staff",
        /// Screens the live rooms; may be limited to one unit's events.
        Moderator = "moderator",
        /// Hosts or presents events; may be limited to one unit's events.
        Host = "host",
    }
}

/// A signed-in staff member, as every permission check sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Staff {
    pub id: StaffId,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// The unit the account belongs to (required for unit staff).
    pub unit_id: Option<UnitId>,
}

impl Staff {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Whether this account works for an event hosted by `hosts`: admins for
    /// every event, others for their unit's (moderators and hosts without a
    /// unit serve the whole district).
    pub fn serves(&self, hosts: &[UnitId]) -> bool {
        match (self.role, self.unit_id) {
            (Role::Admin, _) => true,
            (Role::UnitStaff, Some(unit)) => hosts.contains(&unit),
            (Role::UnitStaff, None) => false,
            (Role::Moderator | Role::Host, None) => true,
            (Role::Moderator | Role::Host, Some(unit)) => hosts.contains(&unit),
        }
    }

    /// May edit, announce, reschedule, cancel and publish materials.
    pub fn manages(&self, hosts: &[UnitId]) -> bool {
        matches!(self.role, Role::Admin | Role::UnitStaff) && self.serves(hosts)
    }

    /// May read an event's audit log (moderation decisions, opinion changes,
    /// bans): admins always; unit staff, and moderators and hosts of a unit,
    /// for their unit's events; district-wide moderators and hosts only for
    /// events they have `acted_in` (they serve whichever room they are sent
    /// to, but have no business reading every other room's record).
    pub fn reads_audit(&self, hosts: &[UnitId], acted_in: bool) -> bool {
        if self.audit_needs_acted_in() {
            acted_in
        } else {
            self.serves(hosts)
        }
    }

    /// Whether [`Self::reads_audit`] depends on `acted_in` (district-wide
    /// moderators and hosts): the only accounts for which it is worth asking the store.
    pub fn audit_needs_acted_in(&self) -> bool {
        matches!((self.role, self.unit_id), (Role::Moderator | Role::Host, None))
    }

    /// May open and close the live event.
    pub fn runs_live(&self, hosts: &[UnitId]) -> bool {
        self.serves(hosts)
    }
}

/// A login name: 3–32 ASCII letters, digits, `.`, `_` or `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let s = s.trim();
        let ok = (3..=32).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(Self(s.to_ascii_lowercase()))
        } else {
            Err(Invalid::new("username", "use 3–32 letters, digits, '.', '_' or '-'"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password: 10–200 characters. Never printed by `Debug`.
#[derive(Clone)]
pub struct NewPassword(String);

impl NewPassword {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let n = s.chars().count();
        if (10..=200).contains(&n) {
            Ok(Self(s.to_owned()))
        } else {
            Err(Invalid::new("password", "must be 10 to 200 characters long"))
        }
    }

    /// A password for the account named `username`: 10–200 characters, not
    /// the name itself (or the name with a few characters around it), not a
    /// common password.
    pub fn parse_for(s: &str, username: &str) -> Result<Self, Invalid> {
        let password = Self::parse(s)?;
        let (lower, name) = (s.to_lowercase(), username.trim().to_lowercase());
        if !name.is_empty() && lower.replace(&name, "").chars().count() < 4 {
            return Err(Invalid::new("password", "must not be the username"));
        }
        if super::security::is_common_password(s) {
            return Err(Invalid::new(
                "password",
                "is one of the most common passwords; choose another",
            ));
        }
        Ok(password)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staff(role: Role, unit_id: Option<i64>) -> Staff {
        Staff {
            id: StaffId(1),
            username: "u".into(),
            display_name: "U".into(),
            role,
            unit_id: unit_id.map(UnitId),
        }
    }

    fn units(ids: &[i64]) -> Vec<UnitId> {
        ids.iter().copied().map(UnitId).collect()
    }

    #[test]
    fn unit_staff_serve_only_their_unit() {
        assert!(staff(Role::UnitStaff, Some(3)).manages(&units(&[1, 3])));
        assert!(!staff(Role::UnitStaff, Some(3)).manages(&units(&[1, 2])));
        assert!(!staff(Role::UnitStaff, None).manages(&units(&[1])));
        assert!(staff(Role::Admin, None).manages(&units(&[9])));
        assert!(!staff(Role::Moderator, None).manages(&units(&[9])));
        assert!(staff(Role::Moderator, None).runs_live(&units(&[9])));
        assert!(!staff(Role::Host, Some(2)).runs_live(&units(&[9])));
    }

    #[test]
    fn audit_logs_are_read_by_those_who_serve_the_event() {
        assert!(staff(Role::Admin, None).reads_audit(&units(&[9]), false));
        assert!(staff(Role::UnitStaff, Some(9)).reads_audit(&units(&[9]), false));
        assert!(!staff(Role::UnitStaff, Some(3)).reads_audit(&units(&[9]), true));
        assert!(!staff(Role::Moderator, None).reads_audit(&units(&[9]), false));
        assert!(staff(Role::Moderator, None).reads_audit(&units(&[9]), true));
        assert!(!staff(Role::Host, None).reads_audit(&units(&[9]), false));
        assert!(!staff(Role::Host, Some(3)).reads_audit(&units(&[9]), true));
    }

    #[test]
    fn usernames_and_passwords() {
        assert_eq!(Username::parse(" Zhang.San ").unwrap().as_str(), "zhang.san");
        assert!(Username::parse("张三").is_err());
        assert!(NewPassword::parse("short").is_err());
        assert_eq!(
            format!("{:?}", NewPassword::parse("long enough pw").unwrap()),
            "NewPassword(<redacted>)"
        );
    }
}
