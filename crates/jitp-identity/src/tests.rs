//! Unit tests: every check of [`Verifier::verify`] and [`prepare`], with
//! keys generated here.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::*;
use crate::mint::{self, TestKey};
use serde_json::json;

const ISS: &str = "https://oidc.test";
const AUD: &str = "sts.test";
const SUB: &str = "spiffe://acme.test/ns/pay/sa/api";
const NOW: i64 = 1_800_000_000;
const RSA_TEST_KEY: &[u8] = include_bytes!("../testdata/TEST-ONLY-rsa-2048-private.pk8.der");

struct Fixture {
    _dir: TempDir,
    path: PathBuf,
}

struct TempDir(PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir() -> TempDir {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let p = std::env::temp_dir().join(format!(
        "jitp-identity-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&p).unwrap();
    TempDir(p)
}

/// An issuers file trusting `keys` for `ISS`, with `extra` TOML lines in
/// the issuer table.
fn fixture(keys: &[&TestKey], algs: &str, extra: &str) -> Fixture {
    let dir = tempdir();
    std::fs::write(dir.0.join("keys.json"), mint::jwks(keys).to_string()).unwrap();
    let path = dir.0.join("issuers.toml");
    std::fs::write(
        &path,
        format!(
            "[[issuer]]\niss = \"{ISS}\"\naudiences = [\"{AUD}\"]\njwks = [\"keys.json\"]\nalgorithms = [{algs}]\n{extra}\n"
        ),
    )
    .unwrap();
    Fixture { _dir: dir, path }
}

fn verifier(keys: &[&TestKey], algs: &str) -> (Fixture, Verifier) {
    let f = fixture(keys, algs, "");
    let v = Verifier::load(&f.path).unwrap();
    (f, v)
}

fn good() -> Value {
    mint::claims(ISS, SUB, AUD, NOW - 10, 300)
}

#[test]
fn each_algorithm_verifies_its_own_tokens() {
    let ed = TestKey::ed25519(Some("ed")).unwrap();
    let ec = TestKey::es256(Some("ec")).unwrap();
    let rsa = TestKey::rs256(RSA_TEST_KEY, Some("rsa")).unwrap();
    let (_f, v) = verifier(&[&ed, &ec, &rsa], "\"EdDSA\", \"ES256\", \"RS256\"");
    for k in [&ed, &ec, &rsa] {
        let id = v.verify(&k.sign(&good()), NOW).unwrap();
        assert_eq!(id.issuer, ISS);
        assert_eq!(id.subject, SUB);
        assert_eq!(id.audience, vec![AUD.to_string()]);
        assert_eq!(id.issued_at, NOW - 10);
        assert_eq!(id.expires_at, NOW + 290);
        assert_eq!(id.key_id.as_deref(), k.jwk()["kid"].as_str());
    }
}

#[test]
fn a_key_of_another_issuer_does_not_verify() {
    let ours = TestKey::ed25519(Some("k1")).unwrap();
    let theirs = TestKey::ed25519(Some("k1")).unwrap();
    let (_f, v) = verifier(&[&ours], "\"EdDSA\"");
    assert_eq!(
        v.verify(&theirs.sign(&good()), NOW),
        Err(Rejection::BadSignature)
    );
}

#[test]
fn a_changed_payload_breaks_the_signature() {
    let k = TestKey::ed25519(Some("k1")).unwrap();
    let (_f, v) = verifier(&[&k], "\"EdDSA\"");
    let token = k.sign(&good());
    let parts: Vec<&str> = token.split('.').collect();
    let mut other = good();
    other["sub"] = json!("spiffe://acme.test/ns/admin/sa/root");
    let forged_payload = k.sign(&other);
    let forged_payload = forged_payload.split('.').nth(1).unwrap();
    let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    assert_eq!(v.verify(&forged, NOW), Err(Rejection::BadSignature));
}

#[test]
fn times_are_checked_against_the_given_clock_with_leeway() {
    let k = TestKey::ed25519(None).unwrap();
    let (_f, v) = verifier(&[&k], "\"EdDSA\"");
    let t = k.sign(&mint::claims(ISS, SUB, AUD, NOW, 60));
    assert!(v.verify(&t, NOW + 60 + 30).is_ok(), "within the 30s leeway");
    assert_eq!(
        v.verify(&t, NOW + 60 + 31),
        Err(Rejection::Expired { at: NOW + 60 })
    );
    assert!(v.verify(&t, NOW - 30).is_ok(), "iat within leeway");
    assert_eq!(
        v.verify(&t, NOW - 31),
        Err(Rejection::NotYetValid { at: NOW })
    );
    let mut c = mint::claims(ISS, SUB, AUD, NOW, 600);
    c["nbf"] = json!(NOW + 100);
    let t = k.sign(&c);
    assert_eq!(
        v.verify(&t, NOW),
        Err(Rejection::NotYetValid { at: NOW + 100 })
    );
    assert!(v.verify(&t, NOW + 100).is_ok());
    let msg = Rejection::Expired { at: NOW }.to_string();
    assert_eq!(msg, "token expired at 2027-01-15T08:00:00Z");
}

#[test]
fn lifetime_audience_and_trust_domain() {
    let k = TestKey::ed25519(None).unwrap();
    let f = fixture(
        &[&k],
        "\"EdDSA\"",
        "max_lifetime_seconds = 600\nleeway_seconds = 0\ntrust_domain = \"acme.test\"",
    );
    let v = Verifier::load(&f.path).unwrap();
    assert_eq!(
        v.verify(&k.sign(&mint::claims(ISS, SUB, AUD, NOW, 601)), NOW),
        Err(Rejection::LifetimeTooLong {
            lifetime: 601,
            max: 600
        })
    );
    assert_eq!(
        v.verify(&k.sign(&mint::claims(ISS, SUB, "other", NOW, 60)), NOW),
        Err(Rejection::WrongAudience(vec!["other".into()]))
    );
    let mut c = mint::claims(ISS, SUB, AUD, NOW, 60);
    c["aud"] = json!(["zz", AUD, AUD]);
    assert_eq!(
        v.verify(&k.sign(&c), NOW).unwrap().audience,
        vec![AUD.to_string(), "zz".into()]
    );
    c.as_object_mut().unwrap().remove("aud");
    assert_eq!(
        v.verify(&k.sign(&c), NOW),
        Err(Rejection::WrongAudience(vec![]))
    );
    for sub in [
        "spiffe://acme.test.evil/ns/x",
        "spiffe://acme.test",
        "spiffe://acme.test/",
        "https://acme.test/x",
    ] {
        let t = k.sign(&mint::claims(ISS, sub, AUD, NOW, 60));
        assert_eq!(
            v.verify(&t, NOW).unwrap_err().code(),
            "wrong_trust_domain",
            "{sub}"
        );
    }
}

#[test]
fn issuer_and_key_selection() {
    let a = TestKey::ed25519(Some("a")).unwrap();
    let b = TestKey::ed25519(Some("b")).unwrap();
    let (_f, v) = verifier(&[&a, &b], "\"EdDSA\"");
    assert!(v.verify(&b.sign(&good()), NOW).is_ok());
    let c = TestKey::ed25519(Some("c")).unwrap();
    assert_eq!(
        v.verify(&c.sign(&good()), NOW),
        Err(Rejection::UnknownKeyId {
            issuer: ISS.into(),
            kid: Some("c".into())
        })
    );
    let anon = TestKey::ed25519(None).unwrap();
    assert_eq!(
        v.verify(&anon.sign(&good()), NOW).unwrap_err().code(),
        "unknown_key_id"
    );
    let t = a.sign(&mint::claims("https://elsewhere", SUB, AUD, NOW, 60));
    assert_eq!(
        v.verify(&t, NOW),
        Err(Rejection::UnknownIssuer("https://elsewhere".into()))
    );
}

#[test]
fn the_header_alg_never_chooses_the_algorithm() {
    let ed = TestKey::ed25519(Some("k")).unwrap();
    let rsa = TestKey::rs256(RSA_TEST_KEY, Some("k")).unwrap();
    for key in [&ed, &rsa] {
        let (_f, v) = verifier(&[key], &format!("\"{}\"", key.alg()));
        let none = mint::unsigned(Some("k"), &good());
        assert_eq!(
            v.verify(&none, NOW),
            Err(Rejection::AlgorithmNotAllowed {
                presented: "none".into(),
                expected: Algorithm::from_name(key.alg()).unwrap()
            })
        );
        // HMAC keyed with the public key: the classic confusion attack,
        // with each encoding of the public key a naive verifier might use.
        let jwks_text = mint::jwks(&[key]).to_string();
        for secret in [key.public_bytes(), jwks_text.into_bytes()] {
            let t = mint::hs256(&secret, Some("k"), &good());
            assert_eq!(
                v.verify(&t, NOW).unwrap_err().code(),
                "algorithm_not_allowed"
            );
        }
        // A header claiming another asymmetric algorithm.
        let h = json!({"alg": "ES256", "kid": "k"}).to_string();
        let t = key.sign_raw(&h, &good().to_string());
        let want = if key.alg() == "ES256" {
            "ok"
        } else {
            "algorithm_not_allowed"
        };
        assert_eq!(v.verify(&t, NOW).err().map_or("ok", |e| e.code()), want);
    }
}

#[test]
fn malformed_and_oversized_tokens() {
    let k = TestKey::ed25519(Some("k")).unwrap();
    let (_f, v) = verifier(&[&k], "\"EdDSA\"");
    let big = "a".repeat(DEFAULT_MAX_TOKEN_BYTES + 1);
    assert_eq!(v.verify(&big, NOW).unwrap_err().code(), "oversized");
    let sig = |h: &str, p: &str| k.sign_raw(h, p);
    let hdr = k.header().to_string();
    let cases = [
        "".to_string(),
        "abc".into(),
        "a.b".into(),
        "a.b.c.d".into(),
        "!!!.b.c".into(),
        sig("[1]", &good().to_string()),
        sig(&hdr, "not json"),
        sig(
            &hdr,
            r#"{"iss":"https://oidc.test","iss":"https://oidc.test"}"#,
        ),
        sig(
            r#"{"alg":"EdDSA","alg":"EdDSA","kid":"k"}"#,
            &good().to_string(),
        ),
        sig(r#"{"kid":"k"}"#, &good().to_string()),
        sig(r#"{"alg":"EdDSA","kid":7}"#, &good().to_string()),
        sig(
            r#"{"alg":"EdDSA","kid":"k","crit":["exp"]}"#,
            &good().to_string(),
        ),
        sig(
            &hdr,
            &json!({"iss": ISS, "aud": AUD, "iat": NOW, "exp": NOW + 5}).to_string(),
        ),
        sig(
            &hdr,
            &json!({"iss": ISS, "sub": SUB, "aud": AUD, "iat": NOW}).to_string(),
        ),
        sig(
            &hdr,
            &json!({"iss": ISS, "sub": SUB, "aud": AUD, "iat": NOW, "exp": 1e300}).to_string(),
        ),
        sig(
            &hdr,
            &json!({"iss": ISS, "sub": SUB, "aud": AUD, "iat": NOW, "exp": "soon"}).to_string(),
        ),
        sig(
            &hdr,
            &json!({"iss": ISS, "sub": SUB, "aud": AUD, "iat": NOW, "exp": NOW - 1}).to_string(),
        ),
        sig(
            &hdr,
            &json!({"iss": ISS, "sub": SUB, "aud": [1], "iat": NOW, "exp": NOW + 5}).to_string(),
        ),
    ];
    for (i, t) in cases.iter().enumerate() {
        let e = v.verify(t, NOW).unwrap_err();
        assert_eq!(e.code(), "malformed", "case {i}: {e}");
    }
    // A signature that is not base64url, or empty, does not verify.
    let good_token = k.sign(&good());
    let (msg, _) = good_token.rsplit_once('.').unwrap();
    for s in ["", "***", "AAAA"] {
        assert_eq!(
            v.verify(&format!("{msg}.{s}"), NOW),
            Err(Rejection::BadSignature)
        );
    }
}

#[test]
fn untrusted_text_in_messages_is_clipped_and_escaped() {
    let k = TestKey::ed25519(Some("k")).unwrap();
    let (_f, v) = verifier(&[&k], "\"EdDSA\"");
    let iss = format!("evil\n{}", "x".repeat(5000));
    let e = v
        .verify(&k.sign(&mint::claims(&iss, SUB, AUD, NOW, 60)), NOW)
        .unwrap_err();
    let msg = e.to_string();
    assert!(msg.len() < 300, "{msg}");
    assert!(!msg.contains('\n'), "{msg}");
}

#[test]
fn prepare_moves_a_verified_token_into_evidence() {
    let k = TestKey::ed25519(Some("k")).unwrap();
    let (_f, v) = verifier(&[&k], "\"EdDSA\"");
    let mut req = json!({"evidence": {"ticket": "T-1", "workload_token": k.sign(&good())}});
    let out = prepare(&v, &mut req, NOW).unwrap();
    assert!(matches!(out, Outcome::Verified(_)));
    assert_eq!(
        req,
        json!({"evidence": {"ticket": "T-1", "workload": {
            "issuer": ISS, "subject": SUB, "audience": [AUD],
            "issued_at": "2027-01-15T07:59:50Z", "expires_at": "2027-01-15T08:04:50Z"}}})
    );
    assert_eq!(out.to_json().unwrap()["verified"], json!(true));

    let mut req = json!({"evidence": {"workload_token": k.sign(&good())}});
    let out = prepare(&v, &mut req, NOW + 3600).unwrap();
    assert_eq!(
        out.to_json().unwrap(),
        json!({"verified": false, "code": "expired", "error": "token expired at 2027-01-15T08:04:50Z"})
    );
    assert_eq!(
        req,
        json!({"evidence": {}}),
        "a rejected token fills nothing"
    );

    let mut req = json!({"evidence": {"workload": {"issuer": ISS}}});
    let e = prepare(&v, &mut req, NOW).unwrap_err();
    assert!(e.starts_with("the request sets `evidence.workload`"), "{e}");
    let mut req = json!({"evidence": {"workload_token": 5}});
    assert!(prepare(&v, &mut req, NOW).is_err());
    for mut req in [
        json!({}),
        json!({"evidence": {}}),
        json!([1]),
        json!({"evidence": 3}),
    ] {
        let before = req.clone();
        assert_eq!(prepare(&v, &mut req, NOW), Ok(Outcome::Absent));
        assert_eq!(req, before);
    }
}

#[test]
fn broken_issuer_files_are_refused_with_their_location() {
    let k = TestKey::ed25519(Some("k")).unwrap();
    let load = |algs: &str, extra: &str| {
        let f = fixture(&[&k], algs, extra);
        Verifier::load(&f.path).map(|_| ()).unwrap_err()
    };
    assert!(load("\"HS256\"", "").contains("algorithm `HS256` is not supported"));
    assert!(load("\"ES256\"", "").contains("which `algorithms` does not allow"));
    assert!(load("\"EdDSA\"", "leeway_seconds = 100000").contains("leeway_seconds"));
    assert!(load("\"EdDSA\"", "bogus = 1").contains("bogus"));
    let dir = tempdir();
    let path = dir.0.join("i.toml");
    let write_jwks = |v: Value| std::fs::write(dir.0.join("k.json"), v.to_string()).unwrap();
    std::fs::write(
        &path,
        format!("[[issuer]]\niss = \"{ISS}\"\naudiences = [\"{AUD}\"]\njwks = [\"k.json\"]\nalgorithms = [\"EdDSA\", \"RS256\"]\n"),
    )
    .unwrap();
    let mut private = k.jwk();
    private["d"] = json!("AAAA");
    write_jwks(json!({"keys": [private]}));
    assert!(Verifier::load(&path)
        .unwrap_err()
        .contains("secret key material"));
    write_jwks(json!({"keys": [{"kty": "oct", "k": "AAAA"}]}));
    assert!(Verifier::load(&path).unwrap_err().contains("keys[0]"));
    write_jwks(json!({"keys": [k.jwk(), k.jwk()]}));
    assert!(Verifier::load(&path).unwrap_err().contains("given twice"));
    write_jwks(json!({"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]}));
    assert!(Verifier::load(&path).unwrap_err().contains("at least 2048"));
    std::fs::write(dir.0.join("k.json"), r#"{"keys": [], "keys": []}"#).unwrap();
    assert!(Verifier::load(&path).unwrap_err().contains("k.json"));
    std::fs::remove_file(dir.0.join("k.json")).unwrap();
    let e = Verifier::load(&path).unwrap_err();
    assert!(e.contains("k.json") && e.contains("no such file"), "{e}");
    assert_eq!(
        watched_files(&path),
        vec![path.clone(), dir.0.join("k.json")]
    );
}
