//! Signed bundles and the decision log, through the real `jitp` binary:
//! `keygen`, `build --sign`, `verify`, `serve --trust-key`, `serve --log`
//! and `log verify`.

use crate::serve::{Server, TempDir};
use crate::support::{code, examples_dir, jitp, seed, stderr, stdout};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn run(args: &[&str]) -> std::process::Output {
    jitp().args(args).output().unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `jitp keygen -o DIR/NAME`: the secret and public key paths.
fn keygen(dir: &TempDir, name: &str) -> (PathBuf, PathBuf) {
    let base = dir.path().join(name);
    let o = run(&["keygen", "-o", s(&base)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    (base.with_extension("key"), base.with_extension("pub"))
}

/// The break-glass example built (and signed with `key`, if given).
fn build(dir: &TempDir, name: &str, key: Option<&Path>) -> PathBuf {
    let out = dir.path().join(name);
    let policy = examples_dir().join("breakglass");
    let mut args = vec!["build", s(&policy), "-o", s(&out)];
    if let Some(k) = key {
        args.extend(["--sign", s(k)]);
    }
    let o = run(&args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    out
}

fn verify(bundle: &Path, keys: &[&Path]) -> std::process::Output {
    let mut args = vec!["verify", s(bundle)];
    for k in keys {
        args.extend(["--key", s(k)]);
    }
    run(&args)
}

fn grant_request() -> String {
    std::fs::read_to_string(
        examples_dir().join("breakglass/requests/allow-breakglass-two-peers.json"),
    )
    .unwrap()
}

fn deny_request() -> String {
    std::fs::read_to_string(
        examples_dir().join("breakglass/requests/deny-forbidden-outside-network.json"),
    )
    .unwrap()
}

#[test]
fn keygen_writes_a_private_pair_and_never_overwrites() {
    let dir = TempDir::new("keygen");
    let (secret, public) = keygen(&dir, "k");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let text = std::fs::read_to_string(&public).unwrap();
    assert!(text.contains("jitp-ed25519-public-v1 "), "{text}");
    let before = std::fs::read(&secret).unwrap();
    let o = run(&["keygen", "-o", s(&dir.path().join("k"))]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&secret).unwrap(), before);
    // Signing with the public half is refused with a clear message.
    let out = dir.path().join("x.jitb");
    let policy = examples_dir().join("breakglass");
    let o = run(&["build", s(&policy), "-o", s(&out), "--sign", s(&public)]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("this is a public key"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_signed_bundle_verifies_and_every_tampering_is_refused() {
    let dir = TempDir::new("sign");
    let (secret, public) = keygen(&dir, "k");
    let (other_secret, other_public) = keygen(&dir, "other");
    let signed = build(&dir, "signed.jitb", Some(&secret));
    let o = verify(&signed, &[&public]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("signed by key"), "{}", stdout(&o));
    // A signed bundle still loads where no signature is asked for.
    let o = run(&["disasm", s(&signed)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));

    let unsigned = build(&dir, "unsigned.jitb", None);
    let o = verify(&unsigned, &[&public]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("not signed"), "{}", stderr(&o));

    let by_other = build(&dir, "other.jitb", Some(&other_secret));
    let o = verify(&by_other, &[&public]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("which is not trusted"),
        "{}",
        stderr(&o)
    );
    // Rotation: both keys trusted, both bundles verify.
    for b in [&signed, &by_other] {
        let o = verify(b, &[&public, &other_public]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
    }

    let bytes = std::fs::read(&signed).unwrap();
    // A truncated signature (the envelope cut inside it), and a file cut
    // anywhere.
    for cut in [20, 50, 83, 84, 100, bytes.len() - 1] {
        let p = dir.write("cut.jitb", "");
        std::fs::write(&p, &bytes[..cut]).unwrap();
        let o = verify(&p, &[&public]);
        assert_eq!(code(&o), 1, "cut at {cut}: {}", stderr(&o));
    }
    // Single-byte changes: every byte of the envelope, then positions of
    // the bundle sampled with the fixed seed (the runtime's own test
    // changes every byte).
    let mut rng = seed() | 1;
    let mut positions: Vec<usize> = (0..84).collect();
    for _ in 0..60 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        positions.push(84 + (rng as usize) % (bytes.len() - 84));
    }
    positions.push(bytes.len() - 1);
    let p = dir.path().join("flip.jitb");
    for at in positions {
        let mut changed = bytes.clone();
        changed[at] ^= 0x01;
        std::fs::write(&p, &changed).unwrap();
        let o = verify(&p, &[&public]);
        assert_eq!(code(&o), 1, "byte {at} changed: {}", stderr(&o));
    }
}

#[test]
fn serve_refuses_untrusted_bundles_at_start_and_at_reload() {
    let dir = TempDir::new("trust");
    let (secret, public) = keygen(&dir, "k");
    let (other_secret, other_public) = keygen(&dir, "other");
    let unsigned = build(&dir, "unsigned.jitb", None);
    let by_other = build(&dir, "other.jitb", Some(&other_secret));
    let mut flipped = std::fs::read(build(&dir, "flip.jitb", Some(&secret))).unwrap();
    let at = flipped.len() / 2;
    flipped[at] ^= 0x40;
    let tampered = dir.path().join("tampered.jitb");
    std::fs::write(&tampered, &flipped).unwrap();
    for (bundle, says) in [
        (&unsigned, "not signed"),
        (&by_other, "which is not trusted"),
        (&tampered, "does not verify"),
    ] {
        let log = Server::try_start(&["--bundle", s(bundle), "--trust-key", s(&public)])
            .err()
            .unwrap_or_else(|| panic!("{} was served", bundle.display()));
        assert!(log.contains(says), "{log}");
    }
    let o = run(&[
        "serve",
        "--policy",
        s(&examples_dir().join("breakglass")),
        "--trust-key",
        s(&public),
    ]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("needs `--bundle`"), "{}", stderr(&o));

    // Serving a signed bundle: its key id is reported.
    let live = dir.path().join("live.jitb");
    std::fs::copy(build(&dir, "good.jitb", Some(&secret)), &live).unwrap();
    let server = Server::start(&[
        "--bundle",
        s(&live),
        "--trust-key",
        s(&public),
        "--trust-key",
        s(&other_public),
    ]);
    let key_id = |srv: &Server| -> Value {
        let (_, body) = srv.get("/v1/bundle");
        serde_json::from_str::<Value>(&body).unwrap()["key_id"].clone()
    };
    let first = key_id(&server);
    assert_eq!(first.as_str().unwrap().len(), 16, "{first}");
    let failures = |srv: &Server| -> u64 {
        let (_, m) = srv.get("/metrics");
        m.lines()
            .find_map(|l| l.strip_prefix("jitp_reload_failures_total "))
            .unwrap()
            .parse()
            .unwrap()
    };
    // Each bad bundle is refused at reload; the old one keeps serving.
    for (n, bad) in [&unsigned, &tampered].into_iter().enumerate() {
        std::fs::copy(bad, &live).unwrap();
        server.signal("HUP");
        server.wait_for("the reload to be refused", || failures(&server) > n as u64);
        assert_eq!(key_id(&server), first);
        let (status, d) = server.post("/v1/decide", &deny_request_now_free());
        assert_eq!(status, 200, "{d}");
    }
    // Rotation: a bundle signed by the second trusted key is swapped in.
    std::fs::copy(&by_other, &live).unwrap();
    server.signal("HUP");
    server.wait_for("the rotated bundle", || key_id(&server) != first);
    assert!(server.log().contains("reload refused"), "{}", server.log());
}

/// A request without `now` (the server decides the time).
fn deny_request_now_free() -> String {
    let mut v: Value = serde_json::from_str(&deny_request()).unwrap();
    v.as_object_mut().unwrap().remove("now");
    v.to_string()
}

/// A server with a decision log in `dir/log`, replaying the examples'
/// requests at their own `now`.
fn logging_server(dir: &TempDir, secret: &Path, extra: &[&str]) -> Server {
    let bundle = build(dir, "b.jitb", None);
    let logdir = dir.path().join("log");
    let mut args = vec![
        "--bundle",
        s(&bundle),
        "--replay",
        "--log",
        s(&logdir),
        "--log-key",
        s(secret),
    ];
    args.extend(extra);
    Server::start(&args)
}

fn log_verify(paths: &[&Path], public: &Path, head: Option<&Path>) -> std::process::Output {
    let mut args = vec!["log", "verify"];
    args.extend(paths.iter().map(|p| s(p)));
    args.extend(["--key", s(public)]);
    if let Some(h) = head {
        args.extend(["--head", s(h)]);
    }
    run(&args)
}

fn log_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[test]
fn the_decision_log_verifies_and_names_every_tampering() {
    let dir = TempDir::new("log");
    let (secret, public) = keygen(&dir, "k");
    let server = logging_server(
        &dir,
        &secret,
        &["--log-redact", "evidence.justification,context.source_ip"],
    );
    const N: usize = 6;
    for i in 0..N {
        let body = if i % 2 == 0 {
            grant_request()
        } else {
            deny_request()
        };
        let (status, d) = server.post("/v1/decide", &body);
        assert_eq!(status, 200, "{d}");
    }
    let logdir = dir.path().join("log");
    // Deny records are written without waiting: wait for all of them.
    server.wait_for("every record", || {
        let (_, h) = server.get("/v1/log/head");
        serde_json::from_str::<Value>(&h).unwrap()["seq"] == N as u64
    });
    let (status, head_text) = server.get("/v1/log/head");
    assert_eq!(status, 200);
    let head = dir.write("head.json", &head_text);
    let file = log_files(&logdir).remove(0);
    let o = log_verify(&[&file], &public, Some(&head));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains(&format!("ok: {N} records")),
        "{}",
        stdout(&o)
    );

    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("\"justification\":\"[redacted]\""), "{text}");
    assert!(!text.contains("inspecting replication state"), "{text}");
    assert!(!text.contains("10.8.4.21"), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), N);
    let scratch = dir.path().join("tampered.jsonl");
    let check = |lines: &[String], what: &str, expect: &str| {
        std::fs::write(&scratch, lines.join("\n") + "\n").unwrap();
        let o = log_verify(&[&scratch], &public, Some(&head));
        assert_eq!(code(&o), 1, "{what} was not detected");
        let e = stderr(&o);
        assert!(e.contains(expect), "{what}: expected `{expect}` in:\n{e}");
    };
    let owned: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    for (i, line) in lines.iter().enumerate() {
        let rec: serde_json::Map<String, Value> = serde_json::from_str(line).unwrap();
        let at = format!("tampered.jsonl:{}: record {}", i + 1, i + 1);
        // Every field of every record, changed.
        for key in rec.keys() {
            let mut r = rec.clone();
            let v = r.get_mut(key).unwrap();
            *v = match &*v {
                Value::String(s) if s.len() == 64 || s.len() == 128 => {
                    let mut c = s.clone().into_bytes();
                    c[0] = if c[0] == b'0' { b'1' } else { b'0' };
                    Value::String(String::from_utf8(c).unwrap())
                }
                Value::String(s) => Value::String(format!("{s}x")),
                Value::Number(n) => Value::from(n.as_u64().unwrap_or(0) + 100),
                Value::Object(o) => {
                    let mut o = o.clone();
                    o.insert("injected".into(), Value::Bool(true));
                    Value::Object(o)
                }
                Value::Null => Value::from("x"),
                other => Value::from(other.to_string()),
            };
            let mut t = owned.clone();
            t[i] = serde_json::to_string(&r).unwrap();
            let expect = if key == "seq" {
                format!("tampered.jsonl:{}", i + 1)
            } else {
                at.clone()
            };
            check(
                &t,
                &format!("a changed `{key}` in record {}", i + 1),
                &expect,
            );
        }
        // Deleting the record.
        let mut t = owned.clone();
        t.remove(i);
        if i == 0 {
            check(&t, "deleting record 1", "starts at record 2, not 1");
        } else if i + 1 < N {
            check(
                &t,
                &format!("deleting record {}", i + 1),
                &format!("record {} is missing", i + 1),
            );
        } else {
            check(&t, "deleting the last record", "the tail was cut");
        }
        // Swapping it with the next.
        if i + 1 < N {
            let mut t = owned.clone();
            t.swap(i, i + 1);
            check(
                &t,
                &format!("swapping records {} and {}", i + 1, i + 2),
                &format!("tampered.jsonl:{}: record {}", i + 1, i + 2),
            );
            if i == 0 {
                // With retention allowed, the swap is still named.
                std::fs::write(&scratch, t.join("\n") + "\n").unwrap();
                let mut args = vec!["log", "verify", s(&scratch), "--key", s(&public)];
                args.push("--partial");
                let o = run(&args);
                assert_eq!(code(&o), 1);
                assert!(
                    stderr(&o).contains("tampered.jsonl:2: record 1"),
                    "{}",
                    stderr(&o)
                );
            }
        }
    }
    // Cutting the tail: only the head tells.
    let cut = &owned[..N - 2];
    std::fs::write(&scratch, cut.join("\n") + "\n").unwrap();
    let o = log_verify(&[&scratch], &public, None);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    check(cut, "cutting the tail", "records 5..6 are missing");
    // Records signed by a key not given are refused.
    let (_, other_public) = keygen(&dir, "other");
    let o = log_verify(&[&file], &other_public, None);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("not given with `--key`"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn the_log_rotates_and_continues_its_chain_after_a_restart() {
    let dir = TempDir::new("rotate");
    let (secret, public) = keygen(&dir, "k");
    let logdir = dir.path().join("log");
    for round in 0..2 {
        let server = logging_server(&dir, &secret, &["--log-max-bytes", "3000"]);
        for _ in 0..4 {
            let (status, _) = server.post("/v1/decide", &grant_request());
            assert_eq!(status, 200);
        }
        let (_, h) = server.get("/v1/log/head");
        let h: Value = serde_json::from_str(&h).unwrap();
        assert_eq!(h["seq"], 4 * (round + 1), "{h}");
    }
    let files = log_files(&logdir);
    assert!(files.len() >= 4, "{files:?}");
    for f in &files {
        assert!(
            std::fs::metadata(f).unwrap().len() <= 3000,
            "{}",
            f.display()
        );
    }
    let o = log_verify(&[&logdir], &public, None);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("ok: 8 records"), "{}", stdout(&o));
    // Leaving out a middle file breaks the chain, named at the next file.
    let mut some: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    some.remove(1);
    let o = log_verify(&some, &public, None);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("missing"), "{}", stderr(&o));

    // A damaged tail is refused at start, with the file named.
    let last = files.last().unwrap();
    let mut text = std::fs::read_to_string(last).unwrap();
    text.truncate(text.len() - 10);
    std::fs::write(last, text).unwrap();
    let bundle = dir.path().join("b.jitb");
    let o = run(&[
        "serve",
        "--bundle",
        s(&bundle),
        "--listen",
        "127.0.0.1:0",
        "--log",
        s(&logdir),
        "--log-key",
        s(&secret),
    ]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("damaged record"), "{}", stderr(&o));
}

#[test]
fn an_audited_grant_is_denied_when_its_record_cannot_be_written() {
    let dir = TempDir::new("audit");
    let (secret, _) = keygen(&dir, "k");
    // Every record gets a file of its own, so each needs a new file.
    let server = logging_server(&dir, &secret, &["--log-max-bytes", "1"]);
    let (status, d) = server.post("/v1/decide", &grant_request());
    assert_eq!(status, 200);
    assert_eq!(d["decision"], "allow", "{d}");
    let (status, _) = server.get("/readyz");
    assert_eq!(status, 200);
    // The log directory is replaced by a file: nothing can be created in
    // it, not even by root.
    let logdir = dir.path().join("log");
    std::fs::remove_dir_all(&logdir).unwrap();
    std::fs::write(&logdir, "not a directory").unwrap();
    let (status, d) = server.post("/v1/decide", &grant_request());
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["decision"], "deny", "{d}");
    assert_eq!(d["reason"], "audit_unavailable", "{d}");
    assert!(d["obligations"].as_array().unwrap().is_empty(), "{d}");
    // The server keeps serving, and says it is not ready.
    let (status, d) = server.post("/v1/decide", &deny_request());
    assert_eq!(status, 200);
    assert_eq!(d["reason"], "forbidden");
    let (status, body) = server.get("/readyz");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("decision log"), "{body}");
    let (_, m) = server.get("/metrics");
    assert!(m.contains("jitp_log_up 0"), "{m}");
    assert!(
        m.contains("jitp_decisions_total{decision=\"deny\",reason=\"audit_unavailable\"} 1"),
        "{m}"
    );
    // When the directory is back, writing resumes and readiness returns.
    std::fs::remove_file(&logdir).unwrap();
    std::fs::create_dir(&logdir).unwrap();
    let (_, d) = server.post("/v1/decide", &grant_request());
    assert_eq!(d["decision"], "allow", "{d}");
    server.wait_for("readiness", || server.get("/readyz").0 == 200);
    std::thread::sleep(Duration::from_millis(10));
}

#[test]
fn redaction_goes_through_arrays_and_ignores_absent_paths() {
    let dir = TempDir::new("redact");
    let (secret, public) = keygen(&dir, "k");
    let server = logging_server(
        &dir,
        &secret,
        &[
            "--log-redact",
            "task.approvals.by,subject.properties.groups,context.incident.absent.deeper,nothing",
        ],
    );
    let (status, d) = server.post("/v1/decide", &grant_request());
    assert_eq!(status, 200, "{d}");
    // Redaction is for the log only: the decision saw the approvals.
    assert_eq!(d["decision"], "allow", "{d}");
    let file = log_files(&dir.path().join("log")).remove(0);
    let text = std::fs::read_to_string(&file).unwrap();
    let rec: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let mut expect: Value = serde_json::from_str(&grant_request()).unwrap();
    expect["task"]["approvals"] = serde_json::json!([{"by": "[redacted]"}, {"by": "[redacted]"}]);
    expect["subject"]["properties"]["groups"] = Value::from("[redacted]");
    assert_eq!(rec["request"], expect, "{text}");
    for clear in ["bob", "chen", "oncall-primary"] {
        assert!(!text.contains(&format!("\"{clear}\"")), "{clear}: {text}");
    }
    let o = log_verify(&[&file], &public, None);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

#[test]
fn a_stdout_log_captured_over_restarts_verifies_chain_by_chain() {
    let dir = TempDir::new("stdout");
    let (secret, public) = keygen(&dir, "k");
    let bundle = build(&dir, "b.jitb", None);
    let capture = dir.path().join("capture.jsonl");
    let mut heads = Vec::new();
    for run in 0..2 {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&capture)
            .unwrap();
        let args = [
            "--bundle",
            s(&bundle),
            "--replay",
            "--log",
            "-",
            "--log-key",
            s(&secret),
        ];
        let server = Server::start_to(&args, out);
        for _ in 0..3 {
            let (status, d) = server.post("/v1/decide", &grant_request());
            assert_eq!(status, 200, "{d}");
        }
        // The `start` record, then the three decisions (durable grants).
        let (_, h) = server.get("/v1/log/head");
        assert_eq!(serde_json::from_str::<Value>(&h).unwrap()["seq"], 4, "{h}");
        heads.push(dir.write(&format!("head{run}.json"), &h));
    }
    let text = std::fs::read_to_string(&capture).unwrap();
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 8, "{text}");
    for at in [0, 4] {
        let rec: Value = serde_json::from_str(&lines[at]).unwrap();
        assert_eq!(rec["kind"], "start", "{rec}");
        assert_eq!(rec["seq"], 1, "{rec}");
    }
    for head in &heads {
        let o = log_verify(&[&capture], &public, Some(head));
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let out = stdout(&o);
        assert!(
            out.contains("ok: 8 records in 1 file, 2 chains, up to the head"),
            "{out}"
        );
        assert!(
            out.contains("chain 1 starts at ") && out.contains("capture.jsonl:1: records 1..4"),
            "{out}"
        );
        assert!(
            out.contains("capture.jsonl:5 (server restart): records 1..4"),
            "{out}"
        );
        assert!(stderr(&o).contains("cannot be detected"), "{}", stderr(&o));
    }

    let scratch = dir.path().join("spliced.jsonl");
    let check = |kept: &[&str], head: Option<&Path>, what: &str, expect: &str| {
        std::fs::write(&scratch, kept.join("\n") + "\n").unwrap();
        let o = log_verify(&[&scratch], &public, head);
        assert_eq!(code(&o), 1, "{what} was not detected: {}", stdout(&o));
        let e = stderr(&o);
        assert!(e.contains(expect), "{what}: expected `{expect}` in:\n{e}");
    };
    let l: Vec<&str> = lines.iter().map(String::as_str).collect();
    check(
        &[&l[..4], &l[5..]].concat(),
        None,
        "the second chain without its `start` record",
        "spliced.jsonl:5: record 2: expected record 5 after record 4",
    );
    check(
        &[&l[..3], &l[5..]].concat(),
        None,
        "the second chain's records after the first chain's",
        "spliced.jsonl:4: record 2: expected record 4 after record 3",
    );
    check(
        &[&l[..4], &l[..4]].concat(),
        None,
        "a chain repeated",
        "spliced.jsonl:5: record 1: this chain's `start` record was seen before",
    );
    check(
        &l[1..],
        None,
        "the first `start` record removed",
        "starts at record 2, not 1",
    );
    // The first chain's tail cut before the restart: only its head tells.
    let cut = [&l[..3], &l[4..]].concat();
    std::fs::write(&scratch, cut.join("\n") + "\n").unwrap();
    let o = log_verify(&[&scratch], &public, Some(&heads[1]));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("chain 1 starts at ") && stdout(&o).contains(":1: records 1..3"),
        "{}",
        stdout(&o)
    );
    check(
        &cut,
        Some(&heads[0]),
        "the first chain's tail cut",
        "the head (record 4) is in none of the 2 chains",
    );
}
