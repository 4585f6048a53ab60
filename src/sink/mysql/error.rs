//! Why a MySQL operation failed, in MySQL's own terms, and what the push does about it.
//!
//! Callers act on the variant, never on the text: [`SinkError::is_transient`] keeps the batch
//! queued for the next run, [`SinkError::is_data_rejection`] means the rows themselves were
//! refused (the push isolates and quarantines the order that causes it).

use mysql_async::{DriverError, Error as MysqlError, IoError};

/// A failure of the MySQL sink.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// MySQL is down, refused the connection, refused the login, or the connection was lost
    /// (mid-transaction the transaction is rolled back). Transient.
    #[error(
        "MySQL at {endpoint} is unreachable: {reason}; the batch stays queued for the next run"
    )]
    Unreachable { endpoint: String, reason: String },
    /// The server accepts reads only (a replica, `read_only`, a fail-over in progress).
    /// Transient: the batch stays queued.
    #[error(
        "MySQL at {endpoint} is read-only ({reason}): point JST_MYSQL_URL at the primary, or wait \
         for the fail-over to finish; the batch stays queued for the next run"
    )]
    ReadOnly { endpoint: String, reason: String },
    /// A lock wait timed out or a deadlock was detected, on every one of `attempts` tries.
    /// Transient.
    #[error(
        "MySQL at {endpoint} is busy: {reason} ({attempts} attempts); another client holds the \
         rows' locks; the batch stays queued for the next run"
    )]
    Contended {
        endpoint: String,
        reason: String,
        attempts: u32,
    },
    /// The user lacks a privilege. Needs a DBA.
    #[error(
        "MySQL at {endpoint} denies {privilege} on {object} ({reason}); a DBA can grant it with: \
         {grant}"
    )]
    Denied {
        endpoint: String,
        privilege: String,
        object: String,
        grant: String,
        reason: String,
    },
    /// One statement (one order's row) is bigger than the server's `max_allowed_packet`.
    /// Rejected data: the order is set aside.
    #[error(
        "MySQL at {endpoint} refuses packets over max_allowed_packet ({max_allowed_packet} bytes): \
         {detail}; raise max_allowed_packet on the server to take such an order"
    )]
    PacketTooLarge {
        endpoint: String,
        max_allowed_packet: usize,
        detail: String,
    },
    /// MySQL refused the rows (a value out of range, too long, of the wrong type, a
    /// constraint). Rejected data: the order that causes it is set aside.
    #[error("MySQL rejected the data: {0}")]
    Rejected(String),
    /// A table or column the sink writes is gone or was changed by someone else since the
    /// migration. Needs `jst-sync migrate`.
    #[error(
        "MySQL tables at {endpoint} were changed outside jst-sync ({reason}); run `jst-sync \
         migrate` (as a user with CREATE and ALTER) to bring them back; the batch stays queued"
    )]
    SchemaChanged { endpoint: String, reason: String },
    /// The tables are not at the version this jst-sync expects and this user may not migrate.
    #[error(
        "MySQL tables at {endpoint} need migrating ({needed}) but this user may not change them \
         ({reason}); run `jst-sync migrate` once as a user with CREATE and ALTER on the database"
    )]
    MigrationNeeded {
        endpoint: String,
        needed: String,
        reason: String,
    },
    /// Tables or columns differ from the mapping, or a migration failed. Fatal.
    #[error("MySQL schema problem: {0}")]
    Schema(String),
    /// The sink's configuration cannot work. Fatal.
    #[error("invalid MySQL sink configuration: {0}")]
    Config(String),
}

impl SinkError {
    /// Whether the same operation may succeed if retried later.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Unreachable { .. } | Self::ReadOnly { .. } | Self::Contended { .. }
        )
    }

    /// Whether MySQL refused the rows themselves: retrying the same rows cannot help, other
    /// orders can still be written.
    pub fn is_data_rejection(&self) -> bool {
        matches!(self, Self::Rejected(_) | Self::PacketTooLarge { .. })
    }

    /// Whether the user lacks a privilege (or may not run DDL).
    pub fn is_denied(&self) -> bool {
        matches!(self, Self::Denied { .. })
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

/// Who the sink is on which server, for messages.
#[derive(Clone, Debug)]
pub(crate) struct Identity {
    /// `host:port`.
    pub endpoint: String,
    pub user: String,
    pub database: String,
    /// The server's `max_allowed_packet` (0 before it is known).
    pub max_allowed_packet: usize,
}

/// The error's text without mysql_async's repeated prefixes ("Input/output error:
/// Input/output error: …"): the innermost message.
pub(crate) fn reason_of(error: &MysqlError) -> String {
    match error {
        MysqlError::Io(IoError::Io(io)) => match io.get_ref() {
            Some(inner) => inner.to_string(),
            None => io.to_string(),
        },
        MysqlError::Io(other) => other.to_string(),
        MysqlError::Driver(driver) => driver.to_string(),
        MysqlError::Server(server) => format!("ERROR {}: {}", server.code, server.message),
        MysqlError::Url(url) => url.to_string(),
        MysqlError::Other(other) => other.to_string(),
    }
}

/// Whether mysql_async refused to send a packet over the negotiated `max_allowed_packet`.
fn is_client_packet_too_large(error: &MysqlError) -> bool {
    match error {
        MysqlError::Driver(DriverError::PacketTooLarge) => true,
        // The codec's own error travels inside an `io::Error`; its type is not exported.
        MysqlError::Io(IoError::Io(io)) => io
            .get_ref()
            .is_some_and(|inner| inner.to_string().eq_ignore_ascii_case("packet too large")),
        _ => false,
    }
}

/// Sorts a driver error into a [`SinkError`]; `redact` removes the password from the message.
pub(crate) fn classify(
    error: MysqlError,
    who: &Identity,
    phase: Phase,
    redact: impl Fn(&str) -> String,
) -> SinkError {
    let reason = redact(&reason_of(&error));
    let endpoint = who.endpoint.clone();
    let unreachable = |reason: String| SinkError::Unreachable {
        endpoint: who.endpoint.clone(),
        reason,
    };
    if is_client_packet_too_large(&error) {
        return SinkError::PacketTooLarge {
            endpoint,
            max_allowed_packet: who.max_allowed_packet,
            detail: "the client refused to send a statement that large".to_owned(),
        };
    }
    let by_phase = |reason: String| match phase {
        Phase::Connect => SinkError::Unreachable {
            endpoint: who.endpoint.clone(),
            reason,
        },
        Phase::Migrate => SinkError::Schema(reason),
        Phase::Write => SinkError::Rejected(reason),
    };
    let server = match &error {
        MysqlError::Server(server) => server,
        MysqlError::Url(_) => return SinkError::Config(reason),
        MysqlError::Io(_)
        | MysqlError::Driver(
            DriverError::ConnectionClosed
            | DriverError::PoolDisconnected
            | DriverError::PacketOutOfOrder
            | DriverError::UnexpectedPacket { .. },
        ) => return unreachable(reason),
        _ => return by_phase(reason),
    };
    match server.code {
        1205 | 1213 => SinkError::Contended {
            endpoint,
            reason,
            attempts: 1,
        },
        // Read-only server, read-only transaction (fail-over).
        1290 | 1792 | 1836 => SinkError::ReadOnly { endpoint, reason },
        1045 => unreachable(format!(
            "{reason}: check the user name and password in JST_MYSQL_URL"
        )),
        1044 | 1142 | 1143 | 1227 => denied(server.code, &server.message, who, reason),
        1153 => SinkError::PacketTooLarge {
            endpoint,
            max_allowed_packet: who.max_allowed_packet,
            detail: reason,
        },
        // No such table, unknown column while writing: someone changed the tables.
        1146 | 1054 => match phase {
            Phase::Migrate => SinkError::Schema(reason),
            _ => SinkError::SchemaChanged { endpoint, reason },
        },
        // Too many connections, unknown database, shutting down, connection killed, server
        // gone or lost.
        1040 | 1049 | 1053 | 1077 | 1152 | 1158..=1161 | 1927 | 2006 | 2013 | 4031 => {
            unreachable(reason)
        }
        _ => by_phase(reason),
    }
}

/// A missing privilege, named from MySQL's message, with the GRANT that fixes it.
fn denied(code: u16, message: &str, who: &Identity, reason: String) -> SinkError {
    // 1142: "INSERT command denied to user 'u'@'h' for table `db`.`t`" (MariaDB quotes the
    // table as `db`.`t`, MySQL as 't'); 1143: "SELECT command denied … for column 'c' in
    // table 't'"; 1044: "Access denied for user 'u'@'h' to database 'db'"; 1227: "Access
    // denied; you need (at least one of) the SUPER privilege(s) for this operation".
    let privilege = match code {
        1142 | 1143 => message
            .split_once(" command denied")
            .map(|(p, _)| p.trim().to_ascii_uppercase())
            .unwrap_or_else(|| "the needed privilege".to_owned()),
        1044 => "SELECT, INSERT, UPDATE, DELETE".to_owned(),
        _ => message
            .split_once("the ")
            .and_then(|(_, rest)| rest.split_once(" privilege"))
            .map(|(p, _)| p.trim().to_owned())
            .unwrap_or_else(|| "the needed privilege".to_owned()),
    };
    let user_host = message
        .split_once("user ")
        .and_then(|(_, rest)| {
            let end = rest.find(" for ").or_else(|| rest.find(" to "))?;
            Some(rest[..end].trim().to_owned())
        })
        .unwrap_or_else(|| format!("'{}'@'%'", who.user));
    let table = message
        .rsplit_once("table ")
        .map(|(_, t)| {
            let t = t.trim().trim_matches(|c| c == '\'' || c == '`');
            t.rsplit('.')
                .next()
                .unwrap_or(t)
                .trim_matches(|c| c == '\'' || c == '`')
                .to_owned()
        })
        .filter(|_| matches!(code, 1142 | 1143));
    let object = match &table {
        Some(table) => format!("`{}`.`{table}`", who.database),
        None => format!("`{}`.*", who.database),
    };
    // A missing write privilege: grant the whole set a push needs at once, so the next
    // statement does not fail on the next one.
    let dml = ["SELECT", "INSERT", "UPDATE", "DELETE"];
    let grant = if privilege.split(',').all(|p| dml.contains(&p.trim())) {
        format!(
            "GRANT {} ON `{}`.* TO {user_host};",
            dml.join(", "),
            who.database
        )
    } else {
        format!("GRANT {privilege} ON {object} TO {user_host};")
    };
    SinkError::Denied {
        endpoint: who.endpoint.clone(),
        grant,
        privilege,
        object,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mysql_async::ServerError;

    fn who() -> Identity {
        Identity {
            endpoint: "db:3306".into(),
            user: "jst".into(),
            database: "shop".into(),
            max_allowed_packet: 1 << 20,
        }
    }

    fn server(code: u16, message: &str) -> SinkError {
        let error = MysqlError::Server(ServerError {
            code,
            message: message.into(),
            state: "HY000".into(),
        });
        classify(error, &who(), Phase::Write, str::to_owned)
    }

    #[test]
    fn each_mysql_error_kind_has_its_own_variant() {
        let cases: [(u16, &str, &str); 12] = [
            (1205, "Lock wait timeout exceeded", "contended"),
            (1213, "Deadlock found", "contended"),
            (
                1290,
                "The MariaDB server is running with the --read-only option",
                "read-only",
            ),
            (1836, "Running in read-only mode", "read-only"),
            (
                1142,
                "INSERT command denied to user 'jst'@'localhost' for table `shop`.`t`",
                "denied",
            ),
            (
                1045,
                "Access denied for user 'jst'@'localhost'",
                "unreachable",
            ),
            (
                1153,
                "Got a packet bigger than 'max_allowed_packet' bytes",
                "packet",
            ),
            (
                1406,
                "Data too long for column 'remark' at row 1",
                "rejected",
            ),
            (1366, "Incorrect decimal value: 'abc'", "rejected"),
            (1062, "Duplicate entry '1' for key 'PRIMARY'", "rejected"),
            (
                1054,
                "Unknown column 'remark' in 'field list'",
                "schema changed",
            ),
            (1146, "Table 'shop.t' doesn't exist", "schema changed"),
        ];
        for (code, message, expected) in cases {
            let error = server(code, message);
            let kind = match &error {
                SinkError::Contended { .. } => "contended",
                SinkError::ReadOnly { .. } => "read-only",
                SinkError::Denied { .. } => "denied",
                SinkError::Unreachable { .. } => "unreachable",
                SinkError::PacketTooLarge { .. } => "packet",
                SinkError::Rejected(_) => "rejected",
                SinkError::SchemaChanged { .. } => "schema changed",
                other => panic!("{other:?}"),
            };
            assert_eq!(kind, expected, "{code}: {error}");
        }
        assert!(server(1290, "x").is_transient());
        assert!(server(1153, "x").is_data_rejection());
        assert!(server(1406, "x").is_data_rejection());
        assert!(!server(1142, "x").is_transient() && !server(1142, "x").is_data_rejection());
    }

    #[test]
    fn a_missing_privilege_names_it_and_the_grant_that_fixes_it() {
        let error = server(
            1142,
            "INSERT command denied to user 'jst'@'localhost' for table `shop`.`order_list_query`",
        );
        let SinkError::Denied {
            privilege, grant, ..
        } = &error
        else {
            panic!("{error:?}");
        };
        assert_eq!(privilege, "INSERT");
        assert_eq!(
            grant,
            "GRANT SELECT, INSERT, UPDATE, DELETE ON `shop`.* TO 'jst'@'localhost';"
        );
        let ddl = server(
            1142,
            "ALTER command denied to user 'jst'@'%' for table `shop`.`order_items`",
        );
        assert!(
            ddl.to_string()
                .contains("GRANT ALTER ON `shop`.`order_items` TO 'jst'@'%';"),
            "{ddl}"
        );
        let on_database = server(1044, "Access denied for user 'jst'@'%' to database 'shop'");
        assert!(
            on_database
                .to_string()
                .contains("GRANT SELECT, INSERT, UPDATE, DELETE ON `shop`.* TO 'jst'@'%';"),
            "{on_database}"
        );
    }

    #[test]
    fn io_errors_are_said_once() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused");
        let error = MysqlError::Io(IoError::Io(io));
        assert_eq!(reason_of(&error), "Connection refused");
        let wrapped = MysqlError::Io(IoError::Io(std::io::Error::other("packet too large")));
        assert!(matches!(
            classify(wrapped, &who(), Phase::Write, str::to_owned),
            SinkError::PacketTooLarge { .. }
        ));
    }
}
