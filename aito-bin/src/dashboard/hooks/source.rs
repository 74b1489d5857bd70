//! A webhook source: who may call `POST /hooks/<name>`, how its deliveries are signed, and
//! which agent they wake.

use std::fmt;
use std::time::Duration;

use aito_core::{AgentId, Priority, Role};
use axum::http::HeaderName;
use ring::hmac;

/// How long a Stripe signature's timestamp may be away from now, by default (Stripe's own
/// libraries use the same).
pub const DEFAULT_STRIPE_TOLERANCE: Duration = Duration::from_secs(300);

/// How a source signs its deliveries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`; the event type in
    /// `X-GitHub-Event`, the delivery id in `X-GitHub-Delivery`.
    GitHub,
    /// Stripe: `Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">` (more
    /// than one `v1` while a secret is rolled); the event type and id in the JSON body.
    Stripe {
        /// How far the signature's timestamp may be from now, either way.
        tolerance: Duration,
    },
    /// Any service that sends an HMAC-SHA256 of the body in a header of its own.
    Hmac(HmacScheme),
}

impl Scheme {
    /// Stripe with the default tolerance.
    pub fn stripe() -> Self {
        Scheme::Stripe {
            tolerance: DEFAULT_STRIPE_TOLERANCE,
        }
    }

    /// The name used in `aito.toml` (`kind`).
    pub fn kind(&self) -> &'static str {
        match self {
            Scheme::GitHub => "github",
            Scheme::Stripe { .. } => "stripe",
            Scheme::Hmac(_) => "hmac",
        }
    }
}

/// The signature header of a generic HMAC source, and where its event type and delivery id
/// are, if it sends them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HmacScheme {
    /// The header that carries the signature.
    pub header: HeaderName,
    /// How the signature is written.
    pub encoding: Encoding,
    /// Text before the signature in the header (`sha256=`); stripped when present.
    pub prefix: String,
    /// The header naming the event type, if the service sends one.
    pub event_header: Option<HeaderName>,
    /// The header carrying the delivery id, if the service sends one; without it, a digest
    /// of the body identifies the delivery.
    pub delivery_header: Option<HeaderName>,
}

impl HmacScheme {
    /// A hex signature in `header`, without prefix, event or delivery header.
    pub fn new(header: HeaderName) -> Self {
        Self {
            header,
            encoding: Encoding::Hex,
            prefix: String::new(),
            event_header: None,
            delivery_header: None,
        }
    }
}

/// How a generic HMAC signature is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Hexadecimal, either case.
    Hex,
    /// Base64 with the standard alphabet (padding optional).
    Base64,
    /// Base64 with the URL-safe alphabet (padding optional).
    Base64Url,
}

impl Encoding {
    /// The name used in `aito.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Hex => "hex",
            Encoding::Base64 => "base64",
            Encoding::Base64Url => "base64url",
        }
    }
}

impl std::str::FromStr for Encoding {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "hex" => Ok(Encoding::Hex),
            "base64" => Ok(Encoding::Base64),
            "base64url" => Ok(Encoding::Base64Url),
            _ => Err(format!(
                "expected \"hex\", \"base64\" or \"base64url\", saw {text:?}"
            )),
        }
    }
}

/// One `[webhooks.<name>]` source, resolved: `POST /hooks/<name>` wakes `role` with each
/// delivery whose signature checks out under the secret.
#[derive(Clone)]
pub struct HookSource {
    /// The name in the path (`/hooks/<name>`): letters, digits, `-` and `_`.
    pub name: String,
    /// The role it wakes.
    pub role: Role,
    /// That agent's id.
    pub agent: AgentId,
    /// How deliveries are signed.
    pub scheme: Scheme,
    /// The priority of the trigger.
    pub priority: Priority,
    /// Event types that wake the agent (exact, or a prefix ending in `*`: `invoice.*`); empty
    /// accepts every type.
    pub events: Vec<String>,
    /// The HMAC key made from the secret; `None` refuses every delivery.
    key: Option<hmac::Key>,
}

impl fmt::Debug for HookSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HookSource")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("scheme", &self.scheme)
            .field("priority", &self.priority)
            .field("events", &self.events)
            .field("secret", &self.key.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

impl HookSource {
    /// A source called `name` that wakes `role` (whose id is `agent`), without a secret yet,
    /// at normal priority, accepting every event type.
    pub fn new(name: impl Into<String>, role: Role, agent: AgentId, scheme: Scheme) -> Self {
        Self {
            name: name.into(),
            role,
            agent,
            scheme,
            priority: Priority::Normal,
            events: Vec::new(),
            key: None,
        }
    }

    /// The shared secret the sender signs with, as the sender shows it (Stripe's `whsec_...`
    /// whole). An empty secret counts as none.
    pub fn with_secret(mut self, secret: &str) -> Self {
        self.key =
            (!secret.is_empty()).then(|| hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()));
        self
    }

    /// The priority of the triggers it makes.
    pub fn with_priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// Only these event types wake the agent.
    pub fn with_events<I, S>(mut self, events: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.events = events.into_iter().map(Into::into).collect();
        self
    }

    /// Whether a secret is set (without one, every delivery is refused).
    pub fn has_secret(&self) -> bool {
        self.key.is_some()
    }

    pub(crate) fn key(&self) -> Option<&hmac::Key> {
        self.key.as_ref()
    }

    /// The path senders post to.
    pub fn path(&self) -> String {
        format!("/hooks/{}", self.name)
    }

    /// Whether a delivery of `event` wakes the agent.
    pub fn accepts(&self, event: Option<&str>) -> bool {
        if self.events.is_empty() {
            return true;
        }
        let Some(event) = event else {
            return false;
        };
        self.events
            .iter()
            .any(|accepted| match accepted.strip_suffix('*') {
                Some(prefix) => event.starts_with(prefix),
                None => accepted == event,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_lists_take_exact_types_and_prefixes() {
        let source = HookSource::new(
            "stripe",
            Role::Cfo,
            AgentId::derived("acme", "cfo"),
            Scheme::stripe(),
        );
        assert!(
            source.accepts(Some("charge.refunded")),
            "no list accepts all"
        );
        assert!(source.accepts(None));
        let source = source.with_events(["invoice.*", "charge.refunded"]);
        assert!(source.accepts(Some("invoice.paid")));
        assert!(source.accepts(Some("charge.refunded")));
        assert!(!source.accepts(Some("charge.refunded.extra")));
        assert!(!source.accepts(Some("customer.created")));
        assert!(!source.accepts(None), "a list needs a type to match");
    }

    #[test]
    fn the_secret_never_shows() {
        let source = HookSource::new(
            "github",
            Role::Cto,
            AgentId::derived("acme", "cto"),
            Scheme::GitHub,
        )
        .with_secret("hunter2-hunter2");
        assert!(source.has_secret());
        let shown = format!("{source:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            !HookSource::new("x", Role::Cto, AgentId::random(), Scheme::GitHub)
                .with_secret("")
                .has_secret()
        );
    }
}
