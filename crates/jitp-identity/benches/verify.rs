//! Cost of verifying one workload token (`cargo bench -p jitp-identity`):
//! `Verifier::verify` on a valid EdDSA, ES256 and RS256 token, and on a
//! token refused before the signature check (`alg: none`). This is what
//! `jitp serve --issuers` adds to a decision that carries a token.

use jitp_identity::mint::{self, TestKey};
use jitp_identity::Verifier;
use std::time::{Duration, Instant};

fn main() {
    // `cargo test --benches` runs this without `--bench`: do nothing.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("jitp-identity-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let rsa = include_bytes!("../testdata/TEST-ONLY-rsa-2048-private.pk8.der");
    let keys = [
        TestKey::ed25519(Some("ed")).expect("key"),
        TestKey::es256(Some("ec")).expect("key"),
        TestKey::rs256(rsa, Some("rsa")).expect("key"),
    ];
    let refs: Vec<&TestKey> = keys.iter().collect();
    std::fs::write(dir.join("jwks.json"), mint::jwks(&refs).to_string()).expect("jwks");
    let iss = "https://oidc.prod.acme.internal";
    let aud = "https://sts.acme.internal";
    std::fs::write(
        dir.join("issuers.toml"),
        format!("[[issuer]]\niss = \"{iss}\"\naudiences = [\"{aud}\"]\njwks = [\"jwks.json\"]\nalgorithms = [\"EdDSA\", \"ES256\", \"RS256\"]\n"),
    )
    .expect("issuers");
    let v = Verifier::load(&dir.join("issuers.toml")).expect("load");
    let now = 1_800_000_000;
    let claims = mint::claims(
        iss,
        "spiffe://acme.internal/ns/payments/sa/api",
        aud,
        now,
        600,
    );
    let mut cases: Vec<(String, String, bool)> = keys
        .iter()
        .map(|k| (format!("{} (valid)", k.alg()), k.sign(&claims), true))
        .collect();
    cases.push((
        "`alg: none` (refused)".into(),
        mint::unsigned(Some("ed"), &claims),
        false,
    ));
    println!("| token | verifications/s | per token |");
    println!("|---|---:|---:|");
    for (name, token, ok) in &cases {
        assert_eq!(v.verify(token, now).is_ok(), *ok, "{name}");
        let budget = Duration::from_secs(1);
        let started = Instant::now();
        let mut n = 0u64;
        while started.elapsed() < budget {
            for _ in 0..32 {
                std::hint::black_box(v.verify(std::hint::black_box(token), now).is_ok());
            }
            n += 32;
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "| {name} | {:.0} | {:.1} µs |",
            n as f64 / secs,
            secs * 1e6 / n as f64
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
