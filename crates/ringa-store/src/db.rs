//! Opening the database (SQLite file or PostgreSQL URL), running the
//! migrations and the small helpers every query module shares.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use jiff::tz::TimeZone;
use ringa_core::CampaignId;

use crate::StoreError;
use crate::dnc::DncMemory;

/// The migrations of each backend, compiled into the binary, in order:
/// (version, description, SQL). The description is the file name's part
/// after the version, as sqlx's `migrate!` macro names it.
static SQLITE_SCHEMA: Schema = Schema(&[
    (1, "schema", include_str!("../migrations/sqlite/0001_schema.sql")),
    (2, "accounts", include_str!("../migrations/sqlite/0002_accounts.sql")),
    (3, "contact search", include_str!("../migrations/sqlite/0003_contact_search.sql")),
    (4, "learned state", include_str!("../migrations/sqlite/0004_learned_state.sql")),
    (5, "inbound calls", include_str!("../migrations/sqlite/0005_inbound_calls.sql")),
    (6, "inbound orders", include_str!("../migrations/sqlite/0006_inbound_orders.sql")),
    (7, "contact paused state", include_str!("../migrations/sqlite/0007_contact_paused_state.sql")),
]);
static POSTGRES_SCHEMA: Schema = Schema(&[
    (1, "schema", include_str!("../migrations/postgres/0001_schema.sql")),
    (2, "accounts", include_str!("../migrations/postgres/0002_accounts.sql")),
    (3, "contact search", include_str!("../migrations/postgres/0003_contact_search.sql")),
    (4, "learned state", include_str!("../migrations/postgres/0004_learned_state.sql")),
    (5, "inbound calls", include_str!("../migrations/postgres/0005_inbound_calls.sql")),
    (6, "inbound orders", include_str!("../migrations/postgres/0006_inbound_orders.sql")),
    (
        7,
        "contact paused state",
        include_str!("../migrations/postgres/0007_contact_paused_state.sql"),
    ),
]);

/// A backend's migrations as sqlx's `migrate!` macro would embed them:
/// `0001_schema.sql` is version 1, description `schema`, checksum of the
/// text (computed by [`Migration::new`]), so databases created by earlier
/// builds keep their migration history. Built here rather than by the
/// macro, which needs sqlx's `macros` feature and with it a second build of
/// sqlx, its drivers and SQLite's C source for the proc-macro.
///
/// [`Migration::new`]: sqlx::migrate::Migration::new
#[derive(Clone, Copy, Debug)]
struct Schema(&'static [(i64, &'static str, &'static str)]);

impl sqlx::migrate::MigrationSource<'static> for Schema {
    fn resolve(self) -> MigrationsFuture {
        let migrations = self
            .0
            .iter()
            .map(|(version, description, sql)| {
                sqlx::migrate::Migration::new(
                    *version,
                    (*description).into(),
                    sqlx::migrate::MigrationType::Simple,
                    (*sql).into(),
                    false,
                )
            })
            .collect();
        Box::pin(std::future::ready(Ok(migrations)))
    }
}

/// What [`sqlx::migrate::MigrationSource::resolve`] returns.
type MigrationsFuture = std::pin::Pin<
    Box<
        dyn Future<Output = Result<Vec<sqlx::migrate::Migration>, sqlx::error::BoxDynError>> + Send,
    >,
>;

/// The database behind a [`Store`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
pub(crate) enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same query code against whichever pool the store has. The body
/// is compiled once per backend, so the runtime-checked queries bind the
/// right driver's types.
macro_rules! on_db {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.db {
            $crate::db::Db::Sqlite($pool) => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_db;

/// The persistent store: cheap to clone, shared by every task of a node.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) db: Db,
    pub(crate) dnc: Arc<RwLock<DncMemory>>,
    pub(crate) salt: Arc<str>,
    /// Held by the one server on this database (see [`Store::claim_server`]).
    pub(crate) server_lock: Arc<std::sync::Mutex<Option<ServerLock>>>,
    /// Each campaign's time zone, read once: the key of its daily caps is
    /// its local date. A campaign's region is written only when it is
    /// created and campaigns are never deleted, so the cache cannot go stale.
    pub(crate) campaign_zones: Arc<RwLock<HashMap<CampaignId, TimeZone>>>,
}

/// What keeps a second server off the database while this one lives.
pub(crate) enum ServerLock {
    /// An exclusive lock on `DB.serve.lock` (SQLite).
    File(#[allow(dead_code)] std::fs::File),
    /// A connection holding a session advisory lock (PostgreSQL).
    Postgres(Box<sqlx::PgConnection>),
}

impl std::fmt::Debug for ServerLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServerLock::File(_) => f.write_str("ServerLock::File"),
            ServerLock::Postgres(_) => f.write_str("ServerLock::Postgres"),
        }
    }
}

impl Store {
    /// Makes this process the one server on the database: a second
    /// `ringa serve` on the same database would recover (close) the first
    /// one's attempts in flight and pace the same campaigns twice. On SQLite
    /// an exclusive lock on the file `DB.serve.lock` next to the database; on
    /// PostgreSQL a session advisory lock per schema. Held while this store
    /// (any clone) lives; freed by the operating system or the database when
    /// the process ends, even by a crash. Command-line tools do not take it.
    pub async fn claim_server(&self) -> Result<(), StoreError> {
        let lock = match &self.db {
            Db::Sqlite(pool) => {
                let path = pool.connect_options().get_filename().to_path_buf();
                if path.as_os_str().is_empty() || path.to_string_lossy().contains(":memory:") {
                    return Ok(());
                }
                let mut name = path.clone().into_os_string();
                name.push(".serve.lock");
                let lock_path = std::path::PathBuf::from(name);
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&lock_path)?;
                match file.try_lock() {
                    Ok(()) => ServerLock::File(file),
                    Err(std::fs::TryLockError::WouldBlock) => {
                        return Err(StoreError::Conflict(format!(
                            "another `ringa serve` is already running on {} (it holds {}); \
                             stop it first, or give this server its own database",
                            path.display(),
                            lock_path.display()
                        )));
                    }
                    Err(std::fs::TryLockError::Error(err)) => return Err(err.into()),
                }
            }
            Db::Postgres(pool) => {
                let mut conn = pool.acquire().await?.detach();
                let got: bool = sqlx::query_scalar(
                    "SELECT pg_try_advisory_lock(hashtext('ringa serve ' || current_schema()))",
                )
                .fetch_one(&mut conn)
                .await?;
                if !got {
                    return Err(StoreError::Conflict(
                        "another `ringa serve` is already running on this PostgreSQL database \
                         (schema): stop it first; several servers on one database are not \
                         supported yet"
                            .into(),
                    ));
                }
                ServerLock::Postgres(Box::new(conn))
            }
        };
        *self.server_lock.lock().unwrap_or_else(|p| p.into_inner()) = Some(lock);
        Ok(())
    }

    /// Opens (creating when missing) the database at `url` and brings its
    /// schema up to date. `postgres://` and `postgresql://` URLs open
    /// PostgreSQL; `sqlite://PATH`, `sqlite::memory:` or a bare file path open
    /// SQLite in WAL mode.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)
                .map_err(|err| StoreError::Invalid(format!("PostgreSQL URL: {err}")))?;
            Store::open_postgres(options).await
        } else {
            Store::open_sqlite(url).await
        }
    }

    /// Opens PostgreSQL with every table in `schema` (created when missing):
    /// lets several test suites or installations share one database.
    pub async fn open_postgres_in_schema(url: &str, schema: &str) -> Result<Store, StoreError> {
        if schema.is_empty() || !schema.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(StoreError::Invalid(format!("schema name {schema:?}")));
        }
        let options = PgConnectOptions::from_str(url)
            .map_err(|err| StoreError::Invalid(format!("PostgreSQL URL: {err}")))?;
        let admin = PgPoolOptions::new().max_connections(1).connect_with(options.clone()).await?;
        sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}")).execute(&admin).await?;
        admin.close().await;
        Store::open_postgres(options.options([("search_path", schema)])).await
    }

    async fn open_postgres(options: PgConnectOptions) -> Result<Store, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await?;
        sqlx::migrate::Migrator::new(POSTGRES_SCHEMA).await?.run(&pool).await?;
        Store::finish_open(Db::Postgres(pool)).await
    }

    async fn open_sqlite(url: &str) -> Result<Store, StoreError> {
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        let options = if url.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(url)
                .map_err(|err| StoreError::Invalid(format!("SQLite URL: {err}")))?
        } else {
            SqliteConnectOptions::new().filename(url)
        };
        let options = options
            .create_if_missing(true)
            .journal_mode(if memory { SqliteJournalMode::Memory } else { SqliteJournalMode::Wal })
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(30))
            .pragma("cache_size", "-65536")
            .pragma("temp_store", "memory")
            // Checkpoints run in the background (below), not inside a commit.
            .pragma("wal_autocheckpoint", if memory { "1000" } else { "0" });
        let pool = SqlitePoolOptions::new()
            .max_connections(if memory { 1 } else { 4 })
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await?;
        sqlx::migrate::Migrator::new(SQLITE_SCHEMA).await?.run(&pool).await?;
        if !memory {
            tokio::spawn(checkpoint_in_background(pool.clone()));
        }
        Store::finish_open(Db::Sqlite(pool)).await
    }

    async fn finish_open(db: Db) -> Result<Store, StoreError> {
        let mut store = Store {
            db,
            dnc: Arc::new(RwLock::new(DncMemory::default())),
            salt: Arc::from(""),
            server_lock: Arc::new(std::sync::Mutex::new(None)),
            campaign_zones: Arc::new(RwLock::new(HashMap::new())),
        };
        store.salt = Arc::from(store.installation_salt().await?);
        on_db!(store, pool => {
            sqlx::query(
                "INSERT INTO config (key, value) VALUES ('write_lock', '0') \
                 ON CONFLICT (key) DO NOTHING",
            )
            .execute(pool)
            .await?;
        });
        store.reload_dnc().await?;
        store.backfill_search_columns().await?;
        Ok(store)
    }

    /// Which database this store uses.
    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Closes every connection (waits for queries in flight) and gives up
    /// the server role.
    pub async fn close(&self) {
        let lock = self.server_lock.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(ServerLock::Postgres(mut conn)) = lock {
            let _ = sqlx::query("SELECT pg_advisory_unlock_all()").execute(&mut *conn).await;
            let _ = sqlx::Connection::close(*conn).await;
        }
        on_db!(self, pool => pool.close().await)
    }

    /// The PostgreSQL schema the store works in (`main` on SQLite).
    pub async fn current_schema(&self) -> Result<String, StoreError> {
        match &self.db {
            Db::Sqlite(_) => Ok("main".to_string()),
            Db::Postgres(pool) => {
                Ok(sqlx::query_scalar("SELECT current_schema()::text").fetch_one(pool).await?)
            }
        }
    }

    /// A configuration value.
    pub async fn config_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let value: Option<String> = on_db!(self, pool => {
            sqlx::query_scalar("SELECT value FROM config WHERE key = $1")
                .bind(key)
                .fetch_optional(pool)
                .await?
        });
        Ok(value)
    }

    /// Sets a configuration value.
    pub async fn config_set(&self, key: &str, value: &str) -> Result<(), StoreError> {
        on_db!(self, pool => {
            sqlx::query(
                "INSERT INTO config (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .bind(key)
            .bind(value)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The per-installation salt of erased numbers' hashes, made on first use.
    async fn installation_salt(&self) -> Result<String, StoreError> {
        let fresh: String = (0..32).map(|_| format!("{:02x}", rand::random::<u8>())).collect();
        on_db!(self, pool => {
            sqlx::query(
                "INSERT INTO config (key, value) VALUES ('erasure_salt', $1) \
                 ON CONFLICT (key) DO NOTHING",
            )
            .bind(&fresh)
            .execute(pool)
            .await?;
        });
        self.config_get("erasure_salt")
            .await?
            .ok_or_else(|| StoreError::Corrupt("the erasure salt vanished".to_string()))
    }
}

/// Copies the SQLite write-ahead log into the database file every half
/// second, so that no commit (a claim, an attempt) waits for a checkpoint.
/// Ends when the pool is closed.
async fn checkpoint_in_background(pool: SqlitePool) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        if let Err(err) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool).await {
            if pool.is_closed() {
                return;
            }
            tracing::warn!(error = %err, "background checkpoint failed");
        }
    }
}

/// Whether a database error is a lost race that the caller should retry
/// (SQLite's busy snapshot, PostgreSQL's serialization failure or deadlock).
pub(crate) fn is_retryable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            let code = db.code();
            let code = code.as_deref().unwrap_or("");
            matches!(code, "5" | "517" | "261" | "40001" | "40P01")
                || db.message().contains("database is locked")
        }
        _ => false,
    }
}

/// Typed column access that reads the same on both backends.
pub(crate) trait RowExt {
    fn int(&self, column: &str) -> Result<i64, StoreError>;
    fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError>;
    fn text(&self, column: &str) -> Result<String, StoreError>;
    fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError>;
    fn flag(&self, column: &str) -> Result<bool, StoreError> {
        Ok(self.int(column)? != 0)
    }
}

macro_rules! row_ext {
    ($row:ty) => {
        impl RowExt for $row {
            fn int(&self, column: &str) -> Result<i64, StoreError> {
                Ok(sqlx::Row::try_get(self, column)?)
            }
            fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError> {
                Ok(sqlx::Row::try_get(self, column)?)
            }
            fn text(&self, column: &str) -> Result<String, StoreError> {
                Ok(sqlx::Row::try_get(self, column)?)
            }
            fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError> {
                Ok(sqlx::Row::try_get(self, column)?)
            }
        }
    };
}
row_ext!(sqlx::sqlite::SqliteRow);
row_ext!(sqlx::postgres::PgRow);

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The files each backend's migrations folder holds, sorted.
    fn migration_files(backend: &str) -> Vec<String> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(backend);
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
            .map(|entry| entry.expect("a readable folder entry").file_name())
            .map(|name| name.to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// The migrations are embedded by hand, so a file added to a folder
    /// would silently never run: this fails until it is embedded too.
    #[test]
    fn every_migration_file_is_embedded() {
        for backend in ["sqlite", "postgres"] {
            assert_eq!(
                migration_files(backend),
                [
                    "0001_schema.sql",
                    "0002_accounts.sql",
                    "0003_contact_search.sql",
                    "0004_learned_state.sql",
                    "0005_inbound_calls.sql",
                    "0006_inbound_orders.sql",
                    "0007_contact_paused_state.sql",
                ],
                "migrations/{backend} changed: embed each new file in SQLITE_SCHEMA and \
                 POSTGRES_SCHEMA (db.rs) as its own migration"
            );
        }
    }
}
