//! Integration tests: the real `jst-sync` binary against a fake Qimen gateway over real HTTP
//! and a real MariaDB server. Modules are named by the behaviour they specify.

mod support;

mod bench_command;
mod cli_robustness;
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
mod real_gateway;
mod repairing;
mod restored_staging;
mod schema;
mod schema_drift;
mod second_route;
mod staging_integrity;
