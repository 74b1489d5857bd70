//! Signature checks: an HMAC-SHA256 under the source's secret, over the raw body exactly as
//! received (Stripe: over `"<timestamp>.<body>"`), compared in constant time by
//! `ring::hmac::verify`.

use axum::http::{HeaderMap, HeaderName};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_PAD_INDIFFERENT, URL_SAFE_PAD_INDIFFERENT};
use chrono::{DateTime, Utc};
use ring::hmac;

use super::source::{Encoding, HmacScheme, Scheme};

/// GitHub's signature header.
pub(crate) const GITHUB_SIGNATURE: &str = "x-hub-signature-256";
/// Stripe's signature header.
pub(crate) const STRIPE_SIGNATURE: &str = "stripe-signature";

/// Why a delivery's signature was refused (answered 401).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The signature header is absent.
    #[error("the delivery is not signed: no {0} header")]
    Missing(String),
    /// The header is there but holds no signature in the expected form.
    #[error("the {header} header is not a signature: {reason}")]
    Malformed {
        /// The header.
        header: String,
        /// What was expected.
        reason: String,
    },
    /// The signature does not match the body under the secret.
    #[error("the signature does not match the body (is the secret the same on both sides?)")]
    Mismatch,
    /// Stripe: a valid signature, but made too long ago (or ahead): a replay or a delay.
    #[error(
        "the signature was made {age} s {direction}, beyond the tolerance of {tolerance} s",
        age = age_secs.unsigned_abs(),
        direction = if *age_secs >= 0 { "ago" } else { "ahead of this clock" }
    )]
    Stale {
        /// Seconds between the signature's timestamp and now (negative: in the future).
        age_secs: i64,
        /// The tolerance, in seconds.
        tolerance: u64,
    },
}

/// Checks that `body` was signed with `key` as `scheme` says, at `now`.
pub(crate) fn verify(
    scheme: &Scheme,
    key: &hmac::Key,
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), Refusal> {
    match scheme {
        Scheme::GitHub => {
            let value = header(headers, GITHUB_SIGNATURE)?;
            let hex = value
                .strip_prefix("sha256=")
                .ok_or_else(|| Refusal::Malformed {
                    header: GITHUB_SIGNATURE.to_owned(),
                    reason: "expected sha256=<64 hex digits>".to_owned(),
                })?;
            let tag = decode_hex(hex).ok_or_else(|| Refusal::Malformed {
                header: GITHUB_SIGNATURE.to_owned(),
                reason: "expected sha256=<64 hex digits>".to_owned(),
            })?;
            hmac::verify(key, body, &tag).map_err(|_| Refusal::Mismatch)
        }
        Scheme::Stripe { tolerance } => {
            let value = header(headers, STRIPE_SIGNATURE)?;
            let malformed = |reason: &str| Refusal::Malformed {
                header: STRIPE_SIGNATURE.to_owned(),
                reason: reason.to_owned(),
            };
            let mut timestamp = None;
            let mut candidates = Vec::new();
            for part in value.split(',') {
                match part.trim().split_once('=') {
                    Some(("t", t)) => timestamp = t.trim().parse::<i64>().ok(),
                    Some(("v1", signature)) => candidates.extend(decode_hex(signature.trim())),
                    _ => {}
                }
            }
            let timestamp = timestamp.ok_or_else(|| malformed("expected t=<unix time>"))?;
            if candidates.is_empty() {
                return Err(malformed("expected v1=<64 hex digits>"));
            }
            let mut signed = Vec::with_capacity(body.len() + 21);
            signed.extend_from_slice(timestamp.to_string().as_bytes());
            signed.push(b'.');
            signed.extend_from_slice(body);
            // Every candidate is checked, so the time taken does not tell which one matched.
            let matched = candidates.iter().fold(false, |matched, tag| {
                hmac::verify(key, &signed, tag).is_ok() | matched
            });
            if !matched {
                return Err(Refusal::Mismatch);
            }
            let age_secs = now.timestamp().saturating_sub(timestamp);
            let tolerance = tolerance.as_secs();
            if age_secs.unsigned_abs() > tolerance {
                return Err(Refusal::Stale {
                    age_secs,
                    tolerance,
                });
            }
            Ok(())
        }
        Scheme::Hmac(scheme) => verify_hmac(scheme, key, headers, body),
    }
}

fn verify_hmac(
    scheme: &HmacScheme,
    key: &hmac::Key,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), Refusal> {
    let name = scheme.header.as_str();
    let value = header(headers, name)?;
    let text = value.strip_prefix(scheme.prefix.as_str()).unwrap_or(value);
    let tag = match scheme.encoding {
        Encoding::Hex => decode_hex(text),
        Encoding::Base64 => STANDARD_PAD_INDIFFERENT.decode(text).ok(),
        Encoding::Base64Url => URL_SAFE_PAD_INDIFFERENT.decode(text).ok(),
    }
    .ok_or_else(|| Refusal::Malformed {
        header: name.to_owned(),
        reason: format!(
            "expected {}an HMAC-SHA256 in {}",
            if scheme.prefix.is_empty() {
                String::new()
            } else {
                format!("{} and ", scheme.prefix)
            },
            scheme.encoding.as_str()
        ),
    })?;
    hmac::verify(key, body, &tag).map_err(|_| Refusal::Mismatch)
}

/// The value of header `name`, trimmed.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, Refusal> {
    let value = headers
        .get(
            HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| Refusal::Missing(name.to_owned()))?,
        )
        .ok_or_else(|| Refusal::Missing(name.to_owned()))?;
    value
        .to_str()
        .map(str::trim)
        .map_err(|_| Refusal::Malformed {
            header: name.to_owned(),
            reason: "it is not visible ASCII".to_owned(),
        })
}

/// Hex digits, either case, into bytes.
fn decode_hex(text: &str) -> Option<Vec<u8>> {
    fn digit(byte: u8) -> Option<u8> {
        match byte {
            b'0'..=b'9' => Some(byte - b'0'),
            b'a'..=b'f' => Some(byte - b'a' + 10),
            b'A'..=b'F' => Some(byte - b'A' + 10),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    if bytes.is_empty() || !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::http::HeaderValue;

    use super::*;

    fn key(secret: &str) -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes())
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_str(value).expect("header value"));
        }
        headers
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_225_600, 0).expect("time")
    }

    #[test]
    fn githubs_published_example_verifies() {
        // docs.github.com, "Validating webhook deliveries": test values.
        let secret = key("It's a Secret to Everybody");
        let signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(
            format!(
                "sha256={}",
                hex(hmac::sign(&secret, b"Hello, World!").as_ref())
            ),
            signature
        );
        let signed = headers(&[(GITHUB_SIGNATURE, signature)]);
        assert_eq!(
            verify(&Scheme::GitHub, &secret, &signed, b"Hello, World!", now()),
            Ok(())
        );
        let upper = headers(&[(
            GITHUB_SIGNATURE,
            &signature.to_uppercase().replace("SHA256", "sha256"),
        )]);
        assert_eq!(
            verify(&Scheme::GitHub, &secret, &upper, b"Hello, World!", now()),
            Ok(()),
            "hex digits in either case"
        );
        assert_eq!(
            verify(&Scheme::GitHub, &secret, &signed, b"Hello, World?", now()),
            Err(Refusal::Mismatch),
            "one byte changed"
        );
        assert_eq!(
            verify(
                &Scheme::GitHub,
                &key("another secret"),
                &signed,
                b"Hello, World!",
                now()
            ),
            Err(Refusal::Mismatch)
        );
        assert_eq!(
            verify(
                &Scheme::GitHub,
                &secret,
                &HeaderMap::new(),
                b"Hello, World!",
                now()
            ),
            Err(Refusal::Missing(GITHUB_SIGNATURE.to_owned()))
        );
        for bad in [
            "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            "sha256=xyz",
            "sha256=",
        ] {
            let refused = verify(
                &Scheme::GitHub,
                &secret,
                &headers(&[(GITHUB_SIGNATURE, bad)]),
                b"Hello, World!",
                now(),
            );
            assert!(
                matches!(refused, Err(Refusal::Malformed { .. })),
                "{bad}: {refused:?}"
            );
        }
    }

    fn stripe_header(secret: &str, timestamp: i64, body: &[u8]) -> String {
        let mut signed = format!("{timestamp}.").into_bytes();
        signed.extend_from_slice(body);
        let tag = hmac::sign(&key(secret), &signed);
        format!(
            "t={timestamp},v1={},v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39",
            hex(tag.as_ref())
        )
    }

    #[test]
    fn stripe_signatures_hold_within_the_tolerance_only() {
        let secret = "whsec_test_secret";
        let body = br#"{"id": "evt_1", "type": "invoice.paid"}"#;
        let scheme = Scheme::Stripe {
            tolerance: Duration::from_secs(300),
        };
        let at = |offset: i64| {
            headers(&[(
                STRIPE_SIGNATURE,
                &stripe_header(secret, now().timestamp() + offset, body),
            )])
        };
        for offset in [0, -299, -300, 300] {
            assert_eq!(
                verify(&scheme, &key(secret), &at(offset), body, now()),
                Ok(()),
                "{offset} s"
            );
        }
        assert_eq!(
            verify(&scheme, &key(secret), &at(-301), body, now()),
            Err(Refusal::Stale {
                age_secs: 301,
                tolerance: 300
            })
        );
        let ahead = verify(&scheme, &key(secret), &at(3600), body, now()).expect_err("ahead");
        assert_eq!(
            ahead.to_string(),
            "the signature was made 3600 s ahead of this clock, beyond the tolerance of 300 s"
        );
        assert_eq!(
            verify(
                &scheme,
                &key(secret),
                &at(0),
                br#"{"id": "evt_1", "type": "invoice.pAid"}"#,
                now()
            ),
            Err(Refusal::Mismatch)
        );
        // The timestamp is signed: moving it breaks the signature.
        let moved = stripe_header(secret, now().timestamp() - 3600, body).replacen(
            &format!("t={}", now().timestamp() - 3600),
            &format!("t={}", now().timestamp()),
            1,
        );
        assert_eq!(
            verify(
                &scheme,
                &key(secret),
                &headers(&[(STRIPE_SIGNATURE, &moved)]),
                body,
                now()
            ),
            Err(Refusal::Mismatch)
        );
        // While a secret is rolled, Stripe signs with both: either may match.
        let rolled = format!(
            "{},v1={}",
            stripe_header("whsec_old", now().timestamp(), body),
            stripe_header(secret, now().timestamp(), body)
                .split(",v1=")
                .nth(1)
                .and_then(|rest| rest.split(',').next())
                .expect("v1")
        );
        assert_eq!(
            verify(
                &scheme,
                &key(secret),
                &headers(&[(STRIPE_SIGNATURE, &rolled)]),
                body,
                now()
            ),
            Ok(())
        );
        for bad in ["v1=00", "t=abc,v1=00", "t=1767225600"] {
            let refused = verify(
                &scheme,
                &key(secret),
                &headers(&[(STRIPE_SIGNATURE, bad)]),
                body,
                now(),
            );
            assert!(
                matches!(refused, Err(Refusal::Malformed { .. })),
                "{bad}: {refused:?}"
            );
        }
    }

    #[test]
    fn generic_hmac_signatures_in_hex_and_base64() {
        let secret = key("shpss_0123");
        let body = br#"{"order": 1}"#;
        let tag = hmac::sign(&secret, body);
        let mut scheme = HmacScheme::new(HeaderName::from_static("x-shopify-hmac-sha256"));
        scheme.encoding = Encoding::Base64;
        let scheme = Scheme::Hmac(scheme);
        let signed = headers(&[(
            "x-shopify-hmac-sha256",
            &STANDARD_PAD_INDIFFERENT.encode(tag.as_ref()),
        )]);
        assert_eq!(verify(&scheme, &secret, &signed, body, now()), Ok(()));
        assert_eq!(
            verify(&scheme, &secret, &signed, br#"{"order": 2}"#, now()),
            Err(Refusal::Mismatch)
        );

        let mut prefixed = HmacScheme::new(HeaderName::from_static("x-signature"));
        prefixed.prefix = "sha256=".to_owned();
        let prefixed = Scheme::Hmac(prefixed);
        let value = format!("sha256={}", hex(tag.as_ref()));
        assert_eq!(
            verify(
                &prefixed,
                &secret,
                &headers(&[("x-signature", &value)]),
                body,
                now()
            ),
            Ok(())
        );
        assert_eq!(
            verify(
                &prefixed,
                &secret,
                &headers(&[("x-signature", &hex(tag.as_ref()))]),
                body,
                now()
            ),
            Ok(()),
            "the prefix is optional"
        );
        let refused = verify(
            &prefixed,
            &secret,
            &headers(&[("x-signature", "sha256=not-hex")]),
            body,
            now(),
        );
        assert_eq!(
            refused.expect_err("malformed").to_string(),
            "the x-signature header is not a signature: expected sha256= and an HMAC-SHA256 in hex"
        );
    }
}
