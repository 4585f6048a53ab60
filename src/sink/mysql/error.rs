//! Why a MySQL operation failed, and whether trying again later can help.

use mysql_async::{DriverError, Error as MysqlError};

/// A failure of the MySQL sink. Transient failures keep the outbox for the next run; the
/// others need an operator (schema, config) or quarantine the batch (rejected data).
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// MySQL is down, refused the connection, or the connection was lost (mid-transaction
    /// the transaction is rolled back). Transient.
    #[error(
        "MySQL at {endpoint} is unreachable: {reason}; the batch stays queued for the next run"
    )]
    Unreachable { endpoint: String, reason: String },
    /// A lock wait timed out or a deadlock was detected. Transient.
    #[error("MySQL at {endpoint} is busy: {reason}; the batch stays queued for the next run")]
    Contended { endpoint: String, reason: String },
    /// Tables or columns are missing or differ from the mapping, or a migration failed. Fatal.
    #[error("MySQL schema problem: {0}")]
    Schema(String),
    /// MySQL refused the rows (a value out of range, too long, of the wrong type). Fatal for
    /// the batch.
    #[error("MySQL rejected the data: {0}")]
    Rejected(String),
    /// The sink's configuration cannot work. Fatal.
    #[error("invalid MySQL sink configuration: {0}")]
    Config(String),
}

impl SinkError {
    /// Whether the same operation may succeed if retried later.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unreachable { .. } | Self::Contended { .. })
    }
}

/// What a server error that is not about the connection means in the current operation.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Phase {
    /// Getting a connection: whatever fails (access denied, unknown database) means MySQL
    /// cannot be used right now, never that data was bad.
    Connect,
    Migrate,
    Write,
}

/// Sorts a driver error into a [`SinkError`]; `redact` removes the password from the message.
pub(crate) fn classify(
    error: MysqlError,
    endpoint: &str,
    phase: Phase,
    redact: impl Fn(&str) -> String,
) -> SinkError {
    let reason = redact(&error.to_string());
    let unreachable = || SinkError::Unreachable {
        endpoint: endpoint.to_owned(),
        reason: reason.clone(),
    };
    match &error {
        MysqlError::Io(_) => unreachable(),
        MysqlError::Driver(
            DriverError::ConnectionClosed
            | DriverError::PoolDisconnected
            | DriverError::PacketOutOfOrder
            | DriverError::UnexpectedPacket { .. },
        ) => unreachable(),
        MysqlError::Url(_) => SinkError::Config(reason),
        MysqlError::Server(server) => match server.code {
            // Lock wait timeout, deadlock.
            1205 | 1213 => SinkError::Contended {
                endpoint: endpoint.to_owned(),
                reason,
            },
            // Too many connections, access denied, unknown database, shutting down, connection
            // killed, server gone/lost, read-only (fail-over in progress).
            1040
            | 1044
            | 1045
            | 1049
            | 1053
            | 1077
            | 1152
            | 1158..=1161
            | 1290
            | 1927
            | 2006
            | 2013
            | 4031 => unreachable(),
            // No such table, unknown column, command or column denied.
            1146 | 1054 | 1142 | 1143 => SinkError::Schema(reason),
            _ => match phase {
                Phase::Connect => unreachable(),
                Phase::Migrate => SinkError::Schema(reason),
                Phase::Write => SinkError::Rejected(reason),
            },
        },
        _ => match phase {
            Phase::Connect => unreachable(),
            Phase::Migrate => SinkError::Schema(reason),
            Phase::Write => SinkError::Rejected(reason),
        },
    }
}
