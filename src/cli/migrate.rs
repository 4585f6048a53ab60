//! `migrate`: applies the MySQL DDL (tables, numbered migrations, columns the mapping adds),
//! for a DBA or any user with CREATE and ALTER; runs by least-privilege users then need none.

use std::process::ExitCode;

use super::args::{GlobalArgs, MigrateArgs};
use super::run::load_config;
use crate::pipeline::run::{mapping, mysql_config};
use crate::sink::mysql::MysqlSink;

pub(super) async fn migrate(global: &GlobalArgs, _args: MigrateArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(global)?;
    let mapping = mapping(&config)?;
    let sink = MysqlSink::connect(&mysql_config(&config)?, mapping).await?;
    let result = sink.migrate().await;
    let refill = match &result {
        Ok(()) => sink
            .unfingerprinted_orders()
            .await
            .map(|ids| ids.len())
            .unwrap_or(0),
        Err(_) => 0,
    };
    let endpoint = sink.endpoint();
    sink.disconnect().await;
    result?;
    println!("MySQL tables at {endpoint} are at the version this jst-sync expects");
    if refill > 0 {
        println!(
            "{refill} order rows carry no fingerprint yet: the next `jst-sync push` or `sync` writes them again from staging"
        );
    }
    Ok(ExitCode::SUCCESS)
}
