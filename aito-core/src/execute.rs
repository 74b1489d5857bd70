//! Carrying out a model's response: messages, actions, each at most once per stable id.
//!
//! Each one writes its intent (an idempotency mark) before its effect and its completion (the
//! outcome) after. A redelivery after a crash that finds the completion reports the outcome
//! recorded, without acting again. One that finds the intent alone was cut off: an effect that
//! can be repeated safely (a message or task with its derived id, which receivers
//! de-duplicate; an alert; files written again and committed) is carried out again, and so is
//! one whose recorded outcome was a failure; any other (a worker, a decision, a request to a
//! human) is reported to the agent as failed, never as done.
//!
//! Actions come from a model and are untrusted: every one is checked (recipients exist, votes
//! come from reviewers, files stay in the workspace, workers ask only for allowed servers), and
//! whatever is refused or fails is written into the agent's notes for its next prompt.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::action::{Action, FileWrite, ModelResponse, OutgoingMessage};
use crate::agent::AgentSpec;
use crate::daemon::workers::WorkerPool;
use crate::decision_engine::Proposal;
use crate::envelope::{Envelope, MessageType, Priority, Recipient, Sender};
use crate::event::Event;
use crate::id::{AgentId, DecisionId, MessageId};
use crate::role::Role;
use crate::runtime::Runtime;
use crate::store::{ActionRecord, StoreError};
use crate::trigger::Cause;
use crate::worker::WorkerTask;
use crate::workspace::{CommitOutcome, Workspace};

/// Whether an action found started and not finished may be carried out again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Repeat {
    /// Doing it twice gives what doing it once gives: envelopes with derived ids (receivers
    /// de-duplicate them), files written again with the same content and committed.
    Safe,
    /// A second time costs or changes something more: a worker, a decision, a human request.
    Never,
}

impl Repeat {
    fn of(action: &Action) -> Self {
        match action {
            Action::CreateTask { .. } | Action::Alert { .. } | Action::Operational { .. } => {
                Repeat::Safe
            }
            _ => Repeat::Never,
        }
    }
}

mod tasks;

/// Who acts, and on behalf of which trigger.
pub(crate) struct ActionContext<'a> {
    pub(crate) runtime: &'a Runtime,
    pub(crate) agent: AgentId,
    pub(crate) spec: &'a AgentSpec,
    pub(crate) workspace: &'a Workspace,
    pub(crate) trigger_id: &'a str,
    pub(crate) cause: Cause,
    pub(crate) workers: &'a WorkerPool,
    /// The lease term the actions are carried out in: an intent or completion it no longer
    /// covers is refused by the store, and the action is not carried out.
    pub(crate) fence: Option<crate::store::Fence>,
}

/// What came of a response.
#[derive(Debug, Default)]
pub(crate) struct Execution {
    /// One record per message and action.
    pub(crate) records: Vec<ActionRecord>,
    /// For the agent's next prompt.
    pub(crate) notes: Vec<String>,
}

impl ActionContext<'_> {
    fn role(&self) -> &Role {
        &self.spec.role
    }

    fn mark_key(&self, id: &str) -> String {
        format!("action:{}:{id}", self.agent)
    }

    fn completion_key(&self, id: &str) -> String {
        format!("action-done:{}:{id}", self.agent)
    }

    /// Carries out `response`: messages, then actions, in order.
    pub(crate) async fn execute(&self, response: &ModelResponse) -> Execution {
        let mut execution = Execution::default();
        for problem in &response.problems {
            execution.notes.push(problem.clone());
        }
        for (index, message) in response.messages.iter().enumerate() {
            let id = format!("{}#m{index}", self.trigger_id);
            let at = self.pace().await;
            let result = self
                .once(&id, Repeat::Safe, self.send_message(&id, message))
                .await;
            self.record(&mut execution, id, "message", result, at);
        }
        for (index, action) in response.actions.iter().enumerate() {
            let id = format!("{}#a{index}", self.trigger_id);
            let at = self.pace().await;
            let result = match action {
                Action::Unknown { kind } => Err(format!(
                    "action #{index} of unknown type {kind:?} was skipped; the known types are spawn_worker, propose_decision, withdraw_decision, vote, create_task, update_task, alert, operational, request_human_action"
                )),
                Action::Invalid { kind, reason } => {
                    Err(format!("action #{index} ({kind}) was skipped: {reason}"))
                }
                action => {
                    self.once(&id, Repeat::of(action), self.act(&id, action))
                        .await
                }
            };
            self.record(&mut execution, id, action.kind(), result, at);
        }
        execution
    }

    /// Lets a replay hold the next action until its recorded moment; the time it runs at.
    async fn pace(&self) -> chrono::DateTime<chrono::Utc> {
        if let Some(recorder) = &self.runtime.recorder {
            recorder.pace_action(&self.spec.role).await;
        }
        self.runtime.clock.now()
    }

    fn record(
        &self,
        execution: &mut Execution,
        id: String,
        kind: &str,
        result: Result<String, String>,
        at: chrono::DateTime<chrono::Utc>,
    ) {
        let (ok, detail) = match result {
            Ok(detail) => (true, detail),
            Err(detail) => {
                execution.notes.push(detail.clone());
                (false, detail)
            }
        };
        tracing::info!(agent = %self.agent, role = %self.role(), action = %id, kind = %crate::envelope::preview(kind, 80), ok, detail = %crate::envelope::preview(&detail, crate::envelope::PREVIEW_CHARS), "action");
        execution.records.push(ActionRecord {
            id,
            kind: kind.to_owned(),
            ok,
            detail,
            at: Some(at),
        });
    }

    /// Runs `work` unless action `id` already ran (at most once, across crashes): writes the
    /// intent, runs it, writes the completion. See the module documentation for what a
    /// redelivery does with an intent it finds.
    async fn once(
        &self,
        id: &str,
        repeat: Repeat,
        work: impl Future<Output = Result<String, String>>,
    ) -> Result<String, String> {
        let store = &self.runtime.store;
        let (key, ttl) = (self.mark_key(id), self.runtime.settings.mark_ttl);
        let marked = match &self.fence {
            Some(fence) => store.first_time_fenced(&key, ttl, fence).await,
            None => store.first_time(&key, ttl).await,
        };
        let first = match marked {
            Ok(first) => first,
            Err(err @ StoreError::Fenced { .. }) => {
                tracing::error!(agent = %self.agent, action = %id, error = %err, "action not carried out: this daemon's lease term is over");
                return Err(format!(
                    "{id} was not carried out: this daemon no longer holds the agent's lease"
                ));
            }
            Err(err) => {
                return Err(format!(
                    "{id} was not carried out: the store could not record it ({err})"
                ));
            }
        };
        let again = if first {
            false
        } else {
            match (self.completion(id).await, repeat) {
                (Ok(Some(Ok(detail))), _) => {
                    return Ok(format!(
                        "already carried out before a restart; not repeated ({detail})"
                    ));
                }
                (Ok(Some(Err(detail))), Repeat::Never) => {
                    return Err(format!("failed before a restart; not repeated: {detail}"));
                }
                (Ok(None), Repeat::Never) => {
                    return Err(format!(
                        "{id} was cut off by a restart before it finished; it was not repeated and may be incomplete"
                    ));
                }
                (Err(err), Repeat::Never) => {
                    return Err(format!(
                        "{id} was started before a restart and whether it finished is unknown: {err}"
                    ));
                }
                (_, Repeat::Safe) => true,
            }
        };
        if again {
            tracing::warn!(agent = %self.agent, action = %id, "started before a restart and not recorded as done; carrying it out again");
        }
        let result = work.await;
        let outcome = match &result {
            Ok(detail) => json!({ "ok": true, "detail": detail }),
            Err(detail) => json!({ "ok": false, "detail": detail }),
        };
        let done_key = self.completion_key(id);
        let recorded = match &self.fence {
            Some(fence) => {
                store
                    .set_value_fenced(&done_key, &outcome, Some(ttl), fence)
                    .await
            }
            None => store.set_value(&done_key, &outcome, Some(ttl)).await,
        };
        if let Err(err) = recorded {
            tracing::warn!(agent = %self.agent, action = %id, error = %err, "could not record that an action finished");
        }
        match (again, result) {
            (true, Ok(detail)) => Ok(format!(
                "{detail} (carried out again: a restart had cut it off)"
            )),
            (_, result) => result,
        }
    }

    /// The recorded outcome of action `id`: `None` when none was recorded.
    async fn completion(&self, id: &str) -> Result<Option<Result<String, String>>, String> {
        let value = self
            .runtime
            .store
            .get_value(&self.completion_key(id))
            .await
            .map_err(|err| err.to_string())?;
        Ok(value.map(|value| {
            let detail = value
                .get("detail")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            if value.get("ok").and_then(Value::as_bool) == Some(true) {
                Ok(detail)
            } else {
                Err(detail)
            }
        }))
    }

    /// An envelope from this agent for action `id`, with an id derived from it.
    fn stamped(&self, id: &str, kind: MessageType, payload: Value, priority: Priority) -> Envelope {
        let mut envelope =
            Envelope::new(kind, Sender::Agent(self.agent), payload).with_priority(priority);
        envelope.id = MessageId::derived(&format!("{}/{id}", self.agent));
        self.cause.stamp(&mut envelope);
        envelope
    }

    async fn send_message(&self, id: &str, message: &OutgoingMessage) -> Result<String, String> {
        let (recipient, channel) = self.runtime.directory.route_text(&message.to)?;
        if recipient == Recipient::Agent(self.agent) {
            return Err("a message to yourself was not sent".to_owned());
        }
        let mut payload = message.extra.clone();
        payload.insert("content".to_owned(), Value::String(message.content.clone()));
        payload.insert("fromRole".to_owned(), json!(self.role()));
        let kind = message
            .kind
            .as_deref()
            .map_or(MessageType::Direct, MessageType::from);
        let mut envelope = self.stamped(id, kind, Value::Object(payload), message.priority);
        envelope.to = Some(recipient);
        self.runtime
            .bus
            .publish(channel, envelope)
            .await
            .map_err(|err| format!("message to {} not sent: {err}", message.to))?;
        Ok(format!("sent to {}", message.to))
    }

    async fn act(&self, id: &str, action: &Action) -> Result<String, String> {
        let runtime = self.runtime;
        match action {
            Action::SpawnWorker {
                task,
                servers,
                timeout,
                context,
            } => {
                let task = WorkerTask {
                    id: id.to_owned(),
                    agent: self.agent,
                    role: self.role().clone(),
                    task: task.clone(),
                    context: context.clone(),
                    servers: servers.clone(),
                    allowed_servers: self.spec.mcp_servers.clone(),
                    timeout: timeout
                        .unwrap_or(runtime.settings.worker_timeout)
                        .min(Duration::from_secs(3600)),
                };
                crate::worker::check_allowed(&task).map_err(|err| err.to_string())?;
                self.workers.launch(task, &self.cause).await?;
                Ok(format!(
                    "worker {id} started; its result will come as a worker_result message"
                ))
            }
            Action::ProposeDecision {
                tier,
                title,
                description,
                options,
                revises: None,
            } => {
                let proposal = Proposal {
                    id: DecisionId::derived(&format!("{}/{id}", self.agent)),
                    tier: *tier,
                    title: title.clone(),
                    description: description.clone(),
                    options: options.clone(),
                };
                let decision = runtime
                    .engine
                    .propose(self.agent, self.role(), proposal, &self.cause)
                    .await
                    .map_err(|err| err.to_string())?;
                Ok(format!(
                    "decision {} proposed as {}; now {}",
                    decision.id, decision.tier, decision.status
                ))
            }
            Action::ProposeDecision {
                title,
                description,
                options,
                revises: Some(id),
                ..
            } => {
                let decision = runtime
                    .engine
                    .revise(
                        *id,
                        self.agent,
                        title,
                        description,
                        options.clone(),
                        &self.cause,
                    )
                    .await
                    .map_err(|err| err.to_string())?;
                Ok(format!(
                    "decision {} revised for round {}; now {}",
                    decision.id, decision.round, decision.status
                ))
            }
            Action::WithdrawDecision { decision, reason } => {
                runtime
                    .engine
                    .withdraw(*decision, self.agent, reason, &self.cause)
                    .await
                    .map_err(|err| err.to_string())?;
                Ok(format!("decision {decision} withdrawn"))
            }
            Action::Vote {
                decision,
                choice,
                reason,
            } => {
                let after = runtime
                    .engine
                    .vote(
                        *decision,
                        self.agent,
                        self.role(),
                        *choice,
                        reason,
                        &self.cause,
                    )
                    .await
                    .map_err(|err| err.to_string())?;
                Ok(format!(
                    "voted {choice:?} on {decision}; it is now {}",
                    after.status
                ))
            }
            Action::CreateTask {
                assign_to,
                title,
                description,
                priority,
                deadline,
                parent,
            } => {
                self.create_task(
                    id,
                    tasks::NewTask {
                        assign_to,
                        title,
                        description,
                        priority: *priority,
                        deadline: deadline.as_deref(),
                        parent: *parent,
                    },
                )
                .await
            }
            Action::UpdateTask { task, status, note } => {
                self.update_task(id, *task, *status, note).await
            }
            Action::Alert {
                alert_type,
                severity,
                message,
            } => {
                runtime
                    .emit(Event::Alert {
                        agent: self.agent,
                        role: self.role().clone(),
                        alert_type: alert_type.clone(),
                        severity: severity.to_string(),
                        message: message.clone(),
                    })
                    .await;
                if *severity >= Priority::High {
                    let envelope = self.stamped(
                        id,
                        MessageType::Alert,
                        json!({ "alertType": alert_type, "severity": severity, "message": message, "fromRole": self.role() }),
                        *severity,
                    );
                    runtime
                        .bus
                        .publish(crate::channel::Channel::Head, envelope)
                        .await
                        .map_err(|err| format!("alert not sent to head: {err}"))?;
                    return Ok(format!(
                        "{severity} {alert_type} alert raised and sent to CEO and DAO"
                    ));
                }
                Ok(format!("{severity} {alert_type} alert raised"))
            }
            Action::Operational {
                title,
                files,
                commit,
            } => self.operational(title, files, commit.as_deref()).await,
            Action::RequestHumanAction { title, description } => {
                let record = json!({
                    "agent": self.agent,
                    "role": self.role(),
                    "title": title,
                    "description": description,
                    "at": runtime.clock.now(),
                    "id": id,
                });
                runtime
                    .store
                    .append_log(crate::store::logs::HUMAN_REQUESTS, &record, 1000)
                    .await
                    .map_err(|err| format!("request not recorded: {err}"))?;
                runtime
                    .emit(Event::HumanActionRequested {
                        agent: self.agent,
                        role: self.role().clone(),
                        title: title.clone(),
                        description: description.clone(),
                    })
                    .await;
                Ok(format!("asked a human: {title}"))
            }
            Action::Unknown { .. } | Action::Invalid { .. } => Err("skipped".to_owned()),
        }
    }

    async fn operational(
        &self,
        title: &str,
        files: &[FileWrite],
        commit: Option<&str>,
    ) -> Result<String, String> {
        let mut written: Vec<PathBuf> = Vec::new();
        let mut refused: Vec<String> = Vec::new();
        for file in files {
            let workspace = self.workspace.clone();
            let (path, content) = (file.path.clone(), file.content.clone());
            let result = tokio::task::spawn_blocking(move || workspace.write(&path, &content))
                .await
                .map_err(|err| format!("file write task failed: {err}"))?;
            match result {
                Ok(path) => written.push(path),
                Err(err) => refused.push(err.to_string()),
            }
        }
        let mut detail = format!("{title}: wrote {} file(s)", written.len());
        if let (Some(message), false) = (commit, written.is_empty()) {
            match self
                .workspace
                .commit(&written, message, self.role().as_str())
                .await
            {
                Ok(CommitOutcome::Committed { hash }) => {
                    detail.push_str(&format!(", committed {}", &hash[..hash.len().min(12)]));
                }
                Ok(CommitOutcome::NothingToCommit) => detail.push_str(", nothing new to commit"),
                Err(err) => refused.push(format!("commit failed: {err}")),
            }
        }
        if refused.is_empty() {
            Ok(detail)
        } else {
            Err(format!("{detail}; {}", refused.join("; ")))
        }
    }
}
