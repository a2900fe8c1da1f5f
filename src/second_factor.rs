//! Staff second factor: TOTP (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps,
//! one step of drift either way) through the `totp-rs` crate, the enrolment
//! QR code as SVG through `qrcode`, and ten single-use recovery codes.

use sha2::{Digest, Sha256};
use totp_rs::{Algorithm, TOTP};

use crate::domain::identity::hex;
use crate::domain::random;

/// The issuer an authenticator app shows.
pub const ISSUER: &str = "民声 Minsheng";
/// Recovery codes given at enrolment.
pub const RECOVERY_CODES: usize = 10;

/// A new random secret (160 bits, as RFC 4226 recommends).
pub fn new_secret() -> Vec<u8> {
    random::bytes::<20>().to_vec()
}

fn totp(secret: Vec<u8>, account: &str) -> Option<TOTP> {
    // The account name may not hold a colon (otpauth URLs).
    let account = account.replace(':', "_");
    TOTP::new(Algorithm::SHA1, 6, 1, 30, secret, Some(ISSUER.to_owned()), account).ok()
}

/// What an authenticator app is given: the secret in base32, the otpauth URL
/// and that URL as a QR code (SVG).
pub struct Enrolment {
    pub secret_base32: String,
    pub otpauth_url: String,
    pub qr_svg: String,
}

pub fn enrolment(secret: &[u8], account: &str) -> Option<Enrolment> {
    let totp = totp(secret.to_vec(), account)?;
    let url = totp.get_url();
    let qr = qrcode::QrCode::new(url.as_bytes()).ok()?;
    let svg = qr
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    Some(Enrolment {
        secret_base32: totp.get_secret_base32(),
        otpauth_url: url,
        qr_svg: svg,
    })
}

/// The time step a 6-digit `code` is right for at `now` (unix seconds),
/// allowing one step of drift; `None` when it is wrong.
pub fn matching_step(secret: &[u8], account: &str, code: &str, now: u64) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let totp = totp(secret.to_vec(), account)?;
    let step = now / 30;
    [step.saturating_sub(1), step, step + 1]
        .into_iter()
        .find(|s| crate::domain::identity::same(&totp.generate(s * 30), &code))
        .map(|s| i64::try_from(s).unwrap_or(i64::MAX))
}

/// The current code (for tests and the enrolment check).
pub fn code_at(secret: &[u8], account: &str, now: u64) -> Option<String> {
    Some(totp(secret.to_vec(), account)?.generate(now))
}

/// Ten recovery codes like `k7f3-9xq2` (lowercase letters and digits).
pub fn new_recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let chars = random::code(b"abcdefghjkmnpqrstuvwxyz23456789", 8);
            format!("{}-{}", &chars[..4], &chars[4..])
        })
        .collect()
}

/// What the store keeps of a recovery code (as typed: trimmed, lowercased).
pub fn recovery_hash(code: &str) -> String {
    let code: String = code
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    hex(&Sha256::digest(code.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_right_for_its_step_and_one_either_side() {
        let secret = new_secret();
        let now = 1_700_000_000;
        let code = code_at(&secret, "admin", now).unwrap();
        assert_eq!(matching_step(&secret, "admin", &code, now), Some((now / 30) as i64));
        assert!(matching_step(&secret, "admin", &code, now + 30).is_some());
        assert!(matching_step(&secret, "admin", &code, now + 95).is_none());
        assert!(matching_step(&secret, "admin", "12345", now).is_none());
        let e = enrolment(&secret, "ad:min").unwrap();
        assert!(e.otpauth_url.starts_with("otpauth://totp/"), "{}", e.otpauth_url);
        assert!(e.qr_svg.contains("<svg"));
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), 10);
        assert_eq!(recovery_hash(" K7F3-9XQ2 "), recovery_hash("k7f3-9xq2"));
    }
}
