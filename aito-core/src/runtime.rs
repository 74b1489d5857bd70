//! The runtime: everything the daemons of one process share.

use std::sync::Arc;

use crate::agent::Settings;
use crate::budget::BudgetLedger;
use crate::bus::Bus;
use crate::channel::Channel;
use crate::clock::Clock;
use crate::context::ContextProvider;
use crate::decision_engine::DecisionEngine;
use crate::directory::Directory;
use crate::event::Event;
use crate::llm::LlmSession;
use crate::store::StateStore;
use crate::worker::WorkerSpawner;

/// How many events the log keeps.
const EVENTS_KEPT: usize = 2000;

/// Adapters, clock, directory and settings of a company, shared by its daemons.
#[derive(Clone)]
pub struct Runtime {
    /// The company's name.
    pub company: String,
    /// The bus.
    pub bus: Arc<dyn Bus>,
    /// The store.
    pub store: Arc<dyn StateStore>,
    /// The model.
    pub llm: Arc<dyn LlmSession>,
    /// The worker spawner.
    pub workers: Arc<dyn WorkerSpawner>,
    /// The context provider.
    pub context: Arc<dyn ContextProvider>,
    /// The clock.
    pub clock: Clock,
    /// Who is who.
    pub directory: Arc<Directory>,
    /// Loop settings.
    pub settings: Arc<Settings>,
    /// The decision engine.
    pub engine: DecisionEngine,
    /// The budget ledger.
    pub ledger: BudgetLedger,
    /// Where the run is recorded, when it is.
    pub recorder: Option<Arc<dyn crate::recording::Recorder>>,
    /// Each agent's configured budget (a human's override, when set, is in the store).
    pub budgets: Arc<std::collections::BTreeMap<crate::id::AgentId, crate::agent::Budget>>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("company", &self.company)
            .finish_non_exhaustive()
    }
}

/// Where a sent message went.
#[derive(Clone, Debug, PartialEq)]
pub struct Sent {
    /// The envelope id.
    pub id: crate::id::MessageId,
    /// The resolved recipient (role names become agent ids).
    pub to: crate::envelope::Recipient,
    /// The channel it was published on.
    pub channel: Channel,
}

/// Why a message could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The `to` field is not a role name, agent uuid, `all`, `head` or `clevel`.
    #[error("{0}")]
    BadRecipient(String),
    /// The recipient is well formed but not in this company.
    #[error("{0}")]
    UnknownRecipient(String),
    /// The bus refused the envelope.
    #[error(transparent)]
    Bus(#[from] crate::bus::BusError),
}

impl Runtime {
    /// The configured budget of `scope`: an agent's, or the company's.
    pub fn configured_budget(&self, scope: &crate::budget::Scope) -> Option<crate::agent::Budget> {
        match scope {
            crate::budget::Scope::Company => Some(self.settings.company_budget.clone()),
            crate::budget::Scope::Agent(id) => id
                .parse::<crate::id::AgentId>()
                .ok()
                .and_then(|id| self.budgets.get(&id).cloned()),
        }
    }

    /// A human changes the budget of `scope`: the change is applied to the budget in force,
    /// stored, and announced to every daemon. Returns the new budget.
    pub async fn change_budget(
        &self,
        scope: &crate::budget::Scope,
        change: &crate::budget::BudgetChange,
        by: &str,
    ) -> Result<crate::agent::Budget, crate::control::ControlError> {
        let configured = self.configured_budget(scope).unwrap_or_default();
        let mut budget = self.ledger.effective(scope, &configured).await;
        change.apply(&mut budget);
        crate::control::set_budget(
            Arc::clone(&self.store),
            self.bus.as_ref(),
            scope,
            &budget,
            by,
        )
        .await?;
        tracing::info!(scope = ?scope, by, "budget changed");
        Ok(budget)
    }

    /// Records an entry when the run is being recorded; builds it only then.
    pub fn record(&self, entry: impl FnOnce() -> crate::recording::Entry) {
        if let Some(recorder) = &self.recorder {
            recorder.record(entry());
        }
    }

    /// Sends `envelope` to `to` (a role name, an agent uuid, `all`, `head` or `clevel`):
    /// resolves the recipient, fills in `to`, publishes, and says where it went. Role names go
    /// to the agent's inbox.
    pub async fn send(
        &self,
        to: &str,
        mut envelope: crate::envelope::Envelope,
    ) -> Result<Sent, SendError> {
        let recipient: crate::envelope::Recipient = to.parse().map_err(SendError::BadRecipient)?;
        let channel = self
            .directory
            .route(&recipient)
            .map_err(SendError::UnknownRecipient)?;
        let resolved = match (recipient, channel) {
            (crate::envelope::Recipient::Role(_), Channel::Agent(id)) => {
                crate::envelope::Recipient::Agent(id)
            }
            (recipient, _) => recipient,
        };
        envelope.to = Some(resolved.clone());
        let id = envelope.id;
        self.record(|| crate::recording::Entry::Input {
            at: self.clock.now(),
            to: to.to_owned(),
            envelope: Box::new(envelope.clone()),
        });
        self.bus.publish(channel, envelope).await?;
        Ok(Sent {
            id,
            to: resolved,
            channel,
        })
    }

    /// Publishes an event on `Events` and keeps it in the store's event log. Failures are
    /// logged, never raised: events must not stop the work they describe.
    pub async fn emit(&self, event: Event) {
        let mut envelope = event.to_envelope();
        envelope.timestamp = self.clock.now();
        // The log keeps when it happened; the envelope carries it as its timestamp.
        let mut logged = envelope.payload.clone();
        if let Some(object) = logged.as_object_mut() {
            object.insert("at".to_owned(), serde_json::json!(envelope.timestamp));
        }
        if let Err(err) = self
            .store
            .append_log(crate::store::logs::EVENTS, &logged, EVENTS_KEPT)
            .await
        {
            tracing::warn!(error = %err, event = event.name(), "could not keep event");
        }
        if let Err(err) = self.bus.publish(Channel::Events, envelope).await {
            tracing::warn!(error = %err, event = event.name(), "could not publish event");
        }
    }
}
