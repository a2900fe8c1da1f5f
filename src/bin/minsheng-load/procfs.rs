//! The server process: found in /proc, sampled for resident memory and CPU.

use std::time::Instant;

/// Clock ticks per second of /proc/PID/stat (sysconf(_SC_CLK_TCK); 100 on Linux).
const CLK_TCK: f64 = 100.0;

fn cmdline(pid: u32) -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        raw.split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect(),
    )
}

fn is_named(pid: u32, name: &str) -> bool {
    cmdline(pid)
        .and_then(|a| a.first().cloned())
        .is_some_and(|a0| a0.rsplit('/').next() == Some(name))
}

/// A process whose argv[0] ends with `/name` (or is `name`) and that
/// `accept` likes; with several, the ones mentioning `prefer` win.
pub fn find(name: &str, accept: impl Fn(&[String]) -> bool, prefer: &str) -> (Option<u32>, Vec<u32>) {
    let me = std::process::id();
    let mut found = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return (None, found);
    };
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Some(argv) = cmdline(pid) else { continue };
        let Some(arg0) = argv.first() else { continue };
        let base = arg0.rsplit('/').next().unwrap_or(arg0);
        if base == name && accept(&argv) {
            found.push(pid);
        }
    }
    found.sort_unstable();
    let preferred: Vec<u32> = found
        .iter()
        .copied()
        .filter(|p| cmdline(*p).is_some_and(|a| a.iter().any(|s| s.contains(prefer))))
        .collect();
    let pick = preferred.first().or(found.first()).copied();
    (pick, found)
}

/// The process holding the socket that listens on `port` (from /proc/net/tcp*
/// and the processes' fd links; only processes we may inspect).
pub fn listener(port: u16) -> Option<u32> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 || f[3] != "0A" {
                continue; // Not LISTEN.
            }
            let local_port = f[1].rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok());
            if local_port == Some(port) {
                inodes.push(format!("socket:[{}]", f[9]));
            }
        }
    }
    if inodes.is_empty() {
        return None;
    }
    let me = std::process::id();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path()) {
                if inodes.iter().any(|i| target.as_os_str() == i.as_str()) {
                    return Some(pid);
                }
            }
        }
    }
    None
}

/// `minsheng serve …` (or `minsheng` with no other subcommand).
pub fn find_minsheng(port: u16) -> (Option<u32>, Vec<u32>) {
    if let Some(pid) = listener(port).filter(|p| is_named(*p, "minsheng")) {
        return (Some(pid), vec![pid]);
    }
    find(
        "minsheng",
        |argv| {
            argv.iter().any(|a| a == "serve")
                || !argv
                    .iter()
                    .any(|a| matches!(a.as_str(), "migrate" | "import-plan" | "create-admin"))
        },
        &format!(":{port}"),
    )
}

pub fn find_nats(port: u16) -> (Option<u32>, Vec<u32>) {
    if let Some(pid) = listener(port).filter(|p| is_named(*p, "nats-server")) {
        return (Some(pid), vec![pid]);
    }
    find("nats-server", |_| true, &port.to_string())
}

/// VmRSS in bytes.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// VmRSS summed over several processes (the nodes of a cluster); `None`
/// when there are none or one cannot be read.
pub fn rss_total(pids: &[u32]) -> Option<u64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|&p| rss_bytes(p)).sum()
}

/// utime + stime in ticks.
fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields from 3 (state) on: utime is field 14, stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// A CPU-time reading of a process, to compare with a later one.
#[derive(Clone, Copy)]
pub struct CpuMark {
    ticks: u64,
    at: Instant,
}

impl CpuMark {
    pub fn of(pid: Option<u32>) -> Option<Self> {
        let key = pid.map_or_else(|| "self".to_owned(), |p| p.to_string());
        Some(Self {
            ticks: cpu_ticks(&key)?,
            at: Instant::now(),
        })
    }

    /// Cores used on average between `self` and now.
    pub fn cores_since(&self, pid: Option<u32>) -> Option<f64> {
        let now = Self::of(pid)?;
        let secs = now.at.duration_since(self.at).as_secs_f64();
        (secs > 0.0).then(|| now.ticks.saturating_sub(self.ticks) as f64 / CLK_TCK / secs)
    }
}
