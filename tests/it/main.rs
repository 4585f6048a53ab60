//! Integration tests: the real `jst-sync` binary against a fake Qimen gateway over real HTTP
//! and a real MariaDB server. Modules are named by the behaviour they specify.

mod support;

mod bench_command;
mod cli_robustness;
mod end_to_end;
mod failures;
mod inspecting;
mod live_shop;
mod memory;
mod observing;
mod partitions;
mod repairing;
mod schema;
mod schema_drift;
mod staging_integrity;
