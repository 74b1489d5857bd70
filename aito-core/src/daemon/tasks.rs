//! The daemon's part in the task ledger: the open tasks of its prompts, the context query of a
//! check-in, the no-progress guard on tasks that do not move, and the company-wide reminder of
//! tasks whose deadline passed.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::AgentDaemon;
use crate::channel::Channel;
use crate::envelope::{Envelope, MessageType, Recipient, Sender};
use crate::event::Event;
use crate::id::MessageId;
use crate::store::{AgentState, StoreError};
use crate::task::{Task, TaskChange, TaskStatus, sort_by_urgency};

/// How many of the most urgent tasks make a check-in's context query.
const TASKS_IN_QUERY: usize = 5;

/// Characters of each task in the query.
const QUERY_CHARS_PER_TASK: usize = 240;

/// How many times the reminder mark is tried against concurrent writers.
const CAS_ATTEMPTS: usize = 8;

/// The context query of a trigger that carries no text (a check-in, a start-up): what the most
/// urgent open tasks are about.
pub(super) fn query_from_tasks(tasks: &[Task], limit: usize) -> String {
    tasks
        .iter()
        .take(limit.min(TASKS_IN_QUERY))
        .map(|task| {
            let text = format!("{} {}", task.title, task.description);
            text.chars().take(QUERY_CHARS_PER_TASK).collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl AgentDaemon {
    /// The agent's open tasks, most urgent first; none when the store cannot say.
    pub(super) async fn open_tasks_by_urgency(&self, now: DateTime<Utc>) -> Vec<Task> {
        match self.runtime.store.open_tasks(self.id).await {
            Ok(mut tasks) => {
                sort_by_urgency(&mut tasks, now);
                tasks
            }
            Err(err) => {
                tracing::warn!(agent = %self.id, error = %err, "open tasks unreadable; prompting without them");
                Vec::new()
            }
        }
    }

    /// Trips the no-progress guard on each task that has sat `in_progress` for the configured
    /// number of the agent's sessions without an update, once per stall, and tells the agent.
    pub(super) async fn note_stalled_tasks(&self, state: &AgentState) {
        let limit = u64::from(self.runtime.settings.loops.stalled_task_sessions);
        if limit == 0 {
            return;
        }
        let Ok(tasks) = self.runtime.store.open_tasks(self.id).await else {
            return;
        };
        let mut notes = Vec::new();
        for task in tasks
            .iter()
            .filter(|task| task.status == TaskStatus::InProgress)
        {
            let sessions = state
                .loop_count
                .saturating_sub(task.assignee_sessions_at_change);
            if sessions != limit {
                continue;
            }
            let reason = format!(
                "task {} \"{}\" has been in progress for {sessions} sessions without an update",
                task.id, task.title
            );
            self.runtime
                .emit(Event::GuardTripped {
                    agent: self.id,
                    role: self.spec.role.clone(),
                    guard: "no_progress".to_owned(),
                    reason: reason.clone(),
                    figures: json!({ "task": task.id, "sessions": sessions, "limit": limit }),
                })
                .await;
            notes.push(format!(
                "{reason}: finish it, mark it blocked with the reason, or cancel it (update_task)"
            ));
        }
        if notes.is_empty() {
            return;
        }
        if let Err(err) = self
            .update_state(|state| state.notes.extend(notes.iter().cloned()))
            .await
        {
            tracing::warn!(agent = %self.id, error = %err, "could not note the stalled tasks");
        }
    }

    /// Reminds the assignee of every open task whose deadline passed, once, and tells its
    /// creator; returns the next deadline to look again at.
    ///
    /// The messages have ids derived from the task, so a reminder sent again after a crash
    /// (before the task was marked reminded) is recognised as a duplicate: the assignee is
    /// reminded once, across restarts.
    pub(super) async fn remind_overdue_tasks(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let now = self.runtime.clock.now();
        let mut next: Option<DateTime<Utc>> = None;
        for entry in self.runtime.directory.agents() {
            for task in self.runtime.store.open_tasks(entry.id).await? {
                let Some(deadline) = task.deadline else {
                    continue;
                };
                if task.overdue_reminded_at.is_some() {
                    continue;
                }
                if deadline > now {
                    next = Some(next.map_or(deadline, |next| next.min(deadline)));
                    continue;
                }
                self.remind(task, now).await?;
            }
        }
        Ok(next)
    }

    async fn remind(&self, task: Task, now: DateTime<Utc>) -> Result<(), StoreError> {
        let deadline = task
            .deadline
            .map(|deadline| deadline.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default();
        let told = [
            (
                task.assignee,
                "assignee",
                format!(
                    "Your task \"{}\" ({}) was due {deadline} and is still {}. Finish it, or mark it blocked with the reason (update_task).",
                    task.title, task.id, task.status
                ),
            ),
            (
                task.creator,
                "creator",
                format!(
                    "The task \"{}\" ({}) you gave the {} was due {deadline} and is still {}; the {} has been reminded.",
                    task.title, task.id, task.assignee_role, task.status, task.assignee_role
                ),
            ),
        ];
        for (whom, as_what, content) in told {
            let mut envelope = Envelope::new(
                MessageType::TaskUpdate,
                Sender::System,
                json!({
                    "taskId": task.id,
                    "title": task.title,
                    "status": task.status,
                    "overdue": true,
                    "deadline": task.deadline,
                    "content": content,
                }),
            )
            .with_priority(task.priority);
            envelope.id = MessageId::derived(&format!("task-overdue/{}/{as_what}", task.id));
            envelope.to = Some(Recipient::Agent(whom));
            envelope.correlation_id = Some(format!("task:{}", task.id));
            if let Err(err) = self
                .runtime
                .bus
                .publish(Channel::Agent(whom), envelope)
                .await
            {
                tracing::warn!(task = %task.id, error = %err, "overdue reminder not sent; trying again at the next check");
                return Ok(());
            }
        }
        let store = &self.runtime.store;
        for _ in 0..CAS_ATTEMPTS {
            let Some(mut current) = store.task(task.id).await? else {
                return Ok(());
            };
            if current.overdue_reminded_at.is_some() {
                return Ok(());
            }
            current.overdue_reminded_at = Some(now);
            current.history.push(TaskChange {
                at: now,
                by: None,
                by_name: "aito".to_owned(),
                status: current.status,
                note: format!(
                    "the deadline passed; the {} was reminded and the {} told",
                    current.assignee_role, current.creator_role
                ),
            });
            match store.update_task(&current).await {
                Ok(_) => {
                    tracing::info!(task = %task.id, assignee = %task.assignee_role, "overdue task: assignee reminded, creator told");
                    self.runtime
                        .emit(Event::TaskChanged {
                            task: task.id,
                            title: task.title.clone(),
                            status: current.status,
                            by: "aito".to_owned(),
                            assignee: current.assignee_role.clone(),
                            note: "overdue: reminded".to_owned(),
                        })
                        .await;
                    return Ok(());
                }
                Err(StoreError::Conflict { .. }) => tokio::task::yield_now().await,
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }
}
