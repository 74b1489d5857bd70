//! The directory: which agents the company has, and where a `to` field sends a message.

use crate::channel::Channel;
use crate::envelope::{Recipient, Sender};
use crate::id::AgentId;
use crate::role::Role;

/// One agent as the rest of the company sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentEntry {
    /// Its id.
    pub id: AgentId,
    /// Its role.
    pub role: Role,
}

/// Every agent of the company, for addressing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Directory {
    agents: Vec<AgentEntry>,
}

impl Directory {
    /// A directory of `agents`.
    pub fn new(agents: impl IntoIterator<Item = AgentEntry>) -> Self {
        Self {
            agents: agents.into_iter().collect(),
        }
    }

    /// Every agent.
    pub fn agents(&self) -> &[AgentEntry] {
        &self.agents
    }

    /// The id of the agent with `role`.
    pub fn id_of(&self, role: &Role) -> Option<AgentId> {
        self.agents
            .iter()
            .find(|entry| &entry.role == role)
            .map(|entry| entry.id)
    }

    /// The role of agent `id`.
    pub fn role_of(&self, id: AgentId) -> Option<&Role> {
        self.agents
            .iter()
            .find(|entry| entry.id == id)
            .map(|entry| &entry.role)
    }

    /// Where a message to `recipient` goes. Role names resolve to the agent's inbox (the
    /// original published to `channel:agent:<role>`, which no one read).
    pub fn route(&self, recipient: &Recipient) -> Result<Channel, String> {
        match recipient {
            Recipient::Agent(id) => {
                if self.role_of(*id).is_some() {
                    Ok(Channel::Agent(*id))
                } else {
                    Err(format!("no agent with id {id} in this company"))
                }
            }
            Recipient::Role(role) => self.id_of(role).map(Channel::Agent).ok_or_else(|| {
                format!(
                    "no agent with role {role}; the company has: {}",
                    self.role_names()
                )
            }),
            Recipient::All => Ok(Channel::Broadcast),
            Recipient::Head => Ok(Channel::Head),
            Recipient::CLevel => Ok(Channel::CLevel),
        }
    }

    /// Parses and routes a `to` field as the model wrote it.
    pub fn route_text(&self, to: &str) -> Result<(Recipient, Channel), String> {
        let recipient: Recipient = to.parse()?;
        let channel = self.route(&recipient)?;
        let recipient = match (&recipient, channel) {
            (Recipient::Role(_), Channel::Agent(id)) => Recipient::Agent(id),
            _ => recipient,
        };
        Ok((recipient, channel))
    }

    /// How a sender reads in a prompt: the role for agents, else the wire form.
    pub fn name_of(&self, sender: &Sender) -> String {
        match sender {
            Sender::Agent(id) => self
                .role_of(*id)
                .map_or_else(|| id.to_string(), |role| role.to_string()),
            other => other.to_string(),
        }
    }

    /// The roles, comma-separated, for error messages.
    pub fn role_names(&self) -> String {
        self.agents
            .iter()
            .map(|entry| entry.role.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_resolve_to_inboxes_and_groups_to_channels() {
        let cto = AgentId::random();
        let directory = Directory::new([AgentEntry {
            id: cto,
            role: Role::Cto,
        }]);
        assert_eq!(directory.route_text("cto").unwrap().1, Channel::Agent(cto));
        assert_eq!(
            directory.route_text("CTO").unwrap().0,
            Recipient::Agent(cto)
        );
        assert_eq!(directory.route_text("all").unwrap().1, Channel::Broadcast);
        assert_eq!(directory.route_text("head").unwrap().1, Channel::Head);
        let err = directory.route_text("cfo").unwrap_err();
        assert!(err.contains("cto"), "{err}");
        assert!(
            directory
                .route_text(&AgentId::random().to_string())
                .is_err()
        );
    }
}
