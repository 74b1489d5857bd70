//! The bus and store contracts, run against the embedded adapters.

use std::sync::Arc;

use aito_core::{MemoryBus, MemoryStore};

mod bus {
    use super::*;
    aito_core::bus_contract_tests!(async { Arc::new(MemoryBus::new()) });
}

mod store {
    use super::*;
    aito_core::store_contract_tests!(async { Arc::new(MemoryStore::new()) });
}

mod faulty_store {
    use super::*;
    use aito_core::testkit::faults::FaultyStore;
    aito_core::store_contract_tests!(async {
        Arc::new(FaultyStore::new(Arc::new(MemoryStore::new())))
    });
}
