//! [`Keys`]: the name of every key aito keeps in Redis, under the configured prefix.
//! docs/redis.md lists them with their types and lifetimes.

use aito_core::{AgentId, Channel, DecisionId, DecisionStatus};

/// The consumer group of every agent inbox stream. An inbox has exactly one group, so its
/// entries can be deleted once acknowledged.
pub(crate) const INBOX_GROUP: &str = "inbox";

/// Key and pub/sub channel names, all under one prefix.
///
/// Keys always start with the prefix. Pub/sub channel names start with it too, except for the
/// company that runs with the default prefix (`aito:`) or none: its channels keep the original
/// system's names (`channel:broadcast`, `channel:agent:<uuid>`), so outside tools written for
/// them keep working, while every other company on the server hears only its own channels.
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    prefix: String,
    channel_prefix: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            channel_prefix: channel_prefix(prefix).to_owned(),
        }
    }

    /// The pub/sub name of `channel` for this company.
    pub(crate) fn channel(&self, channel: Channel) -> String {
        format!("{}{}", self.channel_prefix, channel.name())
    }

    /// The channel a pub/sub name of this company stands for; `None` for another company's.
    pub(crate) fn parse_channel(&self, name: &str) -> Option<Channel> {
        name.strip_prefix(self.channel_prefix.as_str())?
            .parse::<Channel>()
            .ok()
    }

    /// The pub/sub pattern that matches every agent inbox channel of this company (and no
    /// other company's: glob characters of the prefix are escaped).
    pub(crate) fn agent_channel_pattern(&self) -> String {
        let mut pattern = String::with_capacity(self.channel_prefix.len() + 16);
        for c in self.channel_prefix.chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push_str("channel:agent:*");
        pattern
    }

    fn key(&self, rest: std::fmt::Arguments<'_>) -> String {
        format!("{}{rest}", self.prefix)
    }

    /// The stream behind a durable channel; `None` for live channels.
    pub(crate) fn stream(&self, channel: Channel) -> Option<String> {
        match channel {
            Channel::Agent(id) => Some(self.key(format_args!("stream:agent:{id}"))),
            Channel::Broadcast => Some(self.key(format_args!("stream:broadcast"))),
            Channel::Head => Some(self.key(format_args!("stream:head"))),
            Channel::CLevel => Some(self.key(format_args!("stream:clevel"))),
            Channel::WorkerLogs | Channel::Decisions | Channel::Events => None,
        }
    }

    /// The claim taken by the first listener that ingests an outside `PUBLISH`.
    pub(crate) fn ingest_claim(&self, channel: &str, what: &str) -> String {
        self.key(format_args!("ingest:{channel}:{what}"))
    }

    pub(crate) fn state(&self, agent: AgentId) -> String {
        self.key(format_args!("state:{agent}"))
    }

    pub(crate) fn history(&self, agent: AgentId) -> String {
        self.key(format_args!("history:{agent}"))
    }

    pub(crate) fn decision(&self, id: DecisionId) -> String {
        self.key(format_args!("decision:{id}"))
    }

    /// The prefix of decision keys, for scripts that build them from ids.
    pub(crate) fn decision_prefix(&self) -> String {
        self.key(format_args!("decision:"))
    }

    pub(crate) fn decisions_all(&self) -> String {
        self.key(format_args!("decisions:all"))
    }

    pub(crate) fn decisions_by_status(&self, status: DecisionStatus) -> String {
        self.key(format_args!("decisions:status:{}", status.as_str()))
    }

    pub(crate) fn mark(&self, key: &str) -> String {
        self.key(format_args!("mark:{key}"))
    }

    pub(crate) fn lease(&self, name: &str) -> String {
        self.key(format_args!("lease:{name}"))
    }

    pub(crate) fn counter(&self, key: &str) -> String {
        self.key(format_args!("counter:{key}"))
    }

    pub(crate) fn value(&self, key: &str) -> String {
        self.key(format_args!("value:{key}"))
    }

    pub(crate) fn log(&self, name: &str) -> String {
        self.key(format_args!("log:{name}"))
    }

    pub(crate) fn dead_letters(&self) -> String {
        self.key(format_args!("deadletters"))
    }

    pub(crate) fn statuses(&self) -> String {
        self.key(format_args!("status"))
    }
}

/// The prefix of pub/sub channel names for the key prefix `prefix`: none for the default
/// prefix or an empty one, else the key prefix itself.
pub(crate) fn channel_prefix(prefix: &str) -> &str {
    if prefix == crate::config::DEFAULT_PREFIX {
        ""
    } else {
        prefix
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_carry_the_prefix_except_for_the_default_company() {
        let agent = AgentId::random();
        let default = Keys::new(crate::config::DEFAULT_PREFIX);
        assert_eq!(default.channel(Channel::Broadcast), "channel:broadcast");
        assert_eq!(
            default.channel(Channel::Agent(agent)),
            format!("channel:agent:{agent}")
        );
        assert_eq!(default.agent_channel_pattern(), "channel:agent:*");
        assert_eq!(Keys::new("").channel(Channel::Events), "channel:events");

        let beta = Keys::new("beta:");
        assert_eq!(beta.channel(Channel::Broadcast), "beta:channel:broadcast");
        assert_eq!(
            beta.parse_channel(&format!("beta:channel:agent:{agent}")),
            Some(Channel::Agent(agent))
        );
        assert_eq!(beta.parse_channel("channel:broadcast"), None);
        assert_eq!(beta.parse_channel("alpha:channel:broadcast"), None);
        assert_eq!(default.parse_channel("beta:channel:broadcast"), None);
        assert_eq!(beta.agent_channel_pattern(), "beta:channel:agent:*");
        assert_eq!(
            Keys::new("a*[b]:").agent_channel_pattern(),
            "a\\*\\[b\\]:channel:agent:*"
        );
    }

    #[test]
    fn every_key_carries_the_prefix() {
        let keys = Keys::new("acme:");
        let agent = AgentId::random();
        assert_eq!(
            keys.stream(Channel::Agent(agent)).as_deref(),
            Some(format!("acme:stream:agent:{agent}").as_str())
        );
        assert_eq!(
            keys.stream(Channel::Broadcast).as_deref(),
            Some("acme:stream:broadcast")
        );
        assert_eq!(keys.stream(Channel::WorkerLogs), None);
        assert_eq!(keys.state(agent), format!("acme:state:{agent}"));
        assert_eq!(keys.lease("agent:x"), "acme:lease:agent:x");
        assert_eq!(Channel::Broadcast.name(), "channel:broadcast");
    }
}
