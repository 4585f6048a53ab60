//! `migrate`: applies the MySQL DDL (tables, numbered migrations, columns the mapping adds),
//! for a DBA or any user with CREATE and ALTER; runs by least-privilege users then need none.

use std::process::ExitCode;

use super::args::{GlobalArgs, MigrateArgs};
use super::run::{load_config, mapping, mysql_config};
use crate::sink::mysql::MysqlSink;

pub(super) async fn migrate(global: &GlobalArgs, _args: MigrateArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(global)?;
    let mapping = mapping(&config)?;
    let sink = MysqlSink::connect(&mysql_config(&config)?, mapping).await?;
    let result = sink.migrate().await;
    let replay = match &result {
        Ok(()) => sink.replay_requests().await.unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    let endpoint = sink.endpoint();
    sink.disconnect().await;
    result?;
    println!("MySQL tables at {endpoint} are at the version this jst-sync expects");
    if !replay.is_empty() {
        println!(
            "the next `jst-sync push` or `sync` writes every current order again ({})",
            replay.join("; ")
        );
    }
    Ok(ExitCode::SUCCESS)
}
