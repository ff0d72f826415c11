//! Load benchmark of `jitp serve` on loopback (`cargo bench --bench serve`).
//!
//! Starts the real `jitp` binary on the AuthZEN Todo example and, beside
//! it, an empty handler on the same HTTP stack (hyper's HTTP/1 server on a
//! tokio runtime, answering a fixed JSON body after reading the request
//! body). A load generator in the same run keeps N persistent keep-alive
//! connections busy for a fixed time and reports throughput and p50/p99
//! latency for single evaluations at concurrency 1, 16 and 64, and the
//! throughput of batches of 100 evaluations; then the token_exchange example
//! served with `--issuers`, without a workload token and with an EdDSA,
//! ES256 or RS256 token verified on every decision.
//!
//! Then the same evaluations against a second server that writes every
//! decision to the signed decision log (`--log DIR --log-key KEY`, a
//! temporary directory): throughput with the log off and on.
//!
//! Then tasks (docs/tasks.md): the rotate_secrets task decided on
//! `/v1/decide` with its facts asserted by the caller on a server without
//! `--tasks`, and named by id on a server holding 1,000 and 100,000 active
//! tasks, in SQLite and, when `JITP_BENCH_POSTGRES` names a PostgreSQL
//! server (`postgres://postgres@127.0.0.1:5432/postgres`), PostgreSQL (in a
//! fresh schema, dropped afterwards). Every measured answer must be an
//! allow.
//!
//! `JITP_BENCH_SECS` sets the time per measurement (default 2), and
//! `JITP_BENCH_ROUNDS` how many rounds of the Todo comparison are run
//! (default 3): each round measures the empty handler, `/healthz` and the
//! evaluation one after the other, and the table reports medians. Arguments
//! after `--` pick sections: `todo`, `log`, `identity`, `tasks`
//! (`cargo bench --bench serve -- tasks`); none runs them all.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MORTY: &str = "CiRmZDE2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs";

struct Guard(Child);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_jitp() -> (Guard, SocketAddr) {
    start_jitp_with(&["--config", "examples/authzen_todo/jitp-server.toml"])
}

fn start_jitp_with(args: &[&str]) -> (Guard, SocketAddr) {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut child = Command::new(env!("CARGO_BIN_EXE_jitp"))
        .current_dir(root)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start jitp serve");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(a) = line.strip_prefix("listening on http://") {
                let _ = tx.send(a.to_string());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the server did not start");
    (Guard(child), addr.parse().expect("address"))
}

/// The empty handler: hyper's HTTP/1 server on a tokio runtime, the same
/// stack and settings `jitp serve` uses, answering a fixed body.
fn start_empty() -> SocketAddr {
    use http_body_util::{BodyExt, Full};
    use hyper::body::Bytes;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let _ = tx.send(l.local_addr().expect("addr"));
            loop {
                let Ok((s, _)) = l.accept().await else {
                    continue;
                };
                let _ = s.set_nodelay(true);
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(
                        |req: hyper::Request<hyper::body::Incoming>| async move {
                            let _ = req.into_body().collect().await;
                            let mut r = hyper::Response::new(Full::new(Bytes::from_static(
                                br#"{"decision":true,"context":{}}"#,
                            )));
                            r.headers_mut().insert(
                                "content-type",
                                hyper::header::HeaderValue::from_static("application/json"),
                            );
                            Ok::<_, std::convert::Infallible>(r)
                        },
                    );
                    let mut b = hyper::server::conn::http1::Builder::new();
                    b.timer(hyper_util::rt::TokioTimer::new())
                        .header_read_timeout(Duration::from_secs(10));
                    let _ = b
                        .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                        .await;
                });
            }
        });
    });
    rx.recv().expect("empty handler address")
}

fn request(path: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Reads one response; returns whether it was a 200.
fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    buf.clear();
    let mut chunk = [0u8; 16384];
    loop {
        let n = match s.read(&mut chunk) {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = match s.read(&mut chunk) {
                    Ok(0) | Err(_) => return false,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
            }
            return head.starts_with("http/1.1 200");
        }
    }
}

struct Measured {
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    errors: usize,
}

fn measured(mut all: Vec<u64>, errors: usize, elapsed: f64) -> Measured {
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map_or(0.0, |n| *n as f64 / 1000.0)
    };
    Measured {
        rps: all.len() as f64 / elapsed,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        errors,
    }
}

fn load(addr: SocketAddr, req: &[u8], conns: usize, secs: f64) -> Measured {
    load_many(addr, std::slice::from_ref(&req.to_vec()), None, conns, secs)
}

/// Like [`load`], but each connection cycles through `reqs` (from its own
/// offset), and when `expect` is given, an answer whose body lacks it counts
/// as an error.
fn load_many(
    addr: SocketAddr,
    reqs: &[Vec<u8>],
    expect: Option<&[u8]>,
    conns: usize,
    secs: f64,
) -> Measured {
    let stop = Arc::new(AtomicBool::new(false));
    let reqs = Arc::new(reqs.to_vec());
    let expect = Arc::new(expect.map(<[u8]>::to_vec));
    let workers: Vec<_> = (0..conns)
        .map(|w| {
            let stop = stop.clone();
            let reqs = reqs.clone();
            let expect = expect.clone();
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).expect("connect");
                let _ = s.set_nodelay(true);
                let mut buf = Vec::new();
                let mut lat = Vec::with_capacity(100_000);
                let mut errors = 0;
                let mut next = w * reqs.len() / conns;
                while !stop.load(Ordering::Relaxed) {
                    let req = &reqs[next % reqs.len()];
                    next += 1;
                    let t = Instant::now();
                    if s.write_all(req).is_err() || !read_response(&mut s, &mut buf) {
                        errors += 1;
                        s = TcpStream::connect(addr).expect("reconnect");
                        continue;
                    }
                    let elapsed = t.elapsed().as_nanos() as u64;
                    if let Some(e) = expect.as_deref() {
                        if !buf.windows(e.len()).any(|w| w == e) {
                            errors += 1;
                            continue;
                        }
                    }
                    lat.push(elapsed);
                }
                (lat, errors)
            })
        })
        .collect();
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (l, e) = w.join().expect("worker");
        all.extend(l);
        errors += e;
    }
    measured(all, errors, started.elapsed().as_secs_f64())
}

/// The median of `v` (the mean of the middle two for an even count).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The smallest and largest of `v`.
fn range(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
            (lo.min(*x), hi.max(*x))
        })
}

fn main() {
    // `cargo test --benches` runs this with `--bench` absent: do nothing.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let secs: f64 = std::env::var("JITP_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    // `cargo bench --bench serve -- tasks` runs only the sections named.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let run = |section: &str| only.is_empty() || only.iter().any(|o| section.contains(o.as_str()));
    let rounds: usize = std::env::var("JITP_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
        .max(1);
    if run("todo log") {
        todo_and_log(secs, rounds);
    }
    if run("identity") {
        identity(secs);
    }
    if run("tasks") {
        tasks(secs);
    }
}

/// The AuthZEN Todo example beside the empty handler, then with the
/// decision log on.
fn todo_and_log(secs: f64, rounds: usize) {
    let (_guard, jitp) = start_jitp();
    let empty = start_empty();
    let one = format!(
        r#"{{"subject":{{"type":"user","id":"{MORTY}"}},"action":{{"name":"can_update_todo"}},"resource":{{"type":"todo","id":"7","properties":{{"ownerID":"morty@the-citadel.com"}}}}}}"#
    );
    let single = request("/access/v1/evaluation", &one);
    let items: Vec<String> = (0..100)
        .map(|i| {
            format!(r#"{{"resource":{{"type":"todo","id":"{i}","properties":{{"ownerID":"morty@the-citadel.com"}}}}}}"#)
        })
        .collect();
    let batch_body = format!(
        r#"{{"subject":{{"type":"user","id":"{MORTY}"}},"action":{{"name":"can_update_todo"}},"evaluations":[{}]}}"#,
        items.join(",")
    );
    let batch = request("/access/v1/evaluations", &batch_body);
    // Warm up both.
    load(jitp, &single, 4, 0.5);
    load(empty, &single, 4, 0.5);
    let health = b"GET /healthz HTTP/1.1\r\nhost: bench\r\n\r\n".to_vec();
    // Each cell is measured in several rounds, the three servers one after
    // the other in each round, so that a slow spell of the machine hits
    // one round rather than one server; the table gives medians, and the
    // ratio is the median of each round's own ratio (with its range).
    println!("| connections | empty handler req/s | jitp `/healthz` req/s | jitp evaluation req/s | ratio to empty (median, range) | jitp p50 | jitp p99 | empty p99 |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for conns in [1, 16, 64] {
        let mut cells: [Vec<f64>; 6] = Default::default();
        let mut ratios = Vec::new();
        for _ in 0..rounds {
            let e = load(empty, &single, conns, secs);
            let h = load(jitp, &health, conns, secs);
            let j = load(jitp, &single, conns, secs);
            assert_eq!(j.errors + e.errors, 0, "failed requests");
            ratios.push(j.rps / e.rps);
            for (cell, v) in cells
                .iter_mut()
                .zip([e.rps, h.rps, j.rps, j.p50_us, j.p99_us, e.p99_us])
            {
                cell.push(v);
            }
        }
        let [e, h, j, p50, p99, ep99] = cells.map(median);
        let (lo, hi) = range(&ratios);
        println!(
            "| {conns} | {e:.0} | {h:.0} | {j:.0} | {:.0}% ({:.0}–{:.0}%) | {p50:.0} µs | {p99:.0} µs | {ep99:.0} µs |",
            100.0 * median(ratios.clone()),
            100.0 * lo,
            100.0 * hi,
        );
    }
    // A batch against single calls at one connection, round by round.
    let mut per_call = Vec::new();
    let mut batches = Vec::new();
    let mut batch_p50 = Vec::new();
    for _ in 0..rounds {
        let one = load(jitp, &single, 1, secs);
        let b = load(jitp, &batch, 1, secs);
        assert_eq!(one.errors + b.errors, 0, "failed requests");
        per_call.push(one.rps / b.rps);
        batches.push(b.rps);
        batch_p50.push(b.p50_us);
    }
    let (lo, hi) = range(&per_call);
    let b = median(batches);
    println!();
    println!(
        "batch of 100 at 1 connection: {b:.0} batches/s ({:.0} evaluations/s), p50 {:.0} µs; one batch costs {:.2} single calls (range {lo:.2}–{hi:.2})",
        b * 100.0,
        median(batch_p50),
        median(per_call.clone()),
    );

    // The decision log on: a fresh directory and key.
    let dir = std::env::temp_dir().join(format!("jitp-bench-log-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let key = dir.join("log");
    let ok = Command::new(env!("CARGO_BIN_EXE_jitp"))
        .args(["keygen", "-o"])
        .arg(&key)
        .stderr(Stdio::null())
        .status()
        .expect("jitp keygen")
        .success();
    assert!(ok, "jitp keygen failed");
    let logdir = dir.join("records");
    let (logged_guard, logged) = start_jitp_with(&[
        "--config",
        "examples/authzen_todo/jitp-server.toml",
        "--log",
        logdir.to_str().expect("path"),
        "--log-key",
        dir.join("log.key").to_str().expect("path"),
    ]);
    load(logged, &single, 4, 0.5);
    println!();
    println!("| connections | log off req/s | log on req/s | ratio | log off p99 | log on p99 |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for conns in [1, 16, 64] {
        let off = load(jitp, &single, conns, secs);
        let on = load(logged, &single, conns, secs);
        assert_eq!(off.errors + on.errors, 0, "failed requests");
        println!(
            "| {conns} | {:.0} | {:.0} | {:.0}% | {:.0} µs | {:.0} µs |",
            off.rps,
            on.rps,
            100.0 * on.rps / off.rps,
            off.p99_us,
            on.p99_us
        );
    }
    let b = load(logged, &batch, 1, secs);
    println!(
        "log on, batch of 100 at 1 connection: {:.0} evaluations/s",
        b.rps * 100.0
    );
    drop(logged_guard);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The token_exchange example with `--issuers`: the same request without a
/// token, and with an EdDSA, ES256 or RS256 token the server verifies on
/// every decision.
fn identity(secs: f64) {
    use jitp_identity::mint::{self, TestKey};
    let dir = std::env::temp_dir().join(format!("jitp-bench-identity-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let rsa = include_bytes!("../crates/jitp-identity/testdata/TEST-ONLY-rsa-2048-private.pk8.der");
    let keys = [
        TestKey::ed25519(Some("ed")).expect("key"),
        TestKey::es256(Some("ec")).expect("key"),
        TestKey::rs256(rsa, Some("rsa")).expect("key"),
    ];
    let refs: Vec<&TestKey> = keys.iter().collect();
    std::fs::write(dir.join("jwks.json"), mint::jwks(&refs).to_string()).expect("jwks");
    let iss = "https://oidc.prod.acme.internal";
    let aud = "https://sts.acme.internal";
    let issuers = dir.join("issuers.toml");
    std::fs::write(
        &issuers,
        format!("[[issuer]]\niss = \"{iss}\"\naudiences = [\"{aud}\"]\njwks = [\"jwks.json\"]\nalgorithms = [\"EdDSA\", \"ES256\", \"RS256\"]\n"),
    )
    .expect("issuers");
    let (_guard, addr) = start_jitp_with(&[
        "--policy",
        "examples/token_exchange/policy.jitp",
        "--issuers",
        issuers.to_str().expect("utf-8 path"),
    ]);
    let now = time::OffsetDateTime::now_utc();
    let started = (now - time::Duration::minutes(1))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("time");
    let sub = "spiffe://acme.internal/ns/payments/sa/api";
    let body = |evidence: &str| {
        format!(
            r#"{{"subject":{{"type":"Workload","id":"{sub}","properties":{{"namespace":"payments","cluster":"c"}}}},"action":{{"name":"sts.exchange"}},"resource":{{"type":"TokenService","id":"sts","properties":{{"audience":"{aud}","scopes":["payments:read"],"allowed_namespaces":["payments"]}}}},"context":{{"grant_type":"urn:ietf:params:oauth:grant-type:token-exchange","requested_scopes":["payments:read"]}},"task":{{"name":"workload_run","id":"p","started_at":"{started}","approvals":[]}},"evidence":{evidence}}}"#
        )
    };
    let claims = mint::claims(iss, sub, aud, now.unix_timestamp(), 900);
    let mut cases = vec![(
        "no token".to_string(),
        request("/access/v1/evaluation", &body("{}")),
    )];
    for k in &keys {
        let token = k.sign(&claims);
        cases.push((
            format!("{} token", k.alg()),
            request(
                "/access/v1/evaluation",
                &body(&format!(r#"{{"workload_token":"{token}"}}"#)),
            ),
        ));
    }
    load(addr, &cases[1].1, 4, 0.5);
    println!();
    println!("token_exchange with `--issuers`, 16 connections:");
    println!();
    println!("| request | req/s | p50 | p99 |");
    println!("|---|---:|---:|---:|");
    for (name, req) in &cases {
        let m = load(addr, req, 16, secs);
        assert_eq!(m.errors, 0, "failed requests");
        println!(
            "| {name} | {:.0} | {:.0} µs | {:.0} µs |",
            m.rps, m.p50_us, m.p99_us
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The rotate_secrets example's task (one approval, ttl 15 minutes) decided
/// on `/v1/decide`: with the task's facts asserted by the caller on a server
/// without `--tasks` (request-only), and named by id on a server holding
/// 1,000 and then 100,000 active tasks (store-backed), in SQLite and, when
/// `JITP_BENCH_POSTGRES` names a server, PostgreSQL. The stores are seeded
/// directly with `create_many`; every request names another seeded task.
fn tasks(secs: f64) {
    use jitp_store::{Principal, Task};
    const POLICY: &str = "examples/rotate_secrets/policy.jitp";
    const TTL_US: i64 = 15 * 60 * 1_000_000;
    const SIZES: [usize; 2] = [1_000, 100_000];
    // Distinct request bodies each connection cycles through.
    const BODIES: usize = 8_192;

    let dir = std::env::temp_dir().join(format!("jitp-bench-tasks-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let now = jitp_store::now_micros();
    let bot = Principal {
        ty: "ServiceAccount".into(),
        id: "deploy-bot".into(),
    };
    let approvers = ["alice", "carol"].map(|id| Principal {
        ty: "Approver".into(),
        id: id.into(),
    });
    let seed_tasks = |n: usize| -> Vec<Task> {
        (0..n)
            .map(|_| {
                let mut t = Task::new(
                    jitp_store::new_id().expect("task id"),
                    "rotate_prod_secrets".into(),
                    bot.clone(),
                    jitp_runtime::value::approver_key(&bot.id),
                    "benchmark".into(),
                    Some("CHG-1".into()),
                    None,
                    2,
                    Some(TTL_US),
                    now,
                );
                for a in &approvers {
                    t.approve(a, &jitp_runtime::value::approver_key(&a.id), now)
                        .expect("approval");
                }
                assert_eq!(t.state, jitp_store::TaskState::Active);
                t
            })
            .collect()
    };
    let started = jitp_store::rfc3339(now);
    let head = r#"{"subject":{"type":"ServiceAccount","id":"deploy-bot","properties":{"team":"platform","env":"prod","roles":["deployer"]}},"action":{"name":"secrets.rotate"},"resource":{"type":"Secret","id":"db-password","properties":{"env":"prod","path":"/db","revoked":false}},"context":{"ticket":{"id":"CHG-1","status":"approved","window":{"start":"2000-01-01T00:00:00Z","end":"2100-01-01T00:00:00Z"}},"risk":10,"source_ip":"10.1.2.3"},"task":"#;
    let held = |id: &str| request("/v1/decide", &format!(r#"{head}{{"id":"{id}"}}}}"#));
    let asserted = |id: &str| {
        request(
            "/v1/decide",
            &format!(
                r#"{head}{{"name":"rotate_prod_secrets","id":"{id}","started_at":"{started}","approvals":[{{"by":"alice","at":"{started}"}},{{"by":"carol","at":"{started}"}}]}}}}"#
            ),
        )
    };
    // A fixed-seed pick of ids from the seeded set: no hot row.
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    let mut pick = |ids: &[String]| -> Vec<String> {
        (0..BODIES)
            .map(|_| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                ids[(rng % ids.len() as u64) as usize].clone()
            })
            .collect()
    };

    struct Row {
        label: String,
        one: Measured,
        many: Measured,
    }
    let measure = |addr: SocketAddr, reqs: &[Vec<u8>], label: String| -> Row {
        // The answer is a grant, not a deny that is cheaper to compute.
        let answer = decide_once(addr, &reqs[0]);
        assert_eq!(
            answer.get("decision").and_then(|d| d.as_str()),
            Some("allow"),
            "{label}: the decision measured is not a grant: {answer}"
        );
        load_many(addr, reqs, Some(br#""allow""#), 4, 0.5);
        let one = load_many(addr, reqs, Some(br#""allow""#), 1, secs);
        let many = load_many(addr, reqs, Some(br#""allow""#), 16, secs);
        assert_eq!(
            one.errors + many.errors,
            0,
            "{label}: failed requests or denies"
        );
        Row { label, one, many }
    };
    let mut rows = Vec::new();

    // Request-only: the caller asserts the task, no store.
    {
        let (_guard, addr) = start_jitp_with(&["--policy", POLICY]);
        let ids: Vec<String> = (0..SIZES[0]).map(|i| format!("run-{i}")).collect();
        let reqs: Vec<Vec<u8>> = pick(&ids).iter().map(|id| asserted(id)).collect();
        rows.push(measure(
            addr,
            &reqs,
            "request-only (no `--tasks`) | —".into(),
        ));
    }

    // One create at a time, for comparison: a durable commit each.
    {
        let store = jitp_store::open(&format!("sqlite:{}", dir.join("single.db").display()))
            .expect("open the store");
        let tasks = seed_tasks(200);
        let t = Instant::now();
        for task in &tasks {
            store.create(task).expect("create");
        }
        let each = t.elapsed().as_secs_f64() / tasks.len() as f64;
        println!();
        println!(
            "SQLite `create`, one task at a time: {:.2} ms a task ({:.0} s for 100,000); `create_many` below",
            each * 1e3,
            each * 100_000.0
        );
    }

    let mut stores = vec![(
        "SQLite".to_string(),
        format!("sqlite:{}", dir.join("tasks.db").display()),
    )];
    let pg = std::env::var("JITP_BENCH_POSTGRES").ok().map(|url| {
        let schema = format!(
            "jitp_bench_{}_{}",
            std::process::id(),
            jitp_store::new_id().expect("id").get(..8).unwrap_or("0")
        );
        let sep = if url.contains('?') { '&' } else { '?' };
        let spec = format!("{url}{sep}jitp_schema={schema}");
        stores.push(("PostgreSQL".to_string(), spec));
        DropSchema { url, schema }
    });
    if pg.is_none() {
        println!("notice: JITP_BENCH_POSTGRES is unset; the PostgreSQL store is not measured");
    }
    for (name, spec) in &stores {
        let store = jitp_store::open(spec).expect("open the store");
        let mut ids: Vec<String> = Vec::new();
        let mut guard = None;
        for &size in &SIZES {
            let more = seed_tasks(size - ids.len());
            let t = Instant::now();
            store.create_many(&more).expect("seed the store");
            println!(
                "{name}: seeded {} active tasks with `create_many` in {:.2} s",
                thousands(more.len() as f64),
                t.elapsed().as_secs_f64()
            );
            ids.extend(more.into_iter().map(|t| t.id));
            // The server opens the store once its schema exists.
            if guard.is_none() {
                guard = Some(start_jitp_with(&["--policy", POLICY, "--tasks", spec]));
            }
            let addr = guard.as_ref().expect("server").1;
            let reqs: Vec<Vec<u8>> = pick(&ids).iter().map(|id| held(id)).collect();
            rows.push(measure(
                addr,
                &reqs,
                format!("store-backed, {name} | {}", thousands(size as f64)),
            ));
        }
    }
    drop(pg);
    let _ = std::fs::remove_dir_all(&dir);

    println!();
    println!("rotate_secrets on `/v1/decide`, task facts from the request or the store:");
    println!();
    println!(
        "| task facts | active tasks | 1 conn req/s | p50 | p99 | 16 conns req/s | p50 | p99 |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {} µs | {} µs | {} | {} µs | {} µs |",
            r.label,
            thousands(r.one.rps),
            thousands(r.one.p50_us),
            thousands(r.one.p99_us),
            thousands(r.many.rps),
            thousands(r.many.p50_us),
            thousands(r.many.p99_us)
        );
    }
}

/// Drops the bench's PostgreSQL schema, also when a measurement fails.
struct DropSchema {
    url: String,
    schema: String,
}

impl Drop for DropSchema {
    fn drop(&mut self) {
        match postgres::Client::connect(&self.url, postgres::NoTls) {
            Ok(mut c) => {
                if let Err(e) = c.batch_execute(&format!("DROP SCHEMA {} CASCADE", self.schema)) {
                    eprintln!("warning: cannot drop schema `{}`: {e}", self.schema);
                }
            }
            Err(e) => eprintln!("warning: cannot drop schema `{}`: {e}", self.schema),
        }
    }
}

/// Sends one request on a fresh connection and returns the answer's JSON.
fn decide_once(addr: SocketAddr, req: &[u8]) -> serde_json::Value {
    let mut s = TcpStream::connect(addr).expect("connect");
    let mut buf = Vec::new();
    s.write_all(req).expect("send");
    assert!(
        read_response(&mut s, &mut buf),
        "not a 200: {}",
        String::from_utf8_lossy(&buf)
    );
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    serde_json::from_slice(&buf[end + 4..]).expect("a JSON answer")
}

/// `n` rounded, with thousands separators: `12,345`.
fn thousands(n: f64) -> String {
    let digits = format!("{:.0}", n.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
