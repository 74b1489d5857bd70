//! The escalation notice: a JSON `POST` to an outgoing webhook (a chat, a pager, a ticket
//! system) whenever a decision escalates to a human, retried with exponential backoff.
//!
//! Escalations are taken from `Event::Escalated` on the bus as they happen, and from the
//! store's `escalations` log at start-up (so an escalation that happened while the dashboard
//! was down is still announced, if it is still waiting). Each decision is announced once per
//! company: the dashboard claims the notice with an idempotency mark in the store before
//! sending, so two dashboards, or a restart, do not announce it twice. Sending runs in its own
//! task and never holds up a request. The URL may carry a secret (chat webhooks often do), so
//! only its scheme and host are ever logged or shown.

use std::sync::Arc;
use std::time::Duration;

use aito_core::decision::{Decision, DecisionStatus};
use aito_core::store::logs;
use aito_core::{DecisionId, Runtime};
use axum::body::Bytes;
use axum::http::{Request, StatusCode, Uri, header};
use chrono::{DateTime, Utc};
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::error::DashboardError;
use super::metrics::Metrics;

/// How long a claimed notice stays claimed in the store.
const CLAIM_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// How many entries of the escalation log are looked at on start-up.
const REPLAYED: usize = 200;

/// How the notice is retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoticeRetry {
    /// Attempts in all, at least 1.
    pub attempts: u32,
    /// Wait after the first failure; doubled after each further one.
    pub first_delay: Duration,
    /// Longest wait between attempts.
    pub max_delay: Duration,
    /// Time limit of one attempt.
    pub timeout: Duration,
}

impl Default for NoticeRetry {
    /// Six attempts over about a minute: 2 s, 4 s, 8 s, 16 s, 32 s apart; 10 s per attempt.
    fn default() -> Self {
        Self {
            attempts: 6,
            first_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
        }
    }
}

impl NoticeRetry {
    /// The wait after failed attempt `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let doubling = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.first_delay
            .saturating_mul(doubling)
            .min(self.max_delay)
    }
}

/// Where escalation notices go.
#[derive(Clone)]
pub struct EscalationWebhook {
    uri: Uri,
    shown: String,
    retry: NoticeRetry,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl std::fmt::Debug for EscalationWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EscalationWebhook")
            .field("url", &self.shown)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl EscalationWebhook {
    /// A webhook posting to `url`, an absolute `http` or `https` URL.
    pub fn new(url: &str) -> Result<Self, DashboardError> {
        let uri: Uri = url
            .trim()
            .parse()
            .map_err(|err| DashboardError::WebhookUrl(format!("{err}")))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => {
                return Err(DashboardError::WebhookUrl(
                    "expected an absolute http:// or https:// URL".to_owned(),
                ));
            }
        };
        let Some(authority) = uri.authority() else {
            return Err(DashboardError::WebhookUrl(
                "expected a host after the scheme".to_owned(),
            ));
        };
        // Only scheme and host: paths and queries of chat webhooks are secrets.
        let shown = format!(
            "{}://{}",
            uri.scheme_str().unwrap_or("http"),
            authority.host()
        );
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = hyper_rustls::HttpsConnectorBuilder::new();
        let builder = if https {
            builder
                .with_provider_and_native_roots(provider)
                .map_err(|err| DashboardError::Tls(err.to_string()))?
        } else {
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|err| DashboardError::Tls(err.to_string()))?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            builder.with_tls_config(config)
        };
        let connector = builder.https_or_http().enable_http1().build();
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Self {
            uri,
            shown,
            retry: NoticeRetry::default(),
            client,
        })
    }

    /// Changes how notices are retried.
    pub fn with_retry(mut self, retry: NoticeRetry) -> Self {
        self.retry = NoticeRetry {
            attempts: retry.attempts.max(1),
            ..retry
        };
        self
    }

    /// The URL as it may be shown: scheme and host only.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// One attempt.
    async fn post(&self, body: &Bytes) -> Result<(), Attempt> {
        let request = Request::post(self.uri.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .header(
                header::USER_AGENT,
                concat!("aito-dashboard/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(body.clone()))
            .map_err(|err| Attempt::Permanent(format!("cannot build the request: {err}")))?;
        let response = tokio::time::timeout(self.retry.timeout, self.client.request(request))
            .await
            .map_err(|_| Attempt::Transient(format!("no answer within {:?}", self.retry.timeout)))?
            .map_err(|err| Attempt::Transient(format!("request failed: {err}")))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else if status.is_server_error()
            || status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::REQUEST_TIMEOUT
        {
            Err(Attempt::Transient(format!("answered {status}")))
        } else {
            Err(Attempt::Permanent(format!("answered {status}")))
        }
    }
}

/// How one attempt failed.
enum Attempt {
    /// Worth another try.
    Transient(String),
    /// Another try would fail the same way.
    Permanent(String),
}

/// What the health page shows about notices.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct NoticeStats {
    /// Notices delivered since start.
    pub delivered: u64,
    /// Notices given up on since start.
    pub failed: u64,
    /// When the last notice was delivered.
    pub last_delivered_at: Option<DateTime<Utc>>,
    /// Why the last failure happened.
    pub last_error: Option<String>,
}

/// Sends escalation notices. Shared by the feed task and the tasks it starts.
pub(crate) struct Notifier {
    pub(crate) webhook: EscalationWebhook,
    pub(crate) runtime: Runtime,
    pub(crate) public_url: Option<Arc<str>>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) stats: Arc<std::sync::Mutex<NoticeStats>>,
    pub(crate) closing: CancellationToken,
}

impl Notifier {
    fn update_stats(&self, change: impl FnOnce(&mut NoticeStats)) {
        let mut stats = self
            .stats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        change(&mut stats);
    }

    /// The decisions of the escalation log that still wait for a human.
    pub(crate) async fn waiting_in_log(&self) -> Vec<DecisionId> {
        let records = match self
            .runtime
            .store
            .read_log(logs::ESCALATIONS, REPLAYED)
            .await
        {
            Ok(records) => records,
            Err(err) => {
                tracing::warn!(error = %err, "could not read the escalation log; escalations from before the start are not announced");
                return Vec::new();
            }
        };
        let mut waiting = Vec::new();
        for record in records {
            let Some(id) = record
                .get("decisionId")
                .and_then(Value::as_str)
                .and_then(|id| id.parse::<DecisionId>().ok())
            else {
                continue;
            };
            if waiting.contains(&id) {
                continue;
            }
            if let Ok(Some(decision)) = self.runtime.store.decision(id).await
                && decision.status == DecisionStatus::Escalated
            {
                waiting.push(id);
            }
        }
        waiting
    }

    /// Announces decision `id`, unless it was announced already. Retries with backoff; stops
    /// early when the decision is answered or the dashboard shuts down.
    pub(crate) async fn announce(&self, id: DecisionId, title: &str, reason: &str) {
        let key = format!("dashboard:escalation-notice:{id}");
        match self.runtime.store.first_time(&key, CLAIM_TTL).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::debug!(decision = %id, "escalation notice already sent or being sent");
                return;
            }
            Err(err) => {
                // Better announced twice than never.
                tracing::warn!(decision = %id, error = %err, "could not claim the escalation notice; sending anyway");
            }
        }
        let decision = self.runtime.store.decision(id).await.ok().flatten();
        let body = Bytes::from(
            notice(
                &self.runtime.company,
                id,
                title,
                reason,
                decision.as_ref(),
                self.public_url.as_deref(),
                self.runtime.clock.now(),
            )
            .to_string(),
        );
        let retry = self.webhook.retry;
        for attempt in 1..=retry.attempts {
            let error = match self.webhook.post(&body).await {
                Ok(()) => {
                    tracing::info!(decision = %id, url = self.webhook.shown(), attempt, "escalation notice delivered");
                    self.metrics.record_notice("delivered");
                    let now = self.runtime.clock.now();
                    self.update_stats(|stats| {
                        stats.delivered += 1;
                        stats.last_delivered_at = Some(now);
                    });
                    return;
                }
                Err(Attempt::Permanent(error)) => {
                    self.give_up(id, format!("{error}; not retried"));
                    return;
                }
                Err(Attempt::Transient(error)) => error,
            };
            if attempt == retry.attempts {
                self.give_up(id, format!("{error} after {attempt} attempts"));
                return;
            }
            let delay = retry.delay(attempt);
            tracing::info!(decision = %id, url = self.webhook.shown(), attempt, error = %error, retry_in = ?delay, "escalation notice failed; retrying");
            self.metrics.record_notice("retried");
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = self.closing.cancelled() => {
                    tracing::warn!(decision = %id, "escalation notice abandoned at shutdown");
                    return;
                }
            }
            if let Ok(Some(decision)) = self.runtime.store.decision(id).await
                && decision.status != DecisionStatus::Escalated
            {
                tracing::info!(decision = %id, status = %decision.status, "decision answered before its notice got through; not retried");
                return;
            }
        }
    }

    fn give_up(&self, id: DecisionId, error: String) {
        tracing::error!(decision = %id, url = self.webhook.shown(), error = %error, "escalation notice failed");
        self.metrics.record_notice("failed");
        self.update_stats(|stats| {
            stats.failed += 1;
            stats.last_error = Some(error);
        });
    }
}

/// The JSON notice. `text` is a one-line summary, which chat webhooks show as the message.
fn notice(
    company: &str,
    id: DecisionId,
    title: &str,
    reason: &str,
    decision: Option<&Decision>,
    public_url: Option<&str>,
    now: DateTime<Utc>,
) -> Value {
    let title = decision.map_or(title, |decision| decision.title.as_str());
    let reason = decision
        .and_then(|decision| decision.escalation.as_deref())
        .unwrap_or(reason);
    let url = public_url.map(|base| format!("{}/decisions/{id}", base.trim_end_matches('/')));
    let mut text = format!("[{company}] decision \"{title}\" needs a human: {reason}");
    if let Some(url) = &url {
        text.push_str(&format!(" ({url})"));
    }
    json!({
        "kind": "decision_escalated",
        "company": company,
        "text": text,
        "url": url,
        "at": now,
        "decision": {
            "id": id,
            "title": title,
            "reason": reason,
            "tier": decision.map(|decision| decision.tier),
            "round": decision.map(|decision| decision.round),
            "proposer": decision.map(|decision| decision.proposer_role.as_str()),
            "description": decision.map(|decision| decision.description.as_str()),
            "created_at": decision.map(|decision| decision.created_at),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_shown_without_their_secret_parts() {
        let webhook = EscalationWebhook::new("http://hooks.example:8080/services/T0/B0/SECRET?x=1")
            .expect("valid");
        assert_eq!(webhook.shown(), "http://hooks.example");
        assert!(!format!("{webhook:?}").contains("SECRET"));
        for bad in ["", "hooks.example/x", "ftp://hooks.example/", "/relative"] {
            assert!(EscalationWebhook::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let retry = NoticeRetry::default();
        assert_eq!(retry.delay(1), Duration::from_secs(2));
        assert_eq!(retry.delay(3), Duration::from_secs(8));
        assert_eq!(retry.delay(20), Duration::from_secs(60));
    }
}
