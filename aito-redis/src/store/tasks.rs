//! The task ledger: a hash `{v, doc}` per task, written by compare-and-set
//! (`lua/task_create.lua`, `lua/task_update.lua`, each on the task's key alone), a sorted set of
//! every task by creation time, and one of the open tasks of each assignee, which is all that
//! building a prompt reads.
//!
//! The indexes are kept outside the scripts so that no script spans two keys: a task is indexed
//! before its document is written and leaves the open index after it is closed. A crash between
//! the two leaves an index entry whose document is missing or closed; readers skip such
//! entries and drop them from the open index.

use aito_core::{AgentId, StoreError, Task, TaskId};

use super::{RedisStateStore, decode, encode};
use crate::error::Error;

impl RedisStateStore {
    pub(super) async fn create_task_inner(&self, task: &Task) -> Result<(), StoreError> {
        let key = self.keys.task(task.id);
        let mut stored = task.clone();
        stored.version = 1;
        let doc = encode(&key, &stored)?;
        let score = task.created_at.timestamp_micros();
        let id = task.id.to_string();
        let mut pipe = redis::pipe();
        pipe.cmd("ZADD")
            .arg(self.keys.tasks_all())
            .arg("NX")
            .arg(score)
            .arg(&id)
            .ignore();
        if !task.status.is_closed() {
            pipe.cmd("ZADD")
                .arg(self.keys.tasks_open(task.assignee))
                .arg("NX")
                .arg(score)
                .arg(&id)
                .ignore();
        }
        let () = pipe
            .query_async(&mut self.connection())
            .await
            .map_err(Error::from)?;
        let created: i64 = self
            .scripts
            .task_create
            .key(&key)
            .arg(doc)
            .invoke_async(&mut self.connection())
            .await?;
        if created == 1 {
            Ok(())
        } else {
            Err(StoreError::Conflict {
                key: format!("task:{}", task.id),
                expected: 0,
                found: 1,
            })
        }
    }

    pub(super) async fn task_inner(&self, id: TaskId) -> Result<Option<Task>, Error> {
        let key = self.keys.task(id);
        let (version, doc): (Option<u64>, Option<String>) = redis::cmd("HMGET")
            .arg(&key)
            .arg("v")
            .arg("doc")
            .query_async(&mut self.connection())
            .await?;
        match (version, doc) {
            (Some(version), Some(doc)) => {
                let mut task: Task = decode(&key, &doc)?;
                task.version = version;
                Ok(Some(task))
            }
            _ => Ok(None),
        }
    }

    pub(super) async fn update_task_inner(&self, task: &Task) -> Result<u64, StoreError> {
        let key = self.keys.task(task.id);
        let mut next = task.clone();
        next.version = task.version + 1;
        let doc = encode(&key, &next)?;
        let (outcome, found): (i64, u64) = self
            .scripts
            .task_update
            .key(&key)
            .arg(task.version)
            .arg(doc)
            .invoke_async(&mut self.connection())
            .await?;
        match outcome {
            1 => {
                if task.status.is_closed() {
                    let _: i64 = redis::cmd("ZREM")
                        .arg(self.keys.tasks_open(task.assignee))
                        .arg(task.id.to_string())
                        .query_async(&mut self.connection())
                        .await
                        .map_err(Error::from)?;
                }
                Ok(found)
            }
            0 => Err(StoreError::Conflict {
                key: format!("task:{}", task.id),
                expected: task.version,
                found,
            }),
            _ => Err(StoreError::NotFound(format!("task:{}", task.id))),
        }
    }

    /// The tasks behind `ids`, in order; ids without a document are skipped.
    async fn tasks_of(&self, ids: &[String]) -> Result<Vec<Task>, Error> {
        let ids: Vec<TaskId> = ids.iter().filter_map(|id| id.parse().ok()).collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.cmd("HMGET")
                .arg(self.keys.task(*id))
                .arg("v")
                .arg("doc");
        }
        let rows: Vec<(Option<u64>, Option<String>)> =
            pipe.query_async(&mut self.connection()).await?;
        let mut tasks = Vec::with_capacity(rows.len());
        for (id, row) in ids.iter().zip(rows) {
            if let (Some(version), Some(doc)) = row {
                let mut task: Task = decode(&format!("task:{id}"), &doc)?;
                task.version = version;
                tasks.push(task);
            }
        }
        Ok(tasks)
    }

    pub(super) async fn open_tasks_inner(&self, assignee: AgentId) -> Result<Vec<Task>, Error> {
        let index = self.keys.tasks_open(assignee);
        let ids: Vec<String> = redis::cmd("ZRANGE")
            .arg(&index)
            .arg(0)
            .arg(-1)
            .query_async(&mut self.connection())
            .await?;
        let mut tasks = self.tasks_of(&ids).await?;
        // A task closed by a writer that stopped before leaving the index: drop it now. An
        // entry without a document may be a task being created, and is left alone.
        let closed: Vec<String> = tasks
            .iter()
            .filter(|task| task.status.is_closed())
            .map(|task| task.id.to_string())
            .collect();
        if !closed.is_empty() {
            tasks.retain(|task| !task.status.is_closed());
            if let Err(err) = redis::cmd("ZREM")
                .arg(&index)
                .arg(&closed)
                .query_async::<i64>(&mut self.connection())
                .await
            {
                tracing::debug!(error = %err, "closed tasks stay in the open index until the next read");
            }
        }
        Ok(tasks)
    }

    pub(super) async fn tasks_inner(&self, limit: usize) -> Result<Vec<Task>, Error> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut ids: Vec<String> = redis::cmd("ZREVRANGE")
            .arg(self.keys.tasks_all())
            .arg(0)
            .arg(i64::try_from(limit - 1).unwrap_or(i64::MAX))
            .query_async(&mut self.connection())
            .await?;
        ids.reverse();
        self.tasks_of(&ids).await
    }
}
