//! The bus and store contracts of aito-core's test kit, run against Redis: every behaviour test
//! that `MemoryBus` and `MemoryStore` pass. Each test gets its own `redis-server`.

mod common;

use aito_redis::{RedisBus, RedisStateStore};
use common::{Harness, RedisServer, init_tracing};

async fn bus() -> Harness<RedisBus> {
    init_tracing();
    let server = RedisServer::start();
    let adapter = RedisBus::connect(server.config())
        .await
        .expect("connect the bus");
    Harness { adapter, server }
}

async fn store() -> Harness<RedisStateStore> {
    init_tracing();
    let server = RedisServer::start();
    let adapter = RedisStateStore::connect(server.config())
        .await
        .expect("connect the store");
    Harness { adapter, server }
}

mod bus {
    use super::*;
    aito_core::bus_contract_tests!(bus());
}

mod store {
    use super::*;
    aito_core::store_contract_tests!(store());
}
