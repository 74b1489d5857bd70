//! aito-core: the heart of aito, a runtime for an autonomous company of AI agents.
//!
//! Each agent is a role (CEO, DAO, CMO, CTO, CFO, COO, CCO, or one of your own) with a
//! profile, schedules, a budget and tools. Each runs as a daemon that wakes on messages, cron
//! ticks and webhooks, thinks by running a model session, and acts on the JSON the model
//! returns: messages to other agents, workers with MCP tools, decisions that other agents vote
//! on, files committed to its workspace. This crate holds everything but the production
//! adapters: the five traits, the daemon loop, the decision engine, and embedded and mock
//! adapters, so a whole company runs and is tested in one process with nothing installed.
//!
//! # The five traits
//! - [`Bus`]: publish and subscribe, at-least-once on durable channels
//!   ([`MemoryBus`] here, `RedisBus` in aito-redis).
//! - [`StateStore`]: state with compare-and-set, history, decisions, idempotency marks, leases,
//!   budget counters ([`MemoryStore`] here, `RedisStateStore` in aito-redis).
//! - [`LlmSession`]: one model session ([`ReplayLlm`] here, `ClaudeSession` in aito-claude).
//! - [`WorkerSpawner`]: a worker with MCP servers ([`MockWorkers`] here, `ClaudeWorkers` in
//!   aito-claude).
//! - [`DecisionPolicy`]: tiers, reviewers, deadlines, outcomes ([`DefaultPolicy`]).
//!
//! # Features
//! - `test-utils` (off by default): a `mockall` mock of every trait, for your tests:
//!   `bus::MockBus`, `store::MockStateStore`, `llm::MockLlmSession`,
//!   `worker::MockWorkerSpawner`, `policy::MockDecisionPolicy` and
//!   `context::MockContextProvider`. Turn it on in `[dev-dependencies]`:
//!   `aito-core = { version = "0.1", features = ["test-utils"] }`.
//!
//! The in-memory adapters ([`MemoryBus`], [`MemoryStore`]), the scripted model ([`ReplayLlm`]),
//! the scripted workers ([`MockWorkers`]) and the contract tests ([`testkit`]) need no feature.
//!
//! # Map
//! - Domain: [`envelope`] (the wire format), [`channel`], [`id`], [`role`], [`trigger`],
//!   [`decision`], [`action`] (what a model's answer means), [`event`], [`task`] (the ledger),
//!   [`session`] (stored sessions).
//! - The loop: [`company`] (build and start a company), [`daemon`] (one agent), [`prompt`],
//!   [`parse`] (finding the answer in the model's text), [`decision_engine`], [`budget`],
//!   [`schedule`] (cron), [`workspace`] (safe file writes and git), [`control`] (pause),
//!   [`context`] (RAG), [`runtime`] (what daemons share), [`agent`] (agent specs, settings).
//! - Adapters: [`memory`], [`mock`], and the [`testkit`] contract tests every adapter passes.
//!
//! # A company on mock adapters
//! A task sent to the CEO, who delegates to the CTO; the model is a script.
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use aito_core::mock::{Script, ScriptedResponse};
//! use aito_core::{AgentSpec, Company, MessageType, MockWorkers, Priority, ReplayLlm, Role, StateStore};
//! use serde_json::json;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let answer = |role: Role, when: &str, response: serde_json::Value| ScriptedResponse {
//!     role: Some(role),
//!     when: Some(when.to_owned()),
//!     response: Some(response),
//!     ..ScriptedResponse::default()
//! };
//! let llm = Arc::new(ReplayLlm::new(Script {
//!     responses: vec![
//!         answer(Role::Ceo, "Ship the beta", json!({
//!             "summary": "Asked the CTO to ship",
//!             "messages": [{"to": "cto", "content": "Ship the beta this week", "type": "task"}]
//!         })),
//!         answer(Role::Cto, "Ship the beta", json!({
//!             "summary": "Shipping", "actions": [], "stateUpdates": {"current_focus": "beta"}
//!         })),
//!     ],
//!     ..Script::default()
//! }));
//! let workspaces = tempfile::tempdir()?;
//! let company = Company::builder("acme")
//!     .agents([Role::Ceo, Role::Cto].map(|role| AgentSpec::new(role).without_schedules()))
//!     .embedded()
//!     .llm(llm.clone())
//!     .workers(Arc::new(MockWorkers::new()))
//!     .workspace_root(workspaces.path())
//!     .build()?;
//! let running = company.start()?;
//! running
//!     .send("ceo", MessageType::Task, json!({"title": "Ship the beta"}), Priority::High)
//!     .await?;
//! running.wait_idle(Duration::from_millis(200)).await;
//!
//! let cto = running.id_of(&Role::Cto)?;
//! let state = running.runtime().store.load_state(cto).await?.value;
//! assert_eq!(state.values["current_focus"], "beta");
//! assert_eq!(llm.requests().len(), 2);
//! running.shutdown().await;
//! # Ok(())
//! # }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod action;
pub mod agent;
pub mod budget;
pub mod bus;
pub mod channel;
pub mod clock;
pub mod company;
pub mod context;
pub mod control;
pub mod daemon;
pub mod decision;
pub mod decision_engine;
pub mod directory;
pub mod envelope;
pub mod event;
mod execute;
pub mod export;
pub mod id;
pub mod llm;
pub mod memory;
pub mod mock;
pub mod parse;
pub mod policy;
pub mod profile;
pub mod prompt;
pub mod recording;
pub mod replay;
pub mod reservation;
pub mod role;
pub mod runtime;
pub mod schedule;
pub mod session;
pub mod store;
pub mod task;
pub mod testkit;
pub mod trigger;
pub mod worker;
pub mod workspace;

pub use action::{Action, ModelResponse};
pub use agent::{AgentSpec, Budget, LoopGuards, RetryPolicy, Settings};
pub use bus::{Bus, BusError, Deliveries, Delivery, Subscription};
pub use channel::Channel;
pub use clock::Clock;
pub use company::{Company, CompanyBuilder, CompanyError, RunningCompany};
pub use context::{ContextProvider, NoContext};
pub use daemon::AgentDaemon;
pub use decision::{Decision, DecisionStatus, Tier, Vote, VoteChoice};
pub use decision_engine::{DecisionEngine, Proposal};
pub use directory::Directory;
pub use envelope::{Envelope, MessageType, Priority, Recipient, Sender};
pub use event::Event;
pub use id::{AgentId, DecisionId, MessageId, TaskId};
pub use llm::{LlmError, LlmRequest, LlmResponse, LlmSession, SessionKind, TokenUsage};
pub use memory::{MemoryBus, MemoryStore};
pub use mock::{MockWorkers, ReplayLlm};
pub use parse::{ParseError, parse_response};
pub use policy::{DecisionPolicy, DefaultPolicy};
pub use role::Role;
pub use runtime::{Runtime, SendError, Sent};
pub use schedule::Schedule;
pub use store::{StateStore, StoreError};
pub use task::{Task, TaskChange, TaskError, TaskStatus};
pub use trigger::{Trigger, TriggerKind};
pub use worker::{WorkerError, WorkerResult, WorkerSpawner, WorkerStatus, WorkerTask};
