//! aito-sqlite: the durable embedded [`Bus`](aito_core::Bus) and
//! [`StateStore`](aito_core::StateStore), in one SQLite file in the company's data directory.
//!
//! Use it for a company that runs in one process (`aito run`, the default) and must survive a
//! restart, a crash or `kill -9`: agents' state, history, budget counters, decisions and every
//! message not yet handled are in the file. Other processes may open the same file at the same
//! time (the operator's `aito status`, `aito send`, `aito decide`), and a running company
//! notices what they write within milliseconds. For agents in several processes or machines,
//! use Redis (aito-redis); for throw-away runs and tests, the in-memory adapters of aito-core.
//!
//! # Modules
//! - [`db`]: [`Database`], the file in write-ahead-log mode, owned by a dedicated thread that
//!   commits concurrent operations together (each in its own savepoint), so no SQLite call
//!   blocks the async runtime; [`Database::backup_to`] copies it while it is in use.
//! - [`store`]: [`SqliteStore`], the state store.
//! - [`bus`]: [`SqliteBus`], durable queues with holds, acknowledgement and redelivery; woken
//!   by inotify when another process writes.
//! - [`schema`]: numbered migrations (`migrations/*.sql`), the version recorded in the file;
//!   an older file is upgraded, a newer one refused.
//! - [`clean`]: the periodic clean-up that keeps the file bounded.
//! - [`SqliteStore`] implements [`Export`](aito_core::export::Export): the company as records,
//!   pending messages included, for `aito export`.
//! - [`lock`]: [`DirLock`], one running company per data directory.
//! - [`error`]: [`Error`], mapped onto the traits' errors.
//!
//! The SQL of every operation is a file under `queries/`.
//!
//! # Example
//! ```
//! use aito_core::{Bus, Channel, Envelope, MessageType, Sender, StateStore, Subscription};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! let embedded = aito_sqlite::Embedded::open(dir.path()).await?;
//! let cto = aito_core::AgentId::derived("acme", "cto");
//! let task = Envelope::new(MessageType::Task, Sender::Human, serde_json::json!({"title": "Ship"}));
//! embedded.bus.publish(Channel::Agent(cto), task).await?;
//!
//! let mut inbox = embedded
//!     .bus
//!     .subscribe(Subscription::new(cto.to_string(), "daemon", [Channel::Agent(cto)]))
//!     .await?;
//! let delivery = inbox.next().await.expect("the task");
//! assert_eq!(delivery.envelope().title(), "Ship");
//! delivery.ack().await?;
//! assert!(embedded.store.first_time("handled:1", std::time::Duration::from_secs(60)).await?);
//! # Ok(())
//! # }
//! ```

mod budget;
pub mod bus;
pub mod clean;
pub mod db;
mod decisions;
pub mod error;
mod export;
pub mod lock;
mod queries;
pub mod schema;
mod sessions;
pub mod store;
mod tasks;

use std::path::Path;

pub use bus::SqliteBus;
pub use db::{Database, Durability, Opened, Options};
pub use error::Error;
pub use lock::DirLock;
pub use schema::SCHEMA_VERSION;
pub use store::SqliteStore;

/// The database's file name in the data directory.
pub const DATABASE_FILE: &str = "aito.db";

/// The bus and store of one data directory, sharing one [`Database`].
#[derive(Clone, Debug)]
pub struct Embedded {
    /// The database (`<data_dir>/aito.db`).
    pub db: Database,
    /// The state store.
    pub store: SqliteStore,
    /// The bus.
    pub bus: SqliteBus,
    /// What the open found.
    pub opened: Opened,
}

impl Embedded {
    /// Opens `<dir>/aito.db` (creating both when absent) with the default options.
    pub async fn open(dir: &Path) -> Result<Self, Error> {
        Self::open_with(dir, Options::default()).await
    }

    /// Opens `<dir>/aito.db` with `options`.
    pub async fn open_with(dir: &Path, options: Options) -> Result<Self, Error> {
        let (db, opened) = Database::open_with(dir.join(DATABASE_FILE), options).await?;
        Ok(Self {
            store: SqliteStore::new(db.clone()),
            bus: SqliteBus::new(db.clone()),
            db,
            opened,
        })
    }
}
