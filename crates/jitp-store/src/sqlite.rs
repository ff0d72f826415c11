//! The embedded store: one SQLite file (WAL, `synchronous=FULL`).

use crate::{StoreError, Task, TaskStore, Transition, UpdateError};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use std::path::Path;
use std::sync::Mutex;

/// The schema, one migration a version; applied in order, each recorded in
/// `jitp_migrations`.
const MIGRATIONS: &[&str] = &["CREATE TABLE jitp_tasks (
        id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        active_until INTEGER,
        doc TEXT NOT NULL
    );
    CREATE INDEX jitp_tasks_active ON jitp_tasks (active_until) WHERE active_until IS NOT NULL;"];

/// Tasks in one SQLite file. Several processes may open the same file
/// (transitions take the write lock with `BEGIN IMMEDIATE`), but several
/// replicas on several hosts need [`crate::PgStore`].
pub struct SqliteStore {
    /// The connection every write (and a read when every reader is busy)
    /// goes through.
    conn: Mutex<Connection>,
    /// Read-only connections for [`TaskStore::get`], which every decision
    /// on a held task makes: under WAL they read beside the writer and
    /// each other, and each read sees every transition committed before it
    /// began.
    readers: Vec<Mutex<Connection>>,
}

/// Read-only connections a store keeps beside its writer.
const READERS: usize = 2;

fn err(what: &str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |e| StoreError(format!("the task store: {what}: {e}"))
}

impl SqliteStore {
    /// Opens (creating when missing) the file and migrates its schema.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let mut conn = Connection::open(path).map_err(|e| {
            StoreError(format!(
                "cannot open the task store `{}`: {e}",
                path.display()
            ))
        })?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(err("setting the busy timeout"))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err("switching to WAL"))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(err("setting synchronous=FULL"))?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err("migrating"))?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS jitp_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
        )
        .map_err(err("migrating"))?;
        let have: i64 = tx
            .query_row(
                "SELECT COALESCE(MAX(version), 0) FROM jitp_migrations",
                [],
                |r| r.get(0),
            )
            .map_err(err("migrating"))?;
        if have > MIGRATIONS.len() as i64 {
            return Err(StoreError(format!(
                "the task store `{}` has schema version {have}, newer than this jitp knows ({})\nhelp: upgrade jitp",
                path.display(),
                MIGRATIONS.len()
            )));
        }
        for (i, m) in MIGRATIONS.iter().enumerate().skip(have.max(0) as usize) {
            tx.execute_batch(m).map_err(err("migrating"))?;
            tx.execute(
                "INSERT INTO jitp_migrations (version, applied_at) VALUES (?1, ?2)",
                params![i as i64 + 1, crate::rfc3339(crate::now_micros())],
            )
            .map_err(err("migrating"))?;
        }
        tx.commit().map_err(err("migrating"))?;
        let mut readers = Vec::with_capacity(READERS);
        if path.as_os_str() != ":memory:" {
            for _ in 0..READERS {
                let r = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(err("opening a reader"))?;
                r.busy_timeout(std::time::Duration::from_secs(10))
                    .map_err(err("setting the busy timeout"))?;
                readers.push(Mutex::new(r));
            }
        }
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            readers,
        })
    }

    /// A free reader, or the writer when every reader is busy.
    fn reader(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.readers
            .iter()
            .find_map(|r| r.try_lock().ok())
            .unwrap_or_else(|| self.conn())
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        match self.conn.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

impl TaskStore for SqliteStore {
    fn create(&self, task: &Task) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT INTO jitp_tasks (id, state, active_until, doc) VALUES (?1, ?2, ?3, ?4)",
                params![
                    task.id,
                    task.state.as_str(),
                    task.active_until(),
                    task.to_doc()?
                ],
            )
            .map_err(err("storing a task"))?;
        Ok(())
    }

    fn create_many(&self, tasks: &[Task]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err("storing tasks"))?;
        {
            let mut st = tx
                .prepare_cached(
                    "INSERT INTO jitp_tasks (id, state, active_until, doc) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(err("storing tasks"))?;
            for task in tasks {
                st.execute(params![
                    task.id,
                    task.state.as_str(),
                    task.active_until(),
                    task.to_doc()?
                ])
                .map_err(err("storing tasks"))?;
            }
        }
        // Dropped without a commit on an error above: nothing is written.
        tx.commit().map_err(err("storing tasks"))
    }

    fn get(&self, id: &str) -> Result<Option<Task>, StoreError> {
        // Every decision on a held task reads one: the statement is
        // prepared once per connection.
        let conn = self.reader();
        let doc: Option<String> = conn
            .prepare_cached("SELECT doc FROM jitp_tasks WHERE id = ?1")
            .and_then(|mut st| st.query_row([id], |r| r.get(0)).optional())
            .map_err(err("reading a task"))?;
        drop(conn);
        doc.as_deref().map(Task::from_doc).transpose()
    }

    fn update(&self, id: &str, f: Transition<'_>) -> Result<Task, UpdateError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err("starting a transition"))?;
        let doc: Option<String> = tx
            .query_row("SELECT doc FROM jitp_tasks WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(err("reading a task"))?;
        let Some(doc) = doc else {
            return Err(UpdateError::NotFound);
        };
        let mut task = Task::from_doc(&doc)?;
        let before = task.version;
        f(&mut task).map_err(UpdateError::Refused)?;
        let n = tx
            .execute(
                "UPDATE jitp_tasks SET state = ?1, active_until = ?2, doc = ?3 WHERE id = ?4 AND json_extract(doc, '$.version') = ?5",
                params![task.state.as_str(), task.active_until(), task.to_doc()?, id, before as i64],
            )
            .map_err(err("writing a transition"))?;
        if n != 1 {
            return Err(UpdateError::Store(StoreError(
                "the task store: a transition lost a race; retry".into(),
            )));
        }
        tx.commit().map_err(err("committing a transition"))?;
        Ok(task)
    }

    fn list_active(&self, now: i64, limit: usize) -> Result<Vec<Task>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare_cached(
                "SELECT doc FROM jitp_tasks WHERE active_until > ?1 ORDER BY rowid LIMIT ?2",
            )
            .map_err(err("listing tasks"))?;
        let rows = st
            .query_map(params![now, limit as i64], |r| r.get::<_, String>(0))
            .map_err(err("listing tasks"))?;
        let mut out = Vec::new();
        for doc in rows {
            out.push(Task::from_doc(&doc.map_err(err("listing tasks"))?)?);
        }
        Ok(out)
    }
}
