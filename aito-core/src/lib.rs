//! aito-core: the heart of aito.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod action;
pub mod bus;
pub mod channel;
pub mod clock;
pub mod decision;
pub mod envelope;
pub mod id;
pub mod llm;
pub mod memory;
pub mod policy;
pub mod role;
pub mod store;
pub mod testkit;
pub mod trigger;
pub mod worker;

pub use bus::{Bus, BusError, Deliveries, Delivery, Subscription};
pub use channel::Channel;
pub use clock::Clock;
pub use decision::{Decision, DecisionStatus, Tier, Vote, VoteChoice};
pub use envelope::{Envelope, MessageType, Priority, Recipient, Sender};
pub use id::{AgentId, DecisionId, MessageId};
pub use llm::{LlmError, LlmRequest, LlmResponse, LlmSession, TokenUsage};
pub use memory::{MemoryBus, MemoryStore};
pub use policy::{DecisionPolicy, DefaultPolicy};
pub use role::Role;
pub use store::{StateStore, StoreError};
pub use trigger::{Trigger, TriggerKind};
pub use worker::{WorkerError, WorkerResult, WorkerSpawner, WorkerStatus, WorkerTask};
