//! `jitp serve`: an AuthZEN 1.0 policy decision point over HTTP.
//!
//! The server holds a snapshot ([`Loaded`]: bundle, entity data, revision,
//! load time) behind a lock that readers only hold to clone an `Arc`; a
//! reload builds and verifies a new snapshot first and swaps it in, so
//! requests in flight finish on the one they started with. Bundles come
//! from a [`Loader`] the caller provides (the `jitp` command reads a
//! `.jitb` file or compiles policies), called at start and on every reload.
//!
//! Every decision goes through [`State::decide`], which takes the time
//! from the server's clock, merges entity data, binds, decides, counts it
//! and hands a [`Record`] to the [`RecordSink`] (the decision log's hook).
//! With a task store ([`Config::tasks`]), a request naming a held task gets
//! the task's facts from the store, approvals of tasks are decisions on
//! the same path, and every task transition goes to
//! [`RecordSink::transition`] (docs/tasks.md).
//! See docs/server.md for the endpoints and their statuses.

#![forbid(unsafe_code)]
#![warn(clippy::unwrap_used, clippy::expect_used)]
#![deny(clippy::indexing_slicing, clippy::panic)]

mod api;
pub mod entities;
mod http;
pub mod keys;
pub mod log;
pub mod metrics;
pub mod strict;
mod tasks;

pub use entities::Entities;

use jitp_runtime::{Bundle, DecisionRecord, Json, JsonObject};
use serde_json::Value;
use std::borrow::Cow;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// Produces a verified bundle: called at start and on every reload. The
/// error is a message for the log (diagnostics included).
pub type Loader = Arc<dyn Fn() -> Result<Bundle, String> + Send + Sync>;

/// Where decisions go after they are made: the decision log's hook. The
/// default sink drops them.
pub trait RecordSink: Send + Sync {
    /// Called once per decision, before the answer is sent; must not
    /// wait for the record to be written.
    fn record(&self, record: &Record<'_>);

    /// Called instead of [`RecordSink::record`] for a grant with an audit
    /// obligation: returns only once the record is durably written, or
    /// why it could not be (the grant then becomes a deny). The default
    /// records and reports success.
    fn record_durably(&self, record: &Record<'_>) -> Result<(), String> {
        self.record(record);
        Ok(())
    }

    /// Whether records can be written now (`/readyz` fails otherwise).
    fn health(&self) -> Result<(), String> {
        Ok(())
    }

    /// The signed head of the log (`GET /v1/log/head`), if there is one.
    fn head(&self) -> Option<Value> {
        None
    }

    /// Extra lines for `/metrics` (Prometheus text).
    fn metrics(&self) -> String {
        String::new()
    }

    /// Called once per task transition (requested, approved, started,
    /// ended, rejected) after the task store committed it and before the
    /// caller is answered: returns only once the record is durably
    /// written, or why it could not be. The default drops it.
    fn transition(&self, record: &TaskRecord<'_>) -> Result<(), String> {
        let _ = record;
        Ok(())
    }
}

/// One task transition as the sink sees it.
#[derive(Debug)]
pub struct TaskRecord<'a> {
    /// When the transition was made (RFC 3339, the server's clock).
    pub time: &'a str,
    /// The task's id.
    pub task_id: &'a str,
    /// The events the transition added to the task's history (`requested`,
    /// `approved`, `started`, `ended`, `rejected`), as JSON.
    pub events: &'a Value,
    /// Who made it (`{"type", "id"}`), when the caller had an identity.
    pub by: &'a Value,
    /// The id of the approval decision it rests on, if any.
    pub decision_id: Option<&'a str>,
    /// The task after the transition, as the task API shows it.
    pub task: &'a Value,
}

/// One decision as the sink sees it.
#[derive(Debug)]
pub struct Record<'a> {
    /// The decision's id, as returned in `context.decision_id`.
    pub id: &'a str,
    /// The time the decision was made at (RFC 3339).
    pub time: &'a str,
    /// The revision of the bundle that decided.
    pub revision: &'a str,
    /// The id of the key that signed that bundle, if it was verified.
    pub key_id: Option<&'a str>,
    /// The request as bound (after entity data was merged).
    pub request: &'a Json<'a>,
    /// The batch's shared members the request takes (those it does not
    /// set), when it is an item of an AuthZEN batch.
    pub defaults: Option<&'a JsonObject<'a>>,
    /// The decision.
    pub decision: &'a DecisionRecord,
}

struct NoSink;
impl RecordSink for NoSink {
    fn record(&self, _: &Record<'_>) {}
}

/// The server's settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address to listen on (`127.0.0.1:8180` by default).
    pub listen: SocketAddr,
    /// The entity data file, reloaded with the bundle.
    pub entities: Option<PathBuf>,
    /// Accept a request's `now` (replaying recorded requests).
    pub replay: bool,
    /// The trusted issuers of workload tokens (docs/identity.md), reloaded
    /// with the bundle: with it, only a verified `evidence.workload_token`
    /// fills `evidence.workload`.
    pub issuers: Option<PathBuf>,
    /// The namespace of action names sent without one: with `todo`, an
    /// AuthZEN `can_read_user` is jitp's `todo.can_read_user`.
    pub action_namespace: Option<String>,
    /// A file of bearer tokens, one per line; without it, no
    /// authentication.
    pub tokens: Option<PathBuf>,
    /// TLS certificate chain and private key (PEM files).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Files and directories whose change triggers a reload.
    pub watch: Vec<PathBuf>,
    /// How often watched files are polled.
    pub poll_interval: Duration,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Most evaluations in one batch.
    pub max_batch: usize,
    /// Most connections served at once; more are answered 503.
    pub max_connections: usize,
    /// Time a client has to send the request headers.
    pub header_timeout: Duration,
    /// Time a client has to send the request body.
    pub body_timeout: Duration,
    /// Time in-flight requests get to finish at shutdown.
    pub drain_timeout: Duration,
    /// The decision log, if decisions are logged.
    pub log: Option<log::LogConfig>,
    /// The task store (`sqlite:PATH` or `postgres://...`); without it,
    /// requests assert their task facts themselves.
    pub tasks: Option<String>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8180)),
            entities: None,
            replay: false,
            issuers: None,
            action_namespace: None,
            tokens: None,
            tls: None,
            watch: Vec::new(),
            poll_interval: Duration::from_secs(1),
            max_body_bytes: 1024 * 1024,
            max_batch: 1000,
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(10),
            log: None,
            tasks: None,
        }
    }
}

/// One loaded bundle with its entity data: what a request is decided on.
pub struct Loaded {
    /// The verified bundle.
    pub bundle: Bundle,
    /// The entity data checked against it.
    pub entities: Entities,
    /// [`Bundle::revision`].
    pub revision: String,
    /// The id of the trusted key the bundle's signature verified with
    /// ([`Bundle::signer`]).
    pub key_id: Option<String>,
    /// When it was loaded (RFC 3339).
    pub loaded_at: String,
    /// The watched files' fingerprint taken just before loading: a change
    /// after it triggers a reload, even one made while this loaded.
    pub watched: u64,
    /// The workload token verifier, when issuers are configured.
    pub identity: Option<Arc<jitp_identity::Verifier>>,
}

impl Record<'_> {
    /// The request as JSON: its own members, then the defaults it takes.
    pub fn request_value(&self) -> Value {
        let mut v = self.request.to_value();
        if let (Value::Object(m), Some(d)) = (&mut v, self.defaults) {
            for (k, dv) in d {
                if !m.contains_key(k.as_ref()) {
                    m.insert(k.to_string(), dv.to_value());
                }
            }
        }
        v
    }
}

/// The server's shared state.
pub struct State {
    current: RwLock<Arc<Loaded>>,
    config: Config,
    loader: Loader,
    tokens: Vec<Token>,
    /// The task store, when the server holds tasks.
    store: Option<Arc<dyn jitp_store::TaskStore>>,
    /// The counters shown at `/metrics`.
    pub metrics: metrics::Metrics,
    sink: Arc<dyn RecordSink>,
    reload_lock: Mutex<()>,
    next_id: AtomicU64,
    id_prefix: String,
}

/// The current time, RFC 3339 (what [`State::decide`] is given).
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl State {
    /// Loads the bundle and entity data and builds the state.
    pub fn new(config: Config, loader: Loader) -> Result<State, String> {
        let loaded = load(&config, &loader)?;
        let tokens = match &config.tokens {
            Some(path) => read_tokens(path)?,
            None => Vec::new(),
        };
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let sink: Arc<dyn RecordSink> = match &config.log {
            Some(l) => Arc::new(log::DecisionLog::open(l)?),
            None => Arc::new(NoSink),
        };
        let store: Option<Arc<dyn jitp_store::TaskStore>> = match &config.tasks {
            Some(spec) => Some(Arc::from(
                jitp_store::open(spec).map_err(|e| e.to_string())?,
            )),
            None => None,
        };
        Ok(State {
            current: RwLock::new(Arc::new(loaded)),
            config,
            loader,
            tokens,
            store,
            metrics: metrics::Metrics::default(),
            sink,
            reload_lock: Mutex::new(()),
            next_id: AtomicU64::new(0),
            id_prefix: format!("{start:016x}"),
        })
    }

    /// Where decisions are recorded.
    pub fn sink(&self) -> &dyn RecordSink {
        &*self.sink
    }

    /// Sends every decision to `sink` instead.
    pub fn with_sink(mut self, sink: Arc<dyn RecordSink>) -> State {
        self.sink = sink;
        self
    }

    /// The snapshot requests are decided on now.
    pub fn current(&self) -> Arc<Loaded> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Loads a new bundle and entity data and swaps them in; on failure
    /// the old ones keep serving, and the failure is logged and counted.
    pub fn reload(&self) -> bool {
        let _one_at_a_time = self.reload_lock.lock();
        match load(&self.config, &self.loader) {
            Ok(loaded) => {
                let revision = loaded.revision.clone();
                let new = Arc::new(loaded);
                match self.current.write() {
                    Ok(mut g) => *g = new,
                    Err(poisoned) => *poisoned.into_inner() = new,
                }
                self.metrics.reloads.fetch_add(1, Ordering::Relaxed);
                tracing::info!(revision = %revision, "reloaded the bundle");
                true
            }
            Err(e) => {
                self.metrics.reload_failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, "reload refused; the old bundle keeps serving");
                false
            }
        }
    }

    fn decision_id(&self) -> String {
        decision_id(
            &self.id_prefix,
            self.next_id.fetch_add(1, Ordering::Relaxed),
        )
    }

    /// Decides one jitp-shaped request at `now` (the server's clock, RFC
    /// 3339): refuses a request's own `now` unless in replay mode, merges
    /// entity data, binds and decides. `Err` is a client error (status
    /// 400) with its message.
    ///
    /// With a task store, a request naming a held task (`task.id` or
    /// `context.jitp_task_id`) gets the task's facts from the store (see
    /// docs/tasks.md).
    pub fn decide(
        &self,
        loaded: &Loaded,
        request: Value,
        now: &str,
        explain: bool,
    ) -> Result<Decided, String> {
        let Some(request) = Json::from_value(&request, jitp_runtime::MAX_REQUEST_DEPTH) else {
            return Err(format!(
                "the request is nested deeper than {} levels",
                jitp_runtime::MAX_REQUEST_DEPTH
            ));
        };
        self.decide_one(loaded, request, now, explain)
            .map_err(|f| f.message)
    }

    /// [`State::decide`] with the error's status: one request on its own,
    /// every member prepared, held tasks read from the store.
    pub(crate) fn decide_one<'r>(
        &self,
        loaded: &'r Loaded,
        request: Json<'r>,
        now: &'r str,
        explain: bool,
    ) -> Result<Decided, Failure> {
        let mut held = tasks::Held::default();
        let how = How {
            explain,
            namespace: true,
            held: Some(&mut held),
        };
        self.decide_with(loaded, request, None, now, how)
    }

    /// Prepares one member of a request for binding: the action namespace
    /// for `action`, the entity data merged into `subject` or `resource`
    /// (borrowed from `loaded`, not copied); nothing for a member `obj`
    /// does not have. [`State::decide_with`] does it for the request's own
    /// members; a batch does it once for the defaults its items share.
    pub(crate) fn prepare<'r>(
        &self,
        loaded: &'r Loaded,
        obj: &mut JsonObject<'r>,
        member: Member,
    ) -> Result<(), Failure> {
        match member {
            Member::Action => {
                let Some(ns) = &self.config.action_namespace else {
                    return Ok(());
                };
                if let Some(Json::Str(name)) = obj.get_mut("action").and_then(|a| a.get_mut("name"))
                {
                    if !name.contains('.') {
                        *name = Cow::Owned(format!("{ns}.{name}"));
                    }
                }
                Ok(())
            }
            Member::Subject | Member::Resource => {
                let role = member.key();
                match obj.get_mut(role) {
                    Some(m) => entities::merge(&loaded.entities, role, m).map_err(Failure::bad),
                    None => Ok(()),
                }
            }
        }
    }

    /// [`State::decide`] with its options; the error carries a status.
    ///
    /// `defaults` are an AuthZEN batch's shared members, prepared
    /// ([`State::prepare`]) for the members the request does not set: the
    /// request takes each of them whole unless it sets its own.
    pub(crate) fn decide_with<'r>(
        &self,
        loaded: &'r Loaded,
        mut request: Json<'r>,
        defaults: Option<&JsonObject<'r>>,
        now: &'r str,
        how: How<'_>,
    ) -> Result<Decided, Failure> {
        let started = std::time::Instant::now();
        let explain = how.explain;
        let Some(obj) = request.as_object_mut() else {
            return Err(Failure::bad("the request must be a JSON object"));
        };
        let default = |key: &str| defaults.and_then(|d| d.get(key));
        let given: String;
        let now: &str = match obj.get("now").or_else(|| default("now")) {
            Some(_) if !self.config.replay => {
                return Err(Failure::bad(
                    "the request sets `now`; the server's clock decides (start the server with `--replay` to replay recorded requests)",
                ))
            }
            // Replay: binding checks the request's own `now`.
            Some(v) => {
                given = v.as_str().unwrap_or_default().to_string();
                &given
            }
            None => {
                obj.insert("now", Json::Str(Cow::Borrowed(now)));
                now
            }
        };
        if how.namespace {
            self.prepare(loaded, obj, Member::Action)?;
        }
        // The members the task store and the workload verifier read and
        // rewrite become the request's own, so the defaults stay as they
        // are for the next item.
        let own = |obj: &mut JsonObject<'r>, keys: &[&'static str]| {
            for k in keys {
                if let Some(v) = default(k).filter(|_| !obj.contains_key(k)) {
                    obj.insert(*k, v.clone());
                }
            }
        };
        // A held task: its facts come from the store, or the request is
        // denied before any rule runs.
        let (task, verdict) = match (&self.store, how.held) {
            (Some(store), Some(held)) => {
                own(obj, &["context", "task"]);
                let subject = obj.get("subject").or_else(|| default("subject")).cloned();
                tasks::resolve(&**store, held, obj, subject.as_ref(), now)?
            }
            _ => (None, None),
        };
        // The defaults' members are prepared already; a member the request
        // does not set is left alone.
        self.prepare(loaded, obj, Member::Subject)?;
        self.prepare(loaded, obj, Member::Resource)?;
        let workload = match &loaded.identity {
            Some(v) => {
                own(obj, &["evidence"]);
                identity_step(v, obj, now).map_err(Failure::bad)?
            }
            None => None,
        };
        let bundle = &loaded.bundle;
        // A deny the task store decided stands without binding.
        let bound = match verdict {
            Some(v) => Err(v),
            None => Ok(match defaults {
                Some(d) => bundle.bind_json_with_defaults(&request, d),
                None => bundle.bind_json(&request),
            }),
        };
        let (mut record, explanation) = match bound {
            Err(v) => (v, None),
            Ok(Ok(bound)) if explain => {
                let e = bundle.explain(&bound);
                let rules = serde_json::to_value(&e.rules).unwrap_or_default();
                (e.decision, Some(rules))
            }
            Ok(Ok(bound)) => (bundle.decide(&bound).to_record(), None),
            Ok(Err(e)) => (DecisionRecord::invalid(e.to_string()), None),
        };
        if let Some(task) = &task {
            tasks::clamp_expiry(&mut record, task);
        }
        let id = self.decision_id();
        let audited = record.decision == jitp_runtime::Effect::Allow
            && record.obligations.iter().any(|o| o.kind == "audit");
        let written = {
            let entry = Record {
                id: &id,
                time: now,
                revision: &loaded.revision,
                key_id: loaded.key_id.as_deref(),
                request: &request,
                defaults,
                decision: &record,
            };
            if audited {
                self.sink.record_durably(&entry)
            } else {
                self.sink.record(&entry);
                Ok(())
            }
        };
        if let Err(e) = written {
            // The audit trail is a condition of the grant: no record, no
            // grant.
            tracing::error!(error = %e, decision_id = %id, "audit record not written; the grant is denied");
            record = audit_unavailable(record, &e);
            self.sink.record(&Record {
                id: &id,
                time: now,
                revision: &loaded.revision,
                key_id: loaded.key_id.as_deref(),
                request: &request,
                defaults,
                decision: &record,
            });
        }
        self.metrics.decision(
            record.decision,
            record.reason,
            started.elapsed().as_nanos() as u64,
        );
        Ok(Decided {
            id,
            record,
            explanation,
            workload,
        })
    }

    /// Who `header` (the `Authorization` value) authenticates: `None`
    /// when it carries no configured token, else the identity the tokens
    /// file gives that token (itself `None` for a token without one, and
    /// for every caller when no tokens are configured). Every token is
    /// compared in constant time.
    pub(crate) fn caller(&self, header: Option<&[u8]>) -> Option<Option<jitp_store::Principal>> {
        if self.config.tokens.is_none() {
            return Some(None);
        }
        let token = header.and_then(|h| h.strip_prefix(b"Bearer "))?;
        // The index (plus one) of the matching token, chosen without a
        // branch on any comparison.
        let mut found = 0u64;
        for (i, (t, _)) in self.tokens.iter().enumerate() {
            let eq = subtle::ConstantTimeEq::ct_eq(t.as_slice(), token);
            subtle::ConditionallySelectable::conditional_assign(&mut found, &(i as u64 + 1), eq);
        }
        let i = usize::try_from(found).ok()?.checked_sub(1)?;
        self.tokens.get(i).map(|(_, who)| who.clone())
    }

    /// The task store, when the server holds tasks.
    pub(crate) fn store(&self) -> Option<&Arc<dyn jitp_store::TaskStore>> {
        self.store.as_ref()
    }
}

/// `{prefix}-{n}` with `n` in at least eight lowercase hex digits (as
/// `format!("{prefix}-{n:08x}")` writes it, without the formatting
/// machinery: this runs once per decision).
fn decision_id(prefix: &str, n: u64) -> String {
    let digits = (64 - n.leading_zeros()).div_ceil(4).max(8);
    let mut id = String::with_capacity(prefix.len() + 1 + digits as usize);
    id.push_str(prefix);
    id.push('-');
    for i in (0..digits).rev() {
        let nibble = ((n >> (4 * i)) & 0xf) as u32;
        id.push(char::from_digit(nibble, 16).unwrap_or('0'));
    }
    id
}

/// How [`State::decide_with`] decides.
pub(crate) struct How<'a> {
    /// Trace every rule.
    pub explain: bool,
    /// Apply the action namespace to a bare action name.
    pub namespace: bool,
    /// Look up held tasks (through this per-request cache); `None` for
    /// decisions the server makes itself (approvals).
    pub held: Option<&'a mut tasks::Held>,
}

/// A member of a request that [`State::prepare`] prepares.
#[derive(Copy, Clone, PartialEq, Eq)]
pub(crate) enum Member {
    /// `action`: the namespace.
    Action,
    /// `subject`: entity data.
    Subject,
    /// `resource`: entity data.
    Resource,
}

impl Member {
    /// The member's key in the request.
    pub(crate) fn key(self) -> &'static str {
        match self {
            Member::Action => "action",
            Member::Subject => "subject",
            Member::Resource => "resource",
        }
    }
}

/// A request the server refuses to decide: its status and message.
#[derive(Debug)]
pub(crate) struct Failure {
    /// The HTTP status.
    pub status: u16,
    /// What is wrong.
    pub message: String,
}

impl Failure {
    /// A 400.
    pub fn bad(message: impl Into<String>) -> Failure {
        Failure {
            status: 400,
            message: message.into(),
        }
    }
}

/// The deny that replaces a grant whose audit record could not be
/// written.
fn audit_unavailable(granted: DecisionRecord, why: &str) -> DecisionRecord {
    DecisionRecord {
        decision: jitp_runtime::Effect::Deny,
        reason: jitp_runtime::Reason::AuditUnavailable,
        expires_at: None,
        needs: Vec::new(),
        obligations: Vec::new(),
        error: Some(format!(
            "the grant carries an audit obligation and its record could not be written: {why}"
        )),
        ..granted
    }
}

/// A decision with its id and, when asked for, its explanation.
pub struct Decided {
    /// The decision id.
    pub id: String,
    /// The decision.
    pub record: DecisionRecord,
    /// The explanation's rule traces, as `jitp eval --explain` prints them.
    pub explanation: Option<Value>,
    /// What became of a presented workload token (`context.workload_identity`):
    /// `{"verified": true, ...}` or `{"verified": false, "code", "error"}`.
    pub workload: Option<Value>,
}

/// Verifies `evidence.workload_token` at the decision's `now` and fills
/// `evidence.workload` only if it verifies (see docs/identity.md).
fn identity_step(
    verifier: &jitp_identity::Verifier,
    request: &mut JsonObject<'_>,
    now: &str,
) -> Result<Option<Value>, String> {
    let Some(now) = jitp_identity::unix_seconds(now) else {
        return Err(format!("`now` `{now}` is not an RFC 3339 time"));
    };
    // The verifier reads and fills `evidence` as a `serde_json::Value`.
    let Some(evidence) = request.get("evidence").filter(|e| e.as_object().is_some()) else {
        return Ok(None);
    };
    let mut part = serde_json::json!({ "evidence": evidence.to_value() });
    let outcome = jitp_identity::prepare(verifier, &mut part, now)?;
    if let Some(e) = part
        .get("evidence")
        .and_then(|e| Json::from_value(e, usize::MAX))
    {
        request.insert("evidence", e.into_owned());
    }
    Ok(outcome.to_json())
}

/// The files whose change triggers a reload.
pub(crate) fn watched_paths(config: &Config) -> Vec<PathBuf> {
    let mut paths = config.watch.clone();
    paths.extend(config.entities.iter().cloned());
    if let Some(issuers) = &config.issuers {
        paths.extend(jitp_identity::watched_files(issuers));
    }
    paths
}

fn load(config: &Config, loader: &Loader) -> Result<Loaded, String> {
    let watched = http::fingerprint(&watched_paths(config));
    let bundle = loader()?;
    let entities = match &config.entities {
        Some(path) => Entities::load(path, &bundle)?,
        None => Entities::empty(),
    };
    let identity = match &config.issuers {
        Some(path) => Some(Arc::new(jitp_identity::Verifier::load(path)?)),
        None => None,
    };
    Ok(Loaded {
        identity,
        revision: bundle.revision(),
        key_id: bundle.signer().map(|k| k.to_string()),
        bundle,
        entities,
        loaded_at: now_rfc3339(),
        watched,
    })
}

/// A bearer token and the identity of its caller, if it has one.
type Token = (Vec<u8>, Option<jitp_store::Principal>);

/// Reads a tokens file: one `TOKEN` or `TOKEN TYPE ID` a line (`#`
/// comments and blank lines skipped).
fn read_tokens(path: &std::path::Path) -> Result<Vec<Token>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the tokens file `{}`: {e}", path.display()))?;
    let mut tokens = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = format!("the tokens file `{}`:{}", path.display(), n + 1);
        // `TOKEN`, or `TOKEN TYPE ID` (any run of whitespace between; the
        // id is the rest of the line).
        let (token, rest) = match line.split_once(char::is_whitespace) {
            Some((t, rest)) => (t, Some(rest.trim_start())),
            None => (line, None),
        };
        let identity = rest.map(|r| match r.split_once(char::is_whitespace) {
            Some((ty, id)) => (ty, id.trim()),
            None => (r, ""),
        });
        let who = match identity {
            None => None,
            Some((ty, id)) if !ty.is_empty() && !id.is_empty() => {
                let id = jitp_runtime::value::canonical_identity(id).map_err(|e| {
                    format!("{at}: the identity `{id}` is not a valid id: {e}")
                })?;
                Some(jitp_store::Principal {
                    ty: ty.to_string(),
                    id: id.into_owned(),
                })
            }
            _ => {
                return Err(format!(
                    "{at}: expected `TOKEN` or `TOKEN TYPE ID`\nhelp: give the caller's entity type and id after its token, as in `s3cr3t Approver alice`"
                ))
            }
        };
        tokens.push((token.as_bytes().to_vec(), who));
    }
    if tokens.is_empty() {
        return Err(format!(
            "the tokens file `{}` holds no token\nhelp: write one token per line",
            path.display()
        ));
    }
    Ok(tokens)
}

/// Runs the server until SIGTERM or SIGINT, then drains requests in
/// flight. Prints `listening on http://ADDR` (or `https://`) to standard
/// error once bound.
pub fn run(config: Config, loader: Loader) -> Result<(), String> {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .try_init();
    let state = State::new(config, loader)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the server's runtime: {e}"))?;
    runtime.block_on(http::serve(Arc::new(state)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn decision_ids_are_written_as_format_writes_them() {
        for n in [
            0,
            1,
            0xff,
            0x1234_5678,
            0xffff_ffff,
            0x1_0000_0000,
            u64::MAX,
        ] {
            assert_eq!(super::decision_id("ab12", n), format!("ab12-{n:08x}"));
        }
    }
}
