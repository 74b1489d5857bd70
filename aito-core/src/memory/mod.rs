//! The embedded adapters: an in-process [`MemoryBus`] and [`MemoryStore`], with the same
//! guarantees as the Redis adapters, so a whole company runs and is tested without a server.

mod bus;
mod decisions;
mod store;

pub use bus::MemoryBus;
pub(crate) use bus::{MemoryReceiver, Receipt};
pub use store::MemoryStore;
