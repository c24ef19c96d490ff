//! The store's error type.

use std::fmt;

/// Why a store operation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// The database refused or failed.
    Database(sqlx::Error),
    /// A migration could not be applied.
    Migrate(sqlx::migrate::MigrateError),
    /// A file could not be read or written.
    Io(std::io::Error),
    /// The named thing does not exist.
    NotFound(String),
    /// The request conflicts with the current state (a lost claim, a closed attempt).
    Conflict(String),
    /// The request itself is wrong (a bad URL, an unknown zone).
    Invalid(String),
    /// A value stored in the database cannot be read back.
    Corrupt(String),
    /// Delivering an export failed.
    Delivery(String),
    /// The number is on a do-not-call list: it must not be dialed.
    DoNotCall(String),
}

impl StoreError {
    /// Whether the database refused a row because a unique column (a
    /// campaign's name, a user's login) already holds its value.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(db)) => db.is_unique_violation(),
            _ => false,
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Database(err) => write!(f, "database error: {err}"),
            StoreError::Migrate(err) => write!(f, "database migration failed: {err}"),
            StoreError::Io(err) => write!(f, "file error: {err}"),
            StoreError::NotFound(what) => write!(f, "not found: {what}"),
            StoreError::Conflict(what) => write!(f, "conflict: {what}"),
            StoreError::Invalid(what) => write!(f, "invalid request: {what}"),
            StoreError::Corrupt(what) => write!(f, "unreadable stored value: {what}"),
            StoreError::Delivery(what) => write!(f, "export delivery failed: {what}"),
            StoreError::DoNotCall(what) => write!(f, "do-not-call: {what}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Database(err) => Some(err),
            StoreError::Migrate(err) => Some(err),
            StoreError::Io(err) => Some(err),
            _ => None,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        StoreError::Database(err)
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migrate(err)
    }
}

impl From<std::io::Error> for StoreError {
    fn from(err: std::io::Error) -> Self {
        StoreError::Io(err)
    }
}
