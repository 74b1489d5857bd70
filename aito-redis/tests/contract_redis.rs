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

/// The bus whose readers each wait on a connection of their own (`shared_wait` off), as a
/// process of one agent runs it.
async fn bus_waiting_apart() -> Harness<RedisBus> {
    init_tracing();
    let server = RedisServer::start();
    let adapter = RedisBus::connect(server.config().with_shared_wait(false))
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

mod bus_waiting_apart {
    use super::*;
    aito_core::bus_contract_tests!(bus_waiting_apart());
}

mod store {
    use super::*;
    aito_core::store_contract_tests!(store());
}
