//! The issuers file (TOML) and the JWKS files it names.

use crate::Algorithm;
use jsonwebtoken::DecodingKey;
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Largest issuers file or JWKS file read, in bytes.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Most keys one issuer may have.
pub const MAX_KEYS: usize = 256;
/// Default largest token accepted, in bytes.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Default clock leeway, in seconds.
pub const DEFAULT_LEEWAY_SECONDS: u64 = 30;
/// Default longest token lifetime (`exp - iat`), in seconds.
pub const DEFAULT_MAX_LIFETIME_SECONDS: u64 = 3600;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    max_token_bytes: Option<usize>,
    #[serde(default)]
    issuer: Vec<FileIssuer>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileIssuer {
    iss: String,
    audiences: Vec<String>,
    jwks: Vec<PathBuf>,
    algorithms: Vec<String>,
    leeway_seconds: Option<u64>,
    max_lifetime_seconds: Option<u64>,
    trust_domain: Option<String>,
}

/// One trusted issuer, with its keys.
pub struct Issuer {
    /// The `iss` its tokens carry, compared exactly.
    pub iss: String,
    /// The audiences accepted: a token must name at least one.
    pub audiences: Vec<String>,
    /// The algorithms its keys may use.
    pub algorithms: Vec<Algorithm>,
    /// Clock leeway for `exp`, `nbf` and `iat`, in seconds.
    pub leeway: i64,
    /// Longest lifetime (`exp - iat`) accepted, in seconds.
    pub max_lifetime: i64,
    /// With a SPIFFE trust domain, the subject must be a SPIFFE id in it.
    pub trust_domain: Option<String>,
    /// Its keys.
    pub keys: Vec<Key>,
    /// The JWKS files the keys came from.
    pub jwks: Vec<PathBuf>,
}

/// One verification key.
pub struct Key {
    /// Its `kid`, if the JWKS gives one.
    pub kid: Option<String>,
    /// The one algorithm it verifies: decided by the key, never by a token.
    pub algorithm: Algorithm,
    pub(crate) decoding: DecodingKey,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// The parsed issuers file.
pub(crate) struct Loaded {
    pub max_token_bytes: usize,
    pub issuers: Vec<Issuer>,
    pub files: Vec<PathBuf>,
}

pub(crate) fn read_capped(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let file = std::fs::File::open(path)
        .map_err(|e| format!("cannot read `{}`: {}", path.display(), io_message(&e)))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read `{}`: {}", path.display(), io_message(&e)))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!(
            "`{}` is larger than {MAX_FILE_BYTES} bytes",
            path.display()
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "`{}` is not valid UTF-8 (at byte {})",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

fn io_message(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string().to_lowercase(),
    }
}

fn parse_file(path: &Path) -> Result<FileConfig, String> {
    let text = read_capped(path)?;
    toml::from_str(&text).map_err(|e| {
        let at = e
            .span()
            .map(|s| {
                let line = text.get(..s.start).map_or(0, |t| t.lines().count().max(1));
                format!(":{line}")
            })
            .unwrap_or_default();
        format!("`{}{at}`: {}", path.display(), e.message())
    })
}

/// The issuers file and the JWKS files it names, best effort: what a
/// server watches for changes.
pub fn watched_files(path: &Path) -> Vec<PathBuf> {
    let mut files = vec![path.to_path_buf()];
    if let Ok(c) = parse_file(path) {
        let base = path.parent().unwrap_or(Path::new(""));
        for i in c.issuer {
            files.extend(i.jwks.into_iter().map(|j| base.join(j)));
        }
    }
    files
}

pub(crate) fn load(path: &Path) -> Result<Loaded, String> {
    let c = parse_file(path)?;
    let at = |m: String| format!("`{}`: {m}", path.display());
    let base = path.parent().unwrap_or(Path::new(""));
    if c.issuer.is_empty() {
        return Err(at(
            "no issuer is configured\nhelp: add an `[[issuer]]` table with `iss`, `audiences`, `jwks` and `algorithms`".into(),
        ));
    }
    let max_token_bytes = c.max_token_bytes.unwrap_or(DEFAULT_MAX_TOKEN_BYTES);
    if !(256..=65536).contains(&max_token_bytes) {
        return Err(at(format!(
            "`max_token_bytes` is {max_token_bytes}; it must be between 256 and 65536"
        )));
    }
    let mut issuers: Vec<Issuer> = Vec::new();
    let mut files = vec![path.to_path_buf()];
    for fi in c.issuer {
        let name = fi.iss.clone();
        let at = |m: String| format!("`{}`: issuer `{name}`: {m}", path.display());
        if fi.iss.is_empty() {
            return Err(format!(
                "`{}`: an issuer has an empty `iss`",
                path.display()
            ));
        }
        if issuers.iter().any(|i| i.iss == fi.iss) {
            return Err(at("is configured twice".into()));
        }
        if fi.audiences.is_empty() || fi.audiences.iter().any(String::is_empty) {
            return Err(at(
                "`audiences` must list at least one non-empty audience".into()
            ));
        }
        if fi.jwks.is_empty() {
            return Err(at("`jwks` must name at least one JWKS file".into()));
        }
        let mut algorithms = Vec::new();
        for a in &fi.algorithms {
            match Algorithm::from_name(a) {
                Some(alg) if !algorithms.contains(&alg) => algorithms.push(alg),
                Some(_) => {}
                None => {
                    return Err(at(format!(
                        "algorithm `{a}` is not supported\nhelp: use `EdDSA`, `ES256` or `RS256`"
                    )))
                }
            }
        }
        if algorithms.is_empty() {
            return Err(at("`algorithms` must list at least one algorithm".into()));
        }
        let leeway = fi.leeway_seconds.unwrap_or(DEFAULT_LEEWAY_SECONDS);
        if leeway > 600 {
            return Err(at(format!(
                "`leeway_seconds` is {leeway}; at most 600 is accepted"
            )));
        }
        let max_lifetime = fi
            .max_lifetime_seconds
            .unwrap_or(DEFAULT_MAX_LIFETIME_SECONDS);
        if max_lifetime == 0 || max_lifetime > 31 * 24 * 3600 {
            return Err(at(format!(
                "`max_lifetime_seconds` is {max_lifetime}; it must be between 1 and 2678400 (31 days)"
            )));
        }
        if let Some(td) = &fi.trust_domain {
            if td.is_empty() || td.contains('/') || td.contains(':') {
                return Err(at(format!(
                    "`trust_domain` `{td}` is not a SPIFFE trust domain\nhelp: write the bare name, e.g. `acme.internal`"
                )));
            }
        }
        let mut keys: Vec<Key> = Vec::new();
        let mut jwks_paths = Vec::new();
        for j in &fi.jwks {
            let jp = base.join(j);
            for key in load_jwks(&jp)? {
                if !algorithms.contains(&key.algorithm) {
                    return Err(at(format!(
                        "a key in `{}`{} is {}, which `algorithms` does not allow",
                        jp.display(),
                        key.kid
                            .as_deref()
                            .map(|k| format!(" (`{k}`)"))
                            .unwrap_or_default(),
                        key.algorithm.name()
                    )));
                }
                if keys.iter().any(|k| k.kid == key.kid) {
                    return Err(at(match &key.kid {
                        Some(k) => format!("key id `{k}` is given twice"),
                        None => "two keys have no `kid`; every key but a sole one needs one".into(),
                    }));
                }
                keys.push(key);
            }
            files.push(jp.clone());
            jwks_paths.push(jp);
        }
        if keys.is_empty() {
            return Err(at("its JWKS files hold no signing key".into()));
        }
        if keys.len() > MAX_KEYS {
            return Err(at(format!(
                "it has {} keys; at most {MAX_KEYS} are accepted",
                keys.len()
            )));
        }
        if keys.len() > 1 && keys.iter().any(|k| k.kid.is_none()) {
            return Err(at(
                "a key has no `kid`; when an issuer has several keys, each needs one".into(),
            ));
        }
        issuers.push(Issuer {
            iss: fi.iss,
            audiences: fi.audiences,
            algorithms,
            leeway: leeway as i64,
            max_lifetime: max_lifetime as i64,
            trust_domain: fi.trust_domain,
            keys,
            jwks: jwks_paths,
        });
    }
    Ok(Loaded {
        max_token_bytes,
        issuers,
        files,
    })
}

/// Reads a JWKS file: `{"keys": [...]}`, public keys only. Keys marked
/// `"use": "enc"` are skipped.
pub(crate) fn load_jwks(path: &Path) -> Result<Vec<Key>, String> {
    let text = read_capped(path)?;
    let doc = jitp_runtime::parse_unique(&text, "jwks")
        .map_err(|e| format!("`{}`: not valid JSON: {e}", path.display()))?;
    let Some(list) = doc.get("keys").and_then(Value::as_array) else {
        return Err(format!(
            "`{}`: a JWKS is an object with a `keys` array",
            path.display()
        ));
    };
    let mut keys = Vec::new();
    for (i, k) in list.iter().enumerate() {
        let at = |m: &str| format!("`{}`: keys[{i}]: {m}", path.display());
        if k.get("use").and_then(Value::as_str) == Some("enc") {
            continue;
        }
        keys.push(jwk(k).map_err(|m| at(&m))?);
    }
    Ok(keys)
}

fn jwk(k: &Value) -> Result<Key, String> {
    let Some(obj) = k.as_object() else {
        return Err("a key must be an object".into());
    };
    for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
        if obj.contains_key(private) {
            return Err(format!(
                "holds secret key material (`{private}`)\nhelp: a JWKS file for verification holds public keys only"
            ));
        }
    }
    let s = |f: &str| -> Result<Option<&str>, String> {
        match obj.get(f) {
            None => Ok(None),
            Some(Value::String(v)) => Ok(Some(v.as_str())),
            Some(_) => Err(format!("`{f}` must be a string")),
        }
    };
    let need =
        |f: &str| -> Result<&str, String> { s(f)?.ok_or_else(|| format!("`{f}` is missing")) };
    let kid = s("kid")?.map(str::to_string);
    let kty = need("kty")?;
    let (algorithm, decoding) = match kty {
        "OKP" => {
            let crv = need("crv")?;
            if crv != "Ed25519" {
                return Err(format!("curve `{crv}` is not supported; use `Ed25519`"));
            }
            let x = need("x")?;
            check_len(x, 32, "x")?;
            (
                Algorithm::EdDSA,
                DecodingKey::from_ed_components(x).map_err(|e| format!("`x`: {e}"))?,
            )
        }
        "EC" => {
            let crv = need("crv")?;
            if crv != "P-256" {
                return Err(format!("curve `{crv}` is not supported; use `P-256`"));
            }
            let (x, y) = (need("x")?, need("y")?);
            check_len(x, 32, "x")?;
            check_len(y, 32, "y")?;
            (
                Algorithm::ES256,
                DecodingKey::from_ec_components(x, y).map_err(|e| format!("`x`/`y`: {e}"))?,
            )
        }
        "RSA" => {
            let (n, e) = (need("n")?, need("e")?);
            let bytes = b64(n).map_err(|m| format!("`n`: {m}"))?;
            let bits = bytes
                .iter()
                .position(|b| *b != 0)
                .map_or(0, |i| (bytes.len() - i) * 8);
            if bits < 2048 {
                return Err(format!(
                    "the RSA modulus has {bits} bits; at least 2048 are required"
                ));
            }
            b64(e).map_err(|m| format!("`e`: {m}"))?;
            (
                Algorithm::RS256,
                DecodingKey::from_rsa_components(n, e).map_err(|e| format!("`n`/`e`: {e}"))?,
            )
        }
        "oct" => return Err("symmetric (`oct`) keys are not accepted; use a public key".into()),
        other => return Err(format!("key type `{other}` is not supported")),
    };
    if let Some(alg) = s("alg")? {
        if alg != algorithm.name() {
            return Err(format!(
                "`alg` is `{alg}` but the key is a {kty} key for {}",
                algorithm.name()
            ));
        }
    }
    Ok(Key {
        kid,
        algorithm,
        decoding,
    })
}

fn b64(s: &str) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| "not base64url without padding".to_string())
}

fn check_len(s: &str, len: usize, field: &str) -> Result<(), String> {
    let b = b64(s).map_err(|m| format!("`{field}`: {m}"))?;
    if b.len() != len {
        return Err(format!("`{field}` is {} bytes; expected {len}", b.len()));
    }
    Ok(())
}
