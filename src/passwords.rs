//! Argon2id password hashes (the crate's defaults: 19 MiB, 2 passes).
//!
//! Hashing is deliberately slow and memory-hungry: callers on the async
//! runtime use [`hash_blocking`] and [`verify_blocking`], which run behind
//! one process-wide [`Gate`]. Before it, every sign-in took a thread of
//! tokio's blocking pool and its own 19 MiB: 200 concurrent wrong passwords
//! held 3.7 GB (18 GB in a longer flood). Now at most [`MAX_PERMITS`] hashes
//! run at once, a bounded number wait a bounded time, and the rest are
//! refused at once ([`HashError::Busy`], a 429 on the HTTP side).
//!
//! The hashes run on the gate's own threads, one per permit, not on tokio's
//! blocking pool: there a permit handed on while the previous thread was
//! still returning to the pool started a new thread, and each thread's
//! allocator arena kept its own 19 MiB (200 sign-ins behind a gate of 2 still
//! peaked at 573 MiB). With a fixed set of threads the memory is bounded by
//! their number.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use argon2::password_hash::{Output, PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub fn hash(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("no randomness for a salt: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("encoding a salt: {e}"))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
}

thread_local! {
    /// This thread's Argon2 memory, kept from one check to the next. A fresh
    /// 19 MiB per check left every allocator arena the checks passed through
    /// holding its own copy (behind a gate of 2 threads, 200 sign-ins still
    /// peaked at 383 MiB); reused, each gate thread holds 19 MiB, no more.
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// The most memory a stored hash may make a check use (64 MiB of 1 KiB
/// blocks; ours ask 19 MiB): a hash asking more never matches.
const MAX_BLOCKS: usize = 64 * 1024;

/// Whether `password` matches `stored`; a malformed stored hash never
/// matches. What `PasswordVerifier::verify_password` does, on this thread's
/// reused memory.
pub fn verify(password: &str, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(expected), Some(salt)) = (parsed.hash, parsed.salt) else {
        return false;
    };
    let (Ok(algorithm), Ok(version), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm),
        parsed.version.map_or(Ok(Version::default()), Version::try_from),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let need = params.block_count();
    if need > MAX_BLOCKS {
        return false;
    }
    let argon = Argon2::new(algorithm, version, params);
    let mut out = [0u8; Output::MAX_LENGTH];
    let out = &mut out[..expected.len()];
    let hashed = BLOCKS.with_borrow_mut(|blocks| {
        if blocks.len() < need {
            blocks.resize(need, Block::default());
        }
        argon
            .hash_password_into_with_memory(password.as_bytes(), salt, out, &mut blocks[..need])
            .is_ok()
    });
    // `Output`'s equality takes constant time.
    hashed && Output::new(out).is_ok_and(|o| o == expected)
}

/// A hash to verify against when the account does not exist, so that a
/// wrong username costs as long as a wrong password.
static DUMMY: LazyLock<String> = LazyLock::new(|| hash("no such account, no such password").unwrap_or_default());

/// Hashes running at once never exceed this, however many cores: each holds
/// 19 MiB, so 8 bound the hashing to about 150 MiB.
pub const MAX_PERMITS: usize = 8;

/// Hashes that may wait for a turn, per permit. A hash takes some 20–60 ms
/// on a server core, so a full queue clears in well under [`MAX_WAIT`].
const WAITING_PER_PERMIT: usize = 8;

/// The longest a hash waits for its turn before it is refused: a person at
/// a sign-in form would rather be told to retry than wait longer.
const MAX_WAIT: Duration = Duration::from_secs(2);

/// A hash that did not run.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Too many hashes running and waiting; try again in a moment.
    #[error("too many password checks at once; try again in a moment")]
    Busy,
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// A job for the gate's threads.
type Job = Box<dyn FnOnce() + Send>;

/// A bounded gate and its threads: `permits` hashes at once, each on one of
/// `permits` threads, at most `max_waiting` waiting, none waiting longer
/// than `max_wait`.
pub struct Gate {
    permits: Arc<Semaphore>,
    /// Never holds more than `permits` jobs: a job is sent only with a permit.
    jobs: SyncSender<Job>,
    waiting: AtomicUsize,
    max_waiting: usize,
    max_wait: Duration,
}

/// Counts a caller as waiting until it is dropped (also when the caller's
/// future is dropped mid-wait: the client went away).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Gate {
    pub fn new(permits: usize, max_waiting: usize, max_wait: Duration) -> Self {
        let permits = permits.max(1);
        let (jobs, queue) = sync_channel::<Job>(permits);
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..permits {
            let queue = Arc::clone(&queue);
            let spawned = std::thread::Builder::new()
                .name(format!("password-{i}"))
                .spawn(move || work_on(&queue));
            if let Err(e) = spawned {
                // Fewer threads only means fewer hashes at once.
                tracing::error!(error = %e, "cannot start a password thread");
            }
        }
        Self {
            permits: Arc::new(Semaphore::new(permits)),
            jobs,
            waiting: AtomicUsize::new(0),
            max_waiting,
            max_wait,
        }
    }

    /// The process's gate, sized to the cores the process may use (at most [`MAX_PERMITS`]).
    pub fn global() -> &'static Self {
        static GATE: LazyLock<Gate> = LazyLock::new(|| {
            let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
            let permits = cores.clamp(1, MAX_PERMITS);
            Gate::new(permits, permits * WAITING_PER_PERMIT, MAX_WAIT)
        });
        &GATE
    }

    /// Callers waiting for a permit now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    async fn permit(&self) -> Result<OwnedSemaphorePermit, HashError> {
        if let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() {
            return Ok(permit);
        }
        let before = self.waiting.fetch_add(1, Ordering::Relaxed);
        let _waiting = Waiting(&self.waiting);
        if before >= self.max_waiting {
            return Err(HashError::Busy);
        }
        match tokio::time::timeout(self.max_wait, Arc::clone(&self.permits).acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            // Closed never happens (the gate never closes it); a timeout is a refusal.
            Ok(Err(_)) | Err(_) => Err(HashError::Busy),
        }
    }

    /// Run `work` on one of the gate's threads once a permit is free. The
    /// permit goes with the job: if the caller gives up (a client that hung
    /// up), the hash still counts until it has really finished.
    pub async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, HashError> {
        let permit = self.permit().await?;
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(work());
            drop(permit);
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            // Full cannot happen (a job is sent only with one of as many
            // permits as the queue has room); Disconnected: no thread left.
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => return Err(HashError::Busy),
        }
        result
            .await
            .map_err(|_| HashError::Failed(anyhow::anyhow!("a password thread died mid-hash")))
    }
}

/// A gate thread: take jobs until the gate is dropped. The lock is held only
/// while taking a job, never while running it.
fn work_on(queue: &Mutex<Receiver<Job>>) {
    loop {
        let job = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_poisoned) => return,
        };
        match job {
            // A panicking job (none is expected) must not take the thread with it.
            Ok(job) => drop(std::panic::catch_unwind(std::panic::AssertUnwindSafe(job))),
            Err(_gate_dropped) => return,
        }
    }
}

pub async fn hash_blocking(password: String) -> Result<String, HashError> {
    Gate::global()
        .run(move || hash(&password))
        .await?
        .map_err(HashError::Failed)
}

/// Whether `password` matches `stored` (`None`: no such account, checked
/// against a dummy hash all the same); `Busy` when the gate refused it.
pub async fn verify_blocking(password: String, stored: Option<String>) -> Result<bool, HashError> {
    Gate::global()
        .run(move || match stored {
            Some(stored) => verify(&password, &stored),
            None => {
                verify(&password, &DUMMY);
                false
            }
        })
        .await
}

/// A random password for first-start admins: 20 characters that are easy to type.
pub fn generate() -> String {
    crate::domain::random::code(b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789", 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ() {
        let a = hash("correct horse battery").unwrap();
        let b = hash("correct horse battery").unwrap();
        assert_ne!(a, b, "salted");
        assert!(a.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", &a));
        assert!(!verify("wrong", &a));
        assert!(!verify("x", "not a hash"));
        assert_eq!(generate().len(), 20);
        // Hashes made with other parameters (older or future defaults) still verify.
        let other = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x10,
            Params::new(4096, 3, 2, Some(24)).unwrap(),
        );
        let salt = SaltString::encode_b64(b"sixteen byte slt").unwrap();
        let old = other.hash_password(b"an older hash", &salt).unwrap().to_string();
        assert!(verify("an older hash", &old));
        assert!(!verify("not it", &old));
        // The second check on this thread reuses the first's memory.
        assert!(verify("correct horse battery", &a));
    }

    /// Wait (with a deadline) until `gate` has `n` callers waiting.
    async fn until_waiting(gate: &Gate, n: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while gate.waiting() != n {
            assert!(tokio::time::Instant::now() < deadline, "never {n} waiting");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The login flood's hole: hashes ran without bound. Now a full gate
    /// refuses at once, a long wait is refused, and a queued hash runs once
    /// a permit is free.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn password_hashing_is_bounded_and_refuses_a_full_queue() {
        let gate = Arc::new(Gate::new(1, 1, Duration::from_secs(60)));
        // One hash "running" until we say so.
        let (release, held) = std::sync::mpsc::channel::<()>();
        let running = tokio::spawn({
            let gate = Arc::clone(&gate);
            async move { gate.run(move || held.recv().is_ok()).await }
        });
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while gate.permits.available_permits() != 0 {
            assert!(tokio::time::Instant::now() < deadline, "the first hash never started");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // A second one waits for its turn...
        let queued = tokio::spawn({
            let gate = Arc::clone(&gate);
            async move { gate.run(|| 2).await }
        });
        until_waiting(&gate, 1).await;
        // ...a third finds the queue full and is refused without waiting.
        assert!(matches!(gate.run(|| 3).await, Err(HashError::Busy)));
        release.send(()).unwrap();
        assert!(running.await.unwrap().unwrap());
        assert_eq!(queued.await.unwrap().unwrap(), 2);
        assert_eq!(gate.waiting(), 0);

        // A wait longer than the bound is refused, and leaves the queue empty.
        let short = Gate::new(1, 10, Duration::from_millis(20));
        let _all = Arc::clone(&short.permits).try_acquire_owned().unwrap();
        assert!(matches!(short.run(|| ()).await, Err(HashError::Busy)));
        assert_eq!(short.waiting(), 0);

        let global = Gate::global();
        assert!((1..=MAX_PERMITS).contains(&global.permits.available_permits()));
    }
}
