//! Minting test tokens (feature `mint`, for tests and benchmarks only):
//! signing keys generated in the test, their public JWKS, and the hostile
//! tokens a verifier must refuse (`alg: none`, HMAC keyed with the
//! public key). Never used by the verifier.

use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair};
use serde_json::{json, Value};

enum Pair {
    Ed(Ed25519KeyPair),
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

/// A signing key made for a test.
pub struct TestKey {
    pair: Pair,
    kid: Option<String>,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl TestKey {
    /// A fresh Ed25519 key (EdDSA).
    pub fn ed25519(kid: Option<&str>) -> Result<TestKey, String> {
        let rng = SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|e| e.to_string())?;
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|e| e.to_string())?;
        Ok(TestKey {
            pair: Pair::Ed(pair),
            kid: kid.map(str::to_string),
        })
    }

    /// A fresh P-256 key (ES256).
    pub fn es256(kid: Option<&str>) -> Result<TestKey, String> {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).map_err(|e| e.to_string())?;
        let pair =
            EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).map_err(|e| e.to_string())?;
        Ok(TestKey {
            pair: Pair::Ec(pair),
            kid: kid.map(str::to_string),
        })
    }

    /// An RSA key (RS256) from PKCS#8 DER.
    pub fn rs256(pkcs8: &[u8], kid: Option<&str>) -> Result<TestKey, String> {
        let pair = RsaKeyPair::from_pkcs8(pkcs8).map_err(|e| e.to_string())?;
        Ok(TestKey {
            pair: Pair::Rsa(pair),
            kid: kid.map(str::to_string),
        })
    }

    /// The JOSE algorithm it signs with.
    pub fn alg(&self) -> &'static str {
        match self.pair {
            Pair::Ed(_) => "EdDSA",
            Pair::Ec(_) => "ES256",
            Pair::Rsa(_) => "RS256",
        }
    }

    /// Its public key's bytes as a naive verifier would use them as an
    /// HMAC secret (Ed25519: the 32-byte key; P-256: the SEC1 point; RSA:
    /// the modulus).
    pub fn public_bytes(&self) -> Vec<u8> {
        match &self.pair {
            Pair::Ed(p) => p.public_key().as_ref().to_vec(),
            Pair::Ec(p) => p.public_key().as_ref().to_vec(),
            Pair::Rsa(p) => ring::rsa::PublicKeyComponents::<Vec<u8>>::from(p.public()).n,
        }
    }

    /// Its public JWK.
    pub fn jwk(&self) -> Value {
        let mut k = match &self.pair {
            Pair::Ed(p) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(p.public_key().as_ref())})
            }
            Pair::Ec(p) => {
                let point = p.public_key().as_ref();
                let x = point.get(1..33).unwrap_or_default();
                let y = point.get(33..65).unwrap_or_default();
                json!({"kty": "EC", "crv": "P-256", "x": b64(x), "y": b64(y)})
            }
            Pair::Rsa(p) => {
                let c = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(p.public());
                json!({"kty": "RSA", "n": b64(&c.n), "e": b64(&c.e)})
            }
        };
        if let (Some(kid), Value::Object(o)) = (&self.kid, &mut k) {
            o.insert("kid".into(), Value::String(kid.clone()));
        }
        k
    }

    /// The standard header: `alg`, `typ: JWT` and its `kid`.
    pub fn header(&self) -> Value {
        let mut h = json!({"alg": self.alg(), "typ": "JWT"});
        if let (Some(kid), Value::Object(o)) = (&self.kid, &mut h) {
            o.insert("kid".into(), Value::String(kid.clone()));
        }
        h
    }

    /// A token with the standard header and `claims`.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_raw(&self.header().to_string(), &claims.to_string())
    }

    /// A token from header and payload texts, signed with this key.
    pub fn sign_raw(&self, header: &str, payload: &str) -> String {
        let message = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
        let rng = SystemRandom::new();
        let sig: Vec<u8> = match &self.pair {
            Pair::Ed(p) => p.sign(message.as_bytes()).as_ref().to_vec(),
            Pair::Ec(p) => p
                .sign(&rng, message.as_bytes())
                .map(|s| s.as_ref().to_vec())
                .unwrap_or_default(),
            Pair::Rsa(p) => {
                let mut out = vec![0u8; p.public().modulus_len()];
                match p.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &rng,
                    message.as_bytes(),
                    &mut out,
                ) {
                    Ok(()) => out,
                    Err(_) => Vec::new(),
                }
            }
        };
        format!("{message}.{}", b64(&sig))
    }
}

/// A JWKS document of the keys' public halves.
pub fn jwks(keys: &[&TestKey]) -> Value {
    json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()})
}

/// An unsecured token: `alg: none`, empty signature.
pub fn unsigned(kid: Option<&str>, claims: &Value) -> String {
    let mut h = json!({"alg": "none", "typ": "JWT"});
    if let (Some(kid), Value::Object(o)) = (kid, &mut h) {
        o.insert("kid".into(), Value::String(kid.into()));
    }
    format!(
        "{}.{}.",
        b64(h.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

/// An HS256 token keyed with `secret` (the algorithm-confusion attack when
/// `secret` is an issuer's public key).
pub fn hs256(secret: &[u8], kid: Option<&str>, claims: &Value) -> String {
    let mut h = json!({"alg": "HS256", "typ": "JWT"});
    if let (Some(kid), Value::Object(o)) = (kid, &mut h) {
        o.insert("kid".into(), Value::String(kid.into()));
    }
    let message = format!(
        "{}.{}",
        b64(h.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let tag = ring::hmac::sign(&key, message.as_bytes());
    format!("{message}.{}", b64(tag.as_ref()))
}

/// Standard claims: `iss`, `sub`, `aud`, `iat = now`, `exp = now + ttl`.
pub fn claims(iss: &str, sub: &str, aud: &str, now: i64, ttl: i64) -> Value {
    json!({"iss": iss, "sub": sub, "aud": aud, "iat": now, "exp": now + ttl})
}
