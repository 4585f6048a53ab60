//! Configuration of the MySQL sink: where it is, which tables, how big a statement may get.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::secret::{Secret, redact};
use crate::transform::mapping::{ChildTable, Mapping, is_identifier};

use super::error::SinkError;

/// Where and how the sink writes: the `[mysql]` section of the configuration file as it is
/// (serde defaults for what the file leaves out), besides its `url`, which the configuration
/// keeps with the other secrets and sets here when it builds the sink's configuration.
#[derive(Clone, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MysqlConfig {
    /// `mysql://user:pass@host:port/db`; secret because it holds the password.
    #[serde(skip)]
    pub url: Secret,
    /// Put before each default table name (`shop1_` → `shop1_order_list_query`), for several
    /// merchants in one database.
    pub table_prefix: String,
    /// Explicit names; each wins over the prefix for its table (see [`MysqlConfig::tables`]).
    pub orders_table: Option<String>,
    pub items_table: Option<String>,
    pub pays_table: Option<String>,
    /// Monthly partitions of the order table by `p_month` (from `order_date`); decided when
    /// the table is created (a table partitioned otherwise is refused at migrate).
    pub partition_by_month: bool,
    /// The most rows one multi-row statement carries (fewer when the 65,535 placeholders or
    /// `max_allowed_packet` run out first).
    #[serde(skip)]
    pub batch_rows: usize,
    /// How long connecting may take before MySQL counts as unreachable.
    #[serde(skip)]
    pub connect_timeout_secs: u64,
    /// Orders MySQL does not hold yet go in with `LOAD DATA LOCAL INFILE` (streamed from
    /// memory); off, or where the server refuses it, they are upserted like changed orders.
    pub load_data: bool,
}

impl Default for MysqlConfig {
    /// Default tables and limits, and no URL yet.
    fn default() -> Self {
        Self::new(Secret::default())
    }
}

/// The names of the tables (the DDL is templated on them): the order table's, and each child
/// table's as the mapping names it (`table`) behind `prefix`, unless set in `children`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TableNames {
    pub orders: String,
    /// Put before a child table's name from the mapping (`shop1_` + `order_items`).
    pub prefix: String,
    /// Child tables' names set explicitly, by the mapping's name of the child table (the
    /// `items_table` setting names `items`).
    pub children: BTreeMap<String, String>,
}

impl Default for TableNames {
    fn default() -> Self {
        Self::with_prefix("")
    }
}

impl TableNames {
    /// The default names behind `prefix` (`shop1_` → `shop1_order_list_query`…), for several
    /// merchants in one database.
    pub fn with_prefix(prefix: &str) -> Self {
        Self {
            orders: format!("{prefix}order_list_query"),
            prefix: prefix.to_owned(),
            children: BTreeMap::new(),
        }
    }

    /// The MySQL table of the child table `child`.
    pub fn child(&self, child: &ChildTable) -> String {
        match self.children.get(&child.name) {
            Some(name) => name.clone(),
            None => format!("{}{}", self.prefix, child.table),
        }
    }

    /// The MySQL tables of `mapping`'s child tables, in its order.
    pub fn children_of(&self, mapping: &Mapping) -> Vec<String> {
        mapping.children.iter().map(|c| self.child(c)).collect()
    }
}

impl MysqlConfig {
    /// A config with default tables and limits.
    pub fn new(url: Secret) -> Self {
        Self {
            url,
            table_prefix: String::new(),
            orders_table: None,
            items_table: None,
            pays_table: None,
            partition_by_month: false,
            batch_rows: 1000,
            connect_timeout_secs: 10,
            load_data: true,
        }
    }

    /// The tables' names: the explicit ones, else the defaults behind the prefix (a child
    /// table's from the mapping).
    pub fn tables(&self) -> TableNames {
        let mut tables = TableNames::with_prefix(&self.table_prefix);
        if let Some(orders) = &self.orders_table {
            tables.orders = orders.clone();
        }
        // The settings of the default child tables, by the mapping's names for them.
        for (child, table) in [("items", &self.items_table), ("pays", &self.pays_table)] {
            if let Some(table) = table {
                tables.children.insert(child.to_owned(), table.clone());
            }
        }
        tables
    }

    /// Whether new orders go in with `LOAD DATA LOCAL INFILE` (the default) or with upserts.
    pub fn load_data(&self) -> bool {
        self.load_data
    }

    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs.max(1))
    }

    /// The password inside the URL, raw and percent-decoded, for redacting messages.
    pub(crate) fn password_forms(&self) -> Vec<Secret> {
        let Some(raw) = url_password(self.url.expose()) else {
            return Vec::new();
        };
        let decoded = percent_decode(raw);
        let mut forms = vec![Secret::new(raw)];
        if decoded != raw {
            forms.push(Secret::new(decoded));
        }
        forms
    }

    /// `text` with every form of the password replaced by `***`.
    pub(crate) fn redact(&self, text: &str) -> String {
        self.password_forms()
            .iter()
            .fold(text.to_owned(), |text, password| redact(&text, password))
    }

    /// Refuses settings the sink cannot honour with `mapping`'s tables.
    pub(crate) fn validate(&self, mapping: &Mapping) -> Result<(), SinkError> {
        if self.batch_rows == 0 {
            return Err(SinkError::Config(
                "batch_rows must be at least 1".to_owned(),
            ));
        }
        let tables = self.tables();
        let mut names = vec![tables.orders.clone()];
        names.extend(tables.children_of(mapping));
        for name in &names {
            if !is_identifier(name) {
                return Err(SinkError::Config(format!(
                    "table name `{name}` must be 1 to 64 letters, digits or `_`"
                )));
            }
        }
        let mut distinct = names.clone();
        distinct.sort();
        distinct.dedup();
        if distinct.len() != names.len() {
            return Err(SinkError::Config(
                "the table names (the order table's and each child table's) must differ".to_owned(),
            ));
        }
        Ok(())
    }
}

impl fmt::Debug for MysqlConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MysqlConfig")
            .field("url", &self.redact(self.url.expose()))
            .field("tables", &self.tables())
            .field("partition_by_month", &self.partition_by_month)
            .field("batch_rows", &self.batch_rows)
            .field("connect_timeout_secs", &self.connect_timeout_secs)
            .field("load_data", &self.load_data)
            .finish()
    }
}

/// The password part of `scheme://user:password@host…`, as written.
fn url_password(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    // A password may hold an unencoded `/` or `?`: take the last `@` before the path if any,
    // else the last `@` at all.
    let at = rest[..authority_end]
        .rfind('@')
        .or_else(|| rest.rfind('@'))?;
    let (_, password) = rest[..at].split_once(':')?;
    (!password.is_empty()).then_some(password)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_goes_before_every_default_name() {
        let names = TableNames::with_prefix("shop1_");
        let children = names.children_of(&Mapping::default());
        assert_eq!(
            (
                names.orders.as_str(),
                children[0].as_str(),
                children[1].as_str()
            ),
            (
                "shop1_order_list_query",
                "shop1_order_items",
                "shop1_order_pays"
            )
        );
        let mut config = MysqlConfig::new(Secret::new("mysql://u@h/d"));
        config.table_prefix = "shop-1 ".into();
        assert!(config.validate(&Mapping::default()).is_err());
    }

    #[test]
    fn a_child_table_is_named_by_the_mapping_behind_the_prefix_unless_set() {
        let mut mapping = Mapping::default();
        let items = mapping.children[0].mapping.clone();
        mapping
            .children
            .push(ChildTable::new("gifts", "order_gifts", items));
        let mut names = TableNames::with_prefix("shop1_");
        names.children.insert("items".into(), "bi_items".into());
        assert_eq!(
            names.children_of(&mapping),
            ["bi_items", "shop1_order_pays", "shop1_order_gifts"]
        );
        let mut config = MysqlConfig::new(Secret::new("mysql://u@h/d"));
        config.table_prefix = "shop1_".into();
        config.items_table = Some("bi_items".into());
        assert_eq!(config.tables(), names);
        assert!(config.validate(&mapping).is_ok());
        config.items_table = Some("shop1_order_gifts".into());
        assert!(
            config.validate(&mapping).is_err(),
            "two children in one table"
        );
    }

    #[test]
    fn debug_hides_the_password_in_every_form() {
        for (url, password) in [
            (
                "mysql://root:TopSecret123@127.0.0.1:3306/test",
                "TopSecret123",
            ),
            ("mysql://u:p%40ss@db:3306/x", "p%40ss"),
        ] {
            let config = MysqlConfig::new(Secret::new(url));
            let debug = format!("{config:?}");
            assert!(!debug.contains(password), "{debug}");
            assert!(debug.contains("***@"), "{debug}");
        }
        let config = MysqlConfig::new(Secret::new("mysql://u:p%40ss@db/x"));
        assert_eq!(config.redact("bad password p@ss"), "bad password ***");
        assert_eq!(url_password("mysql://root@127.0.0.1/test"), None);
    }
}
