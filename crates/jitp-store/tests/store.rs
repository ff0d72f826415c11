//! The store suite against the embedded store and, when
//! `JITP_TEST_POSTGRES` names a server, against PostgreSQL.

use jitp_store::{testing, PgStore, SqliteStore, TaskStore};

#[test]
fn sqlite_passes_the_store_suite() {
    let dir = std::env::temp_dir().join(format!("jitp-store-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("tasks.db");
    let _ = std::fs::remove_file(&path);
    testing::suite(&|| -> Box<dyn TaskStore> {
        Box::new(SqliteStore::open(&path).unwrap_or_else(|e| panic!("{e}")))
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn postgres_passes_the_store_suite() {
    let Ok(url) = std::env::var("JITP_TEST_POSTGRES") else {
        eprintln!("notice: JITP_TEST_POSTGRES is unset; the PostgreSQL store suite is skipped");
        return;
    };
    // A fresh schema a run, so runs never collide.
    let schema = format!(
        "jitp_test_{}_{}",
        std::process::id(),
        jitp_store::new_id()
            .unwrap_or_default()
            .get(..8)
            .unwrap_or("0")
    );
    let base = url.clone();
    let sep = if url.contains('?') { '&' } else { '?' };
    let url = format!("{url}{sep}jitp_schema={schema}");
    testing::suite(&|| -> Box<dyn TaskStore> {
        Box::new(PgStore::open(&url).unwrap_or_else(|e| panic!("{e}")))
    });
    if let Ok(mut c) = postgres::Client::connect(&base, postgres::NoTls) {
        let _ = c.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"));
    }
}
