//! [`Router`]: an [`LlmSession`] that chooses a provider for each session by rules (per agent,
//! per session kind, per tier) and falls back, in order, when one is rate limited, overloaded
//! or down.
//!
//! The first rule that matches the request gives the ordered list of providers to try; with
//! none, the router's default order applies. A provider that answers with a rate limit (a 429
//! or 529) is left alone until its `retry-after` (or its quota's reset) has passed. One that is
//! unavailable (5xx, refused, hung) rests for a second, doubling with each failure in a row up
//! to the router's cool-down, and is forgiven at its next answer. Any other failure (a refused
//! key, a rejected prompt) is the session's failure and is returned at once: another provider
//! would not fix the request.
//!
//! A rest only steers sessions to the next provider. When every provider of the list rests and
//! one of them only for an outage, that one is tried anyway (the outage may be over, and there
//! is nothing to fall back to); when they all rest for rate limits, the session fails as rate
//! limited until the first of them is back, so the daemon parks the agent until then. A
//! session whose last provider was unavailable fails as unavailable, which the daemon retries
//! with its backoff, unless a rate-limited provider of the list is back sooner.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aito_core::{
    LlmError, LlmRequest, LlmResponse, LlmSession, SessionKind, Tier, WorkerError, WorkerResult,
    WorkerSpawner, WorkerTask,
};
use async_trait::async_trait;
use tokio::time::Instant;

/// Chooses the providers of the sessions it matches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rule {
    /// The agents (by role name: `ceo`, `cto`, ...) it applies to; empty: every agent.
    pub agents: Vec<String>,
    /// The session kinds it applies to; empty: every kind.
    pub kinds: Vec<SessionKind>,
    /// The tiers it applies to; empty: every session, with a tier or without.
    pub tiers: Vec<Tier>,
    /// The providers to try, in order: the first, then the fallbacks.
    pub providers: Vec<String>,
}

impl Rule {
    /// A rule sending every session to `providers`, in order.
    pub fn to(providers: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            providers: providers.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// Restricts it to the agents of `roles`.
    pub fn agents(mut self, roles: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.agents = roles.into_iter().map(Into::into).collect();
        self
    }

    /// Restricts it to sessions of `kinds`.
    pub fn kinds(mut self, kinds: impl IntoIterator<Item = SessionKind>) -> Self {
        self.kinds = kinds.into_iter().collect();
        self
    }

    /// Restricts it to sessions about decisions of `tiers`.
    pub fn tiers(mut self, tiers: impl IntoIterator<Item = Tier>) -> Self {
        self.tiers = tiers.into_iter().collect();
        self
    }

    /// Whether it applies to a session of `role`, `kind` and `tier`.
    pub fn matches(&self, role: &str, kind: SessionKind, tier: Option<Tier>) -> bool {
        (self.agents.is_empty() || self.agents.iter().any(|agent| agent == role))
            && (self.kinds.is_empty() || self.kinds.contains(&kind))
            && (self.tiers.is_empty() || tier.is_some_and(|tier| self.tiers.contains(&tier)))
    }
}

/// Why a router cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouterError {
    /// A rule or the default order names a provider the router does not have.
    #[error("{place} names the provider {name:?}, which is not configured; configured: {known}")]
    UnknownProvider {
        /// Where: `rule 2`, `the default order`.
        place: String,
        /// The name.
        name: String,
        /// The configured providers, comma-separated.
        known: String,
    },
    /// A rule names no provider.
    #[error("rule {0} names no provider")]
    EmptyRule(usize),
    /// The router has no provider at all.
    #[error("no provider is configured")]
    NoProvider,
    /// Two providers have one name.
    #[error("the provider {0:?} is configured twice")]
    Duplicate(String),
}

/// Checks that there are providers, that their names are unique, and that every rule and the
/// default order name only them.
pub fn validate(names: &[&str], rules: &[Rule], default: &[String]) -> Result<(), RouterError> {
    if names.is_empty() {
        return Err(RouterError::NoProvider);
    }
    for (index, name) in names.iter().enumerate() {
        if names[..index].contains(name) {
            return Err(RouterError::Duplicate((*name).to_owned()));
        }
    }
    let check = |place: String, list: &[String]| -> Result<(), RouterError> {
        match list.iter().find(|name| !names.contains(&name.as_str())) {
            Some(name) => Err(RouterError::UnknownProvider {
                place,
                name: name.clone(),
                known: names.join(", "),
            }),
            None => Ok(()),
        }
    };
    for (index, rule) in rules.iter().enumerate() {
        if rule.providers.is_empty() {
            return Err(RouterError::EmptyRule(index + 1));
        }
        check(format!("rule {}", index + 1), &rule.providers)?;
    }
    check("the default order".to_owned(), default)
}

/// An [`LlmSession`] over several providers; see the [module docs](self).
pub struct Router {
    providers: Vec<(String, Arc<dyn LlmSession>)>,
    rules: Vec<Rule>,
    default: Vec<String>,
    cooldown: Duration,
    resting: Mutex<HashMap<String, Rest>>,
}

/// The shortest rest of a provider that was unavailable: the first failure in a row.
const OUTAGE_REST: Duration = Duration::from_secs(1);

/// Why a provider rests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cause {
    /// It said when to come back.
    RateLimit,
    /// It failed to answer; `failures` in a row so far.
    Outage { failures: u32 },
}

/// A provider left alone until `until`.
#[derive(Clone, Copy, Debug)]
struct Rest {
    until: Instant,
    cause: Cause,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field(
                "providers",
                &self
                    .providers
                    .iter()
                    .map(|(name, _)| name)
                    .collect::<Vec<_>>(),
            )
            .field("rules", &self.rules)
            .field("default", &self.default)
            .finish_non_exhaustive()
    }
}

impl Router {
    /// A router over `providers` (name and session, the first being the default choice),
    /// with `rules`; the default order, used when no rule matches, is the providers' order.
    pub fn new(
        providers: Vec<(String, Arc<dyn LlmSession>)>,
        rules: Vec<Rule>,
    ) -> Result<Self, RouterError> {
        let default = providers.iter().map(|(name, _)| name.clone()).collect();
        Self::with_default(providers, rules, default)
    }

    /// As [`Router::new`], with `default` as the order when no rule matches.
    pub fn with_default(
        providers: Vec<(String, Arc<dyn LlmSession>)>,
        rules: Vec<Rule>,
        default: Vec<String>,
    ) -> Result<Self, RouterError> {
        let names: Vec<&str> = providers.iter().map(|(name, _)| name.as_str()).collect();
        validate(&names, &rules, &default)?;
        Ok(Self {
            providers,
            rules,
            default,
            cooldown: Duration::from_secs(30),
            resting: Mutex::new(HashMap::new()),
        })
    }

    /// Sets the longest rest of a provider that keeps being unavailable, and the rest of one
    /// that was rate limited without saying for how long (30 s by default).
    pub fn cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// The providers to try for `request`, in order.
    pub fn plan(&self, request: &LlmRequest) -> &[String] {
        let role = request.role.to_string();
        self.rules
            .iter()
            .find(|rule| rule.matches(&role, request.kind, request.tier))
            .map_or(&self.default, |rule| &rule.providers)
    }

    fn session(&self, name: &str) -> Option<&Arc<dyn LlmSession>> {
        self.providers
            .iter()
            .find(|(known, _)| known == name)
            .map(|(_, session)| session)
    }

    /// The rest of `name`, if it is resting now.
    fn resting(&self, name: &str, now: Instant) -> Option<Rest> {
        let resting = self.resting.lock().unwrap_or_else(PoisonError::into_inner);
        resting.get(name).copied().filter(|rest| rest.until > now)
    }

    /// Leaves `name` alone after `error`, and says until when; `None` when the failure is not
    /// the provider's (another provider would fail too).
    fn rest_after(&self, name: &str, error: &LlmError) -> Option<Rest> {
        let mut resting = self.resting.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let rest = match error {
            LlmError::RateLimited {
                retry_after,
                resets_at,
                ..
            } => Rest {
                until: now
                    + retry_after
                        .or_else(|| {
                            resets_at.and_then(|at| (at - chrono::Utc::now()).to_std().ok())
                        })
                        .unwrap_or(self.cooldown),
                cause: Cause::RateLimit,
            },
            LlmError::Unavailable { .. } => {
                let failures = match resting.get(name).map(|rest| rest.cause) {
                    Some(Cause::Outage { failures }) => failures.saturating_add(1),
                    _ => 1,
                };
                let doubling = 1u32 << (failures - 1).min(16);
                Rest {
                    until: now + OUTAGE_REST.saturating_mul(doubling).min(self.cooldown),
                    cause: Cause::Outage { failures },
                }
            }
            _ => return None,
        };
        resting.insert(name.to_owned(), rest);
        Some(rest)
    }

    /// Forgets the failures of `name`, which answered.
    fn forgive(&self, name: &str) {
        self.resting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name);
    }
}

#[async_trait]
impl LlmSession for Router {
    async fn run(&self, request: LlmRequest) -> Result<LlmResponse, LlmError> {
        let plan = self.plan(&request);
        let mut last: Option<LlmError> = None;
        // The first rate-limited provider back: the wait of a session that finds no other.
        let mut earliest: Option<Instant> = None;
        // The provider resting for an outage that is back first: tried when nothing else was.
        let mut probe: Option<(&String, Instant)> = None;
        let mut tried = false;
        let mut index = 0;
        loop {
            let name = match plan.get(index) {
                Some(name) => {
                    index += 1;
                    if let Some(rest) = self.resting(name, Instant::now()) {
                        tracing::debug!(provider = %name, "provider is resting; trying the next");
                        match rest.cause {
                            Cause::RateLimit => {
                                earliest = Some(earliest.map_or(rest.until, |e| e.min(rest.until)));
                            }
                            Cause::Outage { .. } => {
                                if probe.is_none_or(|(_, until)| rest.until < until) {
                                    probe = Some((name, rest.until));
                                }
                            }
                        }
                        continue;
                    }
                    name
                }
                None => match probe.take() {
                    Some((name, _)) if !tried => {
                        tracing::debug!(provider = %name, "every provider rests; trying the one that was down");
                        name
                    }
                    _ => break,
                },
            };
            let Some(session) = self.session(name) else {
                continue;
            };
            tried = true;
            match session.run(request.clone()).await {
                Ok(mut response) => {
                    self.forgive(name);
                    response.provider = Some(name.clone());
                    return Ok(response);
                }
                Err(error) => match self.rest_after(name, &error) {
                    Some(rest) => {
                        let rest_ms = u64::try_from(
                            rest.until
                                .saturating_duration_since(Instant::now())
                                .as_millis(),
                        )
                        .unwrap_or(u64::MAX);
                        tracing::warn!(provider = %name, %error, rest_ms, "provider failed; falling back to the next");
                        if rest.cause == Cause::RateLimit {
                            earliest = Some(earliest.map_or(rest.until, |e| e.min(rest.until)));
                        }
                        last = Some(error);
                    }
                    None => return Err(error),
                },
            }
        }
        let wait = earliest.map(|until| until.saturating_duration_since(Instant::now()));
        Err(match last {
            Some(LlmError::RateLimited {
                quota,
                resets_at,
                message,
                ..
            }) => LlmError::RateLimited {
                quota,
                resets_at,
                retry_after: wait,
                message,
            },
            Some(other) if wait.is_none() => other,
            Some(other) => LlmError::RateLimited {
                quota: false,
                resets_at: None,
                retry_after: wait,
                message: format!(
                    "every provider of this session failed or is resting; the last said: {other}"
                ),
            },
            None => LlmError::RateLimited {
                quota: false,
                resets_at: None,
                retry_after: wait,
                message: format!(
                    "every provider of this session ({}) is resting after a rate limit",
                    plan.join(", ")
                ),
            },
        })
    }
}

/// A [`WorkerSpawner`] over the workers of several providers: the first rule matching the
/// task's agent and the `worker` kind gives the order, else the default order; a provider
/// whose workers cannot start is passed over for the next. (A worker that starts and then
/// fails, rate limits included, is that task's result: its tool calls may have had effects,
/// so it is not run again elsewhere.)
pub struct WorkerRouter {
    spawners: Vec<(String, Arc<dyn WorkerSpawner>)>,
    rules: Vec<Rule>,
    default: Vec<String>,
}

impl std::fmt::Debug for WorkerRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerRouter")
            .field(
                "providers",
                &self
                    .spawners
                    .iter()
                    .map(|(name, _)| name)
                    .collect::<Vec<_>>(),
            )
            .field("default", &self.default)
            .finish_non_exhaustive()
    }
}

impl WorkerRouter {
    /// Workers of `spawners` (by provider name), chosen by `rules` (those that apply to the
    /// `worker` kind), else in `default` order.
    pub fn new(
        spawners: Vec<(String, Arc<dyn WorkerSpawner>)>,
        rules: Vec<Rule>,
        default: Vec<String>,
    ) -> Result<Self, RouterError> {
        let names: Vec<&str> = spawners.iter().map(|(name, _)| name.as_str()).collect();
        validate(&names, &rules, &default)?;
        Ok(Self {
            spawners,
            rules,
            default,
        })
    }

    /// The providers to try for a worker of `role`, in order.
    pub fn plan(&self, role: &str) -> &[String] {
        self.rules
            .iter()
            .find(|rule| rule.matches(role, SessionKind::Worker, None))
            .map_or(&self.default, |rule| &rule.providers)
    }
}

#[async_trait]
impl WorkerSpawner for WorkerRouter {
    async fn spawn(&self, task: WorkerTask) -> Result<WorkerResult, WorkerError> {
        let plan = self.plan(task.role.as_str());
        let mut last = WorkerError::Spawn("no provider runs workers for this agent".to_owned());
        for name in plan {
            let Some((_, spawner)) = self.spawners.iter().find(|(known, _)| known == name) else {
                continue;
            };
            match spawner.spawn(task.clone()).await {
                Err(WorkerError::Spawn(message)) => {
                    tracing::warn!(provider = %name, %message, "workers could not start; trying the next provider");
                    last = WorkerError::Spawn(message);
                }
                other => return other,
            }
        }
        Err(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_on_agent_kind_and_tier() {
        let rule = Rule::to(["b"])
            .agents(["ceo"])
            .kinds([SessionKind::Vote])
            .tiers([Tier::Major]);
        assert!(rule.matches("ceo", SessionKind::Vote, Some(Tier::Major)));
        assert!(!rule.matches("cto", SessionKind::Vote, Some(Tier::Major)));
        assert!(!rule.matches("ceo", SessionKind::Message, Some(Tier::Major)));
        assert!(!rule.matches("ceo", SessionKind::Vote, Some(Tier::Minor)));
        assert!(!rule.matches("ceo", SessionKind::Vote, None));
        assert!(Rule::to(["a"]).matches("cto", SessionKind::Scheduled, None));
    }
}
