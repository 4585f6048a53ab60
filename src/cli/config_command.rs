//! `jst-sync config`: the resolved configuration, each value with the layer it came from
//! (default, file, environment, flag), secrets masked. Reads nothing but the configuration.

use std::process::ExitCode;

use super::args::{ConfigArgs, GlobalArgs};
use super::run::load_config;

pub(super) fn config(global: &GlobalArgs, args: ConfigArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(global)?;
    let settings = config.settings();
    if args.json {
        let file = config
            .provenance
            .file
            .as_ref()
            .map(|p| p.display().to_string());
        let out = serde_json::json!({
            "file": file,
            "settings": settings,
            "warnings": config.warnings,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    match &config.provenance.file {
        Some(path) => println!("# config file: {}", path.display()),
        None => println!("# no config file (--config, JST_CONFIG): defaults and environment"),
    }
    let key_width = settings.iter().map(|s| s.key.len()).max().unwrap_or(0);
    let value_width = settings
        .iter()
        .map(|s| s.value.chars().count())
        .max()
        .unwrap_or(0)
        .min(48);
    for setting in &settings {
        println!(
            "{:key_width$}  {:value_width$}  {}",
            setting.key, setting.value, setting.origin
        );
    }
    Ok(ExitCode::SUCCESS)
}
