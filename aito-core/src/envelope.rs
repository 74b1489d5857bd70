//! The envelope: the one message format on the bus, compatible with the original system's
//! `AgentMessage` (see docs/wire-format.md).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::id::{AgentId, MessageId};
use crate::role::Role;

/// How urgent a message is. Ordered: `Low < Normal < High < Urgent < Critical`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Whenever there is time.
    Low,
    /// The default.
    #[default]
    Normal,
    /// Ahead of normal work.
    High,
    /// Ahead of everything but critical.
    Urgent,
    /// First in every queue.
    Critical,
}

impl Priority {
    /// The lowercase wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
            Priority::Critical => "critical",
        }
    }
}

impl FromStr for Priority {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "low" => Ok(Priority::Low),
            "normal" | "medium" => Ok(Priority::Normal),
            "high" => Ok(Priority::High),
            "urgent" => Ok(Priority::Urgent),
            "critical" => Ok(Priority::Critical),
            other => Err(format!(
                "unknown priority {other:?}: expected low, normal, high, urgent or critical"
            )),
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident => $wire:literal, )* }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A value this version does not know; kept verbatim.
            Other(String),
        }

        impl $name {
            /// The wire name.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $wire, )*
                    $name::Other(other) => other,
                }
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                match text {
                    $( $wire => $name::$variant, )*
                    other => $name::Other(other.to_owned()),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Ok($name::from(text.as_ref()))
            }
        }
    };
}

string_enum! {
    /// The envelope's `type`. Unknown types are kept as [`MessageType::Other`].
    pub enum MessageType {
        /// Work for the receiver.
        Task => "task",
        /// A change of a task of the ledger, for its creator or assignee.
        TaskUpdate => "task_update",
        /// A task announced on a queue (the original's `task_queued`).
        TaskQueued => "task_queued",
        /// "How are you doing?": answered without running the model.
        StatusRequest => "status_request",
        /// The answer to a status request.
        StatusResponse => "status_response",
        /// A decision that needs the receiver: vetoed back to its proposer, or resolved.
        Decision => "decision",
        /// A request to vote on a decision.
        Vote => "vote",
        /// Something is wrong.
        Alert => "alert",
        /// A message to everyone.
        Broadcast => "broadcast",
        /// A direct message between agents.
        Direct => "direct",
        /// A worker finished.
        WorkerResult => "worker_result",
        /// The final outcome of a decision.
        DecisionResult => "decision_result",
        /// A line of a worker's log (on `WorkerLogs`).
        WorkerLog => "worker_log",
        /// An outside system called the agent's webhook.
        Webhook => "webhook",
        /// Control messages: `pause`, `resume`.
        System => "system",
        /// A dashboard event (on `Events`).
        Event => "event",
    }
}

/// Who sent an envelope (`from`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Sender {
    /// An agent, by id.
    Agent(AgentId),
    /// The original system's orchestrator, or aito's company-wide duties.
    Orchestrator,
    /// A human operator (`human_oversight` in the original, `human` in aito).
    Human,
    /// A worker, `worker:<task id>`.
    Worker(String),
    /// aito itself (scheduler, dashboard, guards).
    System,
    /// Anything else, kept verbatim.
    Other(String),
}

impl Sender {
    /// The agent id, when an agent sent it.
    pub fn agent(&self) -> Option<AgentId> {
        match self {
            Sender::Agent(id) => Some(*id),
            _ => None,
        }
    }
}

impl fmt::Display for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sender::Agent(id) => id.fmt(f),
            Sender::Orchestrator => f.write_str("orchestrator"),
            Sender::Human => f.write_str("human"),
            Sender::Worker(id) => write!(f, "worker:{id}"),
            Sender::System => f.write_str("system"),
            Sender::Other(other) => f.write_str(other),
        }
    }
}

impl From<&str> for Sender {
    fn from(text: &str) -> Self {
        if let Ok(id) = text.parse::<AgentId>() {
            return Sender::Agent(id);
        }
        match text {
            "orchestrator" => Sender::Orchestrator,
            "human" | "human_oversight" => Sender::Human,
            "system" => Sender::System,
            other => match other.strip_prefix("worker:") {
                Some(id) => Sender::Worker(id.to_owned()),
                None => Sender::Other(other.to_owned()),
            },
        }
    }
}

impl Serialize for Sender {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Sender {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(Sender::from(text.as_ref()))
    }
}

/// Whom an envelope is for (`to`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Recipient {
    /// One agent, by id.
    Agent(AgentId),
    /// One agent, by role; resolved to its id before sending.
    Role(Role),
    /// Everyone (`all`).
    All,
    /// CEO and DAO (`head`).
    Head,
    /// The chief officers (`clevel`).
    CLevel,
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Recipient::Agent(id) => id.fmt(f),
            Recipient::Role(role) => role.fmt(f),
            Recipient::All => f.write_str("all"),
            Recipient::Head => f.write_str("head"),
            Recipient::CLevel => f.write_str("clevel"),
        }
    }
}

impl FromStr for Recipient {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if let Ok(id) = text.parse::<AgentId>() {
            return Ok(Recipient::Agent(id));
        }
        match text.to_ascii_lowercase().as_str() {
            "all" | "broadcast" | "everyone" => Ok(Recipient::All),
            "head" => Ok(Recipient::Head),
            "clevel" | "c-level" | "c_level" => Ok(Recipient::CLevel),
            _ => text.parse::<Role>().map(Recipient::Role).map_err(|_| {
                format!(
                    "unknown recipient {text:?}: expected a role name, an agent uuid, all, head or clevel"
                )
            }),
        }
    }
}

impl Serialize for Recipient {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Recipient {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

fn unknown_sender() -> Sender {
    Sender::Other("unknown".to_owned())
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One message on the bus. Serialized exactly as the original system's `AgentMessage`, with
/// aito's optional additions (`hops`, `origin`, `chain`). Unknown fields are kept in
/// [`Envelope::extra`] and written back out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// Unique id; assigned on receipt when the sender gave none.
    #[serde(default = "MessageId::random")]
    pub id: MessageId,
    /// What kind of message this is.
    #[serde(rename = "type")]
    pub kind: MessageType,
    /// Who sent it.
    #[serde(default = "unknown_sender")]
    pub from: Sender,
    /// Whom it is for; taken from the channel when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Recipient>,
    /// The content; an object by convention.
    #[serde(default = "empty_object")]
    pub payload: Value,
    /// Queue order at the receiver.
    #[serde(default)]
    pub priority: Priority,
    /// When it was sent; assigned on receipt when the sender gave none.
    #[serde(default = "Utc::now")]
    pub timestamp: DateTime<Utc>,
    /// The sender expects an answer.
    #[serde(default)]
    pub requires_response: bool,
    /// By when the answer is expected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_deadline: Option<DateTime<Utc>>,
    /// Ties a conversation together; also the trace id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// How many agent sessions this message chain has passed through (aito).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub hops: u32,
    /// The agent whose session produced this message (aito; for the self-wake filter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<AgentId>,
    /// The ids of the triggers that led here, oldest first, bounded (aito; for loop guards).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<String>,
    /// Fields this version does not know, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The size cap of one envelope as JSON, unless configured otherwise: 256 KiB. Every bus
/// refuses to publish a larger envelope and dead-letters one it reads.
pub const MAX_ENVELOPE_BYTES: usize = 256 * 1024;

/// The longest a short field may be, in bytes: `id`, `type`, `from`, `correlationId` and each
/// `chain` entry. Longer ones make the envelope malformed (they end up in logs).
pub const MAX_SHORT_FIELD: usize = 1024;

/// How many characters of an input a log line or an error quotes at most.
pub const PREVIEW_CHARS: usize = 200;

/// An envelope that could not be read. Carries a preview of the raw text for the log; every
/// part of it is bounded, however large the input.
#[derive(Debug, Clone, thiserror::Error)]
#[error("malformed envelope ({reason}); raw text starts: {preview}")]
pub struct EnvelopeError {
    /// What was wrong.
    pub reason: String,
    /// The first characters of the raw text.
    pub preview: String,
    /// The size of the raw text in bytes, when it was over the cap (and not parsed at all).
    pub oversize: Option<usize>,
}

impl EnvelopeError {
    fn new(reason: &str, text: &str) -> Self {
        Self {
            reason: preview(reason, PREVIEW_CHARS),
            preview: preview(text, PREVIEW_CHARS),
            oversize: None,
        }
    }

    /// The error for a text of `bytes` bytes over the cap `limit`.
    pub fn oversize(text: &str, limit: usize) -> Self {
        Self {
            reason: format!(
                "the envelope is {} bytes, over the cap of {limit} bytes",
                text.len()
            ),
            preview: preview(text, PREVIEW_CHARS),
            oversize: Some(text.len()),
        }
    }
}

/// The first `max` characters of `text`, with `…` when cut, on one line.
pub fn preview(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .take(max)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

/// Counts the bytes written to it and fails once they pass a limit, so that measuring a huge
/// value stops early.
struct Counter {
    bytes: usize,
    limit: usize,
}

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes = self.bytes.saturating_add(buf.len());
        if self.bytes > self.limit {
            return Err(std::io::Error::other("over the limit"));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Envelope {
    /// A new envelope with a fresh id, the current time and default fields.
    pub fn new(kind: MessageType, from: Sender, payload: Value) -> Self {
        Self {
            id: MessageId::random(),
            kind,
            from,
            to: None,
            payload,
            priority: Priority::Normal,
            timestamp: Utc::now(),
            requires_response: false,
            response_deadline: None,
            correlation_id: None,
            hops: 0,
            origin: None,
            chain: Vec::new(),
            extra: Map::new(),
        }
    }

    /// Sets the recipient.
    pub fn to(mut self, to: Recipient) -> Self {
        self.to = Some(to);
        self
    }

    /// Sets the priority.
    pub fn with_priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// Reads an envelope from JSON text. Never panics; the error carries a bounded preview of
    /// the input. Short fields over [`MAX_SHORT_FIELD`] bytes make it malformed.
    pub fn from_json(text: &str) -> Result<Self, EnvelopeError> {
        let envelope: Envelope =
            serde_json::from_str(text).map_err(|err| EnvelopeError::new(&err.to_string(), text))?;
        envelope.check_short_fields(text)?;
        if !envelope.payload.is_object() && !envelope.payload.is_null() {
            // Kept as is: the original allowed any payload, and receivers read fields leniently.
            tracing::debug!(id = %envelope.id, "envelope payload is not an object");
        }
        Ok(envelope)
    }

    /// [`Envelope::from_json`], refusing a text over `limit` bytes without parsing it.
    pub fn from_json_capped(text: &str, limit: usize) -> Result<Self, EnvelopeError> {
        if text.len() > limit {
            return Err(EnvelopeError::oversize(text, limit));
        }
        Self::from_json(text)
    }

    fn check_short_fields(&self, text: &str) -> Result<(), EnvelopeError> {
        let long = |name: &str, value: &str| {
            (value.len() > MAX_SHORT_FIELD).then(|| {
                EnvelopeError::new(
                    &format!(
                        "field `{name}` is {} bytes, over the limit of {MAX_SHORT_FIELD}",
                        value.len()
                    ),
                    text,
                )
            })
        };
        let from = match &self.from {
            Sender::Worker(id) => Some(id.as_str()),
            Sender::Other(other) => Some(other.as_str()),
            _ => None,
        };
        let checks = [
            long("type", self.kind.as_str()),
            from.and_then(|from| long("from", from)),
            self.correlation_id
                .as_deref()
                .and_then(|id| long("correlationId", id)),
            self.chain.iter().find_map(|entry| long("chain", entry)),
        ];
        match checks.into_iter().flatten().next() {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    /// The size of the envelope as compact JSON, counted up to `limit + 1` at most: `None` when
    /// it is over `limit`, without writing it out.
    pub fn json_len_within(&self, limit: usize) -> Option<usize> {
        let mut counter = Counter { bytes: 0, limit };
        match serde_json::to_writer(&mut counter, self) {
            Ok(()) => Some(counter.bytes),
            Err(_) => None,
        }
    }

    /// Writes the envelope as compact JSON.
    pub fn to_json(&self) -> String {
        // Serialising this type cannot fail: every field is a string, number, bool or JSON value.
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }

    /// A string field of the payload, if present.
    pub fn payload_str(&self, key: &str) -> Option<&str> {
        self.payload.get(key).and_then(Value::as_str)
    }

    /// A short human-readable title: `payload.title`, else its `content`, `message` or `task`,
    /// else the type.
    pub fn title(&self) -> String {
        self.payload_str("title")
            .or_else(|| self.payload_str("content"))
            .or_else(|| self.payload_str("message"))
            .or_else(|| self.payload_str("task"))
            .map(|text| preview(text, 80))
            .unwrap_or_else(|| self.kind.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_original_documented_test_message() {
        let raw = r#"{"type":"task","from":"human","payload":{"title":"Test"}}"#;
        let env = Envelope::from_json(raw).unwrap();
        assert_eq!(env.kind, MessageType::Task);
        assert_eq!(env.from, Sender::Human);
        assert_eq!(env.priority, Priority::Normal);
        assert_eq!(env.payload_str("title"), Some("Test"));
        assert!(env.to.is_none());
        assert_eq!(env.hops, 0);
    }

    #[test]
    fn round_trips_the_full_wire_format_and_keeps_unknown_fields() {
        let raw = r#"{"id":"0ce8853f-aabe-488c-bbc2-a05f10b1cdc3","type":"pr_merged","from":"worker:42",
            "to":"clevel","payload":{"n":1},"priority":"urgent","timestamp":"2026-11-24T10:00:00Z",
            "requiresResponse":true,"responseDeadline":"2026-11-25T10:00:00Z","correlationId":"c-1",
            "traceVendor":{"x":1}}"#;
        let env = Envelope::from_json(raw).unwrap();
        assert_eq!(env.kind, MessageType::Other("pr_merged".into()));
        assert_eq!(env.from, Sender::Worker("42".into()));
        assert_eq!(env.to, Some(Recipient::CLevel));
        assert_eq!(env.priority, Priority::Urgent);
        assert!(env.requires_response);
        assert_eq!(
            env.extra.get("traceVendor"),
            Some(&serde_json::json!({"x":1}))
        );
        let back: Value = serde_json::from_str(&env.to_json()).unwrap();
        assert_eq!(back["type"], "pr_merged");
        assert_eq!(back["traceVendor"]["x"], 1);
        assert_eq!(back["requiresResponse"], true);
        assert_eq!(back["timestamp"], "2026-11-24T10:00:00Z");
        assert_eq!(back["correlationId"], "c-1");
        assert!(back.get("hops").is_none(), "zero hops is not written");
    }

    /// Found by the `envelope` fuzz target: a number with more digits than an `f64` holds was
    /// read as one value and, written out and read again, as a neighbouring one, so a payload
    /// changed on its way through the bus. Numbers are read correctly rounded now.
    #[test]
    fn a_payload_number_keeps_its_value_through_every_hop() {
        let raw = r#"{"type":"alert","from":"cto","priority":"high",
            "payload":{"n":1.56666666666666666666,"list":[null,true]}}"#;
        let first = Envelope::from_json(raw).unwrap();
        let mut env = first.clone();
        for _ in 0..3 {
            env = Envelope::from_json(&env.to_json()).unwrap();
        }
        assert_eq!(env, first);
        assert_eq!(env.payload["n"].as_f64(), Some(1.566_666_666_666_666_7));
    }

    #[test]
    fn malformed_input_is_an_error_with_a_preview() {
        for raw in [
            "",
            "not json",
            "{\"from\":\"human\"}",
            "{\"type\":\"task\",\"priority\":\"whenever\"}",
            "[1,2]",
        ] {
            let err = Envelope::from_json(raw).unwrap_err();
            assert!(err.to_string().contains("malformed envelope"), "{err}");
        }
        let err = Envelope::from_json("{\"type\":\"task\",\"priority\":\"whenever\"}").unwrap_err();
        assert!(err.preview.contains("whenever"));
    }

    #[test]
    fn envelopes_over_the_cap_are_refused_unread() {
        let raw = format!(
            r#"{{"type":"task","payload":{{"title":"{}"}}}}"#,
            "x".repeat(MAX_ENVELOPE_BYTES)
        );
        let err = Envelope::from_json_capped(&raw, MAX_ENVELOPE_BYTES).unwrap_err();
        assert_eq!(err.oversize, Some(raw.len()));
        assert!(err.reason.contains("over the cap of 262144 bytes"), "{err}");
        assert!(
            err.to_string().len() < 1024,
            "{} bytes",
            err.to_string().len()
        );
        assert!(Envelope::from_json_capped(&raw, raw.len()).is_ok());
    }

    #[test]
    fn errors_quote_huge_fields_by_a_preview_only() {
        let huge = "p".repeat(200 * 1024);
        for raw in [
            format!(r#"{{"type":"task","priority":"{huge}"}}"#),
            format!(r#"{{"type":"task","to":"{huge}"}}"#),
            format!(r#"{{"type":"{huge}"}}"#),
            format!(r#"{{"type":"task","from":"{huge}"}}"#),
            format!(r#"{{"type":"task","correlationId":"{huge}"}}"#),
            format!(r#"{{"type":"task","chain":["{huge}"]}}"#),
        ] {
            let err = Envelope::from_json(&raw).unwrap_err();
            assert_eq!(err.oversize, None);
            let shown = err.to_string();
            assert!(
                shown.len() < 1024,
                "{} bytes: {}",
                shown.len(),
                &shown[..200]
            );
        }
        let ok = format!(
            r#"{{"type":"task","from":"{}"}}"#,
            "s".repeat(MAX_SHORT_FIELD)
        );
        assert!(Envelope::from_json(&ok).is_ok());
    }

    #[test]
    fn the_size_is_counted_without_writing_it_out() {
        let envelope = Envelope::new(
            MessageType::Task,
            Sender::Human,
            serde_json::json!({"title": "x".repeat(1000)}),
        );
        let len = envelope.to_json().len();
        assert_eq!(envelope.json_len_within(len), Some(len));
        assert_eq!(envelope.json_len_within(len - 1), None);
    }

    #[test]
    fn recipients_parse_roles_groups_and_uuids() {
        assert_eq!(
            "CTO".parse::<Recipient>().unwrap(),
            Recipient::Role(Role::Cto)
        );
        assert_eq!("all".parse::<Recipient>().unwrap(), Recipient::All);
        let id = AgentId::random();
        assert_eq!(
            id.to_string().parse::<Recipient>().unwrap(),
            Recipient::Agent(id)
        );
        assert!("no such thing!".parse::<Recipient>().is_err());
    }

    #[test]
    fn priorities_order_from_low_to_critical() {
        assert!(Priority::Critical > Priority::Urgent);
        assert!(Priority::Urgent > Priority::High);
        assert!(Priority::High > Priority::Normal);
        assert!(Priority::Normal > Priority::Low);
    }
}
