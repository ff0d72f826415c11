//! The decision log: every decision appended as a hash-chained, signed
//! JSON line (docs/audit.md is the reference).
//!
//! Callers build a record's fields and hand them to one writer thread
//! through a bounded channel; the writer assigns sequence numbers in
//! order, links each record to the one before, signs it, writes it (a
//! directory of rotated files, or standard output) and, for records that
//! must be durable (grants with an audit obligation), syncs the file
//! before the caller is answered. A write that fails is counted, logged
//! and makes the server not ready; the server keeps serving.

use crate::keys::SecretKey;
use crate::{Record, RecordSink, TaskRecord};
use jitp_runtime::signature::{hex, hex_bytes};
use jitp_runtime::PublicKey;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufRead as _, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a record's signature signs, before its 32-byte hash.
pub const RECORD_DOMAIN: &[u8] = b"jitp-log-record-v1\n";
/// What a head's signature signs, before the SHA-256 of its canonical form.
pub const HEAD_DOMAIN: &[u8] = b"jitp-log-head-v1\n";
/// The `prev` of a chain's first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// The value a redacted field is replaced with.
pub const REDACTED: &str = "[redacted]";
/// Records waiting for the writer before callers wait for it.
const QUEUE: usize = 8192;
/// Longest line `jitp log verify` reads.
const MAX_LINE: u64 = 64 << 20;

/// Where the log goes.
#[derive(Clone, Debug)]
pub enum Target {
    /// A directory of files `decisions-NNNNNN.jsonl`, rotated by size.
    Dir(PathBuf),
    /// Standard output, for a collector.
    Stdout,
}

/// The decision log's settings.
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// Where records go.
    pub target: Target,
    /// The key records are signed with.
    pub key: Arc<SecretKey>,
    /// Request fields replaced by [`REDACTED`], as dotted paths
    /// (`context.secret`).
    pub redact: Vec<String>,
    /// A file is rotated before a record would take it past this size.
    pub max_bytes: u64,
}

/// The canonical serialisation: JSON without whitespace, object members
/// sorted by the bytes of their keys, strings and numbers as serde_json
/// writes them.
pub fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).unwrap_or_default());
                out.push(':');
                if let Some(x) = m.get(k) {
                    canonical(x, out);
                }
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&serde_json::to_string(other).unwrap_or_default()),
    }
}

/// The SHA-256 of the canonical form of `record` without `hash` and
/// `sig`.
pub fn record_hash(record: &Map<String, Value>) -> [u8; 32] {
    let mut body = record.clone();
    body.remove("hash");
    body.remove("sig");
    let mut text = String::new();
    canonical(&Value::Object(body), &mut text);
    Sha256::digest(text.as_bytes()).into()
}

fn signed_message(domain: &[u8], digest: &[u8; 32]) -> Vec<u8> {
    let mut m = domain.to_vec();
    m.extend_from_slice(digest);
    m
}

fn head_digest(head: &Map<String, Value>) -> [u8; 32] {
    let mut body = head.clone();
    body.remove("sig");
    let mut text = String::new();
    canonical(&Value::Object(body), &mut text);
    Sha256::digest(text.as_bytes()).into()
}

/// The last record written.
#[derive(Clone, Debug)]
struct Head {
    seq: u64,
    hash: String,
    time: String,
}

struct Shared {
    head: Mutex<Head>,
    failure: Mutex<Option<String>>,
    written: AtomicU64,
    failures: AtomicU64,
    lost: AtomicU64,
    waits: AtomicU64,
    key: Arc<SecretKey>,
}

type Reply = SyncSender<Result<(), String>>;

struct Job {
    fields: Map<String, Value>,
    reply: Option<Reply>,
}

/// The decision log: a [`RecordSink`] that writes every record.
pub struct DecisionLog {
    tx: SyncSender<Job>,
    shared: Arc<Shared>,
    redact: Vec<Vec<String>>,
}

fn segment_number(name: &str) -> Option<u64> {
    name.strip_prefix("decisions-")?
        .strip_suffix(".jsonl")?
        .parse()
        .ok()
}

fn segment_name(n: u64) -> String {
    format!("decisions-{n:06}.jsonl")
}

/// The log files of `dir`, in order.
pub fn segments(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read `{}`: {}", dir.display(), lower(&e)))?;
    let mut found: Vec<(u64, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let n = segment_number(e.file_name().to_str()?)?;
            Some((n, e.path()))
        })
        .collect();
    found.sort();
    Ok(found.into_iter().map(|(_, p)| p).collect())
}

fn lower(e: &std::io::Error) -> String {
    e.to_string().to_lowercase()
}

/// The last line of `path` (without its newline), `None` if the file is
/// empty; an error if it does not end with a newline.
fn last_line(path: &Path) -> Result<Option<(usize, String)>, String> {
    let text = std::fs::read(path).map_err(|e| format!("cannot read it: {}", lower(&e)))?;
    if text.is_empty() {
        return Ok(None);
    }
    if !text.ends_with(b"\n") {
        return Err("its last line is incomplete (a write was cut short)".into());
    }
    let body = text.get(..text.len() - 1).unwrap_or_default();
    let line_no = body.iter().filter(|b| **b == b'\n').count() + 1;
    let start = body.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let last = body.get(start..).unwrap_or_default();
    let last = String::from_utf8(last.to_vec()).map_err(|_| "its last line is not UTF-8")?;
    Ok(Some((line_no, last)))
}

/// Checks one record's hash and, when signed by `key`, its signature;
/// returns its sequence number and hash.
fn check_tail(line: &str, key: &PublicKey) -> Result<(u64, String, String), String> {
    let v = jitp_runtime::parse_unique(line, "the record").map_err(|e| e.to_string())?;
    let Value::Object(rec) = v else {
        return Err("not a JSON object".into());
    };
    let seq = rec.get("seq").and_then(Value::as_u64).ok_or("no `seq`")?;
    let hash = rec.get("hash").and_then(Value::as_str).ok_or("no `hash`")?;
    if hex(&record_hash(&rec)) != hash {
        return Err("its contents do not match its hash".into());
    }
    if rec.get("log_key_id").and_then(Value::as_str) == Some(key.id().to_string().as_str()) {
        let sig = rec
            .get("sig")
            .and_then(Value::as_str)
            .and_then(hex_bytes::<64>)
            .ok_or("no valid `sig`")?;
        let digest = hex_bytes::<32>(hash).ok_or("`hash` is not 64 hex digits")?;
        if !key.verify(&signed_message(RECORD_DOMAIN, &digest), &sig) {
            return Err("its signature does not verify".into());
        }
    }
    let time = rec
        .get("time")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    Ok((seq, hash.to_string(), time))
}

/// The open output.
enum Out {
    Stdout,
    Dir {
        dir: PathBuf,
        number: u64,
        file: Option<File>,
        len: u64,
        max: u64,
    },
}

impl Out {
    /// Opens `dir` and finds where the chain continues.
    fn open_dir(dir: &Path, max: u64, key: &PublicKey) -> Result<(Out, Head), String> {
        std::fs::create_dir_all(dir).map_err(|e| {
            format!(
                "cannot create the decision log directory `{}`: {}",
                dir.display(),
                lower(&e)
            )
        })?;
        let files = segments(dir)?;
        let mut head = Head {
            seq: 0,
            hash: GENESIS.into(),
            time: String::new(),
        };
        for path in files.iter().rev() {
            let damaged = |line: Option<usize>, why: String| {
                let at = line.map(|l| format!(":{l}")).unwrap_or_default();
                format!(
                    "the decision log `{}{at}` ends with a damaged record: {why}; the chain cannot be continued\nhelp: run `jitp log verify {}` to see what is wrong; move the damaged file away to continue from the file before it",
                    path.display(),
                    dir.display()
                )
            };
            match last_line(path).map_err(|e| damaged(None, e))? {
                None => continue,
                Some((line_no, line)) => {
                    let (seq, hash, time) =
                        check_tail(&line, key).map_err(|e| damaged(Some(line_no), e))?;
                    head = Head { seq, hash, time };
                    break;
                }
            }
        }
        let number = files
            .last()
            .and_then(|p| segment_number(p.file_name()?.to_str()?))
            .unwrap_or(1);
        let mut out = Out::Dir {
            dir: dir.to_path_buf(),
            number,
            file: None,
            len: 0,
            max,
        };
        out.open_current()?;
        Ok((out, head))
    }

    fn open_current(&mut self) -> Result<(), String> {
        let Out::Dir {
            dir,
            number,
            file,
            len,
            ..
        } = self
        else {
            return Ok(());
        };
        let path = dir.join(segment_name(*number));
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("cannot open `{}`: {}", path.display(), lower(&e)))?;
        *len = f
            .metadata()
            .map_err(|e| format!("cannot read `{}`: {}", path.display(), lower(&e)))?
            .len();
        *file = Some(f);
        Ok(())
    }

    /// Whether `extra` more bytes still fit in the current file.
    fn fits(&self, pending: u64, extra: u64) -> bool {
        match self {
            Out::Stdout => true,
            Out::Dir { len, max, .. } => {
                let used = len + pending;
                used == 0 || used + extra <= *max
            }
        }
    }

    /// Appends `bytes` (whole lines); on failure, cuts the file back to
    /// where it was.
    fn append(&mut self, bytes: &[u8], sync: bool) -> Result<(), String> {
        if bytes.is_empty() {
            return Ok(());
        }
        match self {
            Out::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(bytes)
                    .and_then(|()| out.flush())
                    .map_err(|e| format!("cannot write to standard output: {}", lower(&e)))
            }
            Out::Dir {
                dir,
                number,
                file,
                len,
                ..
            } => {
                let path = dir.join(segment_name(*number));
                let Some(f) = file.as_mut() else {
                    return Err(format!("`{}` is not open", path.display()));
                };
                let result = f
                    .write_all(bytes)
                    .and_then(|()| if sync { f.sync_data() } else { Ok(()) });
                match result {
                    Ok(()) => {
                        *len += bytes.len() as u64;
                        Ok(())
                    }
                    Err(e) => {
                        // Never leave half a record for the next to follow.
                        if f.set_len(*len).is_err() {
                            *file = None;
                            *number += 1;
                        }
                        Err(format!("cannot write `{}`: {}", path.display(), lower(&e)))
                    }
                }
            }
        }
    }

    /// Closes the current file and starts the next.
    fn rotate(&mut self) -> Result<(), String> {
        if let Out::Dir {
            dir, number, file, ..
        } = self
        {
            if let Some(f) = file.take() {
                let _ = f.sync_all();
            }
            *number += 1;
            let dir = dir.clone();
            self.open_current()?;
            if let Ok(d) = File::open(&dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }

    fn ensure_open(&mut self) -> Result<(), String> {
        match self {
            Out::Dir { file: None, .. } => self.open_current(),
            _ => Ok(()),
        }
    }
}

impl DecisionLog {
    /// Opens the log (continuing the chain of an existing directory after
    /// checking its last record) and starts its writer thread.
    pub fn open(config: &LogConfig) -> Result<DecisionLog, String> {
        let (out, head) = match &config.target {
            Target::Stdout => (
                Out::Stdout,
                Head {
                    seq: 0,
                    hash: GENESIS.into(),
                    time: String::new(),
                },
            ),
            Target::Dir(dir) => Out::open_dir(dir, config.max_bytes, config.key.public())?,
        };
        let shared = Arc::new(Shared {
            head: Mutex::new(head),
            failure: Mutex::new(None),
            written: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            waits: AtomicU64::new(0),
            key: config.key.clone(),
        });
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let s = shared.clone();
        std::thread::Builder::new()
            .name("jitp-log".into())
            .spawn(move || writer(rx, out, &s))
            .map_err(|e| format!("cannot start the decision log's writer: {e}"))?;
        Ok(DecisionLog {
            tx,
            shared,
            redact: config
                .redact
                .iter()
                .map(|p| p.split('.').map(str::to_string).collect())
                .collect(),
        })
    }

    fn fields(&self, r: &Record<'_>) -> Map<String, Value> {
        let mut request = r.request_value();
        for path in &self.redact {
            redact(&mut request, path);
        }
        let mut m = Map::new();
        m.insert("kind".into(), "decision".into());
        m.insert("id".into(), r.id.into());
        m.insert("time".into(), r.time.into());
        m.insert("revision".into(), r.revision.into());
        m.insert(
            "bundle_key_id".into(),
            r.key_id.map_or(Value::Null, Value::from),
        );
        m.insert("request".into(), request);
        m.insert("decision".into(), r.decision.to_json());
        m
    }

    fn transition_fields(r: &TaskRecord<'_>) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("kind".into(), "transition".into());
        m.insert("time".into(), r.time.into());
        m.insert("task_id".into(), r.task_id.into());
        m.insert("events".into(), r.events.clone());
        m.insert("by".into(), r.by.clone());
        m.insert(
            "decision_id".into(),
            r.decision_id.map_or(Value::Null, Value::from),
        );
        m.insert("task".into(), r.task.clone());
        m
    }

    /// Queues a record and waits until it is written and synced.
    fn write_durably(&self, fields: Map<String, Value>) -> Result<(), String> {
        let (reply, answer) = mpsc::sync_channel(1);
        let job = Job {
            fields,
            reply: Some(reply),
        };
        self.send(job).inspect_err(|e| self.fail(e))?;
        blocking(|| answer.recv_timeout(Duration::from_secs(10)))
            .map_err(|_| "the decision log did not answer in time".to_string())?
    }

    /// Queues `job`; waits (off the async workers) when the queue is full.
    fn send(&self, job: Job) -> Result<(), String> {
        match self.tx.try_send(job) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(job)) => {
                self.shared.waits.fetch_add(1, Relaxed);
                blocking(|| self.tx.send(job))
                    .map_err(|_| "the decision log's writer stopped".into())
            }
            Err(TrySendError::Disconnected(_)) => Err("the decision log's writer stopped".into()),
        }
    }

    fn fail(&self, e: &str) {
        self.shared.lost.fetch_add(1, Relaxed);
        if let Ok(mut f) = self.shared.failure.lock() {
            *f = Some(e.to_string());
        }
    }
}

/// Runs `f`, telling a multi-threaded tokio runtime first that this
/// worker will block.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// Replaces the value at `path` with [`REDACTED`]. Each segment is an
/// object key; an array met on the way (before a segment, or nested in
/// another array) stands for each of its elements, so `items.secret`
/// redacts `secret` in every element of `items`. A path that is not there
/// changes nothing. Iterative: every value is visited at most once, so
/// neither deep nor wide input can exhaust the stack.
fn redact(v: &mut Value, path: &[String]) {
    if path.is_empty() {
        return;
    }
    // Each entry: a value and the index of the segment still to match in it.
    let mut work: Vec<(&mut Value, usize)> = vec![(v, 0)];
    while let Some((value, at)) = work.pop() {
        match value {
            Value::Array(items) => work.extend(items.iter_mut().map(|x| (x, at))),
            Value::Object(members) => {
                let Some(child) = path.get(at).and_then(|k| members.get_mut(k)) else {
                    continue;
                };
                if at + 1 == path.len() {
                    *child = Value::String(REDACTED.into());
                } else {
                    work.push((child, at + 1));
                }
            }
            _ => {}
        }
    }
}

impl RecordSink for DecisionLog {
    fn record(&self, record: &Record<'_>) {
        let job = Job {
            fields: self.fields(record),
            reply: None,
        };
        if let Err(e) = self.send(job) {
            self.fail(&e);
        }
    }

    fn record_durably(&self, record: &Record<'_>) -> Result<(), String> {
        self.write_durably(self.fields(record))
    }

    fn transition(&self, record: &TaskRecord<'_>) -> Result<(), String> {
        self.write_durably(Self::transition_fields(record))
    }

    fn health(&self) -> Result<(), String> {
        match self.shared.failure.lock() {
            Ok(f) => match &*f {
                Some(e) => Err(format!("the decision log cannot be written: {e}")),
                None => Ok(()),
            },
            Err(_) => Err("the decision log failed".into()),
        }
    }

    fn head(&self) -> Option<Value> {
        let head = self.shared.head.lock().ok()?.clone();
        let key = &self.shared.key;
        let mut m = Map::new();
        m.insert("kind".into(), "head".into());
        m.insert("seq".into(), head.seq.into());
        m.insert("hash".into(), head.hash.into());
        m.insert("time".into(), head.time.into());
        m.insert("log_key_id".into(), key.id().to_string().into());
        let sig = key.sign(&signed_message(HEAD_DOMAIN, &head_digest(&m)));
        m.insert("sig".into(), hex(&sig).into());
        Some(Value::Object(m))
    }

    fn metrics(&self) -> String {
        let s = &self.shared;
        let up = u8::from(self.health().is_ok());
        let mut out = String::new();
        for (name, kind, help, v) in [
            (
                "jitp_log_records_total",
                "counter",
                "Records written to the decision log.",
                s.written.load(Relaxed),
            ),
            (
                "jitp_log_write_failures_total",
                "counter",
                "Writes to the decision log that failed.",
                s.failures.load(Relaxed),
            ),
            (
                "jitp_log_lost_records_total",
                "counter",
                "Decisions that could not be logged.",
                s.lost.load(Relaxed),
            ),
            (
                "jitp_log_queue_waits_total",
                "counter",
                "Decisions that waited for room in the log's queue.",
                s.waits.load(Relaxed),
            ),
            (
                "jitp_log_up",
                "gauge",
                "1 when the last write to the decision log succeeded.",
                u64::from(up),
            ),
        ] {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n"
            ));
        }
        out
    }
}

/// The writer thread: takes what is queued, in order, as one batch.
fn writer(rx: Receiver<Job>, mut out: Out, shared: &Shared) {
    let key = shared.key.clone();
    let mut head = match shared.head.lock() {
        Ok(h) => h.clone(),
        Err(_) => return,
    };
    let mut lost_since: u64 = 0;
    // Standard output cannot be read back, so every start begins a new
    // chain; its first record says so. Written now, and retried before
    // the next batch until it is.
    let mut start = matches!(out, Out::Stdout).then(|| {
        let mut m = Map::new();
        m.insert("kind".into(), "start".into());
        m.insert("time".into(), crate::now_rfc3339().into());
        m
    });
    if start.is_some() {
        match write_batch(&mut out, &key, &mut head, start.as_ref(), &mut [], &mut 0) {
            Ok(n) => {
                start = None;
                shared.written.fetch_add(n, Relaxed);
                if let Ok(mut h) = shared.head.lock() {
                    *h = head.clone();
                }
            }
            Err(e) => {
                shared.failures.fetch_add(1, Relaxed);
                tracing::error!(error = %e, "cannot write the decision log");
                if let Ok(mut f) = shared.failure.lock() {
                    *f = Some(e);
                }
            }
        }
    }
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < 512 {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let result = write_batch(
            &mut out,
            &key,
            &mut head,
            start.as_ref(),
            &mut jobs,
            &mut lost_since,
        );
        match result {
            Ok(n) => {
                start = None;
                shared.written.fetch_add(n, Relaxed);
                if let Ok(mut h) = shared.head.lock() {
                    *h = head.clone();
                }
                if let Ok(mut f) = shared.failure.lock() {
                    if f.take().is_some() {
                        tracing::info!("the decision log is writable again");
                    }
                }
                for j in jobs {
                    if let Some(r) = j.reply {
                        let _ = r.send(Ok(()));
                    }
                }
            }
            Err(e) => {
                shared.failures.fetch_add(1, Relaxed);
                shared.lost.fetch_add(jobs.len() as u64, Relaxed);
                lost_since += jobs.len() as u64;
                tracing::error!(error = %e, records = jobs.len(), "cannot write the decision log");
                if let Ok(mut f) = shared.failure.lock() {
                    *f = Some(e.clone());
                }
                for j in jobs {
                    if let Some(r) = j.reply {
                        let _ = r.send(Err(e.clone()));
                    }
                }
            }
        }
    }
}

/// Chains, signs and writes `jobs` (after the `start` record of a new
/// chain not yet written, then a `lost` record when earlier ones could not
/// be written); `head` moves only if all were written.
fn write_batch(
    out: &mut Out,
    key: &SecretKey,
    head: &mut Head,
    start: Option<&Map<String, Value>>,
    jobs: &mut [Job],
    lost_since: &mut u64,
) -> Result<u64, String> {
    out.ensure_open()?;
    let sync = jobs.iter().any(|j| j.reply.is_some());
    let mut next = head.clone();
    let mut pending: Vec<u8> = Vec::new();
    let mut count = 0;
    let key_id = key.id().to_string();
    let lost = (*lost_since > 0).then(|| {
        let mut m = Map::new();
        m.insert("kind".into(), "lost".into());
        m.insert("count".into(), (*lost_since).into());
        m.insert("time".into(), crate::now_rfc3339().into());
        m
    });
    for fields in start
        .into_iter()
        .chain(lost.iter())
        .chain(jobs.iter().map(|j| &j.fields))
    {
        let mut rec = fields.clone();
        let seq = next.seq + 1;
        rec.insert("seq".into(), seq.into());
        rec.insert("prev".into(), next.hash.clone().into());
        rec.insert("log_key_id".into(), key_id.clone().into());
        let digest = record_hash(&rec);
        let sig = key.sign(&signed_message(RECORD_DOMAIN, &digest));
        let hash = hex(&digest);
        rec.insert("hash".into(), hash.clone().into());
        rec.insert("sig".into(), hex(&sig).into());
        let mut line = String::new();
        canonical(&Value::Object(rec), &mut line);
        line.push('\n');
        if !out.fits(pending.len() as u64, line.len() as u64) {
            out.append(&pending, sync)?;
            pending.clear();
            out.rotate()?;
        }
        pending.extend_from_slice(line.as_bytes());
        next.time = fields
            .get("time")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        next.seq = seq;
        next.hash = hash;
        count += 1;
    }
    out.append(&pending, sync)?;
    *head = next;
    *lost_since = 0;
    Ok(count)
}

/// Where a log verification stopped.
#[derive(Debug)]
pub struct Problem {
    /// The file.
    pub file: PathBuf,
    /// The 1-based line, when the problem is one record's.
    pub line: Option<usize>,
    /// The record's sequence number, when it has one.
    pub seq: Option<u64>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        if let Some(s) = self.seq {
            write!(f, ": record {s}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// What a verified log holds.
#[derive(Debug, Default)]
pub struct Summary {
    /// Records checked.
    pub records: u64,
    /// The first and last sequence numbers.
    pub first: Option<u64>,
    /// The last sequence number.
    pub last: Option<u64>,
    /// Decisions the server could not log, as its `lost` records say.
    pub lost: u64,
    /// Whether a head was checked.
    pub head_checked: bool,
    /// The chains, in order: one, or one more after every `start` record
    /// that follows a record (a server logging to standard output starts
    /// a new chain at every start).
    pub chains: Vec<Chain>,
}

/// One chain of a verified log.
#[derive(Debug)]
pub struct Chain {
    /// The file its first record is in.
    pub file: PathBuf,
    /// The 1-based line of its first record.
    pub line: usize,
    /// Its first sequence number.
    pub first: u64,
    /// Its last sequence number.
    pub last: u64,
}

fn problem(file: &Path, line: Option<usize>, seq: Option<u64>, m: impl Into<String>) -> Problem {
    Problem {
        file: file.to_path_buf(),
        line,
        seq,
        message: m.into(),
    }
}

/// Reads and checks a head document (`GET /v1/log/head`): its seq and
/// hash.
fn read_head(path: &Path, keys: &[PublicKey]) -> Result<(u64, String), Problem> {
    let fail = |m: String| problem(path, None, None, m);
    let mut text = String::new();
    File::open(path)
        .and_then(|f| f.take(1 << 20).read_to_string(&mut text))
        .map_err(|e| fail(format!("cannot read the head: {}", lower(&e))))?;
    let Ok(Value::Object(head)) = jitp_runtime::parse_unique(&text, "the head") else {
        return Err(fail("the head is not a JSON object".into()));
    };
    let seq = head.get("seq").and_then(Value::as_u64);
    let hash = head.get("hash").and_then(Value::as_str);
    let id = head.get("log_key_id").and_then(Value::as_str);
    let sig = head
        .get("sig")
        .and_then(Value::as_str)
        .and_then(hex_bytes::<64>);
    let (Some(seq), Some(hash), Some(id), Some(sig)) = (seq, hash, id, sig) else {
        return Err(fail(
            "the head needs `seq`, `hash`, `log_key_id` and `sig`".into(),
        ));
    };
    let Some(key) = keys.iter().find(|k| k.id().to_string() == id) else {
        return Err(fail(format!(
            "the head is signed by key `{id}`, which is not given with `--key`"
        )));
    };
    if !key.verify(&signed_message(HEAD_DOMAIN, &head_digest(&head)), &sig) {
        return Err(fail("the head's signature does not verify".into()));
    }
    Ok((seq, hash.to_string()))
}

/// Verifies the records of `files`, in order, as one chain: every line a
/// record whose hash matches its contents and whose signature verifies
/// with one of `keys`, each record the one after the one before (`seq`
/// one more, `prev` its hash); then, with a `head`, that the log reaches
/// the head's record with the head's hash. The first record must be
/// record 1 (`prev` all zeros) unless `partial` (older files removed by
/// retention). A `start` record (record 1, `prev` all zeros) after a
/// record begins a new chain, reported in [`Summary::chains`]; the same
/// chain twice is refused. With several chains, the head may be in any.
pub fn verify(
    files: &[PathBuf],
    keys: &[PublicKey],
    head: Option<&Path>,
    partial: bool,
) -> Result<Summary, Problem> {
    let head = head.map(|h| read_head(h, keys)).transpose()?;
    let mut sum = Summary::default();
    let mut last: Option<(u64, String)> = None;
    let mut head_seen = false;
    let mut head_mismatch: Option<Problem> = None;
    let mut starts: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut last_file = PathBuf::new();
    for file in files {
        last_file.clone_from(file);
        let f = File::open(file)
            .map_err(|e| problem(file, None, None, format!("cannot read it: {}", lower(&e))))?;
        let mut reader = std::io::BufReader::new(f);
        let mut line_no = 0;
        loop {
            let mut buf = Vec::new();
            let n = (&mut reader)
                .take(MAX_LINE)
                .read_until(b'\n', &mut buf)
                .map_err(|e| problem(file, None, None, format!("cannot read it: {}", lower(&e))))?;
            if n == 0 {
                break;
            }
            line_no += 1;
            let at = Some(line_no);
            if buf.pop() != Some(b'\n') {
                return Err(problem(
                    file,
                    at,
                    None,
                    "the line is incomplete (no newline: a write was cut short, or the line is too long)",
                ));
            }
            let text = std::str::from_utf8(&buf)
                .map_err(|_| problem(file, at, None, "the line is not UTF-8"))?;
            let rec = match jitp_runtime::parse_unique(text, "the record") {
                Ok(Value::Object(m)) => m,
                Ok(_) => return Err(problem(file, at, None, "the line is not a JSON object")),
                Err(e) => {
                    return Err(problem(
                        file,
                        at,
                        None,
                        format!("the line is not a valid record: {e}"),
                    ))
                }
            };
            let seq = rec.get("seq").and_then(Value::as_u64);
            let get = |k: &str| rec.get(k).and_then(Value::as_str);
            let (Some(seq), Some(hash), Some(prev), Some(id), Some(sig), Some(kind)) = (
                seq,
                get("hash"),
                get("prev"),
                get("log_key_id"),
                get("sig"),
                get("kind"),
            ) else {
                return Err(problem(
                    file,
                    at,
                    seq,
                    "the record lacks one of `seq`, `kind`, `prev`, `log_key_id`, `hash`, `sig`",
                ));
            };
            let bad = |m: String| problem(file, at, Some(seq), m);
            let digest = record_hash(&rec);
            if hex(&digest) != hash {
                return Err(bad(
                    "its contents do not match its hash: the record was changed".into(),
                ));
            }
            let Some(key) = keys.iter().find(|k| k.id().to_string() == id) else {
                return Err(bad(format!(
                    "it is signed by key `{id}`, which is not given with `--key`"
                )));
            };
            let sig =
                hex_bytes::<64>(sig).ok_or_else(|| bad("`sig` is not 128 hex digits".into()))?;
            if !key.verify(&signed_message(RECORD_DOMAIN, &digest), &sig) {
                return Err(bad("its signature does not verify".into()));
            }
            let restart = kind == "start";
            if restart && (seq != 1 || prev != GENESIS) {
                return Err(bad(
                    "a `start` record must be record 1 of its chain, with `prev` all zeros".into(),
                ));
            }
            if restart && !starts.insert(hash.to_string()) {
                return Err(bad(
                    "this chain's `start` record was seen before: a chain is repeated".into(),
                ));
            }
            match &last {
                Some((s, _)) if restart => {
                    if let Some(c) = sum.chains.last_mut() {
                        c.last = *s;
                    }
                    sum.chains.push(Chain {
                        file: file.clone(),
                        line: line_no,
                        first: seq,
                        last: seq,
                    });
                }
                None if seq == 1 && prev != GENESIS => {
                    return Err(bad(
                        "the first record of a chain must have `prev` all zeros".into(),
                    ))
                }
                None if seq != 1 && !partial => {
                    return Err(bad(format!(
                        "the log starts at record {seq}, not 1: earlier records are missing\nhelp: if older files were removed by retention, pass `--partial`"
                    )))
                }
                None => {}
                Some((s, h)) => {
                    if seq != s + 1 {
                        return Err(bad(if seq > s + 1 {
                            format!(
                                "expected record {}: record{} {} missing (deleted or moved)",
                                s + 1,
                                if seq - s > 2 { "s" } else { "" },
                                if seq - s > 2 {
                                    format!("{}..{} are", s + 1, seq - 1)
                                } else {
                                    format!("{} is", s + 1)
                                }
                            )
                        } else {
                            format!(
                                "expected record {} after record {s}: records are out of order (moved or repeated)",
                                s + 1
                            )
                        }));
                    }
                    if prev != h {
                        return Err(bad(format!(
                            "its `prev` is not the hash of record {s}: the chain is broken"
                        )));
                    }
                }
            }
            if let Some((hs, hh)) = &head {
                if seq == *hs {
                    if hash == hh {
                        head_seen = true;
                    } else if head_mismatch.is_none() {
                        head_mismatch = Some(bad(
                            "its hash differs from the published head's: the log was rewritten"
                                .into(),
                        ));
                    }
                }
            }
            if kind == "lost" {
                sum.lost += rec.get("count").and_then(Value::as_u64).unwrap_or(0);
            }
            if sum.chains.is_empty() {
                sum.chains.push(Chain {
                    file: file.clone(),
                    line: line_no,
                    first: seq,
                    last: seq,
                });
            }
            sum.records += 1;
            sum.first.get_or_insert(seq);
            sum.last = Some(seq);
            last = Some((seq, hash.to_string()));
        }
    }
    if let (Some(c), Some((s, _))) = (sum.chains.last_mut(), &last) {
        c.last = *s;
    }
    if let Some((hs, _)) = head {
        let end = last.as_ref().map_or(0, |(s, _)| *s);
        if !head_seen && hs > 0 {
            if sum.chains.len() > 1 {
                return Err(problem(
                    &last_file,
                    None,
                    None,
                    format!(
                        "the head (record {hs}) is in none of the {} chains of these files: its chain was cut or rewritten, or the head is another log's",
                        sum.chains.len()
                    ),
                ));
            }
            if let Some(p) = head_mismatch {
                return Err(p);
            }
            return Err(problem(
                &last_file,
                None,
                None,
                if end < hs {
                    format!("the log ends at record {end}, but the head is record {hs}: records {}..{hs} are missing (the tail was cut)", end + 1)
                } else {
                    format!("the head's record {hs} is not in these files")
                },
            ));
        }
        sum.head_checked = true;
    }
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_sorts_keys_and_drops_whitespace() {
        let v: Value =
            serde_json::from_str(r#"{"b": [1, 2.5, "x\n"], "a": {"d": null, "c": true}}"#)
                .unwrap_or_default();
        let mut s = String::new();
        canonical(&v, &mut s);
        assert_eq!(s, r#"{"a":{"c":true,"d":null},"b":[1,2.5,"x\n"]}"#);
    }

    #[test]
    fn redaction_replaces_only_the_path() {
        let mut v = serde_json::json!({"context": {"secret": "s", "other": 1}});
        redact(&mut v, &["context".into(), "secret".into()]);
        redact(&mut v, &["context".into(), "absent".into(), "x".into()]);
        assert_eq!(
            v,
            serde_json::json!({"context": {"secret": REDACTED, "other": 1}})
        );
    }

    fn path(p: &str) -> Vec<String> {
        p.split('.').map(str::to_string).collect()
    }

    #[test]
    fn redaction_goes_through_arrays_at_any_depth() {
        let mut v = serde_json::json!({"context": {
            "items": [
                {"secret": "a", "keep": 1},
                "plain",
                [{"secret": "b"}, [{"secret": "c"}]],
                {"keep": 2},
                {"nested": [{"secret": "not on the path"}]}
            ],
            "list": [{"inner": {"secret": "d"}}, {"inner": [{"secret": "e"}]}]
        }});
        redact(&mut v, &path("context.items.secret"));
        redact(&mut v, &path("context.list.inner.secret"));
        assert_eq!(
            v,
            serde_json::json!({"context": {
                "items": [
                    {"secret": REDACTED, "keep": 1},
                    "plain",
                    [{"secret": REDACTED}, [{"secret": REDACTED}]],
                    {"keep": 2},
                    {"nested": [{"secret": "not on the path"}]}
                ],
                "list": [{"inner": {"secret": REDACTED}}, {"inner": [{"secret": REDACTED}]}]
            }})
        );
        // A path ending at an array replaces the whole array.
        let mut w = serde_json::json!({"context": {"items": [1, 2]}});
        redact(&mut w, &path("context.items"));
        assert_eq!(w, serde_json::json!({"context": {"items": REDACTED}}));
        // A top-level array is traversed too; paths that are not there,
        // or meet a scalar, change nothing.
        let mut x = serde_json::json!([{"a": {"b": 1}}, {"a": 2}, 3]);
        redact(&mut x, &path("a.b"));
        redact(&mut x, &path("a.b.c"));
        redact(&mut x, &path("zz"));
        assert_eq!(x, serde_json::json!([{"a": {"b": REDACTED}}, {"a": 2}, 3]));
    }

    #[test]
    fn redaction_is_bounded_on_deep_and_wide_input() {
        // Far deeper than any request can be (serde_json stops at 128):
        // redaction must not recurse.
        let mut deep = serde_json::json!({"secret": "s"});
        for _ in 0..100_000 {
            deep = Value::Array(vec![deep]);
        }
        redact(&mut deep, &path("secret"));
        let mut inner = &deep;
        while let Value::Array(a) = inner {
            inner = a.first().unwrap_or(&Value::Null);
        }
        assert_eq!(inner, &serde_json::json!({"secret": REDACTED}));
        // Dropping a 100 000-deep value recurses in serde_json: take it
        // apart iteratively.
        let mut stack = vec![deep];
        while let Some(v) = stack.pop() {
            if let Value::Array(a) = v {
                stack.extend(a);
            }
        }
        let mut wide = Value::Array(vec![serde_json::json!({"secret": 1}); 100_000]);
        redact(&mut wide, &path("secret"));
        assert!(wide
            .as_array()
            .is_some_and(|a| a.iter().all(|x| x["secret"] == REDACTED)));
    }
}
