//! The opinion search on 1,000,000 opinions, on SQLite and on PostgreSQL:
//! the search as the service runs it now (`Store::list_opinions` with a
//! text: the trigram index from three characters, a ranked scan below) beside
//! the scan it replaced (the list query as it was before migration 0019,
//! kept verbatim below as `BEFORE`). Run it through `bench/search.sh`, which
//! builds it in release and keeps the report; see BENCHMARKS.md, "Search".
//!
//! Each backend gets a fresh database (a temporary SQLite file; a PostgreSQL
//! schema created here and dropped at the end), migrated like the service's,
//! filled through the same triggers and indexes the service maintains, then
//! analysed (and, on PostgreSQL, vacuumed: autovacuum would have). Each
//! query is run once to warm the caches, then `--runs` times as it is now and
//! `--runs-before` times the old way; the report gives the median and the
//! 95th percentile (nearest rank: the slowest of up to 20 runs).

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Parser;
use minsheng::domain::search::SearchQuery;
use minsheng::store::Store;
use minsheng::store::opinions::OpinionFilter;
use sqlx::{Connection, QueryBuilder};

#[derive(Parser)]
#[command(about = "Time the opinion search on a large table, index against the old scan")]
struct Args {
    /// Opinions to fill in.
    #[arg(long, default_value_t = 1_000_000)]
    rows: u32,
    /// Timed runs per query of the search as it is now (after one warm-up run).
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// Timed runs per query of the old scan: several seconds each on SQLite,
    /// so fewer, to keep the whole run near ten minutes.
    #[arg(long, default_value_t = 10)]
    runs_before: usize,
    /// `sqlite`, `postgres` or `both`.
    #[arg(long, default_value = "both")]
    backend: String,
    /// The PostgreSQL server; a schema `search_bench_PID` is made there and dropped.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    postgres: String,
    /// Where the SQLite file goes (removed at the end).
    #[arg(long, default_value_t = std::env::temp_dir().display().to_string())]
    dir: String,
}

/// The queries. Lengths 1 and 2 take the scan in both versions; from 3 the
/// new search takes the index. The generated texts hold the common ones in
/// about a tenth to a fifth of the rows, `适老化改造` in about 0.1 %,
/// `加装电梯补贴` in one row in 100,000, and the last in none.
const QUERIES: &[&str] = &["灯", "停车", "停车难", "适老化改造", "加装电梯补贴", "无人机表演"];

/// The opinion list as it was before migration 0019 (commit 7350636,
/// `store/opinions/mod.rs`), unchanged: a `LIKE` scan, ordered by due date.
const BEFORE: &str = "SELECT o.id, o.event_id, e.title AS event_title, o.unit_id, u.code AS unit_code,
    u.short_name AS unit_name, o.source, o.text, o.nickname, o.viewer_key, o.topic, o.state, o.reason, o.reply,
    o.handoff, o.support, o.merged_into, o.received_at, o.due_date, o.replied_by, r.display_name AS replied_by_name,
    o.published_at, o.rating, o.rated_at, o.created_at, o.updated_at,
    (SELECT COUNT(*) FROM opinion_reminders m WHERE m.opinion_id = o.id) AS reminders,
    (SELECT COUNT(*) FROM opinion_extensions x WHERE x.opinion_id = o.id AND x.decision = 'pending') AS pending_extensions,
    (o.notify AND o.identity_id IS NOT NULL) AS notify,
    (SELECT n.delivered FROM opinion_notices n WHERE n.opinion_id = o.id ORDER BY n.id DESC LIMIT 1) AS told,
    o.via, o.speaker_group
    FROM opinions o JOIN events e ON e.id = o.event_id JOIN units u ON u.id = o.unit_id
    LEFT JOIN users r ON r.id = o.replied_by WHERE ($1 IS NULL OR o.event_id = $1) AND ($2 IS NULL OR o.unit_id = $2)
            AND ($3 IS NULL OR o.state = $3) AND ($4 IS NULL OR o.source = $4) AND ($5 IS NULL OR o.topic = $5)
            AND ($6 IS NULL OR LOWER(o.text) LIKE $6 ESCAPE '\\' OR LOWER(COALESCE(o.reply, '')) LIKE $6 ESCAPE '\\'
                 OR LOWER(o.nickname) LIKE $6 ESCAPE '\\')
            AND ($7 IS NULL OR o.received_at >= $7) AND ($8 IS NULL OR o.received_at < $8)
            AND ($9 = FALSE OR o.handoff = TRUE)
            AND ($10 IS NULL OR (o.published_at IS NOT NULL) = $10)
            AND ($11 = TRUE OR o.merged_into IS NULL)
            AND ($15 = FALSE OR (o.published_at IS NULL AND o.due_date < $12))
            ORDER BY CASE WHEN o.published_at IS NULL AND o.due_date < $12 THEN 0 ELSE 1 END,
              o.published_at IS NOT NULL, o.due_date IS NULL, o.due_date, o.id
            LIMIT $13 OFFSET $14";

/// How many opinions contain the query (the old scan's condition, counted).
const COUNT: &str = "SELECT COUNT(*) FROM opinions o WHERE LOWER(o.text) LIKE $1 ESCAPE '\\'
    OR LOWER(COALESCE(o.reply, '')) LIKE $1 ESCAPE '\\' OR LOWER(o.nickname) LIKE $1 ESCAPE '\\'";

const UNITS: i64 = 10;
const EVENTS: i64 = 100;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    println!(
        "search benchmark: {} opinions, {} runs per query now and {} of the old scan, {} CPUs, SQLite {}",
        args.rows,
        args.runs,
        args.runs_before,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        sqlite_version().await?
    );
    if matches!(args.backend.as_str(), "sqlite" | "both") {
        sqlite(&args).await?;
    }
    if matches!(args.backend.as_str(), "postgres" | "both") {
        postgres(&args).await?;
    }
    Ok(())
}

async fn sqlite_version() -> anyhow::Result<String> {
    let mut db = sqlx::SqliteConnection::connect("sqlite::memory:").await?;
    Ok(sqlx::query_scalar("SELECT sqlite_version()").fetch_one(&mut db).await?)
}

async fn sqlite(args: &Args) -> anyhow::Result<()> {
    let path = std::path::Path::new(&args.dir).join(format!("search_bench_{}.db", std::process::id()));
    let url = format!("sqlite://{}", path.display());
    let result = async {
        let store = Store::connect(&url).await?;
        store.migrate().await?;
        let mut db = sqlx::SqliteConnection::connect(&url).await?;
        let started = Instant::now();
        let now = Utc::now();
        seed_sqlite(&mut db, now).await?;
        for batch in batches(args.rows, 500) {
            let mut tx = db.begin().await?;
            let mut insert = QueryBuilder::new(
                "INSERT INTO opinions (event_id, unit_id, source, text, nickname, reply, state, received_at,
                 published_at, created_at, updated_at) ",
            );
            insert.push_values(batch.iter(), |mut row, o| {
                row.push_bind(o.event_id)
                    .push_bind(o.unit_id)
                    .push_bind("offline")
                    .push_bind(&o.text)
                    .push_bind(&o.nickname)
                    .push_bind(&o.reply)
                    .push_bind(o.state())
                    .push_bind(now)
                    .push_bind(o.reply.as_ref().map(|_| now))
                    .push_bind(now)
                    .push_bind(now);
            });
            insert.build().execute(&mut *tx).await?;
            tx.commit().await?;
        }
        let filled = started.elapsed();
        sqlx::query("ANALYZE").execute(&mut db).await?;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut db).await?;
        let index: i64 =
            sqlx::query_scalar("SELECT SUM(pgsize) FROM dbstat WHERE name LIKE 'opinion_search%'").fetch_one(&mut db).await?;
        let file = std::fs::metadata(&path)?.len();
        println!(
            "\n## SQLite: filled in {:.1} s ({:.0} rows/s, FTS5 triggers on); file {} MiB, of which the FTS5 index {} MiB",
            filled.as_secs_f64(),
            f64::from(args.rows) / filled.as_secs_f64(),
            file >> 20,
            index >> 20
        );
        let read = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(sqlx::sqlite::SqliteConnectOptions::new().filename(&path).read_only(true))
            .await?;
        let before = |q: SearchQuery| {
            let read = read.clone();
            async move { Ok(bind_before(sqlx::query(BEFORE), &q).fetch_all(&read).await?.len()) }
        };
        let count = |q: SearchQuery| {
            let read = read.clone();
            async move { Ok(sqlx::query_scalar(COUNT).bind(q.like_pattern()).fetch_one(&read).await?) }
        };
        report(&store, args, before, count).await?;
        store.close().await;
        anyhow::Ok(())
    }
    .await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    result
}

async fn postgres(args: &Args) -> anyhow::Result<()> {
    let schema = format!("search_bench_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(&args.postgres)
        .await
        .with_context(|| format!("connecting to {}", args.postgres))?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut admin)
        .await?;
    let sep = if args.postgres.contains('?') { '&' } else { '?' };
    let url = format!("{}{sep}options=-c%20search_path%3D{schema}", args.postgres);
    let result = async {
        let version: String = sqlx::query_scalar("SHOW server_version").fetch_one(&mut admin).await?;
        let store = Store::connect(&url).await?;
        store.migrate().await?;
        let mut db = sqlx::PgConnection::connect(&url).await?;
        let started = Instant::now();
        let now = Utc::now();
        seed_postgres(&mut db, now).await?;
        for batch in batches(args.rows, 20_000) {
            sqlx::query(
                "INSERT INTO opinions (event_id, unit_id, source, text, nickname, reply, state, received_at,
                   published_at, created_at, updated_at)
                 SELECT e, u, 'offline', t, n, r, s, $7, p, $7, $7
                 FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $8::timestamptz[])
                   AS x(e, u, t, n, r, s, p)",
            )
            .bind(batch.iter().map(|o| o.event_id).collect::<Vec<_>>())
            .bind(batch.iter().map(|o| o.unit_id).collect::<Vec<_>>())
            .bind(batch.iter().map(|o| o.text.clone()).collect::<Vec<_>>())
            .bind(batch.iter().map(|o| o.nickname.clone()).collect::<Vec<_>>())
            .bind(batch.iter().map(|o| o.reply.clone()).collect::<Vec<_>>())
            .bind(batch.iter().map(|o| o.state().to_owned()).collect::<Vec<_>>())
            .bind(now)
            .bind(batch.iter().map(|o| o.reply.as_ref().map(|_| now)).collect::<Vec<_>>())
            .execute(&mut db)
            .await?;
        }
        let filled = started.elapsed();
        sqlx::query("VACUUM ANALYZE opinions").execute(&mut db).await?;
        let (table, index): (i64, i64) = sqlx::query_as(
            "SELECT pg_table_size('opinions'),
               pg_relation_size('opinions_text_trgm') + pg_relation_size('opinions_reply_trgm')
               + pg_relation_size('opinions_nickname_trgm')",
        )
        .fetch_one(&mut db)
        .await?;
        println!(
            "\n## PostgreSQL {version}: filled in {:.1} s ({:.0} rows/s, GIN indexes on), then VACUUM ANALYZE; \
             table {} MiB, the three trigram indexes {} MiB",
            filled.as_secs_f64(),
            f64::from(args.rows) / filled.as_secs_f64(),
            table >> 20,
            index >> 20
        );
        let read = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(&url).await?;
        let before = |q: SearchQuery| {
            let read = read.clone();
            async move { Ok(bind_before(sqlx::query(BEFORE), &q).fetch_all(&read).await?.len()) }
        };
        let count = |q: SearchQuery| {
            let read = read.clone();
            async move { Ok(sqlx::query_scalar(COUNT).bind(q.like_pattern()).fetch_one(&read).await?) }
        };
        report(&store, args, before, count).await?;
        store.close().await;
        anyhow::Ok(())
    }
    .await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&mut admin)
        .await?;
    result
}

/// The old query's 15 parameters for the workspace's search of everything
/// (an administrator; the first page of 200).
fn bind_before<'q, DB>(
    query: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>,
    q: &SearchQuery,
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>
where
    DB: sqlx::Database,
    Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<DateTime<Utc>>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<bool>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    chrono::NaiveDate: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    query
        .bind(None::<i64>)
        .bind(None::<i64>)
        .bind(None::<String>)
        .bind(None::<String>)
        .bind(None::<String>)
        .bind(Some(q.like_pattern()))
        .bind(None::<DateTime<Utc>>)
        .bind(None::<DateTime<Utc>>)
        .bind(false)
        .bind(None::<bool>)
        .bind(false)
        .bind(Utc::now().date_naive())
        .bind(200_i64)
        .bind(0_i64)
        .bind(false)
}

/// Time every query both ways and print a Markdown table.
async fn report<F, Fut, C, CFut>(store: &Store, args: &Args, before: F, count: C) -> anyhow::Result<()>
where
    F: Fn(SearchQuery) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<usize>>,
    C: Fn(SearchQuery) -> CFut,
    CFut: std::future::Future<Output = anyhow::Result<i64>>,
{
    println!("\n| query | matches | now: way | now: median / p95 | before (LIKE scan): median / p95 |");
    println!("| --- | --- | --- | --- | --- |");
    for text in QUERIES {
        let q = SearchQuery::parse("q", text)?.context("a query")?;
        let filter = OpinionFilter {
            text: Some(q.clone()),
            today: Utc::now().date_naive(),
            limit: 200,
            ..OpinionFilter::default()
        };
        let matches = count(q.clone()).await?;
        let now = time(args.runs, || async { Ok(store.list_opinions(&filter).await?.len()) }).await?;
        let old = time(args.runs_before, || before(q.clone())).await?;
        anyhow::ensure!(
            now.rows == old.rows,
            "`{text}`: {} rows now, {} before",
            now.rows,
            old.rows
        );
        let way = if q.indexed() { "index" } else { "scan (ranked)" };
        println!(
            "| `{text}` ({} char{}) | {matches} ({:.3} %) | {way} | {} | {} |",
            q.chars(),
            if q.chars() == 1 { "" } else { "s" },
            matches as f64 * 100.0 / f64::from(args.rows.max(1)),
            now.figures(),
            old.figures()
        );
    }
    Ok(())
}

struct Timing {
    rows: usize,
    runs: Vec<Duration>,
}

impl Timing {
    fn figures(&self) -> String {
        let mut sorted = self.runs.clone();
        sorted.sort();
        let median = sorted[sorted.len() / 2];
        let p95 = sorted[(sorted.len() * 95).div_ceil(100) - 1];
        format!("{} / {} ms", ms(median), ms(p95))
    }
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.2}")
    } else {
        format!("{ms:.0}")
    }
}

/// One warm-up run, then `runs` timed ones.
async fn time<F, Fut>(runs: usize, run: F) -> anyhow::Result<Timing>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<usize>>,
{
    let rows = run().await?;
    let mut timing = Timing {
        rows,
        runs: Vec::with_capacity(runs),
    };
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        run().await?;
        timing.runs.push(started.elapsed());
    }
    Ok(timing)
}

/// One unit per `u-N`, one ended event per `e-N`.
async fn seed_sqlite(db: &mut sqlx::SqliteConnection, now: DateTime<Utc>) -> anyhow::Result<()> {
    for u in 1..=UNITS {
        sqlx::query("INSERT INTO units (id, code, name, short_name, created_at) VALUES ($1, $2, $3, $3, $4)")
            .bind(u)
            .bind(format!("u-{u}"))
            .bind(format!("单位{u}"))
            .bind(now)
            .execute(&mut *db)
            .await?;
    }
    for e in 1..=EVENTS {
        sqlx::query(
            "INSERT INTO events (id, code, kind, title, form, status, created_at, updated_at)
             VALUES ($1, $2, 'open_day', $3, 'online', 'ended', $4, $4)",
        )
        .bind(e)
        .bind(format!("e-{e}"))
        .bind(format!("政务开放日{e}"))
        .bind(now)
        .execute(&mut *db)
        .await?;
    }
    Ok(())
}

async fn seed_postgres(db: &mut sqlx::PgConnection, now: DateTime<Utc>) -> anyhow::Result<()> {
    for u in 1..=UNITS {
        sqlx::query("INSERT INTO units (id, code, name, short_name, created_at) VALUES ($1, $2, $3, $3, $4)")
            .bind(u)
            .bind(format!("u-{u}"))
            .bind(format!("单位{u}"))
            .bind(now)
            .execute(&mut *db)
            .await?;
    }
    for e in 1..=EVENTS {
        sqlx::query(
            "INSERT INTO events (id, code, kind, title, form, status, created_at, updated_at)
             VALUES ($1, $2, 'open_day', $3, 'online', 'ended', $4, $4)",
        )
        .bind(e)
        .bind(format!("e-{e}"))
        .bind(format!("政务开放日{e}"))
        .bind(now)
        .execute(&mut *db)
        .await?;
    }
    Ok(())
}

/// A generated opinion.
struct Generated {
    event_id: i64,
    unit_id: i64,
    text: String,
    nickname: String,
    reply: Option<String>,
}

impl Generated {
    fn state(&self) -> &'static str {
        if self.reply.is_some() { "answered" } else { "pending" }
    }
}

const PLACES: &[&str] = &[
    "社保中心",
    "区医院",
    "第二小学门口",
    "幸福里小区",
    "滨河公园",
    "地铁站出口",
    "农贸市场",
    "区图书馆",
    "街道办事处",
    "政务服务大厅",
    "老年活动中心",
    "公交总站",
    "体育馆",
    "派出所户籍窗口",
];
/// Problems; `停车难` and `路灯不亮` (and so `停车`, `灯`) are among them.
const PROBLEMS: &[&str] = &[
    "停车难",
    "排队时间太长",
    "路灯不亮",
    "噪音扰民",
    "垃圾清运不及时",
    "道路坑洼不平",
    "公交班次太少",
    "办事网点太少",
    "办事流程复杂",
    "无障碍设施缺失",
    "夜间照明不足",
    "共享单车乱停放",
    "绿化带缺少维护",
    "指示标识不清楚",
];
const SUGGESTIONS: &[&str] = &[
    "建议增设停车位",
    "希望延长办理时间",
    "建议加强日常巡查",
    "希望尽快维修",
    "建议增加工作人员",
    "希望公开办理进度",
    "建议优化线上预约",
    "希望增加便民设施",
    "建议设置临时泊位",
    "希望相关部门协调解决",
];
const REPLIES: &[&str] = &[
    "已转交相关部门办理，预计本月底前完成。",
    "感谢您的建议，我们将在下一阶段统筹考虑。",
    "经现场核实，已安排维修，并加强日常巡查。",
    "已纳入年度工作计划，将分批实施。",
];

/// The opinions, `size` at a time, generated as they are needed (a
/// deterministic sequence: every run fills the same table).
fn batches(rows: u32, size: u32) -> impl Iterator<Item = Vec<Generated>> {
    let mut rng = 0x5eed_u64;
    (0..rows.div_ceil(size)).map(move |b| {
        let from = b * size;
        (from..(from + size).min(rows)).map(|i| generate(i, &mut rng)).collect()
    })
}

fn generate(i: u32, rng: &mut u64) -> Generated {
    let mut pick = |n: usize| (splitmix(rng) % n as u64) as usize;
    let mut text = format!(
        "{}{}，{}。",
        PLACES[pick(PLACES.len())],
        PROBLEMS[pick(PROBLEMS.len())],
        SUGGESTIONS[pick(SUGGESTIONS.len())]
    );
    if pick(2) == 0 {
        text.push_str(&format!(
            "另外{}也存在{}的情况。",
            PLACES[pick(PLACES.len())],
            PROBLEMS[pick(PROBLEMS.len())]
        ));
    }
    if pick(1000) == 0 {
        text.push_str("老旧小区适老化改造进度较慢。");
    }
    if i % 100_000 == 7 {
        text.push_str("咨询老楼加装电梯补贴政策。");
    }
    let reply = (pick(10) < 3).then(|| REPLIES[pick(REPLIES.len())].to_owned());
    Generated {
        event_id: i64::from(i) % EVENTS + 1,
        unit_id: i64::from(i) % UNITS + 1,
        text,
        nickname: format!("网友{:04}", pick(10_000)),
        reply,
    }
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
