//! The schema and its migrations: numbered SQL files under `migrations/`, applied in order,
//! each in its own transaction. The file records the version it is at in SQLite's
//! `user_version`, and that it is aito's in `application_id`.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use crate::error::Error;

/// The migrations, oldest first: (version, name, SQL).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "store", include_str!("../migrations/0001_store.sql")),
    (2, "bus", include_str!("../migrations/0002_bus.sql")),
    (3, "backlog", include_str!("../migrations/0003_backlog.sql")),
    (4, "tasks", include_str!("../migrations/0004_tasks.sql")),
    (
        5,
        "lease_terms",
        include_str!("../migrations/0005_lease_terms.sql"),
    ),
    (
        6,
        "sessions",
        include_str!("../migrations/0006_sessions.sql"),
    ),
    (
        7,
        "budget holds",
        include_str!("../migrations/0007_budget_holds.sql"),
    ),
    (
        8,
        "decision parties",
        include_str!("../migrations/0008_decision_parties.sql"),
    ),
    (
        9,
        "decision window",
        include_str!("../migrations/0009_decision_window.sql"),
    ),
];

/// The schema version this build writes: the number of the last migration.
pub const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// `application_id` of aito's files: "aito" in ASCII.
pub const APPLICATION_ID: i64 = 0x6169_746f;

/// The schema version of the open file.
pub(crate) fn version(conn: &Connection) -> Result<i64, Error> {
    Ok(conn.pragma_query_value(None, "user_version", |row| row.get(0))?)
}

/// Brings the file up to [`SCHEMA_VERSION`]; returns the version it was at.
///
/// Refuses a file of a newer schema, and a SQLite file that belongs to another program.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<i64, Error> {
    let found = version(conn)?;
    let application: i64 = conn.pragma_query_value(None, "application_id", |row| row.get(0))?;
    let tables: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_schema WHERE type = 'table'",
        [],
        |row| row.get(0),
    )?;
    if application != APPLICATION_ID && (found != 0 || tables != 0) {
        return Err(Error::Corrupt {
            path: path.to_path_buf(),
            reason: format!(
                "it is a SQLite database of another program (application id {application:#x}, {tables} tables)"
            ),
        });
    }
    if found > SCHEMA_VERSION {
        return Err(Error::NewerSchema {
            path: path.to_path_buf(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    for (number, name, sql) in MIGRATIONS {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Another process may have migrated meanwhile: read again under the write lock.
        if version(&tx)? >= *number {
            continue;
        }
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", number)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        tx.commit()?;
        tracing::info!(file = %path.display(), version = number, migration = name, "database schema migrated");
    }
    Ok(found)
}

#[cfg(test)]
pub(crate) fn apply_up_to(conn: &Connection, last: i64) -> Result<(), Error> {
    for (number, _, sql) in MIGRATIONS.iter().filter(|(number, ..)| *number <= last) {
        conn.execute_batch(sql)?;
        conn.pragma_update(None, "user_version", number)?;
    }
    conn.pragma_update(None, "application_id", APPLICATION_ID)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DATABASE_FILE, Embedded};
    use aito_core::{AgentId, StateStore};

    #[tokio::test]
    async fn an_older_file_is_upgraded_and_keeps_its_records() {
        let dir = tempfile::tempdir().unwrap();
        let agent = AgentId::random();
        {
            let conn = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
            apply_up_to(&conn, 1).unwrap();
            conn.execute(
                "INSERT INTO states (agent, version, doc) VALUES (?1, 3, ?2)",
                rusqlite::params![agent.to_string(), r#"{"loop_count": 7}"#],
            )
            .unwrap();
        }
        let embedded = Embedded::open(dir.path()).await.unwrap();
        assert_eq!(embedded.opened.found_version, 1);
        let state = embedded.store.load_state(agent).await.unwrap();
        assert_eq!((state.version, state.value.loop_count), (3, 7));
        let version = embedded.db.read(version).await.unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        // The bus tables of the later migration are there.
        use aito_core::{Bus, Channel, Envelope, MessageType, Sender};
        embedded
            .bus
            .publish(
                Channel::Agent(agent),
                Envelope::new(MessageType::Task, Sender::Human, serde_json::json!({})),
            )
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn decisions_of_an_older_file_are_told_apart_by_their_parties_after_the_upgrade() {
        use aito_core::decision::{Decision, DecisionStatus, Tier};
        use aito_core::{DecisionId, Role};
        let dir = tempfile::tempdir().unwrap();
        let ceo = AgentId::random();
        let decision = |proposer: AgentId, reviewers: Vec<Role>| Decision {
            id: DecisionId::random(),
            proposer,
            proposer_role: Role::Cto,
            title: "Move a service".into(),
            description: String::new(),
            options: vec![],
            tier: Tier::Operational,
            status: DecisionStatus::Executed,
            round: 1,
            reviewers,
            votes: vec![],
            history: vec![],
            created_at: chrono::Utc::now(),
            deadline: None,
            escalation: None,
            human: None,
            version: 1,
            outbox: Vec::new(),
        };
        let (own, reviewed, without) = (
            decision(ceo, vec![]),
            decision(AgentId::random(), vec![Role::Ceo]),
            decision(AgentId::random(), vec![Role::Cto]),
        );
        {
            let conn = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
            apply_up_to(&conn, 7).unwrap();
            for decision in [&own, &reviewed, &without] {
                conn.execute(
                    "INSERT INTO decisions (id, status, version, doc) VALUES (?1, 'executed', 1, ?2)",
                    rusqlite::params![
                        decision.id.to_string(),
                        serde_json::to_string(decision).unwrap()
                    ],
                )
                .unwrap();
            }
        }
        let embedded = Embedded::open(dir.path()).await.unwrap();
        assert_eq!(embedded.opened.found_version, 7);
        let listed = embedded
            .store
            .recent_decisions_without(DecisionStatus::Executed, 10, ceo, &Role::Ceo)
            .await
            .unwrap();
        assert_eq!(
            listed.iter().map(|d| d.id).collect::<Vec<_>>(),
            vec![without.id]
        );
        assert_eq!(
            embedded
                .store
                .recent_decisions(DecisionStatus::Executed, 10)
                .await
                .unwrap()
                .len(),
            3
        );
    }

    #[tokio::test]
    async fn a_file_of_a_newer_schema_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DATABASE_FILE);
        {
            let conn = Connection::open(&path).unwrap();
            apply_up_to(&conn, SCHEMA_VERSION).unwrap();
            conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
                .unwrap();
        }
        let err = Embedded::open(dir.path()).await.unwrap_err();
        assert!(
            matches!(err, Error::NewerSchema { found, known, .. } if found == SCHEMA_VERSION + 1 && known == SCHEMA_VERSION),
            "{err}"
        );
        assert!(
            err.to_string().contains("newer than this aito knows"),
            "{err}"
        );
        let conn = Connection::open(&path).unwrap();
        assert_eq!(version(&conn).unwrap(), SCHEMA_VERSION + 1);
    }
}
