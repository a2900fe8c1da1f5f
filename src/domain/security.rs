//! What the security log records (网络安全等级保护: 安全审计), and the
//! rules of staff sign-in: lockout after repeated failures, the idle
//! timeout, passwords that resist guessing.

use utoipa::ToSchema;

use super::names::names;

names! {
    /// The kinds of security events.
    #[derive(Hash, ToSchema)]
    pub enum SecurityKind {
        SignIn = "sign_in" / "登录",
        SignInFailed = "sign_in_failed" / "登录失败",
        AccountLocked = "account_locked" / "账号锁定",
        SignOut = "sign_out" / "退出登录",
        SessionEnded = "session_ended" / "会话被结束",
        PasswordChanged = "password_changed" / "修改密码",
        PasswordReset = "password_reset" / "重置密码",
        AccountCreated = "account_created" / "创建账号",
        AccountChanged = "account_changed" / "修改账号",
        AccountDisabled = "account_disabled" / "停用账号",
        AccountEnabled = "account_enabled" / "启用账号",
        ExportUnmasked = "export_unmasked" / "导出未打码个人信息",
        ViewUnmasked = "view_unmasked" / "查看未打码个人信息",
        SettingsChanged = "settings_changed" / "修改设置",
        EventChanged = "event_changed" / "修改活动",
        SecondFactorEnrolled = "second_factor_enrolled" / "启用两步验证",
        SecondFactorReset = "second_factor_reset" / "重置两步验证",
        RecoveryCodeUsed = "recovery_code_used" / "使用恢复码",
        Retention = "retention" / "到期清理个人信息",
        ViewerDataDeleted = "viewer_data_deleted" / "观众删除本人数据",
    }
}

/// Failed passwords for one name within [`LOCKOUT_WINDOW_MINUTES`] that lock it.
pub const DEFAULT_LOCKOUT_FAILURES: u32 = 5;
/// The window failures are counted in, and how long a lock lasts (minutes).
pub const DEFAULT_LOCKOUT_MINUTES: u32 = 15;
/// A staff session without a request or a console frame for this long ends.
pub const DEFAULT_IDLE_MINUTES: u32 = 30;
/// Viewers' personal data of an event is removed this many days after it ended.
pub const DEFAULT_RETENTION_DAYS: u32 = 180;
/// The security log keeps at least this many days (网络安全法 §21: six months).
pub const MIN_SECURITY_LOG_DAYS: u32 = 180;

/// The name a sign-in is counted under: trimmed, lowercased, at most 64
/// characters (an account may or may not have it).
pub fn sign_in_key(username: &str) -> String {
    username.trim().to_lowercase().chars().take(64).collect()
}

/// Passwords too common to accept, whatever their length (a bundled list:
/// the top of the leaked-password lists, Chinese ones included).
const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

/// Whether `password` is on the list of common passwords (case-insensitive).
pub fn is_common_password(password: &str) -> bool {
    let p = password.trim().to_lowercase();
    COMMON_PASSWORDS.lines().map(str::trim).any(|c| !c.is_empty() && c == p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_passwords_and_sign_in_keys() {
        assert!(is_common_password("1234567890"));
        assert!(is_common_password("Password123"));
        assert!(is_common_password("woaini1314"));
        assert!(!is_common_password("社保卡补办要带身份证"));
        assert_eq!(sign_in_key("  Demo-Admin "), "demo-admin");
        assert_eq!(sign_in_key(&"x".repeat(200)).len(), 64);
    }
}
