//! Wiring: configuration into state, first start, serving, shutdown.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{DatabaseUrl, HttpSettings, LiveSettings};
use crate::domain::calendar::WorkingCalendar;
use crate::domain::staff::{Role, Username};
use crate::http::{self, AppState};
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::passwords;
use crate::server;
use crate::store::Store;

/// Connect, migrate and load the calendar.
pub async fn build_state(
    db: &DatabaseUrl,
    calendar_dir: &Path,
    settings: HttpSettings,
    live: LiveSettings,
) -> anyhow::Result<AppState> {
    let store = Store::connect(db.expose())
        .await
        .with_context(|| format!("opening the database {db}"))?;
    if let Some(cluster) = &live.cluster {
        anyhow::ensure!(
            store.backend() == crate::store::Backend::Postgres,
            "--redis-url (MINSHENG_REDIS_URL) needs a PostgreSQL database (DATABASE_URL=postgres://…): the nodes of a \
             cluster share their rooms' log there; with SQLite run one node without a Redis URL (got {})",
            cluster.redis_url
        );
    }
    store.migrate().await?;
    let calendar = Arc::new(WorkingCalendar::load(Some(calendar_dir)).context("loading the working-day calendar")?);
    let years: Vec<i32> = calendar.years().iter().map(|y| y.year).collect();
    tracing::info!(database = %db, backend = %store.backend(), ?years, "store and calendar ready");
    let outlook = calendar.outlook(crate::domain::time::local_date(crate::domain::time::now()));
    if let Some(warning) = outlook.warning {
        // Said once at start; /readyz, /metrics and the bureau page keep saying it.
        tracing::warn!("{warning}");
    }
    let verifier = Arc::new(crate::identity::Verifier::new(store.clone(), live.identity.clone()));
    let hub = Hub::new(store.clone(), live, calendar.clone()).context("starting the live hub")?;
    Ok(AppState {
        sign_in_limits: Arc::new(http::auth::SignInLimits::new(settings.sign_ins_per_ip_per_min)),
        store,
        calendar,
        metrics: Arc::new(Metrics::default()),
        settings: Arc::new(settings),
        hub,
        verifier,
    })
}

/// On a first start with no administrator, create `admin` with a one-time
/// password printed once to the console (never to the log).
pub async fn ensure_admin(store: &Store) -> anyhow::Result<()> {
    if store.admin_exists().await? {
        return Ok(());
    }
    let password = passwords::generate();
    let hash = passwords::hash_blocking(password.clone()).await?;
    let username = Username::parse("admin")?;
    store
        .create_user(&username, "区政务服务和数据管理局管理员", &hash, Role::Admin, None)
        .await?;
    eprintln!(
        "\n  First start: created administrator `admin` with the one-time password\n\n      {password}\n\n  It is shown only now. Change it with `minsheng create-admin --username admin`.\n"
    );
    Ok(())
}

/// Serve on `listener` until `shutdown` resolves, then finish requests in
/// flight (at most `grace`). Connection limits and the header timeout come
/// from `state.settings.connections` (see [`server`]).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "serving on http://{addr}");
    let janitor = tokio::spawn(purge_sessions(state.store.clone(), state.settings.clone()));
    let owed_sweep = tokio::spawn(sweep_owed_messages(state.clone()));
    let stop = CancellationToken::new();
    let live = state.hub.shutdown.clone();
    let stopping = stop.clone();
    tokio::spawn(async move {
        shutdown.await;
        live.cancel();
        stopping.cancel();
    });
    let router = http::router(state.clone());
    let settings = state.settings.clone();
    let connections = server::Server {
        limits: settings.connections.clone(),
        trusted_proxies: settings.trusted_proxies.clone(),
        stats: state.metrics.connections.clone(),
        tune: tune_socket,
        grace,
    };
    connections.run(listener, router, stop).await;
    // The server does not wait for upgraded sockets: close them (1001) here.
    state.hub.shut_down(grace).await;
    janitor.abort();
    owed_sweep.abort();
    state.store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Kernel send buffer per connection. Left to autotuning, Linux lets a client
/// that stopped reading hold up to 4 MiB of a room's messages before a send
/// blocks, which would keep a stalled phone connected for many seconds; 64 KiB
/// still carries a burst, and the hub cuts off whoever fills it.
const SEND_BUFFER_BYTES: usize = 64 * 1024;

fn tune_socket(tcp: &mut tokio::net::TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "TCP_NODELAY not set");
    }
    if let Err(e) = socket2::SockRef::from(&*tcp).set_send_buffer_size(SEND_BUFFER_BYTES) {
        tracing::debug!(error = %e, "SO_SNDBUF not set");
    }
}

/// Every minute, the messages a rescheduled or cancelled event's list is
/// still owed (see `http::telling`).
async fn sweep_owed_messages(state: AppState) {
    let mut tick = tokio::time::interval(http::telling::SWEEP_EVERY);
    loop {
        tick.tick().await;
        if let Err(e) = http::telling::sweep_owed(&state).await {
            tracing::warn!(error = ?e, "sending owed list messages failed");
        }
    }
}

/// Expired sessions, verification codes and verifications are removed hourly.
async fn purge_sessions(store: Store, settings: Arc<HttpSettings>) {
    let security_log_days = settings.security_log_days;
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        match store.purge_expired_sessions().await {
            Ok(n) if n > 0 => tracing::info!(removed = n, "expired sessions purged"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "purging sessions failed"),
        }
        match store.purge_security_log(security_log_days).await {
            Ok(n) if n > 0 => tracing::info!(removed = n, days = security_log_days, "old security log entries purged"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "purging the security log failed"),
        }
        if let Err(e) = retention(&store, settings.retention_days).await {
            tracing::warn!(error = %e, "the retention job failed");
        }
        match store.purge_verification().await {
            Ok(n) if n > 0 => tracing::info!(removed = n, "expired verification codes and verifications purged"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "purging verifications failed"),
        }
    }
}

/// The retention job (runs with the hourly janitor): the personal data of
/// events that ended more than `days` ago, reported in the security log.
pub async fn retention(store: &Store, days: u32) -> anyhow::Result<()> {
    use crate::domain::security::SecurityKind;
    use crate::store::security::SecurityEvent;
    let before = crate::domain::time::now() - chrono::Duration::days(i64::from(days));
    let removed = store.sweep_personal_data(before).await?;
    if removed.events.is_empty() && removed.identities == 0 {
        return Ok(());
    }
    tracing::info!(
        events = removed.events.len(),
        identities = removed.identities,
        "personal data past retention removed"
    );
    let detail = serde_json::json!({ "retention_days": days, "removed": removed });
    store
        .log_security(SecurityEvent::new(SecurityKind::Retention).detail(detail))
        .await?;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested");
}
