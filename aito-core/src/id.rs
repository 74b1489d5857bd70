//! Identifiers: agents, messages and decisions are named by UUIDs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

/// Namespace for the name-based (v5) UUIDs aito derives, so that every container of one company
/// computes the same agent ids from the company name and role without coordinating.
const AITO_NAMESPACE: Uuid = Uuid::from_u128(0x5d3c_9a71_2f4e_4b8a_9c0d_61e2_7a4b_c3f1);

/// The identity of one agent: a UUID, as on the wire (`channel:agent:<uuid>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AgentId(Uuid);

impl AgentId {
    /// The nil id: no agent (the dead letter of an envelope refused on a group channel whose
    /// group is not an agent).
    pub const NIL: AgentId = AgentId(Uuid::nil());

    /// A fresh random id.
    pub fn random() -> Self {
        Self(Uuid::new_v4())
    }

    /// The id an agent of `role` in `company` gets when the configuration names none.
    /// Stable: the same inputs give the same id in every process.
    pub fn derived(company: &str, role: &str) -> Self {
        Self(Uuid::new_v5(
            &AITO_NAMESPACE,
            format!("agent/{company}/{role}").as_bytes(),
        ))
    }

    /// Wraps an existing UUID.
    pub const fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }

    /// The UUID inside.
    pub const fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for AgentId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

/// The id of one envelope; the key for de-duplication.
///
/// The wire format says "uuid", but outside tools send what they like. Any string is accepted:
/// a UUID is kept as is, anything else is mapped to a stable name-based UUID, so the same foreign
/// id always de-duplicates to the same value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct MessageId(Uuid);

impl MessageId {
    /// A fresh random id.
    pub fn random() -> Self {
        Self(Uuid::new_v4())
    }

    /// The id of a message produced by something with a stable key (an action id, a decision
    /// transition): the same cause always gives the same id, so a repeated send is recognised
    /// as a duplicate and a replay reproduces the run's ids.
    pub fn derived(key: &str) -> Self {
        Self(Uuid::new_v5(
            &AITO_NAMESPACE,
            format!("derived-message/{key}").as_bytes(),
        ))
    }

    /// Parses a UUID, or derives a stable one from any other text.
    pub fn from_wire(text: &str) -> Self {
        match Uuid::parse_str(text) {
            Ok(uuid) => Self(uuid),
            Err(_) => Self(Uuid::new_v5(
                &AITO_NAMESPACE,
                format!("message/{text}").as_bytes(),
            )),
        }
    }

    /// Wraps an existing UUID.
    pub const fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }

    /// The UUID inside.
    pub const fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl<'de> Deserialize<'de> for MessageId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(Self::from_wire(&text))
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The id of one decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DecisionId(Uuid);

impl DecisionId {
    /// A fresh random id.
    pub fn random() -> Self {
        Self(Uuid::new_v4())
    }

    /// The id of the decision proposed by the action with stable id `key`.
    pub fn derived(key: &str) -> Self {
        Self(Uuid::new_v5(
            &AITO_NAMESPACE,
            format!("decision/{key}").as_bytes(),
        ))
    }

    /// Wraps an existing UUID.
    pub const fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }
}

impl fmt::Display for DecisionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for DecisionId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s.trim()).map(Self)
    }
}

/// The id of one task of the ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskId(Uuid);

impl TaskId {
    /// A fresh random id.
    pub fn random() -> Self {
        Self(Uuid::new_v4())
    }

    /// The id of the task created by the action with stable id `key`: a repeated action
    /// creates the same task, which the store refuses the second time.
    pub fn derived(key: &str) -> Self {
        Self(Uuid::new_v5(
            &AITO_NAMESPACE,
            format!("task/{key}").as_bytes(),
        ))
    }

    /// Wraps an existing UUID.
    pub const fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for TaskId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s.trim()).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_agent_ids_are_stable_and_distinct() {
        assert_eq!(
            AgentId::derived("acme", "ceo"),
            AgentId::derived("acme", "ceo")
        );
        assert_ne!(
            AgentId::derived("acme", "ceo"),
            AgentId::derived("acme", "cto")
        );
        assert_ne!(
            AgentId::derived("acme", "ceo"),
            AgentId::derived("other", "ceo")
        );
    }

    #[test]
    fn foreign_message_ids_map_to_stable_uuids() {
        let a: MessageId = serde_json::from_str("\"msg-1\"").unwrap();
        let b: MessageId = serde_json::from_str("\"msg-1\"").unwrap();
        let c: MessageId = serde_json::from_str("\"msg-2\"").unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        let uuid = "0ce8853f-aabe-488c-bbc2-a05f10b1cdc3";
        let kept: MessageId = serde_json::from_str(&format!("\"{uuid}\"")).unwrap();
        assert_eq!(kept.to_string(), uuid);
    }
}
