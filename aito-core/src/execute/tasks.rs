//! `create_task` and `update_task`: the task ledger's actions.
//!
//! A task for one agent is written to the ledger and its assignee woken with a `task` message
//! that carries the task's id. A change is allowed to the assignee, the creator and the CEO
//! only; the creator is woken when its task is done, blocked or cancelled, and the assignee
//! when someone else changed its task. Anything refused is reported back to the agent and
//! leaves the task as it was.

use serde_json::json;

use super::ActionContext;
use crate::envelope::{MessageType, Priority, Recipient};
use crate::event::Event;
use crate::id::{AgentId, TaskId};
use crate::role::Role;
use crate::store::StoreError;
use crate::task::{Task, TaskChange, TaskStatus, parse_deadline};

/// How many times a change is tried against concurrent writers.
const CAS_ATTEMPTS: usize = 8;

/// What `create_task` asked for.
pub(super) struct NewTask<'a> {
    pub(super) assign_to: &'a str,
    pub(super) title: &'a str,
    pub(super) description: &'a str,
    pub(super) priority: Priority,
    pub(super) deadline: Option<&'a str>,
    pub(super) parent: Option<TaskId>,
}

impl ActionContext<'_> {
    pub(super) async fn create_task(&self, id: &str, new: NewTask<'_>) -> Result<String, String> {
        let runtime = self.runtime;
        let (recipient, channel) = runtime.directory.route_text(new.assign_to)?;
        if recipient == Recipient::Agent(self.agent) {
            return Err("a task for yourself was not created; just do it".to_owned());
        }
        let Recipient::Agent(assignee) = recipient else {
            return Err(format!(
                "a task needs one assignee, not {:?}: name a role ({})",
                new.assign_to,
                runtime.directory.role_names()
            ));
        };
        let assignee_role = runtime
            .directory
            .role_of(assignee)
            .cloned()
            .ok_or_else(|| format!("no agent {assignee} in this company"))?;
        let mut remarks = Vec::new();
        let deadline = match new.deadline {
            Some(text) => {
                let parsed = parse_deadline(text);
                if parsed.is_none() {
                    remarks.push(format!(
                        "the deadline {text:?} was not understood (write 2026-03-01 or 2026-03-01 17:00 UTC); the task has none"
                    ));
                }
                parsed
            }
            None => None,
        };
        if let Some(parent) = new.parent {
            let found = runtime
                .store
                .task(parent)
                .await
                .map_err(|err| format!("task not created: the store failed ({err})"))?;
            if found.is_none() {
                return Err(format!(
                    "task not created: its parent task {parent} does not exist"
                ));
            }
        }
        let now = runtime.clock.now();
        let task = Task {
            id: TaskId::derived(&format!("{}/{id}", self.agent)),
            title: new.title.to_owned(),
            description: new.description.to_owned(),
            creator: self.agent,
            creator_role: self.role().clone(),
            assignee,
            assignee_role: assignee_role.clone(),
            priority: new.priority,
            deadline,
            parent: new.parent,
            status: TaskStatus::Open,
            note: String::new(),
            created_at: now,
            updated_at: now,
            history: vec![TaskChange {
                at: now,
                by: Some(self.agent),
                by_name: self.role().to_string(),
                status: TaskStatus::Open,
                note: "created".to_owned(),
            }],
            overdue_reminded_at: None,
            assignee_sessions_at_change: self.sessions_of(assignee).await,
            version: 0,
        };
        match runtime.store.create_task(&task).await {
            // Created before a restart: the message below is recognised as a duplicate.
            Ok(()) | Err(StoreError::Conflict { .. }) => {}
            Err(err) => return Err(format!("task not created: the store failed ({err})")),
        }
        let mut envelope = self.stamped(
            id,
            MessageType::Task,
            json!({
                "taskId": task.id,
                "title": task.title,
                "description": task.description,
                "priority": task.priority,
                "deadline": task.deadline,
                "parentTaskId": task.parent,
                "assignedBy": self.role(),
            }),
            task.priority,
        );
        envelope.to = Some(Recipient::Agent(assignee));
        runtime
            .bus
            .publish(channel, envelope)
            .await
            .map_err(|err| {
                format!(
                    "task {} created but its assignee was not woken: {err}",
                    task.id
                )
            })?;
        self.announce(&task, "created").await;
        let mut detail = format!(
            "task {} \"{}\" created for {assignee_role}",
            task.id, task.title
        );
        for remark in remarks {
            detail.push_str("; ");
            detail.push_str(&remark);
        }
        Ok(detail)
    }

    pub(super) async fn update_task(
        &self,
        id: &str,
        task_id: TaskId,
        status: TaskStatus,
        note: &str,
    ) -> Result<String, String> {
        let store = &self.runtime.store;
        let mut attempts = 0;
        let task = loop {
            let mut task = store
                .task(task_id)
                .await
                .map_err(|err| format!("task {task_id} not changed: the store failed ({err})"))?
                .ok_or_else(|| format!("there is no task {task_id}"))?;
            let mut sessions = self.sessions_of(task.assignee).await;
            if task.assignee == self.agent {
                // This session counts as one with an update.
                sessions += 1;
            }
            let change = TaskChange {
                at: self.runtime.clock.now(),
                by: Some(self.agent),
                by_name: self.role().to_string(),
                status,
                note: note.to_owned(),
            };
            task.apply(change, self.role(), sessions)
                .map_err(|err| err.to_string())?;
            match store.update_task(&task).await {
                Ok(version) => {
                    task.version = version;
                    break task;
                }
                Err(StoreError::Conflict { .. }) if attempts < CAS_ATTEMPTS => {
                    attempts += 1;
                    tokio::task::yield_now().await;
                }
                Err(err) => return Err(format!("task {task_id} not changed: {err}")),
            }
        };
        self.announce(&task, note).await;
        let mut told = Vec::new();
        if status.wakes_creator() && task.creator != self.agent {
            self.tell(id, "creator", task.creator, &task).await?;
            told.push(task.creator_role.to_string());
        }
        if task.assignee != self.agent {
            self.tell(id, "assignee", task.assignee, &task).await?;
            told.push(task.assignee_role.to_string());
        }
        let mut detail = format!("task {} \"{}\" is now {status}", task.id, task.title);
        if !told.is_empty() {
            detail.push_str(&format!("; told {}", told.join(" and ")));
        }
        Ok(detail)
    }

    /// Wakes `whom` with the task's new status.
    async fn tell(
        &self,
        id: &str,
        as_what: &str,
        whom: AgentId,
        task: &Task,
    ) -> Result<(), String> {
        let channel = self
            .runtime
            .directory
            .route(&Recipient::Agent(whom))
            .map_err(|err| format!("task {} changed, but {err}", task.id))?;
        let mut envelope = self.stamped(
            &format!("{id}/{as_what}"),
            MessageType::TaskUpdate,
            task_update_payload(task, self.role()),
            task.priority,
        );
        envelope.to = Some(Recipient::Agent(whom));
        self.runtime
            .bus
            .publish(channel, envelope)
            .await
            .map_err(|err| {
                format!(
                    "task {} changed, but the {as_what} was not told: {err}",
                    task.id
                )
            })
    }

    async fn announce(&self, task: &Task, note: &str) {
        self.runtime
            .emit(Event::TaskChanged {
                task: task.id,
                title: task.title.clone(),
                status: task.status,
                by: self.role().to_string(),
                assignee: task.assignee_role.clone(),
                note: note.to_owned(),
            })
            .await;
    }

    /// An agent's session count (0 when its state cannot be read).
    async fn sessions_of(&self, agent: AgentId) -> u64 {
        self.runtime
            .store
            .load_state(agent)
            .await
            .map_or(0, |state| state.value.loop_count)
    }
}

/// The payload of a `task_update` message.
pub(crate) fn task_update_payload(task: &Task, by: &Role) -> serde_json::Value {
    json!({
        "taskId": task.id,
        "title": task.title,
        "status": task.status,
        "note": task.note,
        "assignee": task.assignee_role,
        "creator": task.creator_role,
        "fromRole": by,
    })
}
