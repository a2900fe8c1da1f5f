//! Text messages to viewers' phones, through a pluggable sender:
//!
//! - `log`: the message is printed to the server's console (standard
//!   output), never to the log (standard error, maybe JSON, maybe shipped
//!   elsewhere). The demo and the tests use it.
//! - `webhook`: the message is POSTed as JSON to the district's SMS gateway,
//!   signed with HMAC-SHA256 over the exact body (`X-Minsheng-Signature:
//!   sha256=<hex>`), each attempt within a timeout, retried on a network
//!   error, a timeout, a 429 or a 5xx.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::Secret;
use crate::domain::identity::{PhoneNumber, hex, hmac};

/// What a notice to a person on an event's list says.
pub struct AttendanceNotice<'a> {
    pub title: &'a str,
    /// Beijing time, as people read it.
    pub when: &'a str,
    pub place: &'a str,
    /// What to bring and how to check in (a sentence, or empty).
    pub bring: &'a str,
    /// Their notice page.
    pub link: &'a str,
}

/// One text message.
#[derive(Debug, Serialize)]
pub struct Sms<'a> {
    /// `verification_code` (more kinds later: the asker's notice).
    pub kind: &'static str,
    /// The 11 digits: the gateway needs them.
    pub to: &'a str,
    /// The whole message as the phone shows it.
    pub text: String,
    /// The code alone, for gateways that fill their own template.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'a str>,
    pub sent_at: DateTime<Utc>,
}

impl<'a> Sms<'a> {
    /// The asker's notice that the unit's answer is out: the event and a
    /// link, no personal data.
    pub fn reply_published(to: &'a PhoneNumber, event_title: &str, link: &str) -> Self {
        let title: String = event_title.chars().take(40).collect();
        Self {
            kind: "reply_published",
            to: to.expose(),
            text: format!("【大兴区政民互动】您在“{title}”中提出的意见建议已有答复，请查看：{link}"),
            code: None,
            sent_at: crate::domain::time::now(),
        }
    }

    /// A chosen or invited person's notice: the event, when and where, what
    /// to bring, and the link to their notice page (with the check-in code).
    /// Sent again, as `attendance_rescheduled`, when the event moves.
    pub fn attendance(to: &'a PhoneNumber, notice: &AttendanceNotice<'_>, rescheduled: bool) -> Self {
        let title: String = notice.title.chars().take(40).collect();
        let AttendanceNotice {
            when,
            place,
            bring,
            link,
            ..
        } = notice;
        let (kind, lead) = if rescheduled {
            (
                "attendance_rescheduled",
                format!("您报名参加的“{title}”时间有变，改为：{when}"),
            )
        } else {
            ("attendance_notice", format!("您将参加“{title}”，时间：{when}"))
        };
        let bring: String = bring.chars().take(60).collect();
        Self {
            kind,
            to: to.expose(),
            text: format!("【大兴区政民互动】{lead}，地点：{place}。{bring}凭签到码入场：{link}"),
            code: None,
            sent_at: crate::domain::time::now(),
        }
    }

    /// The event a person signed up for, was chosen or invited to is cancelled.
    pub fn attendance_cancelled(to: &'a PhoneNumber, event_title: &str) -> Self {
        let title: String = event_title.chars().take(40).collect();
        Self {
            kind: "attendance_cancelled",
            to: to.expose(),
            text: format!("【大兴区政民互动】很抱歉，您报名参加的“{title}”已取消，详见活动公告。"),
            code: None,
            sent_at: crate::domain::time::now(),
        }
    }

    pub fn code(to: &'a PhoneNumber, code: &'a str, minutes: i64) -> Self {
        Self {
            kind: "verification_code",
            to: to.expose(),
            text: format!("【大兴区政民互动】您的验证码是 {code}，{minutes} 分钟内有效。如非本人操作，请忽略本短信。"),
            code: Some(code),
            sent_at: crate::domain::time::now(),
        }
    }
}

/// Where a `log` sender prints.
#[derive(Clone)]
pub enum Console {
    /// Standard output: the operator's console.
    Stdout,
    /// Kept in memory, for a test to read.
    Captured(Arc<Mutex<Vec<String>>>),
}

impl Console {
    pub fn captured() -> Self {
        Self::Captured(Arc::default())
    }

    /// The lines printed so far (empty for standard output).
    pub fn lines(&self) -> Vec<String> {
        match self {
            Self::Stdout => Vec::new(),
            Self::Captured(lines) => lines.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        }
    }

    fn print(&self, line: String) {
        match self {
            Self::Stdout => {
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
            Self::Captured(lines) => lines.lock().unwrap_or_else(|e| e.into_inner()).push(line),
        }
    }
}

/// The gateway a `webhook` sender posts to.
#[derive(Clone)]
pub struct Webhook {
    pub url: String,
    pub secret: Secret,
    /// Each attempt's limit.
    pub timeout: Duration,
    /// Attempts in all (at least one).
    pub attempts: u32,
    client: reqwest::Client,
}

impl Webhook {
    pub fn new(url: String, secret: Secret, timeout: Duration, attempts: u32) -> anyhow::Result<Self> {
        anyhow::ensure!(
            url.starts_with("http://") && url.len() > "http://".len(),
            "the SMS webhook URL must be http://host[:port]/path (the gateway on the district's network, or a local \
             TLS proxy in front of it); got `{url}`"
        );
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            url,
            secret,
            timeout,
            attempts: attempts.max(1),
            client,
        })
    }

    /// The signature header's value for `body`.
    pub fn signature(&self, body: &[u8]) -> String {
        format!("sha256={}", hex(&hmac(self.secret.expose().as_bytes(), body)))
    }

    async fn post(&self, body: Vec<u8>) -> Result<(), String> {
        let signature = self.signature(&body);
        let mut last = String::new();
        for attempt in 0..self.attempts {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(300 << attempt.min(4))).await;
            }
            let sent = self
                .client
                .post(&self.url)
                .header("content-type", "application/json")
                .header("x-minsheng-signature", &signature)
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) if r.status().is_server_error() || r.status().as_u16() == 429 => {
                    last = format!("the gateway answered {}", r.status());
                }
                Ok(r) => return Err(format!("the gateway refused the message: {}", r.status())),
                Err(e) if e.is_timeout() => last = format!("no answer within {:?}", self.timeout),
                Err(e) => last = format!("the gateway is unreachable: {e}"),
            }
            tracing::warn!(attempt = attempt + 1, of = self.attempts, why = %last, "SMS webhook attempt failed");
        }
        Err(last)
    }
}

/// How text messages leave the server.
#[derive(Clone)]
pub enum SmsSender {
    Log(Console),
    Webhook(Webhook),
}

impl SmsSender {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Log(_) => "log",
            Self::Webhook(_) => "webhook",
        }
    }

    /// Send `sms`; `Err` says why it did not go out.
    pub async fn send(&self, sms: &Sms<'_>) -> Result<(), String> {
        match self {
            Self::Log(console) => {
                let masked = PhoneNumber::parse(sms.to).map_or_else(|_| "?".to_owned(), |p| p.masked());
                console.print(format!("[短信 {}] {masked}: {}", sms.kind, sms.text));
                Ok(())
            }
            Self::Webhook(hook) => {
                let body = serde_json::to_vec(sms).map_err(|e| e.to_string())?;
                hook.post(body).await
            }
        }
    }
}

impl std::fmt::Debug for SmsSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Log(_) => f.write_str("SmsSender::Log"),
            Self::Webhook(h) => write!(f, "SmsSender::Webhook({})", h.url),
        }
    }
}
