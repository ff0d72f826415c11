//! Workload identity the decision point verifies itself.
//!
//! A workload presents a signed token (a JWT from an OIDC provider, a
//! SPIFFE JWT-SVID); a [`Verifier`] built from an issuers file checks it
//! offline against the keys configured per issuer — signature, `exp`,
//! `nbf`, `iat` against a clock the caller gives, audience, lifetime —
//! and returns the verified [`Identity`], the fields of `std.nhi`'s
//! `WorkloadIdentity`, or a typed [`Rejection`].
//!
//! The key is chosen by the token's `iss`, then its `kid`; the key's own
//! algorithm decides how the signature is checked, so a token's header
//! `alg` never chooses it (`none` and HMAC-with-the-public-key are refused
//! before any verification).
//!
//! [`prepare`] is the embedding step: it takes a parsed request, removes
//! `evidence.workload_token`, verifies it and fills `evidence.workload`
//! before the request is bound. See docs/identity.md.

#![forbid(unsafe_code)]
#![warn(clippy::unwrap_used, clippy::expect_used)]
#![deny(clippy::indexing_slicing, clippy::panic)]

mod config;
#[cfg(feature = "mint")]
pub mod mint;

pub use config::{
    watched_files, Issuer, Key, DEFAULT_LEEWAY_SECONDS, DEFAULT_MAX_LIFETIME_SECONDS,
    DEFAULT_MAX_TOKEN_BYTES, MAX_FILE_BYTES,
};

use base64::Engine as _;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// The member of `evidence` that carries the token to verify.
pub const TOKEN_FIELD: &str = "workload_token";

/// The signature algorithms a key may verify.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// Ed25519 (`OKP` keys, curve `Ed25519`).
    EdDSA,
    /// ECDSA on P-256 with SHA-256 (`EC` keys, curve `P-256`).
    ES256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (`RSA` keys, at least 2048 bits).
    RS256,
}

impl Algorithm {
    /// The JOSE name (`EdDSA`, `ES256`, `RS256`).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::EdDSA => "EdDSA",
            Algorithm::ES256 => "ES256",
            Algorithm::RS256 => "RS256",
        }
    }

    /// The algorithm of a JOSE name, if supported.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        match name {
            "EdDSA" => Some(Algorithm::EdDSA),
            "ES256" => Some(Algorithm::ES256),
            "RS256" => Some(Algorithm::RS256),
            _ => None,
        }
    }

    fn jose(self) -> jsonwebtoken::Algorithm {
        match self {
            Algorithm::EdDSA => jsonwebtoken::Algorithm::EdDSA,
            Algorithm::ES256 => jsonwebtoken::Algorithm::ES256,
            Algorithm::RS256 => jsonwebtoken::Algorithm::RS256,
        }
    }
}

/// A verified workload identity: `std.nhi.WorkloadIdentity`'s fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The token's `iss`, a configured issuer.
    pub issuer: String,
    /// The token's `sub`.
    pub subject: String,
    /// The token's `aud`, sorted, each once.
    pub audience: Vec<String>,
    /// `iat`, seconds since the Unix epoch.
    pub issued_at: i64,
    /// `exp`, seconds since the Unix epoch.
    pub expires_at: i64,
    /// The `kid` of the key that verified it.
    pub key_id: Option<String>,
}

impl Identity {
    /// The `evidence.workload` value: a `WorkloadIdentity` record.
    pub fn to_evidence(&self) -> Value {
        serde_json::json!({
            "issuer": self.issuer,
            "subject": self.subject,
            "audience": self.audience,
            "issued_at": rfc3339(self.issued_at),
            "expires_at": rfc3339(self.expires_at),
        })
    }
}

/// Why a token was not accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// Larger than the configured limit.
    Oversized {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not a well-formed signed JWT (compact serialisation).
    Malformed(String),
    /// Its `iss` is not configured.
    UnknownIssuer(String),
    /// Its issuer has no key with its `kid`.
    UnknownKeyId {
        /// The issuer.
        issuer: String,
        /// The `kid` presented, if any.
        kid: Option<String>,
    },
    /// Its header names another algorithm than the key's.
    AlgorithmNotAllowed {
        /// The header's `alg`.
        presented: String,
        /// The key's algorithm.
        expected: Algorithm,
    },
    /// The signature does not verify with the issuer's key.
    BadSignature,
    /// `exp` (plus leeway) is past.
    Expired {
        /// `exp`, seconds since the Unix epoch.
        at: i64,
    },
    /// `nbf` or `iat` (minus leeway) is in the future.
    NotYetValid {
        /// The time it becomes valid, seconds since the Unix epoch.
        at: i64,
    },
    /// `exp - iat` is longer than the issuer allows.
    LifetimeTooLong {
        /// `exp - iat`, seconds.
        lifetime: i64,
        /// The limit, seconds.
        max: i64,
    },
    /// None of its audiences is one the issuer is accepted for.
    WrongAudience(Vec<String>),
    /// Its subject is not a SPIFFE id in the issuer's trust domain.
    WrongTrustDomain {
        /// The subject.
        subject: String,
        /// The configured trust domain.
        trust_domain: String,
    },
}

impl Rejection {
    /// A stable machine-readable code (`expired`, `bad_signature`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::Oversized { .. } => "oversized",
            Rejection::Malformed(_) => "malformed",
            Rejection::UnknownIssuer(_) => "unknown_issuer",
            Rejection::UnknownKeyId { .. } => "unknown_key_id",
            Rejection::AlgorithmNotAllowed { .. } => "algorithm_not_allowed",
            Rejection::BadSignature => "bad_signature",
            Rejection::Expired { .. } => "expired",
            Rejection::NotYetValid { .. } => "not_yet_valid",
            Rejection::LifetimeTooLong { .. } => "lifetime_too_long",
            Rejection::WrongAudience(_) => "wrong_audience",
            Rejection::WrongTrustDomain { .. } => "wrong_trust_domain",
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejection::Oversized { len, max } => {
                write!(f, "the token is {len} bytes; at most {max} are accepted")
            }
            Rejection::Malformed(m) => write!(f, "the token is malformed: {m}"),
            Rejection::UnknownIssuer(i) => write!(f, "issuer `{}` is not trusted", clip(i)),
            Rejection::UnknownKeyId { issuer, kid: None } => write!(
                f,
                "the token names no `kid` and issuer `{issuer}` has several keys"
            ),
            Rejection::UnknownKeyId {
                issuer,
                kid: Some(k),
            } => write!(f, "issuer `{issuer}` has no key `{}`", clip(k)),
            Rejection::AlgorithmNotAllowed {
                presented,
                expected,
            } => write!(
                f,
                "algorithm `{}` is not allowed; the key verifies {} only",
                clip(presented),
                expected.name()
            ),
            Rejection::BadSignature => write!(f, "the signature does not verify"),
            Rejection::Expired { at } => write!(f, "token expired at {}", rfc3339(*at)),
            Rejection::NotYetValid { at } => {
                write!(f, "token not valid before {}", rfc3339(*at))
            }
            Rejection::LifetimeTooLong { lifetime, max } => write!(
                f,
                "the token's lifetime is {lifetime}s; the issuer allows at most {max}s"
            ),
            Rejection::WrongAudience(a) if a.is_empty() => {
                write!(f, "the token names no audience")
            }
            Rejection::WrongAudience(a) => {
                let list: Vec<String> =
                    a.iter().take(8).map(|s| format!("`{}`", clip(s))).collect();
                write!(f, "audience {} is not accepted", list.join(", "))
            }
            Rejection::WrongTrustDomain {
                subject,
                trust_domain,
            } => write!(
                f,
                "subject `{}` is not in trust domain `spiffe://{trust_domain}`",
                clip(subject)
            ),
        }
    }
}

impl std::error::Error for Rejection {}

/// At most 200 characters of untrusted text in a message.
fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(200).flat_map(char::escape_debug).collect();
    if s.chars().count() > 200 {
        out.push('…');
    }
    out
}

/// RFC 3339 text of a Unix time (the times a [`Verifier`] accepts are in range).
fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.to_string())
}

/// Seconds since the Unix epoch of an RFC 3339 time.
pub fn unix_seconds(rfc3339: &str) -> Option<i64> {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(time::OffsetDateTime::unix_timestamp)
}

/// Latest time a token may carry: 9999-12-31T23:59:59Z.
const MAX_TIME: i64 = 253_402_300_799;

/// Verifies workload tokens against the trusted issuers of one issuers
/// file. Immutable: reloading builds a new one.
pub struct Verifier {
    issuers: Vec<Issuer>,
    max_token_bytes: usize,
    files: Vec<PathBuf>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field(
                "issuers",
                &self.issuers.iter().map(|i| &i.iss).collect::<Vec<_>>(),
            )
            .field("max_token_bytes", &self.max_token_bytes)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Loads an issuers file (TOML) and every JWKS file it names (paths
    /// relative to it). The error names the file and what is wrong.
    pub fn load(path: &Path) -> Result<Verifier, String> {
        let l = config::load(path)?;
        Ok(Verifier {
            issuers: l.issuers,
            max_token_bytes: l.max_token_bytes,
            files: l.files,
        })
    }

    /// The trusted issuers.
    pub fn issuers(&self) -> &[Issuer] {
        &self.issuers
    }

    /// The issuers file and the JWKS files it loaded.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// The largest token accepted, in bytes.
    pub fn max_token_bytes(&self) -> usize {
        self.max_token_bytes
    }

    /// Verifies `token` at `now` (seconds since the Unix epoch).
    pub fn verify(&self, token: &str, now: i64) -> Result<Identity, Rejection> {
        if token.len() > self.max_token_bytes {
            return Err(Rejection::Oversized {
                len: token.len(),
                max: self.max_token_bytes,
            });
        }
        let malformed = |m: &str| Rejection::Malformed(m.to_string());
        let mut parts = token.split('.');
        let (Some(h64), Some(p64), Some(s64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed(
                "expected three base64url parts separated by `.` (header.payload.signature)",
            ));
        };
        let header = json_part(h64, "header")?;
        let claims = json_part(p64, "payload")?;
        let alg = match header.get("alg") {
            Some(Value::String(a)) => a.as_str(),
            _ => return Err(malformed("the header has no `alg` string")),
        };
        if header.contains_key("crit") {
            return Err(malformed(
                "the header's `crit` extensions are not supported",
            ));
        }
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(k)) => Some(k.as_str()),
            Some(_) => return Err(malformed("the header's `kid` must be a string")),
        };
        let iss = match claims.get("iss") {
            Some(Value::String(i)) => i.as_str(),
            _ => return Err(malformed("the payload has no `iss` string")),
        };
        let Some(issuer) = self.issuers.iter().find(|i| i.iss == iss) else {
            return Err(Rejection::UnknownIssuer(iss.to_string()));
        };
        let key = match kid {
            Some(k) => issuer.keys.iter().find(|key| key.kid.as_deref() == Some(k)),
            None if issuer.keys.len() == 1 => issuer.keys.first(),
            None => None,
        };
        let Some(key) = key else {
            return Err(Rejection::UnknownKeyId {
                issuer: issuer.iss.clone(),
                kid: kid.map(str::to_string),
            });
        };
        // The key's algorithm decides; a header naming any other (`none`,
        // `HS256` with the public key as secret) is refused unverified.
        if alg != key.algorithm.name() {
            return Err(Rejection::AlgorithmNotAllowed {
                presented: alg.to_string(),
                expected: key.algorithm,
            });
        }
        let signed_len = h64.len() + 1 + p64.len();
        let message = token.get(..signed_len).unwrap_or_default();
        match jsonwebtoken::crypto::verify(
            s64,
            message.as_bytes(),
            &key.decoding,
            key.algorithm.jose(),
        ) {
            Ok(true) => {}
            Ok(false) | Err(_) => return Err(Rejection::BadSignature),
        }
        // Signed: the claims are the issuer's.
        let subject = match claims.get("sub") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => return Err(malformed("the payload has no non-empty `sub` string")),
        };
        let exp =
            numeric_date(&claims, "exp")?.ok_or_else(|| malformed("the payload has no `exp`"))?;
        let iat =
            numeric_date(&claims, "iat")?.ok_or_else(|| malformed("the payload has no `iat`"))?;
        let nbf = numeric_date(&claims, "nbf")?;
        if now > exp.saturating_add(issuer.leeway) {
            return Err(Rejection::Expired { at: exp });
        }
        let valid_from = nbf.map_or(iat, |n| n.max(iat));
        if valid_from > now.saturating_add(issuer.leeway) {
            return Err(Rejection::NotYetValid { at: valid_from });
        }
        let lifetime = exp.saturating_sub(iat);
        if lifetime > issuer.max_lifetime {
            return Err(Rejection::LifetimeTooLong {
                lifetime,
                max: issuer.max_lifetime,
            });
        }
        if lifetime <= 0 {
            return Err(malformed("`exp` is not after `iat`"));
        }
        let mut audience: Vec<String> = match claims.get("aud") {
            None => Vec::new(),
            Some(Value::String(a)) => vec![a.clone()],
            Some(Value::Array(list)) => {
                let mut out = Vec::with_capacity(list.len());
                for a in list {
                    match a {
                        Value::String(a) => out.push(a.clone()),
                        _ => return Err(malformed("`aud` must hold strings")),
                    }
                }
                out
            }
            Some(_) => return Err(malformed("`aud` must be a string or an array of strings")),
        };
        audience.sort();
        audience.dedup();
        if !audience.iter().any(|a| issuer.audiences.contains(a)) {
            return Err(Rejection::WrongAudience(audience));
        }
        if let Some(td) = &issuer.trust_domain {
            let in_domain = subject
                .strip_prefix("spiffe://")
                .and_then(|rest| rest.strip_prefix(td.as_str()))
                .is_some_and(|rest| rest.starts_with('/') && rest.len() > 1);
            if !in_domain {
                return Err(Rejection::WrongTrustDomain {
                    subject,
                    trust_domain: td.clone(),
                });
            }
        }
        Ok(Identity {
            issuer: issuer.iss.clone(),
            subject,
            audience,
            issued_at: iat,
            expires_at: exp,
            key_id: key.kid.clone(),
        })
    }
}

/// A base64url JSON object part of a token, duplicate keys refused.
fn json_part(part: &str, what: &str) -> Result<Map<String, Value>, Rejection> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| Rejection::Malformed(format!("the {what} is not base64url")))?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| Rejection::Malformed(format!("the {what} is not UTF-8")))?;
    match jitp_runtime::parse_unique(text, what) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err(Rejection::Malformed(format!(
            "the {what} is not a JSON object"
        ))),
        Err(e) => Err(Rejection::Malformed(format!("the {what}: {e}"))),
    }
}

/// A NumericDate claim: whole seconds since the epoch, in year 1970..=9999.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, Rejection> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(t) if (0..=MAX_TIME).contains(&t) => Ok(Some(t)),
            _ => Err(Rejection::Malformed(format!(
                "`{name}` must be whole seconds since 1970 before year 10000"
            ))),
        },
        Some(_) => Err(Rejection::Malformed(format!("`{name}` must be a number"))),
    }
}

/// What [`prepare`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The request carries no token.
    Absent,
    /// The token verified; `evidence.workload` now holds it.
    Verified(Identity),
    /// The token was refused; `evidence.workload` stays absent.
    Rejected(Rejection),
}

impl Outcome {
    /// The JSON reported beside the decision (`context.workload_identity`):
    /// `None` without a token; `{"verified": true, "issuer", "subject",
    /// "expires_at"}` or `{"verified": false, "code", "error"}`.
    pub fn to_json(&self) -> Option<Value> {
        match self {
            Outcome::Absent => None,
            Outcome::Verified(id) => Some(serde_json::json!({
                "verified": true,
                "issuer": id.issuer,
                "subject": id.subject,
                "key_id": id.key_id,
                "expires_at": rfc3339(id.expires_at),
            })),
            Outcome::Rejected(r) => Some(serde_json::json!({
                "verified": false,
                "code": r.code(),
                "error": r.to_string(),
            })),
        }
    }
}

/// The embedding step, before binding: removes `evidence.workload_token`
/// from `request`, verifies it at `now` (seconds since the Unix epoch) and,
/// if it verifies, sets `evidence.workload` to the [`Identity`]. A request
/// that sets `evidence.workload` itself is refused (`Err`, a client error):
/// with a verifier configured, only a verified token fills it. A request
/// that is not an object, or whose `evidence` is not one, is left for the
/// binder to refuse.
pub fn prepare(verifier: &Verifier, request: &mut Value, now: i64) -> Result<Outcome, String> {
    let Some(Value::Object(evidence)) = request.get_mut("evidence") else {
        return Ok(Outcome::Absent);
    };
    if evidence.contains_key("workload") {
        return Err(format!(
            "the request sets `evidence.workload`; this decision point verifies workload identity itself\nhelp: send the signed token as `evidence.{TOKEN_FIELD}`"
        ));
    }
    let token = match evidence.remove(TOKEN_FIELD) {
        None | Some(Value::Null) => return Ok(Outcome::Absent),
        Some(Value::String(t)) => t,
        Some(_) => {
            return Err(format!(
                "`evidence.{TOKEN_FIELD}` must be a string (a signed JWT)"
            ))
        }
    };
    match verifier.verify(&token, now) {
        Ok(id) => {
            evidence.insert("workload".into(), id.to_evidence());
            Ok(Outcome::Verified(id))
        }
        Err(r) => Ok(Outcome::Rejected(r)),
    }
}

#[cfg(test)]
mod tests;
