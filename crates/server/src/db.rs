//! Database access: one `AnyPool` over SQLite or PostgreSQL, the same SQL for both.
//!
//! A SQLite database is served by one server process: the first to open it holds a lock on
//! `<file>.lock` until it closes the database, and a second is refused with a clear error
//! (the single-writer shortcuts in `writes` rely on it). Several processes share one
//! PostgreSQL database.
//!
//! Dependencies: `files` (private database files) only.

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Executor, Transaction};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

pub type Tx = Transaction<'static, Any>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unsupported database url (expected sqlite:// or postgres://): {0}")]
    UnsupportedUrl(String),
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(
        "the database's schema is at version {found}, newer than this deskbell-server knows \
         (up to {known}): another node runs a newer release; run that release here too"
    )]
    SchemaNewer { found: i64, known: i64 },
    #[error(
        "another deskbell-server{holder} serves the SQLite database {file}: SQLite serves one \
         node. To run several, give every node the same PostgreSQL database \
         (--database-url postgres://…) and Redis (--redis-url)"
    )]
    SqliteInUse { file: String, holder: String },
    #[error("cannot lock the SQLite database {file}: {source}")]
    SqliteLock {
        file: String,
        source: std::io::Error,
    },
}

#[derive(Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
    /// A checkpoint left the SQLite log for the next writer to start over (`restart_log`).
    log_restart_due: Arc<AtomicBool>,
    /// The SQLite database's one-server lock, released by `close`.
    node_lock: Arc<Mutex<Option<std::fs::File>>>,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Db {
    /// Connects and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Db, DbError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(DbError::UnsupportedUrl(redact_url(url)));
        };
        let node_lock = match crate::files::sqlite_file(url) {
            Some(file) if backend == Backend::Sqlite => Some(lock_sqlite(&file)?),
            _ => None,
        };
        let options = AnyConnectOptions::from_str(url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 8 } else { 16 })
            // A connection to a local SQLite file does not go stale; pinging it on every
            // acquire is a round trip to its worker thread for nothing. A PostgreSQL
            // connection can (server restart), so it is checked.
            .test_before_acquire(backend == Backend::Postgres)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA busy_timeout = 15000").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        // The commit that crosses the WAL's size limit would copy it back into
                        // the database inside the write path, stalling every queued write;
                        // `checkpoint` does it in the background instead.
                        conn.execute("PRAGMA wal_autocheckpoint = 0").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::VersionMissing(found) => DbError::SchemaNewer {
                found,
                known: migrator.iter().map(|m| m.version).max().unwrap_or(0),
            },
            e => DbError::Migrate(e),
        })?;
        Ok(Db {
            pool,
            backend,
            log_restart_due: Arc::default(),
            node_lock: Arc::new(Mutex::new(node_lock)),
        })
    }

    /// Copies what the SQLite write-ahead log holds back into the database file while
    /// readers and writers go on, and asks the next writer to finish the job (`restart_log`):
    /// under a steady stream of writes a checkpoint that lets writers go on never catches up,
    /// and the log would never start over. Nothing to do on PostgreSQL.
    pub async fn checkpoint(&self) -> Result<(), sqlx::Error> {
        if self.backend == Backend::Sqlite {
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&self.pool)
                .await?;
            self.log_restart_due.store(true, Ordering::Release);
        }
        Ok(())
    }

    /// Called by a writer right after it committed, still holding its company's write lock, on
    /// its own connection: copies what was written since the last checkpoint (little) and has
    /// the next write start the log over. Does nothing unless a checkpoint asked for it.
    pub async fn restart_log(&self, conn: &mut sqlx::AnyConnection) -> Result<(), sqlx::Error> {
        if self.log_restart_due.swap(false, Ordering::AcqRel) {
            conn.execute("PRAGMA wal_checkpoint(RESTART)").await?;
        }
        Ok(())
    }

    pub fn log_restart_due(&self) -> bool {
        self.log_restart_due.load(Ordering::Acquire)
    }

    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    pub async fn close(&self) {
        self.pool.close().await;
        // Another process may serve the file from now on.
        self.node_lock.lock().expect("node lock poisoned").take();
    }
}

/// Takes the one-server lock of a SQLite database (an advisory lock on `<file>.lock`, which
/// the kernel releases if the process dies) and writes this process's id into it.
fn lock_sqlite(file: &std::path::Path) -> Result<std::fs::File, DbError> {
    use std::io::{Read, Seek, Write};
    let path = {
        let mut name = file.as_os_str().to_owned();
        name.push(".lock");
        std::path::PathBuf::from(name)
    };
    let shown = file.display().to_string();
    let failed = |source| DbError::SqliteLock {
        file: shown.clone(),
        source,
    };
    let mut options = crate::files::private_file_options();
    options.read(true).write(true).create(true).truncate(false);
    let mut lock = options.open(&path).map_err(failed)?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = lock.read_to_string(&mut pid);
            let holder = match pid.trim().parse::<u32>() {
                Ok(pid) => format!(" (process {pid})"),
                Err(_) => String::new(),
            };
            return Err(DbError::SqliteInUse {
                file: shown,
                holder,
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(failed(e)),
    }
    lock.set_len(0).map_err(failed)?;
    lock.rewind().map_err(failed)?;
    write!(lock, "{}", std::process::id()).map_err(failed)?;
    Ok(lock)
}

/// A URL safe for logs: the password is replaced.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Row;

    #[tokio::test]
    async fn sqlite_checkpoints_in_the_background_not_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.db");
        let db = Db::connect(&format!("sqlite://{}?mode=rwc", file.display()))
            .await
            .unwrap();
        let limit: i64 = sqlx::query("PRAGMA wal_autocheckpoint")
            .fetch_one(&db.pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
        assert_eq!(limit, 0, "commits must not checkpoint");
        db.checkpoint().await.unwrap();
        let before = std::fs::metadata(&file).unwrap().len();
        sqlx::query("INSERT INTO companies (name, created_at) VALUES ($1, 'now')")
            .bind("x".repeat(200_000))
            .execute(&db.pool)
            .await
            .unwrap();
        assert_eq!(
            std::fs::metadata(&file).unwrap().len(),
            before,
            "a commit only appends to the write-ahead log"
        );
        db.checkpoint().await.unwrap();
        let after = std::fs::metadata(&file).unwrap().len();
        assert!(
            after > before + 150_000,
            "checkpointed: {before} → {after} bytes"
        );
    }

    #[tokio::test]
    async fn a_sqlite_database_is_served_by_one_process_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("one.db").display());
        let first = Db::connect(&url).await.unwrap();
        let refused = Db::connect(&url)
            .await
            .err()
            .expect("a second server is refused");
        let message = refused.to_string();
        assert!(matches!(refused, DbError::SqliteInUse { .. }), "{message}");
        assert!(
            message.contains(&format!("(process {})", std::process::id()))
                && message.contains("one.db")
                && message.contains("PostgreSQL"),
            "says who holds which file and what to do instead: {message}"
        );
        first.close().await;
        let next = Db::connect(&url).await.expect("free again once closed");
        next.close().await;
    }

    #[tokio::test]
    async fn a_schema_newer_than_this_binary_is_named_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display());
        let db = Db::connect(&url).await.unwrap();
        // As a newer node would leave it: a migration this binary does not have.
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES (9999, 'from the future', 1, x'00', 0)",
        )
        .execute(&db.pool)
        .await
        .unwrap();
        db.close().await;
        let refused = Db::connect(&url).await.err().expect("refused").to_string();
        assert!(
            refused.contains("version 9999") && refused.contains("newer than this deskbell-server"),
            "{refused}"
        );
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@host/db"),
            "postgres://u:***@host/db"
        );
        assert_eq!(redact_url("sqlite:///tmp/x"), "sqlite:///tmp/x");
    }
}
