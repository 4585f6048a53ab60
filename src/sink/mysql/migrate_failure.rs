//! Why a migration step failed: a driver error, or a schema mismatch in words (shared by the
//! migrator and the live-column planner).

/// The outcome of a failed step: a driver error, or a schema mismatch in words.
pub(crate) enum MigrateFailure {
    Driver(mysql_async::Error),
    Schema(String),
}

impl From<mysql_async::Error> for MigrateFailure {
    fn from(error: mysql_async::Error) -> Self {
        Self::Driver(error)
    }
}
