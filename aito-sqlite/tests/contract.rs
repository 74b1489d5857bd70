//! The contract kit of aito-core on the SQLite adapters: the same guarantees as the memory and
//! Redis adapters, each test on a fresh file.

mod store {
    aito_core::store_contract_tests!(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let embedded = aito_sqlite::Embedded::open(dir.path()).await.expect("open");
        Kept(embedded.store, dir)
    });

    /// The store, and the directory that lives as long as it.
    struct Kept(
        aito_sqlite::SqliteStore,
        #[allow(dead_code)] tempfile::TempDir,
    );

    impl std::ops::Deref for Kept {
        type Target = aito_sqlite::SqliteStore;
        fn deref(&self) -> &Self::Target {
            &self.0
        }
    }
}

mod bus {
    aito_core::bus_contract_tests!(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let embedded = aito_sqlite::Embedded::open(dir.path()).await.expect("open");
        Kept(embedded.bus, dir)
    });

    /// The bus, and the directory that lives as long as it.
    struct Kept(
        aito_sqlite::SqliteBus,
        #[allow(dead_code)] tempfile::TempDir,
    );

    impl std::ops::Deref for Kept {
        type Target = aito_sqlite::SqliteBus;
        fn deref(&self) -> &Self::Target {
            &self.0
        }
    }
}
