//! Signed payment webhooks: Stripe's scheme, used by both providers.
//!
//! The signature header is `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`,
//! keyed with the endpoint's secret. Several `v1=` values may be present (the sender signs
//! with an old and a new secret while rotating): one must match. Other schemes (`v0=`) are
//! ignored. A `t` further than the tolerance from the server's clock is refused, so that a
//! captured request cannot be replayed later.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No signature header.
    #[error("the signature header is missing")]
    Missing,
    /// Not `t=…,v1=…`.
    #[error("the signature header is malformed")]
    Malformed,
    /// No `v1` signature matches the body.
    #[error("no signature matches the body")]
    NoMatch,
    /// The signed time is outside the tolerance.
    #[error("the signature's timestamp is outside the tolerance")]
    Stale,
}

fn mac(secret: &[u8], t: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value signing `body` at `t` with `secret`.
pub fn sign(secret: &[u8], t: i64, body: &[u8]) -> String {
    let signature = mac(secret, t, body).finalize().into_bytes();
    format!("t={t},v1={}", hex::encode(signature))
}

/// Checks `header` against `body`: returns the signed time. The comparison is constant-time;
/// the time is checked after the signature, so a forged header learns nothing of the clock.
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secret: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<i64, SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut t = None;
    let mut signatures = Vec::new();
    for item in header.split(',') {
        let (key, value) = item
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match key {
            "t" => {
                if t.is_some() {
                    return Err(SignatureError::Malformed);
                }
                t = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| SignatureError::Malformed)?,
                );
            }
            "v1" => signatures.push(hex::decode(value).map_err(|_| SignatureError::Malformed)?),
            _ => {}
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let expected = mac(secret, t, body);
    if !signatures
        .iter()
        .any(|s| expected.clone().verify_slice(s).is_ok())
    {
        return Err(SignatureError::NoMatch);
    }
    if now.abs_diff(t) > tolerance_secs.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test";

    #[test]
    fn a_signed_body_verifies_within_the_tolerance() {
        let header = sign(SECRET, 1_000, b"{}");
        assert_eq!(verify(Some(&header), b"{}", SECRET, 1_000, 300), Ok(1_000));
        assert_eq!(verify(Some(&header), b"{}", SECRET, 1_300, 300), Ok(1_000));
        assert_eq!(verify(Some(&header), b"{}", SECRET, 700, 300), Ok(1_000));
    }

    #[test]
    fn a_forged_changed_or_stale_body_is_refused() {
        let header = sign(SECRET, 1_000, b"{}");
        assert_eq!(
            verify(Some(&header), b"{ }", SECRET, 1_000, 300),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify(Some(&header), b"{}", b"other", 1_000, 300),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify(Some(&header), b"{}", SECRET, 1_301, 300),
            Err(SignatureError::Stale)
        );
        // The time is part of what is signed: moving it breaks the signature.
        let moved = header.replace("t=1000", "t=1290");
        assert_eq!(
            verify(Some(&moved), b"{}", SECRET, 1_300, 300),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn malformed_headers_are_refused() {
        for bad in [
            "",
            "t=1000",
            "v1=00",
            "t=x,v1=00",
            "t=1000,v1=zz",
            "t=1000,t=1000,v1=00",
            "nonsense",
        ] {
            assert_eq!(
                verify(Some(bad), b"{}", SECRET, 1_000, 300),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
        assert_eq!(
            verify(None, b"{}", SECRET, 1_000, 300),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn one_of_several_signatures_may_match_and_other_schemes_are_ignored() {
        let good = sign(SECRET, 1_000, b"{}");
        let old = sign(b"old secret", 1_000, b"{}");
        let v1_old = old.split(',').nth(1).expect("v1 part");
        let v1_good = good.split(',').nth(1).expect("v1 part");
        let header = format!("t=1000, {v1_old}, v0=abcdef, {v1_good}");
        assert_eq!(verify(Some(&header), b"{}", SECRET, 1_000, 300), Ok(1_000));
    }
}
