//! Workload identity the server verifies itself (`jitp serve --issuers`,
//! `jitp eval --issuers`): the token_exchange example end to end, with
//! tokens minted here by a key generated here. Only a fresh, matching,
//! well-signed token reaches the policy; every other one is denied with
//! its reason in `context.workload_identity`.

use crate::serve::{Server, TempDir};
use crate::support::{examples_dir, jitp};
use jitp_identity::mint::{self, TestKey};
use serde_json::{json, Value};
use std::path::PathBuf;

const ISS: &str = "https://oidc.prod.acme.internal";
const AUD: &str = "https://sts.acme.internal";
const SUB: &str = "spiffe://acme.internal/ns/payments/sa/api";
const KID: &str = "oidc-prod-2026-11";

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn example() -> PathBuf {
    examples_dir().join("token_exchange")
}

/// The example's issuers file, copied beside a JWKS of `key`.
fn issuers(dir: &TempDir, key: &TestKey) -> PathBuf {
    let text = std::fs::read_to_string(example().join("issuers.toml")).unwrap();
    dir.write("jwks.json", &mint::jwks(&[key]).to_string());
    dir.write("issuers.toml", &text)
}

fn server(issuers: &std::path::Path) -> Server {
    let policy = example().join("policy.jitp");
    Server::start(&[
        "--policy",
        policy.to_str().unwrap(),
        "--issuers",
        issuers.to_str().unwrap(),
    ])
}

/// The example's exchange request, with `evidence` and a task started a
/// minute ago on the server's clock.
fn request(evidence: Value) -> String {
    json!({
        "subject": {"type": "Workload", "id": SUB,
                    "properties": {"namespace": "payments", "cluster": "prod-eu-1"}},
        "action": {"name": "sts.exchange"},
        "resource": {"type": "TokenService", "id": "sts-payments-gateway",
                     "properties": {"audience": AUD,
                                    "scopes": ["payments:read", "payments:write"],
                                    "allowed_namespaces": ["payments"]}},
        "context": {"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                    "requested_scopes": ["payments:read"]},
        "task": {"name": "workload_run", "id": "pod-api-7d9f",
                 "started_at": rfc3339(unix_now() - 60), "approvals": []},
        "evidence": evidence,
    })
    .to_string()
}

fn with_token(token: &str) -> String {
    request(json!({"workload_token": token}))
}

fn claims(iss: &str, aud: &str, iat_offset: i64, ttl: i64) -> Value {
    mint::claims(iss, SUB, aud, unix_now() + iat_offset, ttl)
}

#[test]
fn only_a_fresh_matching_signed_token_is_accepted() {
    let dir = TempDir::new("ident");
    let key = TestKey::ed25519(Some(KID)).unwrap();
    let s = server(&issuers(&dir, &key));
    let decide = |body: String| -> Value {
        let (status, v) = s.post("/access/v1/evaluation", &body);
        assert_eq!(status, 200, "{v}");
        v
    };

    let v = decide(with_token(&key.sign(&claims(ISS, AUD, -10, 600))));
    assert_eq!(v["decision"], true, "{v}");
    assert_eq!(v["context"]["rule"], "sts-exchange");
    let w = &v["context"]["workload_identity"];
    assert_eq!(w["verified"], true, "{v}");
    assert_eq!(w["issuer"], ISS);
    assert_eq!(w["subject"], SUB);
    assert_eq!(w["key_id"], KID);

    let other = TestKey::ed25519(Some(KID)).unwrap();
    let stranger = TestKey::ed25519(Some("someone-else")).unwrap();
    let good = claims(ISS, AUD, -10, 600);
    let mut oversized = good.clone();
    oversized["padding"] = json!("x".repeat(9000));
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "expired",
            key.sign(&claims(ISS, AUD, -700, 600)),
            "token expired at ",
        ),
        (
            "not_yet_valid",
            key.sign(&claims(ISS, AUD, 300, 600)),
            "token not valid before ",
        ),
        (
            "wrong_audience",
            key.sign(&claims(ISS, "https://other.acme.internal", -10, 600)),
            "audience `https://other.acme.internal` is not accepted",
        ),
        (
            "unknown_issuer",
            key.sign(&claims("https://evil.example", AUD, -10, 600)),
            "issuer `https://evil.example` is not trusted",
        ),
        (
            "unknown_key_id",
            stranger.sign(&good),
            "has no key `someone-else`",
        ),
        (
            "bad_signature",
            other.sign(&good),
            "the signature does not verify",
        ),
        (
            "algorithm_not_allowed",
            mint::unsigned(Some(KID), &good),
            "algorithm `none` is not allowed",
        ),
        (
            "algorithm_not_allowed",
            mint::hs256(&key.public_bytes(), Some(KID), &good),
            "algorithm `HS256` is not allowed; the key verifies EdDSA only",
        ),
        ("malformed", "not.a-token".into(), "the token is malformed"),
        (
            "oversized",
            key.sign(&oversized),
            "at most 8192 are accepted",
        ),
        (
            "lifetime_too_long",
            key.sign(&claims(ISS, AUD, -10, 3600)),
            "at most 900s",
        ),
        (
            "wrong_trust_domain",
            key.sign(&mint::claims(
                ISS,
                "spiffe://evil.internal/ns/payments/sa/api",
                AUD,
                unix_now(),
                600,
            )),
            "not in trust domain",
        ),
    ];
    for (code, token, message) in cases {
        let v = decide(with_token(&token));
        assert_eq!(v["decision"], false, "{code}: {v}");
        assert_eq!(v["context"]["reason"], "no_matching_rule", "{code}: {v}");
        let w = &v["context"]["workload_identity"];
        assert_eq!(w["verified"], false, "{code}: {v}");
        assert_eq!(w["code"], code, "{v}");
        let error = w["error"].as_str().unwrap();
        assert!(
            error.contains(message),
            "{code}: `{error}` lacks `{message}`"
        );
    }

    // A valid token older than the policy's 5 minutes reaches the policy,
    // which asks for a fresh one.
    let v = decide(with_token(&key.sign(&claims(ISS, AUD, -400, 800))));
    assert_eq!(v["context"]["effect"], "step_up", "{v}");
    assert_eq!(v["context"]["needs"], json!(["fresh workload assertion"]));
    assert_eq!(v["context"]["workload_identity"]["verified"], true);

    // No token: no evidence, no report.
    let v = decide(request(json!({})));
    assert_eq!(v["decision"], false);
    assert!(v["context"].get("workload_identity").is_none(), "{v}");
}

#[test]
fn a_caller_supplied_workload_is_refused() {
    let dir = TempDir::new("ident-claimed");
    let key = TestKey::ed25519(Some(KID)).unwrap();
    let s = server(&issuers(&dir, &key));
    let now = unix_now();
    let claimed = json!({"workload": {"issuer": ISS, "subject": SUB, "audience": [AUD],
        "issued_at": rfc3339(now - 10), "expires_at": rfc3339(now + 600)}});
    let (status, v) = s.post("/access/v1/evaluation", &request(claimed.clone()));
    assert_eq!(status, 400, "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("the request sets `evidence.workload`"),
        "{msg}"
    );
    assert!(msg.contains("evidence.workload_token"), "{msg}");
    // Beside a valid token too.
    let mut both = claimed;
    both["workload_token"] = json!(key.sign(&claims(ISS, AUD, -10, 600)));
    assert_eq!(s.post("/access/v1/evaluation", &request(both)).0, 400);
    let (status, _) = s.post(
        "/access/v1/evaluation",
        &request(json!({"workload_token": 42})),
    );
    assert_eq!(status, 400);
}

#[test]
fn decide_and_batches_report_the_outcome() {
    let dir = TempDir::new("ident-decide");
    let key = TestKey::ed25519(Some(KID)).unwrap();
    let s = server(&issuers(&dir, &key));
    let (status, v) = s.post(
        "/v1/decide",
        &with_token(&key.sign(&claims(ISS, AUD, -700, 600))),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["decision"], "deny");
    assert_eq!(v["workload_identity"]["code"], "expired", "{v}");

    let top: Value = serde_json::from_str(&request(json!({}))).unwrap();
    let mut batch = top.clone();
    batch["evaluations"] = json!([
        {"evidence": {"workload_token": key.sign(&claims(ISS, AUD, -10, 600))}},
        {"evidence": {"workload_token": mint::unsigned(Some(KID), &claims(ISS, AUD, -10, 600))}},
    ]);
    let (status, v) = s.post("/access/v1/evaluations", &batch.to_string());
    assert_eq!(status, 200, "{v}");
    let e = &v["evaluations"];
    assert_eq!(e[0]["decision"], true, "{v}");
    assert_eq!(e[1]["decision"], false, "{v}");
    assert_eq!(
        e[1]["context"]["workload_identity"]["code"],
        "algorithm_not_allowed"
    );
}

#[test]
fn issuer_files_reload_with_the_bundle() {
    let dir = TempDir::new("ident-reload");
    let key = TestKey::ed25519(Some(KID)).unwrap();
    let path = issuers(&dir, &key);
    let s = server(&path);
    let token = key.sign(&claims(ISS, AUD, -10, 600));
    let allowed = |t: &str| s.post("/access/v1/evaluation", &with_token(t)).1["decision"] == true;
    assert!(allowed(&token));

    // A broken JWKS is refused; the old keys keep serving.
    dir.write(
        "jwks.json",
        "{\"keys\": [{\"kty\": \"oct\", \"k\": \"c2VjcmV0\"}]}",
    );
    s.wait_for("the refused reload", || {
        s.get("/metrics").1.contains("jitp_reload_failures_total 1")
    });
    assert!(allowed(&token));
    assert!(s.log().contains("holds secret key material"), "{}", s.log());

    // Key rotation: the new key's tokens verify, the old key's no longer.
    let next = TestKey::ed25519(Some("oidc-prod-2026-12")).unwrap();
    dir.write("jwks.json", &mint::jwks(&[&next]).to_string());
    let fresh = next.sign(&claims(ISS, AUD, -10, 600));
    s.wait_for("the rotated key", || allowed(&fresh));
    let v = s.post("/access/v1/evaluation", &with_token(&token)).1;
    assert_eq!(
        v["context"]["workload_identity"]["code"], "unknown_key_id",
        "{v}"
    );
}

#[test]
fn the_checked_in_example_config_loads_and_a_broken_one_does_not_start() {
    // The example's JWKS has a key with the same `kid` but another key:
    // a token from a key generated here does not verify against it.
    let s = server(&example().join("issuers.toml"));
    let key = TestKey::ed25519(Some(KID)).unwrap();
    let v = s
        .post(
            "/access/v1/evaluation",
            &with_token(&key.sign(&claims(ISS, AUD, -10, 600))),
        )
        .1;
    assert_eq!(
        v["context"]["workload_identity"]["code"], "bad_signature",
        "{v}"
    );
    drop(s);

    let dir = TempDir::new("ident-broken");
    let broken = dir.write("issuers.toml", "[[issuer]]\niss = \"x\"\n");
    let policy = example().join("policy.jitp");
    let out = jitp()
        .args(["serve", "--listen", "127.0.0.1:0", "--policy"])
        .arg(&policy)
        .arg("--issuers")
        .arg(&broken)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("issuers.toml") && err.contains("missing field"),
        "{err}"
    );
}

#[test]
fn without_issuers_a_token_is_an_unknown_field() {
    let policy = example().join("policy.jitp");
    let s = Server::start(&["--policy", policy.to_str().unwrap()]);
    let key = TestKey::ed25519(Some(KID)).unwrap();
    let v = s
        .post(
            "/access/v1/evaluation",
            &with_token(&key.sign(&claims(ISS, AUD, -10, 600))),
        )
        .1;
    assert_eq!(v["context"]["reason"], "invalid_request", "{v}");
    assert!(
        v["context"]["error"]
            .as_str()
            .unwrap()
            .contains("workload_token"),
        "{v}"
    );
}

#[test]
fn eval_verifies_locally_at_the_requests_now() {
    let dir = TempDir::new("ident-eval");
    let key = TestKey::ed25519(Some(KID)).unwrap();
    let path = issuers(&dir, &key);
    let eval = |body: &str| {
        let req = dir.write("req.json", body);
        let out = jitp()
            .args(["eval", "--policy"])
            .arg(example().join("policy.jitp"))
            .arg("--issuers")
            .arg(&path)
            .arg("-r")
            .arg(&req)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        (
            out.status.code(),
            stdout,
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, out, err) = eval(&with_token(&key.sign(&claims(ISS, AUD, -10, 600))));
    assert_eq!(code, Some(0), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["decision"], "allow", "{out}");
    assert_eq!(v["workload_identity"]["verified"], true, "{out}");

    let (code, out, _) = eval(&with_token(&key.sign(&claims(ISS, AUD, -700, 600))));
    assert_eq!(code, Some(0));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["decision"], "deny", "{out}");
    assert_eq!(v["workload_identity"]["code"], "expired", "{out}");

    // A claimed workload is an input error, like a repeated key.
    let now = unix_now();
    let claimed = request(
        json!({"workload": {"issuer": ISS, "subject": SUB, "audience": [AUD],
        "issued_at": rfc3339(now - 10), "expires_at": rfc3339(now + 600)}}),
    );
    let (code, _, err) = eval(&claimed);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("evidence.workload"), "{err}");
}
