//! [`Keys`]: the name of every key aito keeps in Redis, under the configured prefix.
//! docs/redis.md lists them with their types and lifetimes.

use aito_core::{AgentId, Channel, DecisionId, DecisionStatus, TaskId};

/// The consumer group of every agent inbox stream. An inbox has exactly one group, so its
/// entries can be deleted once acknowledged.
pub(crate) const INBOX_GROUP: &str = "inbox";

/// Key names, all under one prefix. Pub/sub channel names are not keys and carry no prefix.
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
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

    /// A task's hash `{v, doc}`.
    pub(crate) fn task(&self, id: TaskId) -> String {
        self.key(format_args!("task:{id}"))
    }

    /// The ids of an assignee's open tasks, by creation time.
    pub(crate) fn tasks_open(&self, assignee: AgentId) -> String {
        self.key(format_args!("tasks:open:{assignee}"))
    }

    /// The ids of every task, by creation time.
    pub(crate) fn tasks_all(&self) -> String {
        self.key(format_args!("tasks:all"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_carries_the_prefix_and_channels_do_not() {
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
