//! Channels: where envelopes are published and from where they are delivered.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::id::AgentId;

/// A destination on the bus.
///
/// Durable channels ([`Channel::is_durable`]) keep every envelope until each subscribing group
/// has acknowledged it; the others are live feeds that only reach current subscribers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    /// One agent's inbox (`channel:agent:<uuid>`). Durable.
    Agent(AgentId),
    /// Every agent (`channel:broadcast`). Durable, one copy per agent.
    Broadcast,
    /// CEO and DAO (`channel:head`). Durable, one copy per member.
    Head,
    /// The chief officers (`channel:clevel`). Durable, one copy per member.
    CLevel,
    /// Worker log lines (`channel:worker:logs`). Live.
    WorkerLogs,
    /// Every decision transition (`channel:decisions`). Live.
    Decisions,
    /// Dashboard feed: sessions, guards, escalations (`channel:events`). Live.
    Events,
}

impl Channel {
    /// Whether envelopes wait for an acknowledgement (at-least-once) or are fire-and-forget.
    pub fn is_durable(&self) -> bool {
        matches!(
            self,
            Channel::Agent(_) | Channel::Broadcast | Channel::Head | Channel::CLevel
        )
    }

    /// The pub/sub channel name, as in the original system (`channel:agent:<uuid>`, ...).
    pub fn name(&self) -> String {
        match self {
            Channel::Agent(id) => format!("channel:agent:{id}"),
            Channel::Broadcast => "channel:broadcast".to_owned(),
            Channel::Head => "channel:head".to_owned(),
            Channel::CLevel => "channel:clevel".to_owned(),
            Channel::WorkerLogs => "channel:worker:logs".to_owned(),
            Channel::Decisions => "channel:decisions".to_owned(),
            Channel::Events => "channel:events".to_owned(),
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A channel name that is not one of aito's.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "unknown channel {0:?}: expected channel:agent:<uuid>, channel:broadcast, channel:head, channel:clevel, channel:worker:logs, channel:decisions or channel:events"
)]
pub struct UnknownChannel(pub String);

impl FromStr for Channel {
    type Err = UnknownChannel;
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Ok(match name {
            "channel:broadcast" => Channel::Broadcast,
            "channel:head" => Channel::Head,
            "channel:clevel" => Channel::CLevel,
            "channel:worker:logs" => Channel::WorkerLogs,
            "channel:decisions" => Channel::Decisions,
            "channel:events" => Channel::Events,
            other => match other
                .strip_prefix("channel:agent:")
                .and_then(|id| id.parse().ok())
            {
                Some(id) => Channel::Agent(id),
                None => return Err(UnknownChannel(other.to_owned())),
            },
        })
    }
}

impl Serialize for Channel {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.name())
    }
}

impl<'de> Deserialize<'de> for Channel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let id = AgentId::random();
        for channel in [
            Channel::Agent(id),
            Channel::Broadcast,
            Channel::Head,
            Channel::CLevel,
            Channel::WorkerLogs,
            Channel::Decisions,
            Channel::Events,
        ] {
            assert_eq!(channel.name().parse::<Channel>().unwrap(), channel);
        }
        assert_eq!(Channel::WorkerLogs.name(), "channel:worker:logs");
        assert!("channel:agent:cto".parse::<Channel>().is_err());
    }
}
