//! The `minsheng` binary itself: migrate, import-plan, create-admin.

use std::process::Command;

fn minsheng(db: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_minsheng"));
    cmd.env("DATABASE_URL", db)
        .env("MINSHENG_LOG", "warn")
        .env_remove("MINSHENG_ADMIN_PASSWORD");
    cmd
}

fn temp_db() -> (std::path::PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("minsheng_cli_{}_{}", std::process::id(), rand_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/nested/cli.db", dir.display());
    (dir, url)
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

#[test]
fn import_plan_twice_changes_nothing_the_second_time() {
    let (dir, db) = temp_db();
    let out = minsheng(&db)
        .args(["import-plan", "plans/daxing-2024.toml"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let first: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(first["events"]["created"], 19);
    assert_eq!(first["units"]["created"], 16);
    let out = minsheng(&db)
        .args(["import-plan", "plans/daxing-2024.toml"])
        .output()
        .unwrap();
    let second: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        second["events"],
        serde_json::json!({ "created": 0, "updated": 0, "unchanged": 19 })
    );

    let missing = minsheng(&db).args(["import-plan", "plans/nope.toml"]).output().unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("plans/nope.toml"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn create_admin_prints_a_generated_password_once_and_resets() {
    let (dir, db) = temp_db();
    let out = minsheng(&db)
        .args(["create-admin", "--username", "bureau"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("administrator `bureau` created"), "{stdout}");
    assert!(stdout.contains("password (shown once): "));
    let out = minsheng(&db)
        .args(["create-admin", "--username", "bureau"])
        .env("MINSHENG_ADMIN_PASSWORD", "a-chosen-password")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("reset") && !stdout.contains("a-chosen-password"),
        "{stdout}"
    );
    let short = minsheng(&db)
        .args(["create-admin"])
        .env("MINSHENG_ADMIN_PASSWORD", "short")
        .output()
        .unwrap();
    assert!(!short.status.success());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn migrate_and_bad_urls() {
    let (dir, db) = temp_db();
    let out = minsheng(&db).arg("migrate").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bad = minsheng("mysql://nope").arg("migrate").output().unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("DATABASE_URL"));
    let secret = minsheng("postgres://app:hunter2@127.0.0.1:1/x")
        .arg("migrate")
        .output()
        .unwrap();
    assert!(!secret.status.success());
    assert!(
        !String::from_utf8_lossy(&secret.stderr).contains("hunter2"),
        "passwords never printed"
    );
    let _ = std::fs::remove_dir_all(dir);
}
