//! Test support: a MariaDB database per test, the fake gateway, a builder that drives the real
//! binary, and the comparison of MySQL with the gateway's truth.

pub mod binary;
pub mod database;
pub mod private_mariadb;
pub mod truth;

pub use binary::Jst;
pub use database::TestDb;

use jst_sync::beijing_time;
use jst_sync::gateway::{FakeGateway, GatewayConfig, Shop};

/// A started fake gateway with `orders` generated orders modified between 20 days and one hour
/// ago, and the `--since` that covers them.
pub fn shop_gateway(config: GatewayConfig, seed: u64, orders: usize) -> (FakeGateway, String) {
    let now = beijing_time::now();
    let since = now - chrono::Duration::days(20) - chrono::Duration::hours(1);
    let shop = Shop::generate(
        seed,
        orders,
        now - chrono::Duration::days(20),
        now - chrono::Duration::hours(1),
    );
    let gateway = FakeGateway::start(config, shop).expect("fake gateway starts");
    (gateway, beijing_time::format(since))
}

/// The orders the gateway shows now: the truth MySQL must equal.
pub fn visible(gateway: &FakeGateway) -> Vec<serde_json::Value> {
    gateway.shop().lock().unwrap().visible_orders()
}

/// A gateway without rate limits, for tests that need many orders quickly (the limits are
/// tested elsewhere).
pub fn fast_gateway() -> GatewayConfig {
    GatewayConfig {
        rate_limits: jst_sync::gateway::RateLimits::none(),
        ..GatewayConfig::default()
    }
}

/// A generated shop behind a fake gateway, synced once into a database of its own: where most
/// tests start. Keep `dir` alive: it holds the staging file.
pub struct SyncedShop {
    pub gateway: FakeGateway,
    pub db: TestDb,
    pub dir: tempfile::TempDir,
    pub staging: std::path::PathBuf,
}

/// Starts [`shop_gateway`]`(config, seed, orders)`, creates a database and runs one fast
/// `sync --since` into it, which must succeed.
pub async fn synced_shop(config: GatewayConfig, seed: u64, orders: usize) -> SyncedShop {
    let (gateway, since) = shop_gateway(config, seed, orders);
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging.sqlite");
    fast(Jst::new(&["sync", "--since", &since]))
        .against(&gateway, &db.url(), &staging)
        .run()
        .await
        .success();
    SyncedShop {
        gateway,
        db,
        dir,
        staging,
    }
}

/// A client that does not hold back (for a [`fast_gateway`]).
pub fn fast(jst: Jst) -> Jst {
    jst.env("JST_PER_SECOND", "1000")
        .env("JST_PER_MINUTE", "60000")
        .env("JST_WINDOW_CONCURRENCY", "4")
}

/// `text` read as JSON, or a panic that shows it.
pub fn json_of(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}
