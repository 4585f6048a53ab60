//! The mapping from order JSON to MySQL tables, as data: the order table and a list of child
//! tables, each from an array of the order (one row per element, like dlt's relational
//! normalizer).
//!
//! [`Mapping::default`] is the user's BI table `order_list_query` exactly as the protocol
//! document lists it, plus the child tables `items` (`order_items`, keyed `(o_id, oi_id)`) and
//! `pays` (`order_pays`, keyed `(o_id, pay_id)`). It cleans nothing: values land as sent. A
//! `[mapping]` section of the config ([`MappingOverrides`](super::MappingOverrides)) changes or
//! adds columns, child tables and filters.

use std::collections::HashSet;

use super::column_spec::{ColumnKind, ColumnSpec};
use super::filter::Filter;

/// The order table's key column; always sourced from `o_id`.
pub const ORDER_ID_COLUMN: &str = "id";
/// The child tables' column naming their order; always sourced from `$.o_id`.
pub const PARENT_ID_COLUMN: &str = "o_id";
/// Column names a sink may add for its own bookkeeping: a mapping may not use them.
pub const RESERVED_COLUMN_PREFIX: &str = "jst_";

/// How an order becomes rows of the order table and its child tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub order: TableMapping,
    /// The child tables, in the order the transform makes their rows and the sink writes them.
    pub children: Vec<ChildTable>,
    pub filter: Filter,
}

/// A table with one row per element of an array of the order (`items`, `pays`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildTable {
    /// Its name in the mapping and the config (`[mapping.children.<name>]`; the migrations'
    /// `{{<name>_table}}` template).
    pub name: String,
    /// The MySQL table's name before the sink's table prefix (`order_items`).
    pub table: String,
    /// `rows_from` is the array; the key starts with `o_id`.
    pub mapping: TableMapping,
}

/// The columns of one table.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableMapping {
    /// For a child table, the array of the order that gives one row per element (`items`,
    /// `pays`); `None` for the order table (one row per order).
    #[serde(default)]
    pub rows_from: Option<String>,
    /// The primary key's columns.
    pub key: Vec<String>,
    pub columns: Vec<ColumnSpec>,
}

/// A mapping that cannot work.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid mapping: {0}")]
pub struct MappingError(pub String);

impl TableMapping {
    pub fn column_names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|c| c.name.as_str())
    }

    pub fn position(&self, column: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == column)
    }

    fn validate(&self, table: &str, id_column: &str, id_source: &str) -> Result<(), MappingError> {
        let fail = |why: String| Err(MappingError(format!("{table} table: {why}")));
        let mut seen = HashSet::new();
        for column in &self.columns {
            if !is_identifier(&column.name) {
                return fail(format!(
                    "`{}` is not a column name (letters, digits, `_`, at most 64)",
                    column.name
                ));
            }
            if !seen.insert(column.name.to_ascii_lowercase()) {
                return fail(format!("column `{}` appears twice", column.name));
            }
            if column
                .name
                .to_ascii_lowercase()
                .starts_with(RESERVED_COLUMN_PREFIX)
            {
                return fail(format!(
                    "column `{}` is reserved for bookkeeping (names starting with jst_)",
                    column.name
                ));
            }
        }
        match self.columns.iter().find(|c| c.name == id_column) {
            Some(c)
                if c.source.as_str() == id_source && c.kind == ColumnKind::BigInt && c.required => {
            }
            _ => {
                return fail(format!(
                    "needs a required BIGINT column `{id_column}` from `{id_source}`"
                ));
            }
        }
        for key in &self.key {
            match self.columns.iter().find(|c| &c.name == key) {
                Some(c) if c.required => {}
                Some(_) => return fail(format!("key column `{key}` must be required")),
                None => return fail(format!("key column `{key}` is not a column")),
            }
        }
        Ok(())
    }
}

impl Mapping {
    /// Checks what the transform and the sink rely on: unique valid column names, the key
    /// columns present and required, `id`/`o_id` sourced from the order's `o_id`, child tables
    /// with unique names.
    pub fn validate(&self) -> Result<(), MappingError> {
        if self.order.rows_from.is_some() || self.order.key != [ORDER_ID_COLUMN] {
            return Err(MappingError(format!(
                "order table: key must be `{ORDER_ID_COLUMN}` and it has no `rows_from`"
            )));
        }
        self.order.validate("order", ORDER_ID_COLUMN, "o_id")?;
        let mut names = HashSet::new();
        for ChildTable {
            name: table,
            table: mysql_table,
            mapping: child,
        } in &self.children
        {
            if !is_identifier(table) || !is_identifier(mysql_table) {
                return Err(MappingError(format!(
                    "child table `{table}` (`{mysql_table}`): names are letters, digits and `_`, at most 64"
                )));
            }
            if table.eq_ignore_ascii_case("order") {
                return Err(MappingError(
                    "a child table may not be named `order` (the order table's name)".to_owned(),
                ));
            }
            if !names.insert(table.to_ascii_lowercase()) {
                return Err(MappingError(format!("child table `{table}` appears twice")));
            }
            if child.rows_from.is_none()
                || child.key.first().map(String::as_str) != Some(PARENT_ID_COLUMN)
            {
                return Err(MappingError(format!(
                    "{table} table: needs `rows_from` and a key starting with `{PARENT_ID_COLUMN}`"
                )));
            }
            child.validate(table, PARENT_ID_COLUMN, "$.o_id")?;
        }
        Ok(())
    }

    /// Where the child table `name` is in [`Mapping::children`] (and its rows in
    /// [`OrderRows::children`](super::OrderRows::children)).
    pub fn child_position(&self, name: &str) -> Option<usize> {
        self.children.iter().position(|c| c.name == name)
    }
}

/// A MySQL identifier we accept without quoting problems.
pub fn is_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl ChildTable {
    pub fn new(name: &str, table: &str, mapping: TableMapping) -> Self {
        Self {
            name: name.to_owned(),
            table: table.to_owned(),
            mapping,
        }
    }
}

impl Default for Mapping {
    fn default() -> Self {
        use ColumnKind::{BigInt, Bool, DateTime, LongText};
        const MONEY: ColumnKind = ColumnKind::MONEY;
        let text = |max_chars| ColumnKind::Text { max_chars };
        let col = ColumnSpec::new;
        let order = TableMapping {
            rows_from: None,
            key: vec![ORDER_ID_COLUMN.to_owned()],
            columns: vec![
                col("id", "o_id", BigInt).required(),
                col("order_date", "order_date", DateTime),
                col("shop_status", "shop_status", text(64)),
                col("question_type", "question_type", LongText),
                col("shop_id", "shop_id", BigInt),
                col("question_desc", "question_desc", LongText),
                col("so_id", "so_id", text(128)),
                col("status", "status", text(64)),
                col("receiver_state", "receiver_state", LongText),
                col("receiver_city", "receiver_city", LongText),
                col("receiver_district", "receiver_district", LongText),
                col("send_date", "send_date", DateTime),
                col("plan_delivery_date", "plan_delivery_date", DateTime),
                col("creator_name", "creator_name", LongText),
                col("buyer_tax_no", "buyer_tax_no", LongText),
                col("invoice_type", "invoice_type", LongText),
                col("pay_amount", "pay_amount", MONEY),
                col("freight", "freight", MONEY),
                col("buyer_message", "buyer_message", LongText),
                col("remark", "remark", LongText),
                col("invoice_title", "invoice_title", LongText),
                col("is_cod", "is_cod", Bool),
                col("type", "type", LongText),
                col("paid_amount", "paid_amount", MONEY),
                col("pay_date", "pay_date", DateTime),
                col("modified", "modified", DateTime),
                col("order_from", "order_from", LongText),
                col("l_id", "l_id", text(1024)),
                col("shop_name", "shop_name", LongText),
                col("wms_co_id", "wms_co_id", BigInt),
                col("logistics_company", "logistics_company", LongText),
                col("free_amount", "free_amount", MONEY),
                col("co_id", "co_id", BigInt),
                col("pays_status", "pays[main].status", text(64)),
                col("pays_outer_pay_id", "pays[main].outer_pay_id", LongText),
                col("pays_pay_date", "pays[main].pay_date", DateTime),
                col("pays_amount", "pays[main].amount", MONEY),
                col("pays_payment", "pays[main].payment", LongText),
                col("pays_buyer_account", "pays[main].buyer_account", LongText),
                col("pays_is_order_pay", "pays[main].is_order_pay", Bool),
                col("pays_pay_id", "pays[main].pay_id", text(64)),
            ],
        };
        let items = ChildTable::new(
            "items",
            "order_items",
            TableMapping {
                rows_from: Some("items".to_owned()),
                key: vec![PARENT_ID_COLUMN.to_owned(), "oi_id".to_owned()],
                columns: vec![
                    col("o_id", "$.o_id", BigInt).required(),
                    col("oi_id", "oi_id", BigInt).required(),
                    col("outer_oi_id", "outer_oi_id", text(255)),
                    col("sku_id", "sku_id", text(255)),
                    col("shop_sku_id", "shop_sku_id", text(255)),
                    col("i_id", "i_id", text(255)),
                    col("name", "name", LongText),
                    col("properties_value", "properties_value", LongText),
                    col("qty", "qty", ColumnKind::Quantity),
                    col("price", "price", MONEY),
                    col("base_price", "base_price", MONEY),
                    col("amount", "amount", MONEY),
                    col("is_gift", "is_gift", Bool),
                    col("sku_type", "sku_type", text(64)),
                    col("refund_status", "refund_status", text(64)),
                    col("item_status", "item_status", text(64)),
                ],
            },
        );
        let pays = ChildTable::new(
            "pays",
            "order_pays",
            TableMapping {
                rows_from: Some("pays".to_owned()),
                key: vec![PARENT_ID_COLUMN.to_owned(), "pay_id".to_owned()],
                columns: vec![
                    col("o_id", "$.o_id", BigInt).required(),
                    col("pay_id", "pay_id", text(64)).required(),
                    col("outer_pay_id", "outer_pay_id", text(255)),
                    col("pay_date", "pay_date", DateTime),
                    col("amount", "amount", MONEY),
                    col("payment", "payment", text(255)),
                    col("buyer_account", "buyer_account", text(255)),
                    col("is_order_pay", "is_order_pay", Bool),
                    col("status", "status", text(64)),
                ],
            },
        );
        Self {
            order,
            children: vec![items, pays],
            filter: Filter::default(),
        }
    }
}
