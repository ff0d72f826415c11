//! Durable task state for `jitp serve`.
//!
//! A task moves `requested → active → ended` (or `requested → rejected`).
//! [`TaskStore`] is the one interface the decision service uses; it has two
//! implementations that pass the same test suite ([`testing::suite`]):
//!
//! - [`SqliteStore`]: one file, no server to start (WAL journal,
//!   `synchronous=FULL`): the default;
//! - [`PgStore`]: PostgreSQL, for several replicas sharing task state.
//!
//! Every transition is a compare-and-set inside one transaction that locks
//! the task's row (`BEGIN IMMEDIATE` in SQLite, `SELECT ... FOR UPDATE` in
//! PostgreSQL), and is committed (durably) before [`TaskStore::update`]
//! returns, so racing approvals and ends leave one consistent state, and
//! an acknowledged transition survives a crash. The state machine itself
//! ([`Task::approve`], [`Task::end`]) is plain code shared by both back
//! ends. Schemas are versioned in a `jitp_migrations` table.

#![forbid(unsafe_code)]
#![warn(clippy::unwrap_used, clippy::expect_used)]
#![deny(clippy::indexing_slicing, clippy::panic)]

mod pg;
mod sqlite;
pub mod testing;

pub use pg::PgStore;
pub use sqlite::SqliteStore;

use serde::{Deserialize, Serialize};

/// Most approvals one task records (further ones are refused).
pub const MAX_APPROVALS: usize = 64;
/// Longest justification or ticket, in bytes.
pub const MAX_TEXT: usize = 4096;

/// A principal: an entity type and id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// The entity type.
    #[serde(rename = "type")]
    pub ty: String,
    /// The id (canonical identity).
    pub id: String,
}

/// Where a task is in its life.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Waiting for approvals.
    Requested,
    /// Started: its grants apply until `expires_at` or an early end.
    Active,
    /// Ended early.
    Ended,
    /// Ended before it started.
    Rejected,
}

impl TaskState {
    /// The state as written.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Requested => "requested",
            TaskState::Active => "active",
            TaskState::Ended => "ended",
            TaskState::Rejected => "rejected",
        }
    }
}

/// One approval that counts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// The approver.
    pub by: Principal,
    /// The approver's comparison key (the runtime's `approver_key`: the
    /// canonical id, case-folded; the type is not part of it, as when the
    /// runtime counts `task.approvals`): one key counts once.
    pub key: String,
    /// When (µs since the epoch).
    pub at: i64,
}

/// One entry of a task's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// `requested`, `approved`, `started`, `ended` or `rejected`.
    pub kind: String,
    /// Who did it, when known.
    pub by: Option<Principal>,
    /// When (µs since the epoch).
    pub at: i64,
}

/// A task as the store holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// Random, unguessable id (128-bit hex).
    pub id: String,
    /// The task's name in the policy.
    pub name: String,
    /// Whom the task is for.
    pub principal: Principal,
    /// The principal's comparison key: it never approves its own task.
    pub principal_key: String,
    /// Why.
    pub justification: String,
    /// A ticket reference, if given.
    pub ticket: Option<String>,
    /// Who asked for it, when the caller had an identity.
    pub requested_by: Option<Principal>,
    /// The state.
    pub state: TaskState,
    /// Approvals needed before it starts.
    pub needed: u32,
    /// Lifetime after the start (µs); `None` for no limit.
    pub ttl: Option<i64>,
    /// Approvals that count.
    pub approvals: Vec<Approval>,
    /// When it started (µs).
    pub started_at: Option<i64>,
    /// When it ended early or was rejected (µs).
    pub ended_at: Option<i64>,
    /// The history, oldest first.
    pub events: Vec<Event>,
    /// Bumped by every transition.
    pub version: u64,
}

/// Why a transition was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The principal tried to approve its own task.
    SelfApproval,
    /// This approver already approved.
    Duplicate,
    /// The task is not waiting for approvals (state given).
    NotRequested(TaskState),
    /// The task has already ended (state given).
    AlreadyEnded(TaskState),
    /// The task holds [`MAX_APPROVALS`].
    TooManyApprovals,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::SelfApproval => write!(f, "the task's principal cannot approve its own task"),
            Refusal::Duplicate => write!(f, "this approver has already approved the task"),
            Refusal::NotRequested(s) => {
                write!(
                    f,
                    "the task is `{}`; only a requested task takes approvals",
                    s.as_str()
                )
            }
            Refusal::AlreadyEnded(s) => write!(f, "the task is already `{}`", s.as_str()),
            Refusal::TooManyApprovals => {
                write!(f, "the task holds {MAX_APPROVALS} approvals already")
            }
        }
    }
}

/// A store failure (I/O, the database).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

/// Why [`TaskStore::update`] did not apply a transition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpdateError {
    /// No task with that id.
    NotFound,
    /// The state machine refused it.
    Refused(Refusal),
    /// The store failed; nothing was written.
    Store(StoreError),
}

impl From<StoreError> for UpdateError {
    fn from(e: StoreError) -> Self {
        UpdateError::Store(e)
    }
}

/// A transition applied by [`TaskStore::update`].
pub type Transition<'a> = &'a mut dyn FnMut(&mut Task) -> Result<(), Refusal>;

/// Task storage: implemented by [`SqliteStore`] and [`PgStore`].
pub trait TaskStore: Send + Sync {
    /// Stores a new task (durably) before returning.
    fn create(&self, task: &Task) -> Result<(), StoreError>;
    /// Stores many new tasks in one transaction (durably, all or none)
    /// before returning: for seeding and imports, where a commit per task
    /// would cost a sync each. Listing keeps their order.
    fn create_many(&self, tasks: &[Task]) -> Result<(), StoreError>;
    /// The task with this id, if held.
    fn get(&self, id: &str) -> Result<Option<Task>, StoreError>;
    /// Applies `f` to the task atomically: the row is locked, `f` runs on
    /// the current state, and the result is committed durably before this
    /// returns; if `f` refuses, nothing is written.
    fn update(&self, id: &str, f: Transition<'_>) -> Result<Task, UpdateError>;
    /// Tasks active at `now` (µs), oldest first, at most `limit`.
    fn list_active(&self, now: i64, limit: usize) -> Result<Vec<Task>, StoreError>;
}

/// Opens the store a `--tasks` value names: `sqlite:PATH` or
/// `postgres://...` (`postgresql://` too).
pub fn open(spec: &str) -> Result<Box<dyn TaskStore>, StoreError> {
    if let Some(path) = spec.strip_prefix("sqlite:") {
        if path.is_empty() {
            return Err(StoreError(
                "`sqlite:` needs a file path\nhelp: `--tasks sqlite:tasks.db`".into(),
            ));
        }
        return Ok(Box::new(SqliteStore::open(std::path::Path::new(path))?));
    }
    if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
        return Ok(Box::new(PgStore::open(spec)?));
    }
    Err(StoreError(format!(
        "unknown task store `{spec}`\nhelp: give `sqlite:PATH` or `postgres://USER@HOST/DB`"
    )))
}

/// A fresh task id: 128 random bits, hex.
pub fn new_id() -> Result<String, StoreError> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b)
        .map_err(|e| StoreError(format!("cannot read random bytes for a task id: {e}")))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

impl Task {
    /// When the task's grants lapse (µs): `started_at + ttl`.
    pub fn expires_at(&self) -> Option<i64> {
        match (self.started_at, self.ttl) {
            (Some(s), Some(t)) => Some(s.saturating_add(t)),
            _ => None,
        }
    }

    /// The state at `now`: an active task past its ttl is ended.
    pub fn state_at(&self, now: i64) -> TaskState {
        match self.state {
            TaskState::Active if self.expires_at().is_some_and(|e| now >= e) => TaskState::Ended,
            s => s,
        }
    }

    /// A requested task; active at once (started at `at`) when it needs
    /// no approvals.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: String,
        name: String,
        principal: Principal,
        principal_key: String,
        justification: String,
        ticket: Option<String>,
        requested_by: Option<Principal>,
        needed: u32,
        ttl: Option<i64>,
        at: i64,
    ) -> Task {
        let mut t = Task {
            id,
            name,
            principal,
            principal_key,
            justification,
            ticket,
            requested_by: requested_by.clone(),
            state: TaskState::Requested,
            needed,
            ttl,
            approvals: Vec::new(),
            started_at: None,
            ended_at: None,
            events: vec![Event {
                kind: "requested".into(),
                by: requested_by,
                at,
            }],
            version: 1,
        };
        t.start_if_met(at);
        t
    }

    fn start_if_met(&mut self, at: i64) {
        if self.state == TaskState::Requested && self.approvals.len() >= self.needed as usize {
            self.state = TaskState::Active;
            self.started_at = Some(at);
            self.events.push(Event {
                kind: "started".into(),
                by: None,
                at,
            });
        }
    }

    /// Records an approval by `by` (comparison key `key`) at `at`; starts
    /// the task when its approvals are met.
    pub fn approve(&mut self, by: &Principal, key: &str, at: i64) -> Result<(), Refusal> {
        if self.state != TaskState::Requested {
            return Err(Refusal::NotRequested(self.state));
        }
        if key == self.principal_key {
            return Err(Refusal::SelfApproval);
        }
        if self.approvals.iter().any(|a| a.key == key) {
            return Err(Refusal::Duplicate);
        }
        if self.approvals.len() >= MAX_APPROVALS {
            return Err(Refusal::TooManyApprovals);
        }
        self.approvals.push(Approval {
            by: by.clone(),
            key: key.to_string(),
            at,
        });
        self.events.push(Event {
            kind: "approved".into(),
            by: Some(by.clone()),
            at,
        });
        self.version += 1;
        self.start_if_met(at);
        Ok(())
    }

    /// Ends the task at `at`: a requested task is rejected, an active one
    /// ended.
    pub fn end(&mut self, by: Option<&Principal>, at: i64) -> Result<(), Refusal> {
        let kind = match self.state_at(at) {
            TaskState::Requested => TaskState::Rejected,
            TaskState::Active => TaskState::Ended,
            s => return Err(Refusal::AlreadyEnded(s)),
        };
        self.state = kind;
        self.ended_at = Some(at);
        self.events.push(Event {
            kind: kind.as_str().into(),
            by: by.cloned(),
            at,
        });
        self.version += 1;
        Ok(())
    }

    /// The column the stores index active tasks by: expiry (µs), or
    /// `i64::MAX` for an active task without a ttl; `None` otherwise.
    pub(crate) fn active_until(&self) -> Option<i64> {
        (self.state == TaskState::Active).then(|| self.expires_at().unwrap_or(i64::MAX))
    }

    pub(crate) fn to_doc(&self) -> Result<String, StoreError> {
        serde_json::to_string(self).map_err(|e| StoreError(format!("cannot encode a task: {e}")))
    }

    pub(crate) fn from_doc(doc: &str) -> Result<Task, StoreError> {
        serde_json::from_str(doc)
            .map_err(|e| StoreError(format!("the store holds a corrupt task: {e}")))
    }
}

/// The text of an RFC 3339 time for `us` µs since the epoch.
pub fn rfc3339(us: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Now, in µs since the epoch.
pub fn now_micros() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX)
}
