//! The [`Company`] builder: define agents, pick adapters, start them all in one process, shut
//! them all down.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::agent::{AgentSpec, Settings};
use crate::budget::BudgetLedger;
use crate::bus::{Bus, BusError};
use crate::clock::Clock;
use crate::context::{ContextProvider, NoContext};
use crate::control::{self, ControlError};
use crate::daemon::{AgentDaemon, Monitor, MonitorSnapshot, Parked};
use crate::decision_engine::DecisionEngine;
use crate::directory::{AgentEntry, Directory};
use crate::envelope::{Envelope, MessageType, Priority, Sender};
use crate::id::{AgentId, MessageId};
use crate::llm::LlmSession;
use crate::memory::{MemoryBus, MemoryStore};
use crate::policy::{DecisionPolicy, DefaultPolicy};
use crate::role::Role;
use crate::runtime::{Runtime, SendError};
use crate::store::StateStore;
use crate::worker::WorkerSpawner;
use crate::workspace::{Workspace, WorkspaceError};

/// Why a company could not be built, started or addressed.
#[derive(Debug, thiserror::Error)]
pub enum CompanyError {
    /// No agents were defined.
    #[error("the company has no agents")]
    NoAgents,
    /// Two agents share a role.
    #[error("two agents have the role {0}; each role appears once")]
    DuplicateRole(Role),
    /// Two agents share an id.
    #[error("two agents have the id {0}")]
    DuplicateId(AgentId),
    /// An adapter was not given.
    #[error("no {0} adapter was given; call CompanyBuilder::{0}")]
    MissingAdapter(&'static str),
    /// A workspace could not be opened.
    #[error("workspace of {role}: {source}")]
    Workspace {
        /// The agent.
        role: Role,
        /// Why.
        #[source]
        source: WorkspaceError,
    },
    /// No agent has that role.
    #[error("no agent with role {0}")]
    UnknownRole(Role),
    /// A recipient could not be resolved.
    #[error("{0}")]
    Recipient(String),
    /// The bus failed.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// A control could not be applied.
    #[error(transparent)]
    Control(#[from] ControlError),
}

/// Builds a [`Company`].
pub struct CompanyBuilder {
    name: String,
    agents: Vec<AgentSpec>,
    bus: Option<Arc<dyn Bus>>,
    store: Option<Arc<dyn StateStore>>,
    llm: Option<Arc<dyn LlmSession>>,
    workers: Option<Arc<dyn WorkerSpawner>>,
    policy: Arc<dyn DecisionPolicy>,
    context: Arc<dyn ContextProvider>,
    clock: Option<Clock>,
    settings: Settings,
    workspace_root: Option<PathBuf>,
    recorder: Option<Arc<dyn crate::recording::Recorder>>,
}

impl std::fmt::Debug for CompanyBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompanyBuilder")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl CompanyBuilder {
    /// Adds an agent.
    pub fn agent(mut self, spec: AgentSpec) -> Self {
        self.agents.push(spec);
        self
    }

    /// Adds agents.
    pub fn agents(mut self, specs: impl IntoIterator<Item = AgentSpec>) -> Self {
        self.agents.extend(specs);
        self
    }

    /// The bus (default: none; [`MemoryBus`] with [`CompanyBuilder::embedded`]).
    pub fn bus(mut self, bus: Arc<dyn Bus>) -> Self {
        self.bus = Some(bus);
        self
    }

    /// The store.
    pub fn store(mut self, store: Arc<dyn StateStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Uses a fresh [`MemoryBus`] and [`MemoryStore`]: a whole company with no server.
    pub fn embedded(self) -> Self {
        self.bus(Arc::new(MemoryBus::new()))
            .store(Arc::new(MemoryStore::new()))
    }

    /// The model.
    pub fn llm(mut self, llm: Arc<dyn LlmSession>) -> Self {
        self.llm = Some(llm);
        self
    }

    /// The worker spawner.
    pub fn workers(mut self, workers: Arc<dyn WorkerSpawner>) -> Self {
        self.workers = Some(workers);
        self
    }

    /// The decision policy (default: [`DefaultPolicy`]).
    pub fn policy(mut self, policy: Arc<dyn DecisionPolicy>) -> Self {
        self.policy = policy;
        self
    }

    /// The context provider (default: [`NoContext`]).
    pub fn context(mut self, context: Arc<dyn ContextProvider>) -> Self {
        self.context = context;
        self
    }

    /// The clock (default: the system clock). Share one clock across restarts in tests.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Loop settings.
    pub fn settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// The directory under which each agent gets `<role>/` as its workspace
    /// (default: `aito-data/workspaces` in the current directory).
    pub fn workspace_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.workspace_root = Some(root.into());
        self
    }

    /// Records the run (see [`recording`](crate::recording)).
    pub fn recorder(mut self, recorder: Arc<dyn crate::recording::Recorder>) -> Self {
        self.recorder = Some(recorder);
        self
    }

    /// Checks the definition and builds the company.
    pub fn build(self) -> Result<Company, CompanyError> {
        if self.agents.is_empty() {
            return Err(CompanyError::NoAgents);
        }
        let mut roles = HashSet::new();
        let mut ids = HashSet::new();
        let mut agents = Vec::with_capacity(self.agents.len());
        for spec in self.agents {
            if !roles.insert(spec.role.clone()) {
                return Err(CompanyError::DuplicateRole(spec.role));
            }
            let id = spec
                .id
                .unwrap_or_else(|| AgentId::derived(&self.name, spec.role.as_str()));
            if !ids.insert(id) {
                return Err(CompanyError::DuplicateId(id));
            }
            agents.push((id, Arc::new(spec)));
        }
        let bus = self.bus.ok_or(CompanyError::MissingAdapter("bus"))?;
        let store = self.store.ok_or(CompanyError::MissingAdapter("store"))?;
        let llm = self.llm.ok_or(CompanyError::MissingAdapter("llm"))?;
        let workers = self
            .workers
            .ok_or(CompanyError::MissingAdapter("workers"))?;
        let clock = self.clock.unwrap_or_default();
        let directory = Arc::new(Directory::new(agents.iter().map(|(id, spec)| AgentEntry {
            id: *id,
            role: spec.role.clone(),
        })));
        let engine = DecisionEngine::new(
            Arc::clone(&store),
            Arc::clone(&bus),
            self.policy,
            clock,
            Arc::clone(&directory),
        )
        .with_context(Arc::clone(&self.context));
        let runtime = Runtime {
            company: self.name,
            ledger: BudgetLedger::new(Arc::clone(&store)),
            bus,
            store,
            llm,
            workers,
            context: self.context,
            clock,
            directory,
            settings: Arc::new(self.settings),
            engine,
            recorder: self.recorder,
            budgets: Arc::new(
                agents
                    .iter()
                    .map(|(id, spec)| (*id, spec.budget.clone()))
                    .collect(),
            ),
        };
        Ok(Company {
            runtime,
            agents,
            workspace_root: self
                .workspace_root
                .unwrap_or_else(|| PathBuf::from("aito-data/workspaces")),
        })
    }
}

/// A company: its agents and the adapters they share. Start all agents with
/// [`Company::start`], or one with [`Company::daemon`].
#[derive(Debug)]
pub struct Company {
    runtime: Runtime,
    agents: Vec<(AgentId, Arc<AgentSpec>)>,
    workspace_root: PathBuf,
}

impl Company {
    /// A builder for a company called `name` (the name also seeds the derived agent ids).
    pub fn builder(name: impl Into<String>) -> CompanyBuilder {
        CompanyBuilder {
            name: name.into(),
            agents: Vec::new(),
            bus: None,
            store: None,
            llm: None,
            workers: None,
            policy: Arc::new(DefaultPolicy::default()),
            context: Arc::new(NoContext),
            clock: None,
            settings: Settings::default(),
            workspace_root: None,
            recorder: None,
        }
    }

    /// What the daemons share.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The agents: ids and specifications.
    pub fn agents(&self) -> impl Iterator<Item = (AgentId, &AgentSpec)> {
        self.agents.iter().map(|(id, spec)| (*id, spec.as_ref()))
    }

    /// The daemon of the agent with `role`, to run it alone (one container per agent).
    pub fn daemon(&self, role: &Role) -> Result<AgentDaemon, CompanyError> {
        let (id, spec) = self
            .agents
            .iter()
            .find(|(_, spec)| &spec.role == role)
            .ok_or_else(|| CompanyError::UnknownRole(role.clone()))?;
        let path = spec
            .workspace
            .clone()
            .unwrap_or_else(|| self.workspace_root.join(spec.role.as_str()));
        let workspace = Workspace::open(&path).map_err(|source| CompanyError::Workspace {
            role: spec.role.clone(),
            source,
        })?;
        Ok(AgentDaemon::new(
            self.runtime.clone(),
            Arc::clone(spec),
            *id,
            workspace,
        ))
    }

    /// Starts every agent's daemon in this process. A recorded run begins with the start
    /// entry: the company, its agents and settings.
    pub fn start(&self) -> Result<RunningCompany, CompanyError> {
        self.runtime.record(|| {
            crate::recording::start_entry(
                &self.runtime.company,
                self.runtime.clock.now(),
                self.agents
                    .iter()
                    .map(|(id, spec)| crate::recording::RecordedAgent::of(*id, spec)),
                &self.runtime.settings,
            )
        });
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let mut monitors = Vec::new();
        let mut daemons = Vec::new();
        for (_, spec) in &self.agents {
            daemons.push(self.daemon(&spec.role)?);
        }
        for daemon in daemons {
            monitors.push((daemon.id(), daemon.spec().role.clone(), daemon.monitor()));
            tracker.spawn(daemon.run(shutdown.clone()));
        }
        tracker.close();
        Ok(RunningCompany {
            runtime: self.runtime.clone(),
            shutdown,
            tracker,
            monitors,
        })
    }
}

/// A company whose daemons are running in this process.
pub struct RunningCompany {
    runtime: Runtime,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    monitors: Vec<(AgentId, Role, Arc<Monitor>)>,
}

impl std::fmt::Debug for RunningCompany {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningCompany")
            .field("agents", &self.monitors.len())
            .finish_non_exhaustive()
    }
}

impl RunningCompany {
    /// What the daemons share.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The id of the agent with `role`.
    pub fn id_of(&self, role: &Role) -> Result<AgentId, CompanyError> {
        self.runtime
            .directory
            .id_of(role)
            .ok_or_else(|| CompanyError::UnknownRole(role.clone()))
    }

    /// Sends a message from a human: `to` is a role name, an agent uuid, `all`, `head` or
    /// `clevel`. Returns the envelope id.
    pub async fn send(
        &self,
        to: &str,
        kind: MessageType,
        payload: Value,
        priority: Priority,
    ) -> Result<MessageId, CompanyError> {
        let envelope = Envelope::new(kind, Sender::Human, payload).with_priority(priority);
        match self.runtime.send(to, envelope).await {
            Ok(sent) => Ok(sent.id),
            Err(SendError::Bus(err)) => Err(err.into()),
            Err(err) => Err(CompanyError::Recipient(err.to_string())),
        }
    }

    /// Pauses every agent: running sessions finish, no new one starts.
    pub async fn pause(&self, by: &str) -> Result<(), CompanyError> {
        control::set_paused(&*self.runtime.store, &*self.runtime.bus, true, by).await?;
        Ok(())
    }

    /// Resumes every agent.
    pub async fn resume(&self, by: &str) -> Result<(), CompanyError> {
        control::set_paused(&*self.runtime.store, &*self.runtime.bus, false, by).await?;
        Ok(())
    }

    /// Live counters of every agent.
    pub fn snapshots(&self) -> Vec<(AgentId, Role, MonitorSnapshot)> {
        self.monitors
            .iter()
            .map(|(id, role, monitor)| (*id, role.clone(), monitor.snapshot()))
            .collect()
    }

    /// Whether every agent is idle now.
    pub fn is_idle(&self) -> bool {
        self.monitors
            .iter()
            .all(|(_, _, monitor)| monitor.snapshot().is_idle())
    }

    /// Waits until every agent has been idle for `settle` without interruption: nothing queued
    /// (or only work blocked by a pause, budget or quota), no session, no worker.
    pub async fn wait_idle(&self, settle: Duration) {
        let step = (settle / 10).max(Duration::from_millis(1));
        let mut quiet = Duration::ZERO;
        while quiet < settle {
            tokio::time::sleep(step).await;
            if self.is_idle() {
                quiet += step;
            } else {
                quiet = Duration::ZERO;
            }
        }
    }

    /// Waits as [`RunningCompany::wait_idle`] does, but an agent that holds work and waits for
    /// the model's rate limit or quota to lift does not count as idle while its wait ends
    /// within `patience`: it resumes by itself, so the company is not done. Returns the
    /// agents still waiting when it returns (a longer model wait, a budget window), so that
    /// the caller can say which work is left.
    pub async fn wait_settled(
        &self,
        settle: Duration,
        patience: Duration,
    ) -> Vec<(AgentId, Role, Parked)> {
        let step = (settle / 10).max(Duration::from_millis(1));
        let patience = chrono::Duration::from_std(patience).unwrap_or(chrono::Duration::MAX);
        let mut quiet = Duration::ZERO;
        loop {
            let now = self.runtime.clock.now();
            let snapshots = self.snapshots();
            let settled = snapshots.iter().all(|(_, _, snapshot)| {
                snapshot.is_idle()
                    && !snapshot.parked.is_some_and(|parked| {
                        snapshot.queue_len > 0
                            && parked.is_model_limit()
                            && parked.until - now <= patience
                    })
            });
            if settled {
                quiet += step;
            } else {
                quiet = Duration::ZERO;
            }
            if quiet >= settle {
                return snapshots
                    .into_iter()
                    .filter_map(|(id, role, snapshot)| {
                        snapshot
                            .parked
                            .filter(|_| snapshot.queue_len > 0)
                            .map(|parked| (id, role, parked))
                    })
                    .collect();
            }
            tokio::time::sleep(step).await;
        }
    }

    /// Stops every daemon: intake stops, running sessions get the grace period, leases are
    /// released. Returns when all have stopped.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.tracker.wait().await;
        self.runtime.record(|| crate::recording::Entry::End {
            at: self.runtime.clock.now(),
        });
    }

    /// A token that stops the company when cancelled (for signal handlers).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Waits until the company has stopped.
    pub async fn stopped(&self) {
        self.tracker.wait().await;
    }
}
