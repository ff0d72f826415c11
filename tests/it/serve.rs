//! `jitp serve`: the real binary on an ephemeral loopback port, talked to
//! with a real HTTP client. Every wait is bounded; every child is killed
//! when its guard drops, even when the test fails.

use crate::support::{examples_dir, jitp};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const RICK: &str = "CiRmZDA2ODRhMS04NTg4LTQ5NzQtOGQ0OC05YjNmNDk5YjdmMTMSBWxvY2Fs";
const JERRY: &str = "CiRmZDQ2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs";

/// A temporary directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("jitp-serve-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running server; killed on drop.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT` (or `https://`).
    pub base: String,
    /// Every line the server wrote to stderr so far.
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub fn start(args: &[&str]) -> Server {
        Server::try_start(args).unwrap_or_else(|log| panic!("the server did not start:\n{log}"))
    }

    /// Starts the server; on failure, its stderr.
    pub fn try_start(args: &[&str]) -> Result<Server, String> {
        Server::try_start_to(args, Stdio::null())
    }

    /// Starts the server with its standard output going to `stdout`.
    pub fn start_to(args: &[&str], stdout: impl Into<Stdio>) -> Server {
        Server::try_start_to(args, stdout.into())
            .unwrap_or_else(|log| panic!("the server did not start:\n{log}"))
    }

    fn try_start_to(args: &[&str], stdout: Stdio) -> Result<Server, String> {
        let mut child = jitp()
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = tx.send(addr.to_string());
                }
                sink.lock().unwrap().push(line);
            }
        });
        let mut server = Server {
            child,
            base: String::new(),
            log,
        };
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(base) => {
                server.base = base;
                Ok(server)
            }
            Err(_) => {
                let _ = server.child.kill();
                let _ = server.child.wait();
                std::thread::sleep(Duration::from_millis(100));
                Err(server.log())
            }
        }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    pub fn addr(&self) -> String {
        self.base.rsplit('/').next().unwrap().to_string()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn signal(&self, sig: &str) {
        let ok = std::process::Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// Waits (bounded) for the process to exit and returns its status.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn post(&self, path: &str, body: &str) -> (u16, Value) {
        send(&agent(), "POST", &self.url(path), Some(body), &[])
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        let mut r = agent().get(self.url(path)).call().unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    }

    /// Polls `f` every 50 ms for up to 10 s.
    pub fn wait_for(&self, what: &str, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if f() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("timed out waiting for {what}; server log:\n{}", self.log());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// Sends a request with `content-type: application/json` and returns the
/// status and the JSON body (or the text as a JSON string).
pub fn send(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let mut resp = match (method, body) {
        ("POST", Some(b)) => {
            let mut r = agent.post(url).header("content-type", "application/json");
            for (k, v) in headers {
                r = r.header(*k, *v);
            }
            r.send(b)
        }
        _ => {
            let mut r = agent.get(url);
            for (k, v) in headers {
                r = r.header(*k, *v);
            }
            r.call()
        }
    }
    .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap();
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, v)
}

fn todo_dir() -> PathBuf {
    examples_dir().join("authzen_todo")
}

fn todo_server(extra: &[&str]) -> Server {
    let dir = todo_dir();
    let policy = dir.join("policy.jitp");
    let entities = dir.join("entities.json");
    let mut args = vec![
        "--policy",
        policy.to_str().unwrap(),
        "--entities",
        entities.to_str().unwrap(),
        "--action-namespace",
        "todo",
    ];
    args.extend_from_slice(extra);
    Server::start(&args)
}

fn eval_request(subject: &str, action: &str, resource: Value) -> String {
    json!({
        "subject": {"type": "user", "id": subject},
        "action": {"name": action},
        "resource": resource,
    })
    .to_string()
}

/// An HTTP request written by hand, for what a client library will not
/// send (stalls, lies about lengths, duplicate keys in headers).
fn raw(addr: &str, text: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(text).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// Reads one response on a keep-alive connection (head and a body of its
/// `content-length`); returns the head.
fn read_head(s: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).unwrap(), 1, "the connection closed");
        got.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&got).to_string();
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_string())
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    head
}

fn build(dir: &TempDir, name: &str, policy: &str) -> PathBuf {
    let src = dir.write(&format!("{name}.jitp"), policy);
    let out = dir.path().join(format!("{name}.jitb"));
    let st = jitp()
        .args(["build", src.to_str().unwrap(), "-o", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    out
}

#[test]
fn evaluation_answers_with_jitp_detail_in_context() {
    let s = todo_server(&[]);
    let (status, v) = s.post(
        "/access/v1/evaluation",
        &eval_request(
            RICK,
            "can_delete_todo",
            json!({"type": "todo", "id": "1", "properties": {"ownerID": "morty@the-citadel.com"}}),
        ),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["decision"], true);
    assert_eq!(v["context"]["reason"], "granted");
    assert_eq!(v["context"]["rule"], "delete-any-todo");
    assert!(v["context"]["decision_id"].as_str().unwrap().len() > 8);
    // Jerry is a viewer: the entity data says so, the request says nothing.
    let (_, v) = s.post(
        "/access/v1/evaluation",
        &eval_request(JERRY, "can_create_todo", json!({"type": "todo", "id": "1"})),
    );
    assert_eq!(v["decision"], false);
    assert_eq!(v["context"]["reason"], "no_matching_rule");
    // A request that does not fit the schema is a deny, not an error.
    let (status, v) = s.post(
        "/access/v1/evaluation",
        &eval_request(JERRY, "can_fly", json!({"type": "todo", "id": "1"})),
    );
    assert_eq!(status, 200);
    assert_eq!(v["decision"], false);
    assert_eq!(v["context"]["reason"], "invalid_request");
    assert!(v["context"]["error"]
        .as_str()
        .unwrap()
        .contains("todo.can_fly"));
}

#[test]
fn step_up_is_a_deny_with_the_missing_labels() {
    let s = Server::start(&[
        "--policy",
        examples_dir().join("backup_job").to_str().unwrap(),
    ]);
    let started = time::OffsetDateTime::now_utc() - time::Duration::minutes(5);
    let started = started
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let req = json!({
        "subject": {"type": "ServiceAccount", "id": "svc-backup", "properties": {"team": "storage", "roles": ["backup-operator"]}},
        "action": {"name": "keys.read"},
        "resource": {"type": "EncryptionKey", "id": "k", "properties": {"purpose": "backup-encryption", "cluster": "eu-1"}},
        "context": {"cluster": "eu-1", "risk": 5},
        "task": {"name": "backup_run", "id": "r1", "started_at": started, "approvals": []},
    });
    let (status, v) = s.post("/access/v1/evaluation", &req.to_string());
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["decision"], false);
    assert_eq!(v["context"]["reason"], "requirements_missing");
    assert_eq!(v["context"]["needs"], json!(["runtime approval"]));
    assert_eq!(v["context"]["task"], "backup_run");
}

/// The whole interop decision table, one evaluation at a time and as
/// batches under each semantic.
#[test]
fn todo_decision_table_through_both_endpoints_and_every_semantic() {
    let s = todo_server(&[]);
    let table: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(todo_dir().join("decisions.json")).unwrap())
            .unwrap();
    assert_eq!(table.len(), 45);
    let items: Vec<Value> = table
        .iter()
        .map(|row| {
            json!({
                "subject": {"type": "user", "id": row["subject_id"]},
                "action": {"name": row["action"]},
                "resource": row["resource"],
            })
        })
        .collect();
    let expected: Vec<bool> = table
        .iter()
        .map(|r| r["decision"].as_bool().unwrap())
        .collect();
    for (item, want) in items.iter().zip(&expected) {
        let (status, v) = s.post("/access/v1/evaluation", &item.to_string());
        assert_eq!(status, 200);
        assert_eq!(v["decision"], *want, "{item}");
    }
    let batch = |semantic: &str| -> Vec<bool> {
        let (status, v) = s.post(
            "/access/v1/evaluations",
            &json!({"evaluations": items, "options": {"evaluations_semantic": semantic}})
                .to_string(),
        );
        assert_eq!(status, 200, "{v}");
        v["evaluations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["decision"].as_bool().unwrap())
            .collect()
    };
    assert_eq!(batch("execute_all"), expected);
    let first_deny = expected.iter().position(|d| !d).unwrap();
    assert_eq!(batch("deny_on_first_deny"), expected[..=first_deny]);
    // Put a deny first so that stopping at the first permit is visible.
    let first_permit = expected.iter().position(|d| *d).unwrap();
    assert_eq!(batch("permit_on_first_permit"), expected[..=first_permit]);
    assert!(
        first_deny > 0 && first_deny < 44,
        "the table must exercise stopping"
    );
}

#[test]
fn evaluations_items_replace_the_defaults_whole() {
    let s = todo_server(&[]);
    let body = json!({
        "subject": {"type": "user", "id": JERRY},
        "action": {"name": "can_update_todo"},
        "resource": {"type": "todo", "id": "1", "properties": {"ownerID": "rick@the-citadel.com"}},
        "evaluations": [
            {},
            {"subject": {"type": "user", "id": RICK}},
            // The item's resource replaces the default's, properties and all:
            // without an owner Rick (evil genius) still may, Jerry may not.
            {"resource": {"type": "todo", "id": "2"}},
            {"action": {"name": "can_read_todos"}}
        ]
    });
    let (status, v) = s.post("/access/v1/evaluations", &body.to_string());
    assert_eq!(status, 200, "{v}");
    let got: Vec<&Value> = v["evaluations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["decision"])
        .collect();
    assert_eq!(
        got,
        [&json!(false), &json!(true), &json!(false), &json!(true)]
    );
    // No items: the top level is the one evaluation.
    let (_, v) = s.post(
        "/access/v1/evaluations",
        &json!({"subject": {"type": "user", "id": RICK}, "action": {"name": "can_read_todos"}, "resource": {"type": "todo", "id": "1"}}).to_string(),
    );
    assert_eq!(v["evaluations"][0]["decision"], true);
    // Entity data is merged into the defaults once, when the first item
    // uses them: a default subject claiming a held attribute is refused
    // naming that item, and not at all when every item replaces it.
    let claiming = json!({"type": "user", "id": JERRY, "properties": {"roles": ["admin"]}});
    let (status, v) = s.post(
        "/access/v1/evaluations",
        &json!({"subject": claiming, "action": {"name": "can_read_todos"}, "resource": {"type": "todo", "id": "1"},
                "evaluations": [{"subject": {"type": "user", "id": RICK}}, {}]})
        .to_string(),
    );
    assert_eq!(status, 400, "{v}");
    let message = v["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("`evaluations[1]`") && message.contains("cannot be set by the request"),
        "{v}"
    );
    let (status, v) = s.post(
        "/access/v1/evaluations",
        &json!({"subject": claiming, "action": {"name": "can_read_todos"}, "resource": {"type": "todo", "id": "1"},
                "evaluations": [{"subject": {"type": "user", "id": RICK}}]})
        .to_string(),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["evaluations"][0]["decision"], true);
}

#[test]
fn decide_returns_exactly_what_eval_prints() {
    let s = Server::start(&["--replay", "--policy", "examples/backup_job"]);
    let dir = examples_dir().join("backup_job").join("requests");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let body = std::fs::read_to_string(&path).unwrap();
        for explain in [false, true] {
            let mut cmd = jitp();
            cmd.args(["eval", "--policy", "examples/backup_job", "--request"])
                .arg(&path);
            if explain {
                cmd.args(["--explain", "--format", "json"]);
            }
            let out = cmd.output().unwrap();
            let q = if explain { "?explain=true" } else { "" };
            let mut r = agent()
                .post(s.url(&format!("/v1/decide{q}")))
                .header("content-type", "application/json")
                .send(&body)
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
            assert!(r.headers().get("jitp-decision-id").is_some());
            let text = r.body_mut().read_to_string().unwrap();
            assert_eq!(
                text,
                String::from_utf8_lossy(&out.stdout),
                "{}",
                path.display()
            );
            n += 1;
        }
    }
    assert!(n >= 8);
}

#[test]
fn bundle_discovery_health_and_metrics() {
    let s = todo_server(&[]);
    let (status, text) = s.get("/v1/bundle");
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["package"], "acme.todo");
    assert_eq!(v["revision"].as_str().unwrap().len(), 16);
    assert_eq!(v["entities"], 5);
    time::OffsetDateTime::parse(
        v["loaded_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let (_, text) = s.get("/.well-known/authzen-configuration");
    let d: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(d["policy_decision_point"], s.base);
    assert_eq!(
        d["access_evaluation_endpoint"],
        s.url("/access/v1/evaluation")
    );
    assert_eq!(
        d["access_evaluations_endpoint"],
        s.url("/access/v1/evaluations")
    );
    assert_eq!(s.get("/healthz").0, 200);
    let (status, text) = s.get("/readyz");
    assert_eq!(status, 200);
    assert!(text.contains(v["revision"].as_str().unwrap()));
    s.post(
        "/access/v1/evaluation",
        &eval_request(RICK, "can_read_todos", json!({"type": "todo", "id": "1"})),
    );
    let (status, m) = s.get("/metrics");
    assert_eq!(status, 200);
    assert!(
        m.contains(r#"jitp_decisions_total{decision="allow",reason="granted"} 1"#),
        "{m}"
    );
    assert!(
        m.contains(r#"jitp_decision_duration_seconds_count 1"#),
        "{m}"
    );
    assert!(m.contains(&format!(
        r#"jitp_bundle_info{{package="acme.todo",revision="{}"}} 1"#,
        v["revision"].as_str().unwrap()
    )));
    assert!(m.contains("jitp_reload_failures_total 0"));
}

#[test]
fn the_server_is_the_clock() {
    let s = todo_server(&[]);
    let mut req: Value = serde_json::from_str(&eval_request(
        RICK,
        "can_read_todos",
        json!({"type": "todo", "id": "1"}),
    ))
    .unwrap();
    req["now"] = json!("2020-01-01T00:00:00Z");
    for path in ["/access/v1/evaluation", "/v1/decide"] {
        let (status, v) = s.post(path, &req.to_string());
        assert_eq!(status, 400, "{path}: {v}");
        assert_eq!(v["error"]["status"], 400);
        assert!(
            v["error"]["message"].as_str().unwrap().contains("`now`"),
            "{v}"
        );
    }
    let (status, v) = s.post(
        "/access/v1/evaluations",
        &json!({"evaluations": [req]}).to_string(),
    );
    assert_eq!(status, 400);
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("`evaluations[0]`"));
    // Replay mode takes the request's time, and says so at start.
    let r = todo_server(&["--replay"]);
    let (status, v) = r.post("/access/v1/evaluation", &req.to_string());
    assert_eq!((status, &v["decision"]), (200, &json!(true)), "{v}");
    assert!(r.log().contains("replay mode"));
}

#[test]
fn entity_attributes_cannot_be_overridden() {
    let s = todo_server(&[]);
    // Jerry claims to be an admin.
    let req = json!({
        "subject": {"type": "user", "id": JERRY, "properties": {"roles": ["admin"]}},
        "action": {"name": "can_delete_todo"},
        "resource": {"type": "todo", "id": "1"},
    });
    for path in ["/access/v1/evaluation", "/v1/decide"] {
        let (status, v) = s.post(path, &req.to_string());
        assert_eq!(status, 400, "{v}");
        assert!(v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`subject.properties.roles`"));
    }
    // An attribute the data does not hold may come from the request.
    let (status, v) = s.post(
        "/access/v1/evaluation",
        &json!({
            "subject": {"type": "user", "id": "unknown", "properties": {"roles": ["viewer"]}},
            "action": {"name": "can_read_todos"},
            "resource": {"type": "todo", "id": "1"},
        })
        .to_string(),
    );
    assert_eq!((status, &v["decision"]), (200, &json!(true)));
}

#[test]
fn bad_entity_data_is_refused_at_start_with_its_location() {
    let dir = TempDir::new("entities");
    let policy = todo_dir().join("policy.jitp");
    for (text, wanted) in [
        (
            r#"{"user": {"u1": {"roles": "admin"}}}"#,
            "at `$.user.u1`: attribute `roles`",
        ),
        (r#"{"ghost": {"u1": {}}}"#, "unknown entity type `ghost`"),
        (r#"{"user": {"u1": {}, "u1": {}}}"#, "duplicate key `u1`"),
        (r#"{"user": []}"#, "at `$.user`"),
    ] {
        let file = dir.write("entities.json", text);
        let e = Server::try_start(&[
            "--policy",
            policy.to_str().unwrap(),
            "--entities",
            file.to_str().unwrap(),
        ])
        .err()
        .unwrap_or_else(|| panic!("started with {text}"));
        assert!(e.contains(wanted), "{text}: {e}");
        assert!(e.contains("entities.json"), "{e}");
    }
}

#[test]
fn bad_input_gets_a_status_and_an_authzen_error() {
    let dir = TempDir::new("limits");
    let cfg = dir.write(
        "jitp-server.toml",
        &format!(
            "policy = [{:?}]\nentities = {:?}\naction_namespace = \"todo\"\nmax_batch = 3\nmax_body_bytes = 4096\nbody_timeout_ms = 300\nheader_timeout_ms = 300\n",
            todo_dir().join("policy.jitp"),
            todo_dir().join("entities.json")
        ),
    );
    let s = Server::start(&["--config", cfg.to_str().unwrap()]);
    let a = agent();
    let eval = s.url("/access/v1/evaluation");
    let check = |(status, v): (u16, Value), want: u16, says: &str| {
        assert_eq!(status, want, "{v}");
        assert_eq!(v["error"]["status"], want, "{v}");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains(says), "{msg}");
    };
    check(
        send(&a, "POST", &eval, Some("{\"subject\":"), &[]),
        400,
        "not valid JSON",
    );
    check(
        send(
            &a,
            "POST",
            &eval,
            Some(r#"{"subject": {"type": "user", "id": "x", "id": "y"}}"#),
            &[],
        ),
        400,
        "duplicate key `id`",
    );
    check(
        send(&a, "POST", &eval, Some("[1]"), &[]),
        400,
        "JSON object",
    );
    let mut r = a
        .post(&eval)
        .header("content-type", "text/plain")
        .send("{}")
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);
    assert!(r
        .body_mut()
        .read_to_string()
        .unwrap()
        .contains("\"status\":415"));
    check(
        send(&a, "POST", &eval, Some(&"x".repeat(5000)), &[]),
        413,
        "larger than 4096",
    );
    let items = json!({"evaluations": [{}, {}, {}, {}]}).to_string();
    check(
        send(
            &a,
            "POST",
            &s.url("/access/v1/evaluations"),
            Some(&items),
            &[],
        ),
        413,
        "at most 3",
    );
    check(
        send(
            &a,
            "POST",
            &s.url("/access/v1/evaluations"),
            Some(r#"{"options": {"evaluations_semantic": "first"}}"#),
            &[],
        ),
        400,
        "evaluations_semantic",
    );
    check(
        send(&a, "GET", &s.url("/nope"), None, &[]),
        404,
        "no endpoint",
    );
    check(send(&a, "GET", &eval, None, &[]), 405, "only POST");
    // A body larger than declared by chunked encoding, past the limit.
    let chunk = "a".repeat(5000);
    let resp = raw(
        &s.addr(),
        format!("POST /access/v1/evaluation HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n", chunk.len()).as_bytes(),
    );
    assert!(resp.starts_with("HTTP/1.1 413"), "{resp}");
    // A client that stalls in the body gets 408.
    let started = Instant::now();
    let resp = raw(
        &s.addr(),
        b"POST /access/v1/evaluation HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"sub",
    );
    assert!(resp.starts_with("HTTP/1.1 408"), "{resp}");
    assert!(resp.contains("\"status\":408"));
    // On one keep-alive connection, bodies that arrive are read and the
    // next one that stalls still times out: the connection's body timer is
    // moved for every request.
    let body = eval_request(RICK, "can_read_todos", json!({"type": "todo", "id": "1"}));
    let whole = format!(
        "POST /access/v1/evaluation HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut conn = TcpStream::connect(s.addr()).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    for _ in 0..3 {
        conn.write_all(whole.as_bytes()).unwrap();
        let head = read_head(&mut conn);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    }
    let stalled_at = Instant::now();
    conn.write_all(
        b"POST /access/v1/evaluation HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"sub",
    )
    .unwrap();
    let head = read_head(&mut conn);
    assert!(head.starts_with("HTTP/1.1 408"), "{head}");
    assert!(
        stalled_at.elapsed() >= Duration::from_millis(250),
        "{:?}",
        stalled_at.elapsed()
    );
    // A client that stalls in the headers is cut off.
    let resp = raw(&s.addr(), b"POST /access/v1/evaluation HTTP/1.1\r\nhost:");
    assert!(!resp.contains("200 OK"), "{resp}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // The server is still fine.
    let (status, _) = s.post(
        "/access/v1/evaluation",
        &eval_request(RICK, "can_read_todos", json!({"type": "todo", "id": "1"})),
    );
    assert_eq!(status, 200);
}

#[test]
fn connections_over_the_limit_get_503() {
    let dir = TempDir::new("conns");
    let cfg = dir.write(
        "jitp-server.toml",
        &format!(
            "policy = [{:?}]\nmax_connections = 1\n",
            todo_dir().join("policy.jitp")
        ),
    );
    let s = Server::start(&["--config", cfg.to_str().unwrap()]);
    // Hold the only slot with an idle keep-alive connection.
    let mut held = TcpStream::connect(s.addr()).unwrap();
    held.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 256];
    held.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let n = held.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let resp = raw(&s.addr(), b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n");
    assert!(resp.starts_with("HTTP/1.1 503"), "{resp}");
    assert!(resp.contains("too many connections"));
    drop(held);
    s.wait_for("the slot to free", || {
        raw(
            &s.addr(),
            b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        )
        .starts_with("HTTP/1.1 200")
    });
}

#[test]
fn bearer_tokens_are_required_when_configured() {
    let dir = TempDir::new("tokens");
    let tokens = dir.write("tokens", "# callers\nsecret-one\n\nsecret-two\n");
    let s = todo_server(&["--tokens", tokens.to_str().unwrap()]);
    let a = agent();
    let body = eval_request(RICK, "can_read_todos", json!({"type": "todo", "id": "1"}));
    let eval = s.url("/access/v1/evaluation");
    for bad in [
        vec![],
        vec![("authorization", "Bearer secret-on")],
        vec![("authorization", "Bearer secret-one2")],
        vec![("authorization", "Basic secret-one")],
        vec![("authorization", "secret-one")],
    ] {
        let (status, v) = send(&a, "POST", &eval, Some(&body), &bad);
        assert_eq!(status, 401, "{bad:?}");
        assert_eq!(v["error"]["status"], 401);
    }
    for good in ["Bearer secret-one", "Bearer secret-two"] {
        let (status, v) = send(&a, "POST", &eval, Some(&body), &[("authorization", good)]);
        assert_eq!((status, &v["decision"]), (200, &json!(true)));
    }
    assert_eq!(send(&a, "GET", &s.url("/metrics"), None, &[]).0, 401);
    // Probes answer without a token.
    assert_eq!(s.get("/healthz").0, 200);
    assert_eq!(s.get("/readyz").0, 200);
}

/// Bundles are replaced while a client keeps deciding: no request fails,
/// a corrupt bundle is refused and counted, the revision is right after.
#[test]
fn reload_under_load_loses_no_request() {
    let dir = TempDir::new("reload");
    let policy = std::fs::read_to_string(todo_dir().join("policy.jitp")).unwrap();
    let v1 = build(&dir, "v1", &policy);
    let v2 = build(&dir, "v2", &format!("{policy}\n// revision two\n"));
    let served = dir.path().join("served.jitb");
    std::fs::copy(&v1, &served).unwrap();
    let s = Server::start(&["--bundle", served.to_str().unwrap()]);
    let revision = || -> String {
        let (_, t) = s.get("/v1/bundle");
        serde_json::from_str::<Value>(&t).unwrap()["revision"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let r1 = revision();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let url = s.url("/access/v1/evaluation");
    let body = json!({
        "subject": {"type": "user", "id": "u", "properties": {"roles": ["viewer"]}},
        "action": {"name": "todo.can_read_todos"},
        "resource": {"type": "todo", "id": "1"},
    })
    .to_string();
    let client = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let a = agent();
            let (mut ok, mut failed) = (0, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (status, v) = send(&a, "POST", &url, Some(&body), &[]);
                if status == 200 && v["decision"] == true {
                    ok += 1;
                } else {
                    failed.push((status, v));
                }
            }
            (ok, failed)
        })
    };
    let replace = |from: &Path| {
        let tmp = dir.path().join("next.jitb");
        std::fs::copy(from, &tmp).unwrap();
        std::fs::rename(&tmp, &served).unwrap();
    };
    replace(&v2);
    s.wait_for("the new revision", || revision() != r1);
    let r2 = revision();
    // A corrupt bundle is refused; the old one keeps serving.
    let mut bytes = std::fs::read(&v1).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    let corrupt = dir.path().join("corrupt.jitb");
    std::fs::write(&corrupt, &bytes).unwrap();
    replace(&corrupt);
    s.wait_for("the reload failure", || {
        s.get("/metrics").1.contains("jitp_reload_failures_total 1")
    });
    assert_eq!(revision(), r2);
    // SIGHUP reloads too (here: the good bundle back).
    std::fs::copy(&v1, &served).unwrap();
    s.signal("HUP");
    s.wait_for("the first revision again", || revision() == r1);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (ok, failed) = client.join().unwrap();
    assert!(failed.is_empty(), "failed requests: {failed:?}");
    assert!(ok > 10, "only {ok} requests during the reloads");
    assert!(s.log().contains("reload refused"), "{}", s.log());
}

#[test]
fn sigterm_drains_requests_in_flight() {
    let mut s = todo_server(&[]);
    let body = eval_request(RICK, "can_read_todos", json!({"type": "todo", "id": "1"}));
    // Half a request, then SIGTERM, then the rest: it is still answered.
    let mut conn = TcpStream::connect(s.addr()).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let head = format!(
        "POST /access/v1/evaluation HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).unwrap();
    conn.write_all(&body.as_bytes()[..10]).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    s.signal("TERM");
    s.wait_for("the shutdown to start", || s.log().contains("draining"));
    conn.write_all(&body.as_bytes()[10..]).unwrap();
    let mut resp = String::new();
    let _ = conn.read_to_string(&mut resp);
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("\"decision\":true"), "{resp}");
    let status = s
        .wait_exit(Duration::from_secs(10))
        .expect("the server did not exit");
    assert!(status.success());
}

#[test]
fn tls_serves_with_the_given_certificate() {
    let dir = TempDir::new("tls");
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = dir.write("cert.pem", &ck.cert.pem());
    let key = dir.write("key.pem", &ck.key_pair.serialize_pem());
    let s = todo_server(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    assert!(s.base.starts_with("https://"), "{}", s.base);
    let root = ureq::tls::Certificate::from_der(ck.cert.der()).to_owned();
    let a: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&[root]))
                .build(),
        )
        .build()
        .into();
    let body = eval_request(RICK, "can_read_todos", json!({"type": "todo", "id": "1"}));
    let (status, v) = send(
        &a,
        "POST",
        &s.url("/access/v1/evaluation"),
        Some(&body),
        &[],
    );
    assert_eq!((status, &v["decision"]), (200, &json!(true)));
    // Plain HTTP to the TLS port gets no answer.
    let resp = raw(&s.addr(), b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n");
    assert!(!resp.contains("200 OK"));
}

#[test]
fn start_failures_are_usage_errors() {
    for (args, wanted) in [
        (vec![], "nothing to serve"),
        (vec!["--bundle", "/nonexistent.jitb"], "/nonexistent.jitb"),
        (vec!["--config", "/nonexistent.toml"], "/nonexistent.toml"),
    ] {
        let out = jitp()
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(wanted), "{err}");
    }
}

/// A `Decimal` sent as a JSON number reaches the policy as written: the
/// server reads the body's numbers from their text, as `jitp eval` does,
/// so an exponent or a seventh fractional digit is refused, not rounded
/// through binary floating point; in a batch item as in a single request.
#[test]
fn decimals_sent_as_numbers_are_read_exactly() {
    let s = Server::start(&["--policy", "examples/refund_case/policy.jitp", "--replay"]);
    let text = std::fs::read_to_string(
        examples_dir().join("refund_case/requests/allow-refund-case-customer.json"),
    )
    .unwrap();
    for (amount, allowed) in [
        ("129.90", true),
        ("500.000000", true),
        ("500.000001", false),
        ("1.2990e2", false),
        ("129.9000001", false),
    ] {
        let body = text.replace(r#""amount": "129.90""#, &format!(r#""amount": {amount}"#));
        assert_ne!(body, text);
        let (status, v) = s.post("/access/v1/evaluation", &body);
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["decision"], allowed, "{amount}: {v}");
        let batch = format!(r#"{{"evaluations": [{body}]}}"#);
        let (status, v) = s.post("/access/v1/evaluations", &batch);
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["evaluations"][0]["decision"], allowed, "{amount}: {v}");
        if amount.contains('e') {
            let error = v["evaluations"][0]["context"]["error"]
                .as_str()
                .unwrap_or("");
            assert!(error.contains("task.params.amount"), "{v}");
        }
    }
}

/// Each batch item binds the shared members again, so the server bounds
/// their size times the number of items: a 650 KB body sharing a 60,000-
/// element set among a thousand items is refused at once rather than
/// costing seconds; an ordinary thousand-item batch is answered.
#[test]
fn a_batch_cannot_multiply_its_shared_members_without_bound() {
    let s = todo_server(&[]);
    let batch = |roles: usize| {
        let roles: Vec<String> = (0..roles).map(|i| format!("r{i:06}")).collect();
        json!({
            "subject": {"type": "user", "id": "nobody", "properties": {"roles": roles}},
            "action": {"name": "can_read_todos"},
            "resource": {"type": "todo", "id": "1"},
            "evaluations": vec![json!({}); 1000],
        })
        .to_string()
    };
    let started = Instant::now();
    let (status, v) = s.post("/access/v1/evaluations", &batch(60_000));
    assert_eq!(status, 413, "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("shared members hold 60010 JSON values"),
        "{message}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let (status, v) = s.post("/access/v1/evaluations", &batch(30));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["evaluations"].as_array().map(Vec::len), Some(1000));
}
