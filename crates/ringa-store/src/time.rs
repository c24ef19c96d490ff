//! Instants as stored: UTC milliseconds since the Unix epoch.

use jiff::Timestamp;

use crate::StoreError;

/// An instant as the integer the database keeps.
pub(crate) fn ms(at: Timestamp) -> i64 {
    at.as_millisecond()
}

/// An integer from the database back as an instant.
pub(crate) fn ts(ms: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_millisecond(ms)
        .map_err(|err| StoreError::Corrupt(format!("instant {ms}: {err}")))
}

/// An optional instant from the database.
pub(crate) fn opt_ts(ms: Option<i64>) -> Result<Option<Timestamp>, StoreError> {
    ms.map(ts).transpose()
}
