//! The task ledger: work one agent owes another, kept until it is done.
//!
//! A [`Task`] is created by `create_task` and changed by `update_task`; the store keeps it
//! (every adapter, through [`StateStore`](crate::StateStore)), with an index of the open tasks
//! of each assignee so that building a prompt never reads closed ones. Every change is kept in
//! the task's history with who made it and why.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::envelope::Priority;
use crate::id::{AgentId, TaskId};
use crate::role::Role;

/// Where a task stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Created, not started.
    Open,
    /// Being worked on.
    InProgress,
    /// Cannot go on; the reason is in the task's `note`.
    Blocked,
    /// Finished; the result is in the task's `note`.
    Done,
    /// Given up.
    Cancelled,
}

impl TaskStatus {
    /// Every status, open ones first.
    pub const ALL: [TaskStatus; 5] = [
        TaskStatus::Open,
        TaskStatus::InProgress,
        TaskStatus::Blocked,
        TaskStatus::Done,
        TaskStatus::Cancelled,
    ];

    /// The wire name (`open`, `in_progress`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Open => "open",
            TaskStatus::InProgress => "in_progress",
            TaskStatus::Blocked => "blocked",
            TaskStatus::Done => "done",
            TaskStatus::Cancelled => "cancelled",
        }
    }

    /// Whether the task is finished for good (`done` or `cancelled`): closed tasks leave the
    /// assignee's open index and its prompts, and cannot change any more.
    pub fn is_closed(self) -> bool {
        matches!(self, TaskStatus::Done | TaskStatus::Cancelled)
    }

    /// Whether the creator is woken when a task reaches this status.
    pub fn wakes_creator(self) -> bool {
        matches!(
            self,
            TaskStatus::Done | TaskStatus::Blocked | TaskStatus::Cancelled
        )
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TaskStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s
            .trim()
            .to_ascii_lowercase()
            .replace(['-', ' '], "_")
            .as_str()
        {
            "open" | "todo" => Ok(TaskStatus::Open),
            "in_progress" | "started" | "doing" => Ok(TaskStatus::InProgress),
            "blocked" => Ok(TaskStatus::Blocked),
            "done" | "completed" | "complete" => Ok(TaskStatus::Done),
            "cancelled" | "canceled" => Ok(TaskStatus::Cancelled),
            other => Err(format!(
                "unknown task status {other:?}: expected open, in_progress, blocked, done or cancelled"
            )),
        }
    }
}

/// One change of a task, as its history keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskChange {
    /// When.
    pub at: DateTime<Utc>,
    /// The agent who made it; `None` for a human or aito itself.
    #[serde(default)]
    pub by: Option<AgentId>,
    /// Who made it, as read in a prompt (`cto`, `human`, `aito`).
    pub by_name: String,
    /// The status after the change.
    pub status: TaskStatus,
    /// Why, or the result.
    #[serde(default)]
    pub note: String,
}

/// One task of the ledger.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Its id.
    pub id: TaskId,
    /// Title.
    pub title: String,
    /// What is to be done.
    #[serde(default)]
    pub description: String,
    /// Who asked for it.
    pub creator: AgentId,
    /// The creator's role.
    pub creator_role: Role,
    /// Who owes it.
    pub assignee: AgentId,
    /// The assignee's role.
    pub assignee_role: Role,
    /// Priority.
    #[serde(default)]
    pub priority: Priority,
    /// When it is due, if ever.
    #[serde(default)]
    pub deadline: Option<DateTime<Utc>>,
    /// The task it is part of (goals break into tasks).
    #[serde(default)]
    pub parent: Option<TaskId>,
    /// Where it stands.
    pub status: TaskStatus,
    /// The note of the last change: why it is blocked, its result when done.
    #[serde(default)]
    pub note: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Every change, oldest first (the creation included).
    #[serde(default)]
    pub history: Vec<TaskChange>,
    /// When its assignee was reminded that the deadline passed (once).
    #[serde(default)]
    pub overdue_reminded_at: Option<DateTime<Utc>>,
    /// The assignee's session count at the last change: the sessions since then without an
    /// update feed the no-progress guard.
    #[serde(default)]
    pub assignee_sessions_at_change: u64,
    /// Version for compare-and-set; 1 when created.
    #[serde(default)]
    pub version: u64,
}

/// Why a change of a task was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    /// Only the assignee, the creator and the CEO may change a task.
    #[error(
        "task {task} may be changed only by its assignee ({assignee}), its creator ({creator}) or the CEO; it was left as it is"
    )]
    NotAllowed {
        /// The task.
        task: TaskId,
        /// Its assignee's role.
        assignee: Role,
        /// Its creator's role.
        creator: Role,
    },
    /// Done and cancelled tasks are final.
    #[error("task {task} is already {status}; it cannot change any more")]
    Closed {
        /// The task.
        task: TaskId,
        /// Its status.
        status: TaskStatus,
    },
    /// `blocked` needs a reason and `done` a result.
    #[error("a task marked {status} needs a note ({what})")]
    NoteRequired {
        /// The status asked for.
        status: TaskStatus,
        /// What the note must say.
        what: &'static str,
    },
}

impl Task {
    /// Whether `agent` of `role` may change this task: its assignee, its creator, or the CEO.
    pub fn may_be_changed_by(&self, agent: AgentId, role: &Role) -> bool {
        agent == self.assignee || agent == self.creator || role == &Role::Ceo
    }

    /// Whether the deadline has passed at `now` while the task is still open.
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        !self.status.is_closed() && self.deadline.is_some_and(|deadline| deadline <= now)
    }

    /// Applies a change: checks that it is allowed, then sets the status and note and adds it
    /// to the history. `assignee_sessions` is the assignee's session count now.
    pub fn apply(
        &mut self,
        change: TaskChange,
        by_role: &Role,
        assignee_sessions: u64,
    ) -> Result<(), TaskError> {
        if let Some(agent) = change.by
            && !self.may_be_changed_by(agent, by_role)
        {
            return Err(TaskError::NotAllowed {
                task: self.id,
                assignee: self.assignee_role.clone(),
                creator: self.creator_role.clone(),
            });
        }
        if self.status.is_closed() {
            return Err(TaskError::Closed {
                task: self.id,
                status: self.status,
            });
        }
        let what = match change.status {
            TaskStatus::Blocked => Some("why it is blocked"),
            TaskStatus::Done => Some("the result"),
            _ => None,
        };
        if let Some(what) = what
            && change.note.trim().is_empty()
        {
            return Err(TaskError::NoteRequired {
                status: change.status,
                what,
            });
        }
        self.status = change.status;
        self.note = change.note.clone();
        self.updated_at = change.at;
        self.assignee_sessions_at_change = assignee_sessions;
        self.history.push(change);
        Ok(())
    }

    /// Orders by urgency: overdue first, then higher priority, then the nearer deadline (none
    /// last), then the older task.
    pub fn urgency(&self, other: &Task, now: DateTime<Utc>) -> Ordering {
        other
            .is_overdue(now)
            .cmp(&self.is_overdue(now))
            .then_with(|| other.priority.cmp(&self.priority))
            .then_with(|| match (self.deadline, other.deadline) {
                (Some(a), Some(b)) => a.cmp(&b),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            })
            .then_with(|| self.created_at.cmp(&other.created_at))
    }
}

/// Sorts `tasks` most urgent first (see [`Task::urgency`]).
pub fn sort_by_urgency(tasks: &mut [Task], now: DateTime<Utc>) {
    tasks.sort_by(|a, b| a.urgency(b, now));
}

/// Reads a deadline as models write it: RFC 3339, `YYYY-MM-DD HH:MM` (UTC), or a date (the end
/// of that day, UTC). `None` when it is none of these.
pub fn parse_deadline(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(at) = NaiveDateTime::parse_from_str(text, format) {
            return Some(at.and_utc());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|day| day.and_hms_opt(23, 59, 59))
        .map(|at| at.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn task(priority: Priority, deadline: Option<DateTime<Utc>>, created: i64) -> Task {
        let at = Utc.timestamp_opt(created, 0).unwrap();
        Task {
            id: TaskId::random(),
            title: format!("t{created}"),
            description: String::new(),
            creator: AgentId::random(),
            creator_role: Role::Ceo,
            assignee: AgentId::random(),
            assignee_role: Role::Cto,
            priority,
            deadline,
            parent: None,
            status: TaskStatus::Open,
            note: String::new(),
            created_at: at,
            updated_at: at,
            history: Vec::new(),
            overdue_reminded_at: None,
            assignee_sessions_at_change: 0,
            version: 1,
        }
    }

    #[test]
    fn overdue_then_priority_then_deadline_then_age() {
        let now = Utc.timestamp_opt(1_000_000, 0).unwrap();
        let soon = Some(now + chrono::Duration::hours(1));
        let later = Some(now + chrono::Duration::hours(5));
        let past = Some(now - chrono::Duration::hours(1));
        let mut tasks = vec![
            task(Priority::Normal, None, 1),
            task(Priority::Normal, later, 2),
            task(Priority::High, None, 3),
            task(Priority::Low, past, 4),
            task(Priority::Normal, soon, 5),
            task(Priority::Normal, None, 0),
        ];
        sort_by_urgency(&mut tasks, now);
        let order: Vec<&str> = tasks.iter().map(|task| task.title.as_str()).collect();
        assert_eq!(order, ["t4", "t3", "t5", "t2", "t0", "t1"]);
    }

    #[test]
    fn only_assignee_creator_and_ceo_may_change_and_closed_is_final() {
        let mut subject = task(Priority::Normal, None, 1);
        let change = |by: AgentId, status: TaskStatus, note: &str| TaskChange {
            at: Utc::now(),
            by: Some(by),
            by_name: "x".into(),
            status,
            note: note.into(),
        };
        let stranger = AgentId::random();
        let before = subject.clone();
        let err = subject
            .apply(change(stranger, TaskStatus::Done, "r"), &Role::Cmo, 0)
            .unwrap_err();
        assert!(matches!(err, TaskError::NotAllowed { .. }), "{err}");
        assert_eq!(subject, before);
        let err = subject
            .apply(
                change(subject.assignee, TaskStatus::Blocked, " "),
                &Role::Cto,
                0,
            )
            .unwrap_err();
        assert!(matches!(err, TaskError::NoteRequired { .. }), "{err}");
        subject
            .apply(change(stranger, TaskStatus::InProgress, ""), &Role::Ceo, 3)
            .unwrap();
        let assignee = subject.assignee;
        subject
            .apply(change(assignee, TaskStatus::Done, "shipped"), &Role::Cto, 4)
            .unwrap();
        assert_eq!(subject.history.len(), 2);
        assert_eq!(subject.assignee_sessions_at_change, 4);
        let err = subject
            .apply(change(assignee, TaskStatus::Open, ""), &Role::Cto, 5)
            .unwrap_err();
        assert!(matches!(err, TaskError::Closed { .. }), "{err}");
    }

    #[test]
    fn deadlines_are_read_in_three_forms() {
        assert_eq!(
            parse_deadline("2026-03-01T10:00:00+01:00"),
            Some(Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap())
        );
        assert_eq!(
            parse_deadline("2026-03-01 10:30"),
            Some(Utc.with_ymd_and_hms(2026, 3, 1, 10, 30, 0).unwrap())
        );
        assert_eq!(
            parse_deadline("2026-03-01"),
            Some(Utc.with_ymd_and_hms(2026, 3, 1, 23, 59, 59).unwrap())
        );
        assert_eq!(parse_deadline("next friday"), None);
        assert_eq!(
            "In-Progress".parse::<TaskStatus>(),
            Ok(TaskStatus::InProgress)
        );
    }
}
