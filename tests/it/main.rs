//! Integration tests: the real `jst-sync` binary against a fake Qimen gateway over real HTTP
//! and a real MariaDB server. Modules are named by the behaviour they specify.

mod support;

mod alerts;
mod check;
mod child_tables;
mod cli_robustness;
mod config_command;
mod decimals;
mod drift_repair;
mod end_to_end;
mod failures;
mod inspecting;
mod least_privilege;
mod live_shop;
mod load_data;
mod memory;
mod mysql_errors;
mod observing;
mod packaging;
mod partitions;
mod poison;
mod prune;
mod real_gateway;
mod repairing;
mod restored_staging;
mod schema;
mod schema_drift;
mod second_route;
mod service;
mod staging_integrity;
mod streaming_push;
