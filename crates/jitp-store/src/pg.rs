//! The shared store: PostgreSQL, for several replicas.

use crate::{StoreError, Task, TaskStore, Transition, UpdateError};
use postgres::{Client, NoTls, Statement};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// The schema, one migration a version; applied in order under an advisory
/// lock (so replicas starting together migrate once), each recorded in
/// `jitp_migrations`.
const MIGRATIONS: &[&str] = &["CREATE TABLE jitp_tasks (
        id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        active_until BIGINT,
        seq BIGSERIAL,
        doc TEXT NOT NULL
    );
    CREATE INDEX jitp_tasks_active ON jitp_tasks (active_until) WHERE active_until IS NOT NULL;"];

/// Rows one statement of [`TaskStore::create_many`] inserts.
const BULK_ROWS: usize = 1000;

/// Connections each replica keeps.
const POOL: usize = 4;

/// Tasks in PostgreSQL. Every replica that opens the same database (and
/// schema) sees every transition as soon as it is committed.
pub struct PgStore {
    pool: Vec<Mutex<Conn>>,
    next: AtomicUsize,
    url: String,
    schema: Option<String>,
}

/// One connection and the statement every decision on a held task runs,
/// prepared on it once (an unprepared query costs a second round trip).
struct Conn {
    client: Client,
    get: Option<Statement>,
}

impl Conn {
    fn new(client: Client) -> Conn {
        Conn { client, get: None }
    }
}

impl std::ops::Deref for Conn {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl std::ops::DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}

fn err(what: &str) -> impl Fn(postgres::Error) -> StoreError + '_ {
    move |e| StoreError(format!("the task store: {what}: {e}"))
}

/// Splits jitp's own `jitp_schema=NAME` parameter off a connection URL.
fn split_schema(url: &str) -> Result<(String, Option<String>), StoreError> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), None));
    };
    let mut schema = None;
    let mut rest = Vec::new();
    for kv in query.split('&') {
        match kv.strip_prefix("jitp_schema=") {
            Some(s) => schema = Some(s.to_string()),
            None => rest.push(kv),
        }
    }
    if let Some(s) = &schema {
        let ok = !s.is_empty()
            && s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && !s.starts_with(|c: char| c.is_ascii_digit());
        if !ok {
            return Err(StoreError(format!(
                "`jitp_schema` `{s}` is not a plain schema name\nhelp: use lowercase letters, digits and `_`"
            )));
        }
    }
    let url = if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    Ok((url, schema))
}

impl PgStore {
    /// Connects, and migrates the schema. `url` is a libpq-style URL; a
    /// `jitp_schema=NAME` parameter keeps the tables in schema `NAME`
    /// (created when missing).
    pub fn open(url: &str) -> Result<PgStore, StoreError> {
        let (url, schema) = split_schema(url)?;
        let mut pool = Vec::with_capacity(POOL);
        for _ in 0..POOL {
            pool.push(Mutex::new(Conn::new(connect(&url, schema.as_deref())?)));
        }
        let store = PgStore {
            pool,
            next: AtomicUsize::new(0),
            url,
            schema,
        };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let mut c = self.client()?;
        let mut tx = c.transaction().map_err(err("migrating"))?;
        tx.batch_execute(
            "SELECT pg_advisory_xact_lock(7431); CREATE TABLE IF NOT EXISTS jitp_migrations (version INT PRIMARY KEY, applied_at TEXT NOT NULL)",
        )
        .map_err(err("migrating"))?;
        let have: i32 = tx
            .query_one("SELECT COALESCE(MAX(version), 0) FROM jitp_migrations", &[])
            .and_then(|r| r.try_get(0))
            .map_err(err("migrating"))?;
        if have as usize > MIGRATIONS.len() {
            return Err(StoreError(format!(
                "the task store has schema version {have}, newer than this jitp knows ({})\nhelp: upgrade jitp",
                MIGRATIONS.len()
            )));
        }
        for (i, m) in MIGRATIONS.iter().enumerate().skip(have.max(0) as usize) {
            tx.batch_execute(m).map_err(err("migrating"))?;
            tx.execute(
                "INSERT INTO jitp_migrations (version, applied_at) VALUES ($1, $2)",
                &[&(i as i32 + 1), &crate::rfc3339(crate::now_micros())],
            )
            .map_err(err("migrating"))?;
        }
        tx.commit().map_err(err("migrating"))
    }

    fn client(&self) -> Result<std::sync::MutexGuard<'_, Conn>, StoreError> {
        // A free connection if there is one, else wait for the next in turn.
        let mut guard = None;
        for c in &self.pool {
            if let Ok(g) = c.try_lock() {
                guard = Some(g);
                break;
            }
        }
        let mut g = match guard {
            Some(g) => g,
            None => {
                let n = self.next.fetch_add(1, Ordering::Relaxed) % self.pool.len().max(1);
                let m = self
                    .pool
                    .get(n)
                    .ok_or_else(|| StoreError("the task store has no connection".into()))?;
                m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
            }
        };
        if g.is_closed() {
            *g = Conn::new(connect(&self.url, self.schema.as_deref())?);
        }
        Ok(g)
    }
}

fn connect(url: &str, schema: Option<&str>) -> Result<Client, StoreError> {
    let mut c = Client::connect(url, NoTls).map_err(|e| {
        StoreError(format!(
            "cannot connect to the task store (PostgreSQL): {e}"
        ))
    })?;
    if let Some(s) = schema {
        // The name is checked by `split_schema`: letters, digits and `_`.
        c.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {s}; SET search_path TO {s}"
        ))
        .map_err(err("choosing the schema"))?;
    }
    Ok(c)
}

impl TaskStore for PgStore {
    fn create(&self, task: &Task) -> Result<(), StoreError> {
        self.client()?
            .execute(
                "INSERT INTO jitp_tasks (id, state, active_until, doc) VALUES ($1, $2, $3, $4)",
                &[
                    &task.id,
                    &task.state.as_str(),
                    &task.active_until(),
                    &task.to_doc()?,
                ],
            )
            .map_err(err("storing a task"))?;
        Ok(())
    }

    fn create_many(&self, tasks: &[Task]) -> Result<(), StoreError> {
        let mut c = self.client()?;
        let mut tx = c.transaction().map_err(err("storing tasks"))?;
        let st = tx
            .prepare(
                "INSERT INTO jitp_tasks (id, state, active_until, doc)
                 SELECT id, state, active_until, doc
                 FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[])
                      WITH ORDINALITY AS t(id, state, active_until, doc, n)
                 ORDER BY n",
            )
            .map_err(err("storing tasks"))?;
        for chunk in tasks.chunks(BULK_ROWS) {
            let ids: Vec<&str> = chunk.iter().map(|t| t.id.as_str()).collect();
            let states: Vec<&str> = chunk.iter().map(|t| t.state.as_str()).collect();
            let until: Vec<Option<i64>> = chunk.iter().map(Task::active_until).collect();
            let docs = chunk
                .iter()
                .map(Task::to_doc)
                .collect::<Result<Vec<String>, StoreError>>()?;
            tx.execute(&st, &[&ids, &states, &until, &docs])
                .map_err(err("storing tasks"))?;
        }
        // Rolled back when dropped on an error above: nothing is written.
        tx.commit().map_err(err("storing tasks"))
    }

    fn get(&self, id: &str) -> Result<Option<Task>, StoreError> {
        let mut c = self.client()?;
        let st = match &c.get {
            Some(st) => st.clone(),
            None => {
                let st = c
                    .client
                    .prepare("SELECT doc FROM jitp_tasks WHERE id = $1")
                    .map_err(err("reading a task"))?;
                c.get = Some(st.clone());
                st
            }
        };
        let row = c
            .client
            .query_opt(&st, &[&id])
            .map_err(err("reading a task"))?;
        drop(c);
        match row {
            None => Ok(None),
            Some(r) => {
                Task::from_doc(&r.try_get::<_, String>(0).map_err(err("reading a task"))?).map(Some)
            }
        }
    }

    fn update(&self, id: &str, f: Transition<'_>) -> Result<Task, UpdateError> {
        let mut c = self.client()?;
        let mut tx = c.transaction().map_err(err("starting a transition"))?;
        let row = tx
            .query_opt(
                "SELECT doc FROM jitp_tasks WHERE id = $1 FOR UPDATE",
                &[&id],
            )
            .map_err(err("reading a task"))?;
        let Some(row) = row else {
            return Err(UpdateError::NotFound);
        };
        let doc: String = row.try_get(0).map_err(err("reading a task"))?;
        let mut task = Task::from_doc(&doc)?;
        f(&mut task).map_err(UpdateError::Refused)?;
        tx.execute(
            "UPDATE jitp_tasks SET state = $1, active_until = $2, doc = $3 WHERE id = $4",
            &[
                &task.state.as_str(),
                &task.active_until(),
                &task.to_doc()?,
                &id,
            ],
        )
        .map_err(err("writing a transition"))?;
        tx.commit().map_err(err("committing a transition"))?;
        Ok(task)
    }

    fn list_active(&self, now: i64, limit: usize) -> Result<Vec<Task>, StoreError> {
        let rows = self
            .client()?
            .query(
                "SELECT doc FROM jitp_tasks WHERE active_until > $1 ORDER BY seq LIMIT $2",
                &[&now, &(limit as i64)],
            )
            .map_err(err("listing tasks"))?;
        rows.iter()
            .map(|r| Task::from_doc(&r.try_get::<_, String>(0).map_err(err("listing tasks"))?))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::split_schema;

    #[test]
    fn the_schema_parameter_is_split_off_and_checked() {
        assert_eq!(
            split_schema("postgres://u@h/db?jitp_schema=t_1&sslmode=disable").ok(),
            Some((
                "postgres://u@h/db?sslmode=disable".into(),
                Some("t_1".into())
            ))
        );
        assert!(split_schema("postgres://u@h/db?jitp_schema=x;drop").is_err());
        assert!(split_schema("postgres://u@h/db?jitp_schema=").is_err());
    }
}
