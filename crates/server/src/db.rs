//! Database access: one `AnyPool` over SQLite or PostgreSQL, the same SQL for both.

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Executor, Transaction};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

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
}

#[derive(Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
    /// A checkpoint left the SQLite log for the next writer to start over (`restart_log`).
    log_restart_due: Arc<AtomicBool>,
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
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        Ok(Db {
            pool,
            backend,
            log_restart_due: Arc::default(),
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
    }
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

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@host/db"),
            "postgres://u:***@host/db"
        );
        assert_eq!(redact_url("sqlite:///tmp/x"), "sqlite:///tmp/x");
    }
}
