//! [`Keys`]: the name of every key aito keeps in Redis, under the configured prefix, and of
//! every pub/sub channel. docs/redis.md lists them with their types and lifetimes.
//!
//! This is the one place where key names are made. The layout works on a Redis Cluster: every
//! Lua script's keys share one hash tag, hence one slot, checked on every call
//! ([`crate::scripts`]). Keys are in one of three scopes:
//! - an agent's slot, tag `{<uuid>}`: its inbox stream, the ingestion claims of that stream,
//!   its state, history and session records, its lease and the lease's term counter (fenced
//!   writes check them);
//! - the company's slot, tag `{<prefix without the trailing colon>}`: the broadcast, head and
//!   clevel streams and their ingestion claims, decisions and their indexes;
//!   A mark or value whose name starts `<word>:<agent uuid>:` (the daemon's handled marks and
//!   answer journals) is in that agent's slot too, so finishing a trigger writes them with the
//!   state and history in one script;
//! - the company's slot, also: the dead-letter list and the ids of its entries, and the
//!   budget counters (`counter:budget:...`) with their holds and bookings, which the budget
//!   scripts (`lua/budget_reserve.lua`, `lua/budget_book.lua`) update together;
//! - a lease's own slot, tag `{<name>}`: any other lease (the company's) and its term counter;
//! - no tag (the key's own slot): keys that no script uses together with another (other
//!   marks and values, counters, logs, statuses).
//!
//! A new script takes its keys from one scope: a per-agent script from the agent's, a
//! company-wide one from the company's.

use aito_core::{AgentId, Channel, DecisionId, DecisionStatus, TaskId};

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

    /// A key in one agent's slot: `<prefix><kind>:{<uuid>}`.
    fn agent_key(&self, kind: &str, agent: AgentId) -> String {
        self.key(format_args!("{kind}:{{{agent}}}"))
    }

    /// A key in the company's slot: `<prefix>{<company tag>}:<rest>`.
    fn company_key(&self, rest: std::fmt::Arguments<'_>) -> String {
        self.key(format_args!("{{{}}}:{rest}", self.company_tag()))
    }

    /// The hash tag of the company's slot: the prefix without its trailing `:` (`aito` for an
    /// empty prefix), so that companies spread over a cluster.
    fn company_tag(&self) -> &str {
        match self.prefix.trim_end_matches(':') {
            "" => "aito",
            tag => tag,
        }
    }

    /// The stream behind a durable channel; `None` for live channels. An agent inbox is in the
    /// agent's slot, the group streams in the company's.
    pub(crate) fn stream(&self, channel: Channel) -> Option<String> {
        match channel {
            Channel::Agent(id) => Some(self.agent_key("stream:agent", id)),
            Channel::Broadcast => Some(self.company_key(format_args!("stream:broadcast"))),
            Channel::Head => Some(self.company_key(format_args!("stream:head"))),
            Channel::CLevel => Some(self.company_key(format_args!("stream:clevel"))),
            Channel::WorkerLogs | Channel::Decisions | Channel::Events => None,
        }
    }

    /// The claim taken by the first listener that ingests an outside `PUBLISH`: in the slot of
    /// the channel's stream, which `lua/ingest.lua` writes together with it.
    pub(crate) fn ingest_claim(&self, channel: Channel, what: &str) -> String {
        match channel {
            Channel::Agent(id) => self.key(format_args!("ingest:{{{id}}}:{what}")),
            other => self.company_key(format_args!("ingest:{}:{what}", other.name())),
        }
    }

    pub(crate) fn state(&self, agent: AgentId) -> String {
        self.agent_key("state", agent)
    }

    pub(crate) fn history(&self, agent: AgentId) -> String {
        self.agent_key("history", agent)
    }

    /// An agent's session records: trigger id to record.
    pub(crate) fn sessions(&self, agent: AgentId) -> String {
        self.agent_key("sessions", agent)
    }

    /// The trigger ids of an agent's session records, oldest first.
    pub(crate) fn session_order(&self, agent: AgentId) -> String {
        self.agent_key("sessions:order", agent)
    }

    /// A decision, in the company's slot with the indexes its scripts update together.
    pub(crate) fn decision(&self, id: DecisionId) -> String {
        self.company_key(format_args!("decision:{id}"))
    }

    pub(crate) fn decisions_all(&self) -> String {
        self.company_key(format_args!("decisions:all"))
    }

    pub(crate) fn decisions_by_status(&self, status: DecisionStatus) -> String {
        self.company_key(format_args!("decisions:status:{}", status.as_str()))
    }

    pub(crate) fn mark(&self, key: &str) -> String {
        self.key(format_args!("mark:{}", agent_scoped(key)))
    }

    /// A lease (holder as value). An agent's lease (`agent:<uuid>`) is in the agent's slot, so
    /// that the fenced writes of its terms check it in the script that writes; any other lease
    /// is in a slot of its own, with its term counter.
    pub(crate) fn lease(&self, name: &str) -> String {
        self.key(format_args!("lease:{}", lease_scoped(name)))
    }

    /// The fencing-token counter of lease `name`, in the lease's slot; never expires.
    pub(crate) fn lease_term(&self, name: &str) -> String {
        self.key(format_args!("lease-term:{}", lease_scoped(name)))
    }

    /// A counter. Budget counters (`budget:...`) are in the company's slot, with the holds
    /// and bookings that the budget scripts update together with them.
    pub(crate) fn counter(&self, key: &str) -> String {
        if key.starts_with("budget:") {
            self.company_key(format_args!("counter:{key}"))
        } else {
            self.key(format_args!("counter:{key}"))
        }
    }

    /// A set of budget holds (hash: hold id to `amount:expires-ms`), in the company's slot.
    pub(crate) fn budget_holds(&self, name: &str) -> String {
        self.company_key(format_args!("holds:{name}"))
    }

    /// The mark of a budget booking, in the company's slot.
    pub(crate) fn budget_booking(&self, id: &str) -> String {
        self.company_key(format_args!("booked:{id}"))
    }

    pub(crate) fn value(&self, key: &str) -> String {
        self.key(format_args!("value:{}", agent_scoped(key)))
    }

    pub(crate) fn log(&self, name: &str) -> String {
        self.key(format_args!("log:{name}"))
    }

    pub(crate) fn dead_letters(&self) -> String {
        self.company_key(format_args!("deadletters"))
    }

    /// The `<agent>/<trigger>` ids of the dead letters kept, so a retried finish pushes one once.
    pub(crate) fn dead_letter_ids(&self) -> String {
        self.company_key(format_args!("deadletters:ids"))
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

    /// What a key of this company stands for, for export: the kind and, for per-agent keys, the
    /// agent. `None` for a key of another layout.
    pub(crate) fn parse(&self, key: &str) -> Option<KeyKind> {
        let rest = key.strip_prefix(self.prefix.as_str())?;
        let agent = |rest: &str, kind: &str| {
            rest.strip_prefix(kind)?
                .strip_prefix(":{")?
                .strip_suffix('}')?
                .parse::<AgentId>()
                .ok()
        };
        if let Some(agent) = agent(rest, "state") {
            return Some(KeyKind::State(agent));
        }
        if let Some(agent) = agent(rest, "history") {
            return Some(KeyKind::History(agent));
        }
        if let Some(agent) = agent(rest, "sessions:order") {
            return Some(KeyKind::Sessions(agent));
        }
        if let Some(agent) = agent(rest, "stream:agent") {
            return Some(KeyKind::Inbox(agent));
        }
        let company_counter = format!("{{{}}}:counter:", self.company_tag());
        if let Some(name) = rest.strip_prefix(company_counter.as_str()) {
            return Some(KeyKind::Counter(name.to_owned()));
        }
        for (kind, make) in [
            ("mark:", KeyKind::Mark as fn(String) -> KeyKind),
            ("counter:", KeyKind::Counter),
            ("value:", KeyKind::Value),
            ("log:", KeyKind::Log),
        ] {
            if let Some(name) = rest.strip_prefix(kind) {
                return Some(make(agent_unscoped(name)));
            }
        }
        None
    }
}

/// The kinds of key that export reads one by one (decisions, dead letters and statuses are
/// read through their own calls).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum KeyKind {
    State(AgentId),
    History(AgentId),
    Sessions(AgentId),
    Inbox(AgentId),
    Mark(String),
    Counter(String),
    Value(String),
    Log(String),
}

/// A mark or value name in its agent's slot: `handled:<uuid>:<rest>` becomes
/// `handled:{<uuid>}:<rest>`; any other name is kept as it is.
fn agent_scoped(name: &str) -> std::borrow::Cow<'_, str> {
    let mut parts = name.splitn(3, ':');
    if let (Some(word), Some(agent), Some(rest)) = (parts.next(), parts.next(), parts.next())
        && agent.parse::<AgentId>().is_ok()
    {
        return format!("{word}:{{{agent}}}:{rest}").into();
    }
    name.into()
}

/// A lease name in its slot: `agent:<uuid>` becomes `agent:{<uuid>}` (the agent's slot), any
/// other name `{<name>}`.
fn lease_scoped(name: &str) -> String {
    match name.split_once(':') {
        Some(("agent", agent)) if agent.parse::<AgentId>().is_ok() => format!("agent:{{{agent}}}"),
        _ => format!("{{{name}}}"),
    }
}

/// The name [`agent_scoped`] was made from.
fn agent_unscoped(name: &str) -> String {
    let mut parts = name.splitn(3, ':');
    if let (Some(word), Some(tagged), Some(rest)) = (parts.next(), parts.next(), parts.next())
        && let Some(agent) = tagged.strip_prefix('{').and_then(|t| t.strip_suffix('}'))
        && agent.parse::<AgentId>().is_ok()
    {
        return format!("{word}:{agent}:{rest}");
    }
    name.to_owned()
}

/// The cluster slot of `key` (CRC16 of its hash tag, or of the whole key without one, modulo
/// 16384), as Redis Cluster computes it.
pub(crate) fn slot(key: &[u8]) -> u16 {
    let hashed = match key.iter().position(|b| *b == b'{') {
        Some(open) => match key[open + 1..].iter().position(|b| *b == b'}') {
            Some(0) | None => key,
            Some(len) => &key[open + 1..open + 1 + len],
        },
        None => key,
    };
    crc16(hashed) % 16_384
}

/// CRC16-CCITT (XMODEM), the checksum of Redis Cluster's key slots.
fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for byte in data {
        crc ^= u16::from(*byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
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
    fn every_key_carries_the_prefix_and_the_tag_of_its_scope() {
        let keys = Keys::new("acme:");
        let agent = AgentId::random();
        assert_eq!(
            keys.stream(Channel::Agent(agent)).as_deref(),
            Some(format!("acme:stream:agent:{{{agent}}}").as_str())
        );
        assert_eq!(
            keys.stream(Channel::Broadcast).as_deref(),
            Some("acme:{acme}:stream:broadcast")
        );
        assert_eq!(keys.stream(Channel::WorkerLogs), None);
        assert_eq!(keys.state(agent), format!("acme:state:{{{agent}}}"));
        assert_eq!(keys.lease("agent:x"), "acme:lease:{agent:x}");
        assert_eq!(keys.lease_term("company"), "acme:lease-term:{company}");
        assert_eq!(Keys::new("").decisions_all(), "{aito}:decisions:all");
        assert_eq!(Channel::Broadcast.name(), "channel:broadcast");
    }

    #[test]
    fn slots_are_those_of_redis_cluster() {
        // Values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(slot(b"foo"), 12_182);
        assert_eq!(slot(b"{user1000}.following"), slot(b"user1000"));
        assert_eq!(slot(b"foo{}{bar}"), slot(b"foo{}{bar}"));
        assert_ne!(slot(b"foo{}{bar}"), slot(b"bar"));
        assert_eq!(slot(b"foo{{bar}}zap"), slot(b"{bar"));
    }

    #[test]
    fn keys_that_scripts_use_together_share_a_slot() {
        let keys = Keys::new("acme:");
        let agent = AgentId::random();
        let inbox = keys.stream(Channel::Agent(agent)).expect("stream");
        assert_eq!(
            slot(inbox.as_bytes()),
            slot(
                keys.ingest_claim(Channel::Agent(agent), "raw:x:1")
                    .as_bytes()
            )
        );
        assert_eq!(slot(inbox.as_bytes()), slot(keys.state(agent).as_bytes()));
        let company = slot(keys.decisions_all().as_bytes());
        for status in DecisionStatus::ALL {
            assert_eq!(slot(keys.decisions_by_status(status).as_bytes()), company);
        }
        assert_eq!(
            slot(keys.decision(DecisionId::random()).as_bytes()),
            company
        );
        let broadcast = keys.stream(Channel::Broadcast).expect("stream");
        assert_eq!(slot(broadcast.as_bytes()), company);
        assert_eq!(
            slot(keys.ingest_claim(Channel::Broadcast, "id:x").as_bytes()),
            company
        );
        // Finishing a trigger writes its handled mark and journal with the state.
        let state = slot(keys.state(agent).as_bytes());
        assert_eq!(
            slot(keys.mark(&format!("handled:{agent}:t1")).as_bytes()),
            state
        );
        assert_eq!(
            slot(keys.value(&format!("journal:{agent}:t1")).as_bytes()),
            state
        );
        assert_eq!(
            keys.parse(&keys.mark(&format!("handled:{agent}:t1"))),
            Some(KeyKind::Mark(format!("handled:{agent}:t1")))
        );
        assert_eq!(
            keys.parse(&keys.value("pause")),
            Some(KeyKind::Value("pause".into()))
        );
        // The fenced writes of an agent's term check its lease with the keys they write.
        let lease = format!("agent:{agent}");
        assert_eq!(slot(keys.lease(&lease).as_bytes()), state);
        assert_eq!(slot(keys.lease_term(&lease).as_bytes()), state);
        assert_eq!(
            slot(keys.mark(&format!("action:{agent}:t1#0")).as_bytes()),
            state
        );
        assert_eq!(
            slot(keys.value(&format!("action-done:{agent}:t1#0")).as_bytes()),
            state
        );
        assert_eq!(
            slot(keys.lease("company").as_bytes()),
            slot(keys.lease_term("company").as_bytes())
        );
        assert_eq!(slot(keys.dead_letters().as_bytes()), company);
        assert_eq!(slot(keys.dead_letter_ids().as_bytes()), company);
        // Companies spread: another prefix, another slot.
        assert_ne!(slot(Keys::new("beta:").decisions_all().as_bytes()), company);
    }

    #[test]
    fn export_reads_back_the_kind_of_each_key() {
        let keys = Keys::new("acme:");
        let agent = AgentId::random();
        assert_eq!(keys.parse(&keys.state(agent)), Some(KeyKind::State(agent)));
        assert_eq!(
            keys.parse(&keys.history(agent)),
            Some(KeyKind::History(agent))
        );
        let inbox = keys.stream(Channel::Agent(agent)).expect("stream");
        assert_eq!(keys.parse(&inbox), Some(KeyKind::Inbox(agent)));
        assert_eq!(
            keys.parse(&keys.mark("a:b")),
            Some(KeyKind::Mark("a:b".into()))
        );
        assert_eq!(keys.parse(&keys.decisions_all()), None);
        assert_eq!(keys.parse("other:state:x"), None);
    }
}
