//! `serve --demo`: the 2024 plan laid around today, so that every part of the
//! product has something to show — one event live now, some upcoming, some
//! ended (with and without published materials) — and demo accounts.

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};

use crate::domain::calendar::WorkingCalendar;
use crate::domain::event::{EventKind, EventStatus};
use crate::domain::identity::IdentityMode;
use crate::domain::ids::StaffId;
use crate::domain::opinion::{AdoptionState, DEFAULT_REPLY_WORKING_DAYS, reply_due_date};
use crate::domain::plan;
use crate::domain::staff::{Role, Username};
use crate::domain::time::{local_date, shanghai};
use crate::passwords;
use crate::store::Store;
use crate::store::events::{Event, EventFilter, Lifecycle};
use crate::store::opinions::{Actor, NewOpinion, OpinionAuthor, OpinionFilter, SideRecord};

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

/// Import the plan, create the demo accounts, lay the events around `now`
/// and give the live and ended events a few opinions to work on.
pub async fn load(
    store: &Store,
    calendar: &WorkingCalendar,
    now: DateTime<Utc>,
    identity: IdentityMode,
) -> anyhow::Result<()> {
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
    events.sort_by_key(|e| demo_order(&e.code));
    for (i, event) in events.iter().enumerate() {
        let (starts_at, status) = slot(i, now);
        let minutes = event.about.duration_minutes.unwrap_or(90);
        let ends_at = starts_at + Duration::minutes(minutes);
        let announced = status != EventStatus::Draft;
        let done = matches!(status, EventStatus::Ended | EventStatus::MaterialsPublished);
        let published = status == EventStatus::MaterialsPublished;
        let lifecycle = Lifecycle {
            starts_at,
            duration_minutes: minutes,
            status,
            announced_at: announced.then(|| starts_at - Duration::days(6)),
            selection_notified_at: (announced && event.about.public_selection).then(|| starts_at - Duration::days(2)),
            live_at: (status == EventStatus::Live || done).then_some(starts_at),
            ended_at: done.then_some(ends_at),
            materials_published_at: published.then(|| ends_at + Duration::days(3)),
            materials_url: published.then(|| format!("https://materials.demo.invalid/{}.html", event.code)),
            video_url: (published && event.about.kind == EventKind::Lecture)
                .then(|| format!("https://video.demo.invalid/{}.mp4", event.code)),
        };
        store.overwrite_lifecycle(event.id, &lifecycle).await?;
        store.overwrite_identity_mode(event.id, identity).await?;
    }
    let admin = store
        .credentials("demo-admin")
        .await?
        .map(|c| c.account.staff.id)
        .ok_or_else(|| anyhow::anyhow!("the demo administrator is missing"))?;
    for event in store.list_events(&EventFilter::default()).await? {
        if matches!(
            event.status,
            EventStatus::Live | EventStatus::Ended | EventStatus::MaterialsPublished
        ) {
            sample_opinions(store, calendar, &event, admin, now).await?;
        }
    }
    Ok(())
}

/// Opinions as a unit would have typed them in from an open day's paper
/// forms: one replied and published, one under study, one waiting. Added
/// once per event (a restart of the demo keeps what was done with them).
async fn sample_opinions(
    store: &Store,
    calendar: &WorkingCalendar,
    event: &Event,
    admin: StaffId,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    const SAMPLES: [(&str, &str, &str); 3] = [
        ("市民王先生", "办事指南", "希望把办事指南做成图文版，老年人更容易看懂。"),
        (
            "网友“大兴居民”",
            "便民服务",
            "建议周末也开放一个窗口，上班族平时没时间办理。",
        ),
        (
            "李女士",
            "政策咨询",
            "相关补贴政策的申请条件能否在直播后公布一份书面说明？",
        ),
    ];
    let existing = store
        .list_opinions(&OpinionFilter {
            event_id: Some(event.id),
            include_merged: true,
            today: local_date(now),
            limit: 1,
            ..OpinionFilter::default()
        })
        .await?;
    let Some(lead) = event.hosts.first() else {
        return Ok(());
    };
    if !existing.is_empty() {
        return Ok(());
    }
    let received = event.live_at.unwrap_or(now).min(now);
    let due_date = reply_due_date(calendar, event.ended_at, received, DEFAULT_REPLY_WORKING_DAYS);
    for (i, (nickname, topic, text)) in SAMPLES.into_iter().enumerate() {
        let opinion = store
            .create_opinion(&NewOpinion {
                event_id: event.id,
                unit_id: lead.id,
                text,
                nickname,
                topic: Some(topic),
                received_at: received,
                due_date,
                author: OpinionAuthor::Staff(admin),
                via: None,
                speaker_group: None,
            })
            .await?;
        if event.status == EventStatus::Live {
            continue;
        }
        let mut after = opinion.fields();
        match i {
            0 => {
                after.state = AdoptionState::Adopted;
                after.reply = Some("感谢您的建议。图文版办事指南已在区政府网站和政务服务中心发布。".into());
                after.published_at = Some((event.ended_at.unwrap_or(received) + Duration::days(2)).min(now));
                after.replied_by = Some(admin);
            }
            1 => after.state = AdoptionState::UnderStudy,
            _ => continue,
        }
        store
            .change_opinions(
                &[(opinion, after)],
                "opinion.demo",
                Actor::Staff(admin),
                SideRecord::None,
            )
            .await?;
    }
    Ok(())
}

/// Lecture 4 (人社普法, online and on site) goes live first; then the rest in plan order.
fn demo_order(code: &str) -> (u8, String) {
    (u8::from(code != "lecture-04"), code.to_owned())
}

/// What the demo's live room opens with, so that a newcomer sees a working
/// room at once: (viewer key, nickname, text, published, the host's answer).
/// One text holds a mobile number, which viewers see masked.
const ROOM_POSTS: [(&str, &str, &str, bool, Option<&str>); 5] = [
    (
        "d0e0000000000001",
        "张女士",
        "社保卡丢了怎么补办？需要带哪些材料？",
        true,
        Some("本人携带身份证到社保中心窗口，或在“北京人社”App上申请补办，约 10 个工作日寄到。"),
    ),
    ("d0e0000000000002", "老李", "退休以后医保报销比例会变吗？", true, None),
    (
        "d0e0000000000003",
        "王先生",
        "我的电话13812345678，灵活就业社保断缴了怎么补，能否回电说明？",
        true,
        None,
    ),
    ("d0e0000000000004", "网友", "开放日现场可以带孩子参加吗？", false, None),
    ("d0e0000000000005", "小陈", "讲得很清楚，点赞！", true, None),
];

/// Give the live event's room its opening posts through the live writer (as
/// viewers and the demo moderator would: logged, audited), once: a room that
/// has posts already is left as it is.
pub async fn open_live_room(store: &Store, hub: &crate::hub::Hub) -> anyhow::Result<()> {
    use crate::domain::question::{ModAction, PostKind, QuestionStatus, ViewerKey};
    use crate::store::writer::{Command, NewQuestion, Outcome};

    let Some(event) = store
        .list_events(&EventFilter::default())
        .await?
        .into_iter()
        .find(|e| e.status == EventStatus::Live)
    else {
        return Ok(());
    };
    if !store.approved_questions(event.id).await?.is_empty() {
        return Ok(());
    }
    let moderator = store
        .credentials("demo-moderator")
        .await?
        .map(|c| c.account.staff.id)
        .ok_or_else(|| anyhow::anyhow!("the demo moderator is missing"))?;
    let mut ids = Vec::with_capacity(ROOM_POSTS.len());
    for (i, (key, nickname, text, published, answer)) in ROOM_POSTS.into_iter().enumerate() {
        let comment = i == ROOM_POSTS.len() - 1;
        let ask = Command::Ask(NewQuestion {
            event_id: event.id,
            viewer: ViewerKey::parse(key).ok_or_else(|| anyhow::anyhow!("demo viewer key {key}"))?,
            nickname: nickname.to_owned(),
            text: text.to_owned(),
            client_ref: None,
            ip: None,
            kind: if comment { PostKind::Comment } else { PostKind::Question },
            status: QuestionStatus::Pending,
            reject_reason: None,
            hits: serde_json::Value::Array(Vec::new()),
            identity: None,
            notify: false,
        });
        let sink = hub.sink(event.id, None);
        let Outcome::Asked { question, .. } = hub.writer.submit(ask, sink.clone()).await? else {
            anyhow::bail!("the demo room's post was not stored");
        };
        ids.push(question.id);
        let steps = published
            .then_some(ModAction::Approve)
            .into_iter()
            .chain(answer.map(|a| ModAction::Answer {
                text: Some(a.to_owned()),
            }));
        for action in steps {
            let command = Command::Moderate {
                event_id: event.id,
                question_id: question.id,
                action,
                staff_id: moderator,
            };
            hub.writer.submit(command, sink.clone()).await?;
        }
    }
    review_samples(hub, event.id, ids[1], moderator).await
}

/// The console's 举报与申诉 at work: a report on a published question (below
/// the threshold) and a rejected question its author appealed.
async fn review_samples(
    hub: &crate::hub::Hub,
    event_id: crate::domain::ids::EventId,
    reported: crate::domain::ids::PostId,
    moderator: StaffId,
) -> anyhow::Result<()> {
    use crate::domain::question::{ModAction, PostKind, QuestionStatus, ViewerKey};
    use crate::domain::report::ReportReason;
    use crate::store::writer::{Command, NewQuestion, Outcome, Review};

    let due = |days: u32| hub.calendar.add_working_days(local_date(chrono::Utc::now()), days).ok();
    let sink = hub.sink(event_id, None);
    let report = Review::Report {
        event_id,
        post_id: reported,
        reporter: ViewerKey("d0e0000000000007".to_owned()),
        reason: ReportReason::Other,
        due_on: due(hub.settings.report_due_working_days),
        threshold: hub.settings.report_threshold,
    };
    hub.writer.submit(Command::Review(report), sink.clone()).await?;
    let author = ViewerKey("d0e0000000000006".to_owned());
    let ask = Command::Ask(NewQuestion {
        event_id,
        viewer: author.clone(),
        nickname: "刘阿姨".to_owned(),
        text: "小区门口的公交站能不能挪近一点？".to_owned(),
        client_ref: None,
        ip: None,
        kind: PostKind::Question,
        status: QuestionStatus::Pending,
        reject_reason: None,
        hits: serde_json::Value::Array(Vec::new()),
        identity: None,
        notify: false,
    });
    let Outcome::Asked { question, .. } = hub.writer.submit(ask, sink.clone()).await? else {
        anyhow::bail!("the demo room's post was not stored");
    };
    let reject = Command::Moderate {
        event_id,
        question_id: question.id,
        action: ModAction::Reject {
            reason: "与本场人社政策主题无关".to_owned(),
        },
        staff_id: moderator,
    };
    hub.writer.submit(reject, sink.clone()).await?;
    let appeal = Review::Appeal {
        event_id,
        post_id: question.id,
        author,
        text: "公交站关系老人就医和办社保，请复核".to_owned(),
        due_on: due(hub.settings.appeal_due_working_days),
    };
    hub.writer.submit(Command::Review(appeal), sink).await?;
    Ok(())
}

/// Who signs up for the demo's in-person open day: name, group, street, number.
const APPLICANTS: [(&str, &str, &str, &str); 8] = [
    ("张伟", "社区居民", "兴丰街道", "13800000101"),
    ("王芳", "社区居民", "林校路街道", "13800000102"),
    ("李娜", "社区居民", "清源街道", "13800000103"),
    ("刘洋", "企业", "亦庄镇", "13800000104"),
    ("陈静", "企业", "黄村镇", "13800000105"),
    ("杨磊", "家长", "天宫院街道", "13800000106"),
    ("赵敏", "家长", "高米店街道", "13800000107"),
    ("黄强", "社区居民", "观音寺街道", "13800000108"),
];

/// The demo's in-person open day (开放点6, 人保局, tomorrow): a published
/// selection announcement with sign-ups open until an hour before the start,
/// eight applicants and two invited representatives, so that the draw, the
/// notices, the door list and the written suggestions can each be tried.
/// Laid once; a restart keeps what was done with it (and, until the draw,
/// moves the sign-up window with the event).
pub async fn in_person_open_day(
    store: &Store,
    keys: &crate::domain::identity::IdentityKeys,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    use crate::domain::identity::{PhoneNumber, VerificationToken};
    use crate::domain::selection::{FieldRule, GroupTarget, SignUpFields, new_reference};
    use crate::store::attendance::AttendanceSettings;
    use crate::store::identities::NewVerification;
    use crate::store::selections::{NewParticipant, NewSignUp, SelectionText};

    let Some(event) = store
        .list_events(&EventFilter::default())
        .await?
        .into_iter()
        .find(|e| e.code == "open-day-06")
    else {
        return Ok(());
    };
    let Some(starts_at) = event.about.starts_at.filter(|_| event.status == EventStatus::Announced) else {
        return Ok(());
    };
    let laid = store.selection(event.id).await?;
    if laid.as_ref().is_some_and(|s| s.drawn_at.is_some()) {
        return Ok(());
    }
    let group = |name: &str, share| GroupTarget {
        name: name.to_owned(),
        share,
    };
    let text = SelectionText {
        text: "本次政务开放日面向全区公开遴选6名群众代表，走进社银合作网点，体验社保业务办理并面对面交流。\
               年满18周岁的大兴区居民、企业职工和家长均可报名；按群体分层抽签，抽签种子随结果公示，任何人可复核。"
            .to_owned(),
        places: 6,
        opens_at: now - Duration::days(2),
        closes_at: (starts_at - Duration::hours(1)).max(now + Duration::hours(1)),
        reply_by: local_date(starts_at),
        groups: vec![group("社区居民", 50), group("企业", 30), group("家长", 20)],
        fields: SignUpFields {
            street: FieldRule::Required,
            reason: FieldRule::Optional,
        },
    };
    // Until the draw, each start opens sign-ups again around the new start.
    store.save_selection(event.id, &text).await?;
    if laid.is_some() {
        return Ok(());
    }
    store.mark_selection(event.id, true).await?;
    let settings = AttendanceSettings {
        capacity: Some(20),
        bring: Some("请携带身份证，提前15分钟到一层大厅签到".to_owned()),
    };
    store.save_attendance_settings(event.id, &settings).await?;
    for (name, group, street, number) in APPLICANTS {
        let phone = PhoneNumber::parse(number)?;
        let verified = store
            .record_verification(NewVerification {
                phone: &keys.phone_hash(&phone),
                masked: &phone.masked(),
                sealed: &keys.seal(&phone),
                token: &VerificationToken::generate(),
                expires_at: now + Duration::days(1),
            })
            .await?;
        store
            .sign_up(NewSignUp {
                event_id: event.id,
                reference: &new_reference(),
                name,
                identity: verified.identity_id,
                phone_masked: &verified.phone,
                group,
                street: Some(street),
                reason: Some("想了解社保业务在银行网点怎么办"),
            })
            .await?;
    }
    for (name, group, organisation, number) in [
        ("周代表", "人大代表", "区人大代表", "13900000201"),
        ("吴委员", "政协委员", "区政协委员", "13900000202"),
    ] {
        let phone = PhoneNumber::parse(number)?;
        store
            .add_participant(NewParticipant {
                event_id: event.id,
                reference: &new_reference(),
                name,
                phone_masked: &phone.masked(),
                phone_sealed: Some(&keys.seal(&phone)),
                group,
                organisation: Some(organisation),
                kind: "invited",
            })
            .await?;
    }
    Ok(())
}
