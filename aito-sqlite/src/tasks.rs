//! The task ledger in the `tasks` table: one row per task with its document, and a partial
//! index of the open tasks of each assignee, which is all that building a prompt reads.

use aito_core::{AgentId, StoreError, Task, TaskId};
use rusqlite::{OptionalExtension, params};

use crate::queries as q;
use crate::store::{SqliteStore, decode, encode, limit};

fn read_task(name: &str, version: i64, doc: &str) -> Result<Task, StoreError> {
    let mut task: Task = decode(name, doc)?;
    task.version = version as u64;
    Ok(task)
}

fn read_rows(rows: &[(i64, String)]) -> Result<Vec<Task>, StoreError> {
    rows.iter()
        .map(|(version, doc)| read_task("task", *version, doc))
        .collect()
}

impl SqliteStore {
    pub(crate) async fn create_task_inner(&self, task: &Task) -> Result<(), StoreError> {
        let name = format!("task:{}", task.id);
        let mut stored = task.clone();
        stored.version = 1;
        let doc = encode(&name, &stored)?;
        let (id, assignee) = (task.id.to_string(), task.assignee.to_string());
        let open = i64::from(!task.status.is_closed());
        let created = self
            .db
            .write_one(move |conn| {
                Ok(conn
                    .prepare_cached(q::TASK_CREATE)?
                    .execute(params![id, assignee, open, doc])?)
            })
            .await?;
        if created == 0 {
            return Err(StoreError::Conflict {
                key: name,
                expected: 0,
                found: 1,
            });
        }
        Ok(())
    }

    pub(crate) async fn task_inner(&self, id: TaskId) -> Result<Option<Task>, StoreError> {
        let key = id.to_string();
        let row: Option<(i64, String)> = self
            .db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(q::TASK_GET)?
                    .query_row([key], |row| Ok((row.get(0)?, row.get(1)?)))
                    .optional()?)
            })
            .await?;
        row.map(|(version, doc)| read_task(&format!("task:{id}"), version, &doc))
            .transpose()
    }

    pub(crate) async fn update_task_inner(&self, task: &Task) -> Result<u64, StoreError> {
        let name = format!("task:{}", task.id);
        let expected = task.version;
        let mut next = task.clone();
        next.version = expected + 1;
        let doc = encode(&name, &next)?;
        let id = task.id.to_string();
        let open = i64::from(!task.status.is_closed());
        let outcome = self
            .db
            .write_one(move |conn| {
                let changed = conn.prepare_cached(q::TASK_UPDATE)?.execute(params![
                    id,
                    open,
                    doc,
                    expected as i64
                ])?;
                if changed == 1 {
                    return Ok(Ok(expected + 1));
                }
                let found: Option<i64> = conn
                    .prepare_cached(q::TASK_GET)?
                    .query_row([&id], |row| row.get(0))
                    .optional()?;
                Ok(Err(found))
            })
            .await?;
        match outcome {
            Ok(version) => Ok(version),
            Err(None) => Err(StoreError::NotFound(name)),
            Err(Some(found)) => Err(StoreError::Conflict {
                key: name,
                expected,
                found: found as u64,
            }),
        }
    }

    pub(crate) async fn open_tasks_inner(
        &self,
        assignee: AgentId,
    ) -> Result<Vec<Task>, StoreError> {
        let key = assignee.to_string();
        let rows: Vec<(i64, String)> = self
            .db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(q::TASKS_OPEN)?
                    .query_map([key], |row| Ok((row.get(0)?, row.get(1)?)))?
                    .collect::<Result<Vec<_>, _>>()?)
            })
            .await?;
        read_rows(&rows)
    }

    pub(crate) async fn tasks_inner(&self, limit_to: usize) -> Result<Vec<Task>, StoreError> {
        let rows: Vec<(i64, String)> = self
            .db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(q::TASKS_NEWEST)?
                    .query_map([limit(limit_to)], |row| Ok((row.get(0)?, row.get(1)?)))?
                    .collect::<Result<Vec<_>, _>>()?)
            })
            .await?;
        let mut tasks = read_rows(&rows)?;
        tasks.reverse();
        Ok(tasks)
    }
}
