//! Verified posting (后台实名、前台自愿): a viewer proves a mainland mobile
//! number with a one-time code and their browser keeps a verification token.
//!
//! - [`sms`]: how the code leaves the server (`log` or `webhook`).
//!
//! The rules: a code lives [`OneTimeCode::MINUTES`] minutes and allows
//! [`OneTimeCode::TRIES`] tries; a number is sent one code a minute and five
//! an hour, an address `codes_per_ip_per_hour`; a verification lasts
//! `verification_days`. What is stored is said in [`crate::domain::identity`].

pub mod sms;

use std::time::Duration;

use crate::domain::identity::{IdentityKeys, OneTimeCode, PhoneNumber, VerificationToken};
use crate::domain::ids::OpinionId;
use crate::store::identities::{CodeCheck, NewCode, NewVerification, Verified};
use crate::store::{Store, StoreError};
use sms::{Console, Sms, SmsSender};

/// The settings of verified posting.
#[derive(Debug, Clone)]
pub struct IdentitySettings {
    /// From the identity secret; every node of a cluster needs the same.
    pub keys: IdentityKeys,
    pub sender: SmsSender,
    /// Days a browser's verification lasts.
    pub verification_days: u32,
    /// Codes one client address may be sent per hour (0: no cap).
    pub codes_per_ip_per_hour: u32,
}

pub const DEFAULT_VERIFICATION_DAYS: u32 = 30;
pub const DEFAULT_CODES_PER_IP_PER_HOUR: u32 = 20;

impl Default for IdentitySettings {
    /// A random secret (verifications last only as long as the process) and
    /// the `log` sender: for tests. The service resolves its own (see `cli`).
    fn default() -> Self {
        Self {
            keys: IdentityKeys::from_secret(&IdentityKeys::generate_secret())
                .expect("a generated secret is long enough"),
            sender: SmsSender::Log(Console::Stdout),
            verification_days: DEFAULT_VERIFICATION_DAYS,
            codes_per_ip_per_hour: DEFAULT_CODES_PER_IP_PER_HOUR,
        }
    }
}

/// Why a step of the verification did not go through.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("{message}")]
    TooManyCodes {
        message: &'static str,
        retry_after: Duration,
    },
    #[error("the code is wrong; {tries_left} tries left")]
    CodeWrong { tries_left: i64 },
    #[error("the code has expired or was tried too often; ask for a new one")]
    CodeExpired,
    #[error("the text message could not be sent: {0}")]
    SendFailed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A code on its way.
#[derive(Debug)]
pub struct CodeSent {
    pub phone: String,
    pub expires_in: Duration,
    pub resend_after: Duration,
}

/// Sends codes and turns a right code into a verification.
#[derive(Debug, Clone)]
pub struct Verifier {
    store: Store,
    settings: IdentitySettings,
}

impl Verifier {
    pub fn new(store: Store, settings: IdentitySettings) -> Self {
        Self { store, settings }
    }

    pub fn keys(&self) -> &IdentityKeys {
        &self.settings.keys
    }

    pub fn sender(&self) -> &SmsSender {
        &self.settings.sender
    }

    /// A new code for `phone`, asked from address `ip`, sent before this returns.
    pub async fn send_code(&self, phone: &PhoneNumber, ip: &str) -> Result<CodeSent, VerifyError> {
        let keys = &self.settings.keys;
        let hash = keys.phone_hash(phone);
        let code = OneTimeCode::generate();
        let code_hash = keys.code_hash(&hash, &code);
        let new = NewCode {
            phone: &hash,
            ip,
            code_hash: &code_hash,
        };
        let issued = match self.store.issue_code(new, self.settings.codes_per_ip_per_hour).await? {
            Ok(issued) => issued,
            Err(refused) => {
                return Err(VerifyError::TooManyCodes {
                    message: refused.message,
                    retry_after: refused.retry_after,
                });
            }
        };
        if let Err(why) = self
            .settings
            .sender
            .send(&Sms::code(phone, code.expose(), OneTimeCode::MINUTES))
            .await
        {
            // Not sent: the viewer may ask again at once.
            if let Err(e) = self.store.withdraw_code(issued.id).await {
                tracing::warn!(error = %e, "an unsent code stays counted");
            }
            tracing::warn!(sender = self.settings.sender.name(), why = %why, "verification code not sent");
            return Err(VerifyError::SendFailed(why));
        }
        tracing::info!(sender = self.settings.sender.name(), "verification code sent");
        Ok(CodeSent {
            phone: phone.masked(),
            expires_in: Duration::from_secs(60 * OneTimeCode::MINUTES.unsigned_abs()),
            resend_after: Duration::from_secs(crate::store::identities::CODE_INTERVAL_SECS.unsigned_abs()),
        })
    }

    /// Tell the verified asker of `opinion` (if they did not opt out) that
    /// its reply is published, with a link; the attempt and its result are
    /// recorded for the unit's workspace. `Ok(true)`: delivered.
    pub async fn tell_asker(&self, opinion: OpinionId, event_title: &str, link: &str) -> Result<bool, StoreError> {
        let Some(identity) = self.store.asker_to_tell(opinion).await? else {
            return Ok(false);
        };
        let sender = self.settings.sender.name();
        let sealed = self.store.sealed_phone(identity).await?;
        let Some(phone) = sealed.as_deref().and_then(|s| self.settings.keys.unseal(s)) else {
            let why = "the number cannot be opened with this server's identity secret";
            self.store.record_notice(opinion, "—", sender, Some(why)).await?;
            return Ok(false);
        };
        let sent = self
            .settings
            .sender
            .send(&Sms::reply_published(&phone, event_title, link))
            .await;
        let failure = sent.as_ref().err().map(String::as_str);
        self.store
            .record_notice(opinion, &phone.masked(), sender, failure)
            .await?;
        match failure {
            None => tracing::info!(opinion = opinion.0, sender, "asker told of the reply"),
            Some(why) => tracing::warn!(opinion = opinion.0, sender, why, "asker not told of the reply"),
        }
        Ok(sent.is_ok())
    }

    /// The code typed for `phone`: when right, a new verification for this browser.
    pub async fn confirm(
        &self,
        phone: &PhoneNumber,
        code: &OneTimeCode,
    ) -> Result<(VerificationToken, Verified), VerifyError> {
        let keys = &self.settings.keys;
        let hash = keys.phone_hash(phone);
        match self.store.check_code(&hash, &keys.code_hash(&hash, code)).await? {
            CodeCheck::Right => {}
            CodeCheck::Wrong { tries_left } if tries_left > 0 => return Err(VerifyError::CodeWrong { tries_left }),
            CodeCheck::Wrong { .. } | CodeCheck::Expired => return Err(VerifyError::CodeExpired),
        }
        let token = VerificationToken::generate();
        let days = i64::from(self.settings.verification_days.max(1));
        let verified = self
            .store
            .record_verification(NewVerification {
                phone: &hash,
                masked: &phone.masked(),
                sealed: &keys.seal(phone),
                token: &token,
                expires_at: crate::domain::time::now() + chrono::Duration::days(days),
            })
            .await?;
        tracing::info!(identity = verified.identity_id.0, "viewer verified");
        Ok((token, verified))
    }
}
