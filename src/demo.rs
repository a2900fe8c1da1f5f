//! `serve --demo`: the 2024 plan laid around today, so that every part of the
//! product has something to show — one event live now, some upcoming, some
//! ended (with and without published materials) — and demo accounts.

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};

use crate::domain::event::{EventKind, EventStatus};
use crate::domain::plan;
use crate::domain::staff::{Role, Username};
use crate::domain::time::{local_date, shanghai};
use crate::passwords;
use crate::store::Store;
use crate::store::events::{EventFilter, Lifecycle};

pub const PLAN: &str = include_str!("../plans/daxing-2024.toml");
/// Password of every demo account. Demo only: never use `--demo` for real data.
pub const DEMO_PASSWORD: &str = "minsheng-demo";

/// Accounts the demo creates: username, display name, role, unit code.
const ACCOUNTS: [(&str, &str, Role, Option<&str>); 4] = [
    ("demo-admin", "区政务服务和数据管理局（演示）", Role::Admin, None),
    ("demo-unit", "区人保局工作人员（演示）", Role::UnitStaff, Some("rsj")),
    ("demo-moderator", "直播审核员（演示）", Role::Moderator, None),
    ("demo-host", "直播主持人（演示）", Role::Host, None),
];

/// Where each event sits relative to today: (days from today, local hour, minute).
/// Index 0 is live now; negative days have ended.
fn slot(index: usize, now: DateTime<Utc>) -> (DateTime<Utc>, EventStatus) {
    const DAYS: [i64; 19] = [0, -21, -14, -10, -7, -5, -3, -2, -1, 1, 2, 4, 6, 8, 11, 14, 18, 21, 24];
    let days = DAYS[index % DAYS.len()];
    if days == 0 {
        // Started half an hour ago.
        return (now - Duration::minutes(30), EventStatus::Live);
    }
    let date = local_date(now) + Duration::days(days);
    let time = if index % 2 == 0 {
        NaiveTime::from_hms_opt(9, 30, 0)
    } else {
        NaiveTime::from_hms_opt(14, 30, 0)
    };
    let local = shanghai()
        .from_local_datetime(&date.and_time(time.unwrap_or(NaiveTime::MIN)))
        .single()
        .map_or(now, |t| t.with_timezone(&Utc));
    let status = match days {
        d if d < -5 => EventStatus::MaterialsPublished,
        d if d < 0 => EventStatus::Ended,
        d if d <= 14 => EventStatus::Announced,
        _ => EventStatus::Draft,
    };
    (local, status)
}

/// Import the plan, create the demo accounts and lay the events around `now`.
pub async fn load(store: &Store, now: DateTime<Utc>) -> anyhow::Result<()> {
    let plan = plan::parse(PLAN)?;
    store.import_plan(&plan).await?;
    for (username, display, role, unit) in ACCOUNTS {
        if store.credentials(username).await?.is_some() {
            continue;
        }
        let unit_id = match unit {
            Some(code) => Some(store.unit_by_code(code).await?.id),
            None => None,
        };
        let hash = passwords::hash_blocking(DEMO_PASSWORD.to_owned()).await?;
        store
            .create_user(&Username::parse(username)?, display, &hash, role, unit_id)
            .await?;
    }

    let mut events = store.list_events(&EventFilter::default()).await?;
    events.sort_by(|a, b| demo_order(&a.code).cmp(&demo_order(&b.code)));
    for (i, event) in events.iter().enumerate() {
        let (starts_at, status) = slot(i, now);
        let minutes = event.duration_minutes.unwrap_or(90);
        let ends_at = starts_at + Duration::minutes(minutes);
        let announced = status != EventStatus::Draft;
        let done = matches!(status, EventStatus::Ended | EventStatus::MaterialsPublished);
        let published = status == EventStatus::MaterialsPublished;
        let lifecycle = Lifecycle {
            starts_at,
            duration_minutes: minutes,
            status,
            announced_at: announced.then(|| starts_at - Duration::days(6)),
            selection_notified_at: (announced && event.public_selection).then(|| starts_at - Duration::days(2)),
            live_at: (status == EventStatus::Live || done).then_some(starts_at),
            ended_at: done.then_some(ends_at),
            materials_published_at: published.then(|| ends_at + Duration::days(3)),
            materials_url: published.then(|| format!("https://materials.demo.invalid/{}.html", event.code)),
            video_url: (published && event.kind == EventKind::Lecture)
                .then(|| format!("https://video.demo.invalid/{}.mp4", event.code)),
        };
        store.overwrite_lifecycle(event.id, &lifecycle).await?;
    }
    Ok(())
}

/// Lecture 4 (人社普法, online and on site) goes live first; then the rest in plan order.
fn demo_order(code: &str) -> (u8, String) {
    (u8::from(code != "lecture-04"), code.to_owned())
}
