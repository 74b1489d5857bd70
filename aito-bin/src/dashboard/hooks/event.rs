//! What a verified delivery says (its event type, the sender's delivery id, a short title) and
//! the `webhook` envelope that carries it to the agent.

use aito_core::envelope::preview;
use aito_core::{Envelope, MessageId, MessageType, Recipient, Sender};
use axum::http::HeaderMap;
use ring::digest;
use serde_json::{Value, json};

use super::signature::hex;
use super::source::{HookSource, Scheme};

/// GitHub's event type header.
const GITHUB_EVENT: &str = "x-github-event";
/// GitHub's delivery id header.
const GITHUB_DELIVERY: &str = "x-github-delivery";

/// Longest event type or delivery id kept, in characters.
const ID_LIMIT: usize = 200;

/// A verified delivery, read.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Delivery {
    /// The event type (`push`, `invoice.paid`), when the sender names one.
    pub(crate) event: Option<String>,
    /// The sender's delivery id, or `sha256:<hex>` of the body when it sends none.
    pub(crate) id: String,
    /// A short title for the prompt.
    pub(crate) title: String,
    /// The body: its JSON when it is JSON, else its text.
    pub(crate) body: Value,
}

/// Reads a delivery whose signature was checked; `Err` says why it cannot be used (400).
pub(crate) fn read(
    source: &HookSource,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Delivery, String> {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let digest = || {
        format!(
            "sha256:{}",
            hex(digest::digest(&digest::SHA256, body).as_ref())
        )
    };
    let (event, id, title) = match &source.scheme {
        Scheme::GitHub => {
            let event = header(headers, GITHUB_EVENT)
                .ok_or("no X-GitHub-Event header: GitHub names the event type in it")?;
            let id = header(headers, GITHUB_DELIVERY).unwrap_or_else(digest);
            let title = github_title(&event, json.as_ref());
            (Some(event), id, title)
        }
        Scheme::Stripe { .. } => {
            let json = json
                .as_ref()
                .ok_or("the body is not JSON: Stripe sends an event object")?;
            let event = text(json.get("type"))
                .ok_or("the body has no \"type\": Stripe names the event type in it")?;
            let id = text(json.get("id")).unwrap_or_else(digest);
            let object = text(json.pointer("/data/object/id"));
            let title = match object {
                Some(object) => format!("Stripe {event} {object}"),
                None => format!("Stripe {event}"),
            };
            (Some(event), id, title)
        }
        Scheme::Hmac(scheme) => {
            let event = scheme
                .event_header
                .as_ref()
                .and_then(|name| header(headers, name.as_str()));
            let id = scheme
                .delivery_header
                .as_ref()
                .and_then(|name| header(headers, name.as_str()))
                .unwrap_or_else(digest);
            let title = match &event {
                Some(event) => format!("Webhook {}: {event}", source.name),
                None => format!("Webhook {}", source.name),
            };
            (event, id, title)
        }
    };
    let body = json.unwrap_or_else(|| Value::String(String::from_utf8_lossy(body).into_owned()));
    Ok(Delivery {
        event,
        id,
        title,
        body,
    })
}

/// `GitHub <event> [<action>] [#<number>] [on <owner/repo>]`.
fn github_title(event: &str, json: Option<&Value>) -> String {
    let mut title = format!("GitHub {event}");
    let Some(json) = json else {
        return title;
    };
    if let Some(action) = text(json.get("action")) {
        title.push(' ');
        title.push_str(&action);
    }
    let number = ["/pull_request/number", "/issue/number", "/number"]
        .iter()
        .find_map(|pointer| json.pointer(pointer).and_then(Value::as_u64));
    if let Some(number) = number {
        title.push_str(&format!(" #{number}"));
    }
    if let Some(repository) = text(json.pointer("/repository/full_name")) {
        title.push_str(" on ");
        title.push_str(&repository);
    }
    title
}

/// A header's value, trimmed and cut to [`ID_LIMIT`]; `None` when absent or empty.
fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    let value = headers.get(name)?;
    clean(&String::from_utf8_lossy(value.as_bytes()))
}

/// A JSON string, trimmed and cut to [`ID_LIMIT`].
fn text(value: Option<&Value>) -> Option<String> {
    clean(value?.as_str()?)
}

fn clean(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| preview(text, ID_LIMIT))
}

/// The envelope id of a delivery: the same source and delivery id always give the same id, so
/// a sender's retry is recognised as a duplicate by the agent.
pub(crate) fn envelope_id(source: &HookSource, delivery: &Delivery) -> MessageId {
    MessageId::derived(&format!("webhook/{}/{}", source.name, delivery.id))
}

/// The `webhook` envelope to the source's agent, at most `limit` bytes as JSON: a body that
/// would make it larger is cut and carried as text, marked `body_truncated`.
pub(crate) fn envelope(
    source: &HookSource,
    delivery: Delivery,
    raw: &[u8],
    limit: usize,
) -> Envelope {
    let id = envelope_id(source, &delivery);
    let payload = json!({
        "title": delivery.title,
        "source": source.name,
        "kind": source.scheme.kind(),
        "event": delivery.event,
        "delivery": delivery.id,
        "body": delivery.body,
    });
    let mut envelope = Envelope::new(
        MessageType::Webhook,
        Sender::Other(format!("webhook:{}", source.name)),
        payload,
    )
    .with_priority(source.priority)
    .to(Recipient::Agent(source.agent));
    envelope.id = id;
    fit(&mut envelope, raw, limit);
    envelope
}

/// Cuts the body until the envelope is at most `limit` bytes as JSON.
fn fit(envelope: &mut Envelope, raw: &[u8], limit: usize) {
    if envelope.to_json().len() <= limit {
        return;
    }
    let text = String::from_utf8_lossy(raw);
    envelope.payload["body"] = Value::String(String::new());
    envelope.payload["body_truncated"] = Value::Bool(true);
    envelope.payload["body_bytes"] = json!(raw.len());
    let room = limit.saturating_sub(envelope.to_json().len());
    // The longest prefix whose JSON string escape fits the room.
    let mut used = 0;
    let mut end = 0;
    for (at, c) in text.char_indices() {
        used += escaped_len(c);
        if used > room {
            break;
        }
        end = at + c.len_utf8();
    }
    envelope.payload["body"] = Value::String(text[..end].to_owned());
}

/// How many bytes `c` takes inside a JSON string, as serde_json writes it.
fn escaped_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if u32::from(c) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

#[cfg(test)]
mod tests {
    use aito_core::{AgentId, Priority, Role};
    use axum::http::{HeaderName, HeaderValue};

    use super::*;
    use crate::dashboard::hooks::source::HmacScheme;

    fn github() -> HookSource {
        HookSource::new(
            "github",
            Role::Cto,
            AgentId::derived("acme", "cto"),
            Scheme::GitHub,
        )
        .with_priority(Priority::High)
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_str(value).expect("value"));
        }
        headers
    }

    #[test]
    fn github_deliveries_are_named_by_event_action_and_repository() {
        let body = br#"{"action": "opened", "number": 42, "pull_request": {"number": 42, "title": "Add Frankfurt"}, "repository": {"full_name": "acme/site"}}"#;
        let delivery = read(
            &github(),
            &headers(&[
                (GITHUB_EVENT, "pull_request"),
                (GITHUB_DELIVERY, "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
            ]),
            body,
        )
        .expect("delivery");
        assert_eq!(delivery.event.as_deref(), Some("pull_request"));
        assert_eq!(delivery.id, "72d3162e-cc78-11e3-81ab-4c9367dc0958");
        assert_eq!(
            delivery.title,
            "GitHub pull_request opened #42 on acme/site"
        );
        assert_eq!(delivery.body["pull_request"]["title"], "Add Frankfurt");

        let push = read(
            &github(),
            &headers(&[(GITHUB_EVENT, "push")]),
            br#"{"ref": "refs/heads/main", "repository": {"full_name": "acme/site"}}"#,
        )
        .expect("push");
        assert_eq!(push.title, "GitHub push on acme/site");
        assert!(
            push.id.starts_with("sha256:"),
            "no delivery header: the body's digest"
        );
        let error = read(&github(), &HeaderMap::new(), b"{}").expect_err("no event");
        assert!(error.contains("X-GitHub-Event"), "{error}");
    }

    #[test]
    fn stripe_events_are_named_by_type_and_object() {
        let stripe = HookSource::new(
            "stripe",
            Role::Cfo,
            AgentId::derived("acme", "cfo"),
            Scheme::stripe(),
        );
        let delivery = read(
            &stripe,
            &HeaderMap::new(),
            br#"{"id": "evt_1NG8Du2eZvKYlo2CUI79vXWy", "type": "invoice.paid", "data": {"object": {"id": "in_1MtHbELkdIwHu7ixl4OzzPMv", "object": "invoice"}}}"#,
        )
        .expect("delivery");
        assert_eq!(delivery.id, "evt_1NG8Du2eZvKYlo2CUI79vXWy");
        assert_eq!(
            delivery.title,
            "Stripe invoice.paid in_1MtHbELkdIwHu7ixl4OzzPMv"
        );
        assert!(read(&stripe, &HeaderMap::new(), b"Hello").is_err());
        assert!(read(&stripe, &HeaderMap::new(), br#"{"id": "evt_1"}"#).is_err());
    }

    #[test]
    fn generic_sources_read_their_configured_headers() {
        let mut scheme = HmacScheme::new(HeaderName::from_static("x-signature"));
        scheme.event_header = Some(HeaderName::from_static("x-topic"));
        scheme.delivery_header = Some(HeaderName::from_static("x-webhook-id"));
        let source = HookSource::new(
            "shop",
            Role::Cmo,
            AgentId::derived("acme", "cmo"),
            Scheme::Hmac(scheme),
        );
        let delivery = read(
            &source,
            &headers(&[("x-topic", "orders/create"), ("x-webhook-id", "b54557e4")]),
            b"plain text",
        )
        .expect("delivery");
        assert_eq!(delivery.title, "Webhook shop: orders/create");
        assert_eq!(delivery.id, "b54557e4");
        assert_eq!(delivery.body, Value::String("plain text".to_owned()));
    }

    #[test]
    fn the_delivery_id_derives_the_envelope_id() {
        let source = github();
        let read_with = |id: &str| {
            read(
                &source,
                &headers(&[(GITHUB_EVENT, "push"), (GITHUB_DELIVERY, id)]),
                b"{}",
            )
            .expect("delivery")
        };
        let first = envelope(&source, read_with("d-1"), b"{}", 1024);
        let again = envelope(&source, read_with("d-1"), b"{}", 1024);
        let other = envelope(&source, read_with("d-2"), b"{}", 1024);
        assert_eq!(first.id, again.id);
        assert_ne!(first.id, other.id);
        let elsewhere = HookSource::new("github-2", Role::Cto, source.agent, Scheme::GitHub);
        assert_ne!(
            first.id,
            envelope(&elsewhere, read_with("d-1"), b"{}", 1024).id
        );
        assert_eq!(first.kind, MessageType::Webhook);
        assert_eq!(first.priority, Priority::High);
        assert_eq!(first.to, Some(Recipient::Agent(source.agent)));
        assert_eq!(first.payload["source"], "github");
        assert_eq!(first.payload["delivery"], "d-1");
        assert_eq!(first.title(), "GitHub push");
    }

    #[test]
    fn a_body_too_large_for_an_envelope_is_cut_and_marked() {
        let source = github();
        // Quotes and control characters grow when escaped; the cut counts them.
        let raw = "\"quoted\" \u{1}\n é ".repeat(2000).into_bytes();
        let delivery = read(&source, &headers(&[(GITHUB_EVENT, "push")]), &raw).expect("delivery");
        let limit = 16 * 1024;
        let envelope = envelope(&source, delivery, &raw, limit);
        let size = envelope.to_json().len();
        assert!(size <= limit, "{size} bytes");
        assert!(
            size > limit - 8,
            "it is cut no more than needed: {size} bytes"
        );
        assert_eq!(envelope.payload["body_truncated"], true);
        assert_eq!(envelope.payload["body_bytes"], raw.len());
        let body = envelope.payload["body"].as_str().expect("text");
        assert!(
            body.starts_with("\"quoted\" \u{1}\n é \"quoted\""),
            "{body:?}"
        );

        let small =
            read(&source, &headers(&[(GITHUB_EVENT, "push")]), b"{\"a\": 1}").expect("delivery");
        let envelope = super::envelope(&source, small, b"{\"a\": 1}", limit);
        assert_eq!(envelope.payload["body"]["a"], 1);
        assert!(envelope.payload.get("body_truncated").is_none());
    }
}
