//! `/metrics`: Prometheus text, aggregated from the company's event stream.
//!
//! The counters come from [`Event`]s on `Channel::Events`, so they work the same whether the
//! agents run in this process (`aito run`) or in their own containers with Redis between them.
//! They count from the dashboard's start, as Prometheus counters do. Gauges (queue lengths,
//! heartbeats, spend, open decisions) are read from the store at scrape time.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, MutexGuard, PoisonError};

use aito_core::Event;
use aito_core::store::Outcome;

/// Most label combinations one metric family keeps; beyond it new combinations are dropped
/// (and counted), so that labels taken from the bus cannot grow the registry without bound.
const MAX_SERIES: usize = 512;

/// Upper bounds of the session duration histogram, in seconds.
const DURATION_BUCKETS: [f64; 12] = [
    0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

/// A family of counters sharing a name and label names.
#[derive(Debug)]
struct Family {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    series: BTreeMap<Vec<String>, f64>,
}

impl Family {
    const fn new(name: &'static str, help: &'static str, labels: &'static [&'static str]) -> Self {
        Self {
            name,
            help,
            labels,
            series: BTreeMap::new(),
        }
    }

    /// Adds `amount` to the series with `values`; `false` if the series had to be dropped.
    fn add(&mut self, values: &[&str], amount: f64) -> bool {
        let key: Vec<String> = values.iter().map(|value| (*value).to_owned()).collect();
        if let Some(value) = self.series.get_mut(&key) {
            *value += amount;
            return true;
        }
        if self.series.len() >= MAX_SERIES {
            return false;
        }
        self.series.insert(key, amount);
        true
    }

    fn render(&self, out: &mut String) {
        header(out, self.name, self.help, "counter");
        for (values, value) in &self.series {
            sample(out, self.name, self.labels, values, *value);
        }
    }
}

/// A histogram per role.
#[derive(Debug, Default)]
struct Histogram {
    /// Observations per bucket (not cumulative), then the +Inf bucket.
    buckets: [u64; DURATION_BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, value: f64) {
        let index = DURATION_BUCKETS
            .iter()
            .position(|bound| value <= *bound)
            .unwrap_or(DURATION_BUCKETS.len());
        self.buckets[index] += 1;
        self.sum += value;
        self.count += 1;
    }
}

#[derive(Debug)]
struct Registry {
    triggers: Family,
    sessions: Family,
    failures: Family,
    cost: Family,
    guards: Family,
    workers: Family,
    alerts: Family,
    escalations: Family,
    events: Family,
    notices: Family,
    webhooks: Family,
    log_lines: Family,
    dropped: Family,
    durations: BTreeMap<String, Histogram>,
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            triggers: Family::new(
                "aito_triggers_handled_total",
                "Triggers (messages, webhooks, schedule ticks) whose handling ended, by role and outcome.",
                &["role", "outcome"],
            ),
            sessions: Family::new(
                "aito_sessions_total",
                "Model sessions started, by role.",
                &["role"],
            ),
            failures: Family::new(
                "aito_session_errors_total",
                "Model sessions that failed, by role and whether the trigger was dead-lettered.",
                &["role", "dead_lettered"],
            ),
            cost: Family::new(
                "aito_cost_usd_total",
                "Money spent, in USD, by role and source (session or worker).",
                &["role", "source"],
            ),
            guards: Family::new(
                "aito_guards_tripped_total",
                "Guards that stopped something (hop limit, budget, loop breaker, quota), by role and guard.",
                &["role", "guard"],
            ),
            workers: Family::new(
                "aito_workers_total",
                "Worker starts and ends, by role and status.",
                &["role", "status"],
            ),
            alerts: Family::new(
                "aito_alerts_total",
                "Alerts raised by agents, by role and severity.",
                &["role", "severity"],
            ),
            escalations: Family::new(
                "aito_escalations_total",
                "Decisions escalated to a human.",
                &[],
            ),
            events: Family::new(
                "aito_events_total",
                "Company events seen by the dashboard, by event name.",
                &["event"],
            ),
            notices: Family::new(
                "aito_escalation_notices_total",
                "Escalation notices to the outgoing webhook, by result (delivered, failed, retried).",
                &["result"],
            ),
            webhooks: Family::new(
                "aito_webhook_deliveries_total",
                "Deliveries to POST /hooks/<source>, by source and outcome (queued, ignored, refused, ...).",
                &["source", "outcome"],
            ),
            log_lines: Family::new(
                "aito_worker_log_lines_total",
                "Worker log lines received.",
                &[],
            ),
            dropped: Family::new(
                "aito_metrics_series_dropped_total",
                "Samples not recorded because a metric family reached its series limit.",
                &["metric"],
            ),
            durations: BTreeMap::new(),
        }
    }
}

/// The dashboard's metrics registry. Cheap to share behind an `Arc`.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    registry: Mutex<Registry>,
}

fn add(dropped: &mut Family, family: &mut Family, values: &[&str], amount: f64) {
    if !family.add(values, amount) {
        dropped.add(&[family.name], 1.0);
    }
}

impl Metrics {
    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts one company event.
    pub(crate) fn record(&self, event: &Event) {
        let mut guard = self.registry();
        let r = &mut *guard;
        add(&mut r.dropped, &mut r.events, &[event.name()], 1.0);
        match event {
            Event::SessionStarted { role, .. } => {
                add(&mut r.dropped, &mut r.sessions, &[role.as_str()], 1.0);
            }
            Event::TriggerHandled {
                role,
                outcome,
                cost_usd,
                duration_ms,
                ..
            } => {
                add(
                    &mut r.dropped,
                    &mut r.triggers,
                    &[role.as_str(), outcome_name(*outcome)],
                    1.0,
                );
                if *cost_usd > 0.0 && cost_usd.is_finite() {
                    add(
                        &mut r.dropped,
                        &mut r.cost,
                        &[role.as_str(), "session"],
                        *cost_usd,
                    );
                }
                if *outcome == Outcome::Handled {
                    if r.durations.len() < MAX_SERIES || r.durations.contains_key(role.as_str()) {
                        r.durations
                            .entry(role.as_str().to_owned())
                            .or_default()
                            .observe(*duration_ms as f64 / 1000.0);
                    } else {
                        r.dropped.add(&["aito_session_duration_seconds"], 1.0);
                    }
                }
            }
            Event::SessionFailed {
                role,
                dead_lettered,
                ..
            } => {
                let dead = if *dead_lettered { "true" } else { "false" };
                add(&mut r.dropped, &mut r.failures, &[role.as_str(), dead], 1.0);
            }
            Event::GuardTripped { role, guard, .. } => {
                add(
                    &mut r.dropped,
                    &mut r.guards,
                    &[role.as_str(), guard.as_str()],
                    1.0,
                );
            }
            Event::Worker {
                role,
                status,
                cost_usd,
                ..
            } => {
                add(
                    &mut r.dropped,
                    &mut r.workers,
                    &[role.as_str(), status.as_str()],
                    1.0,
                );
                if status != "started" && *cost_usd > 0.0 && cost_usd.is_finite() {
                    add(
                        &mut r.dropped,
                        &mut r.cost,
                        &[role.as_str(), "worker"],
                        *cost_usd,
                    );
                }
            }
            Event::Alert { role, severity, .. } => {
                add(
                    &mut r.dropped,
                    &mut r.alerts,
                    &[role.as_str(), severity.as_str()],
                    1.0,
                );
            }
            Event::Escalated { .. } => {
                add(&mut r.dropped, &mut r.escalations, &[], 1.0);
            }
            Event::BudgetWarning { .. }
            | Event::HumanActionRequested { .. }
            | Event::TaskChanged { .. }
            | Event::Paused { .. } => {}
        }
    }

    /// Counts an event this version does not know, by its name.
    pub(crate) fn record_unknown(&self, name: &str) {
        let mut guard = self.registry();
        let r = &mut *guard;
        add(&mut r.dropped, &mut r.events, &[name], 1.0);
    }

    /// Counts one escalation notice outcome (`delivered`, `failed`, `retried`).
    pub(crate) fn record_notice(&self, result: &'static str) {
        let mut guard = self.registry();
        let r = &mut *guard;
        add(&mut r.dropped, &mut r.notices, &[result], 1.0);
    }

    /// Counts one delivery to a configured webhook source.
    pub(crate) fn record_webhook(&self, source: &str, outcome: &'static str) {
        let mut guard = self.registry();
        let r = &mut *guard;
        add(&mut r.dropped, &mut r.webhooks, &[source, outcome], 1.0);
    }

    /// Counts one worker log line.
    pub(crate) fn record_log_line(&self) {
        let mut guard = self.registry();
        let r = &mut *guard;
        add(&mut r.dropped, &mut r.log_lines, &[], 1.0);
    }

    /// The counters and the histogram, in the Prometheus text format.
    pub(crate) fn render(&self, out: &mut String) {
        let r = self.registry();
        for family in [
            &r.triggers,
            &r.sessions,
            &r.failures,
            &r.cost,
            &r.guards,
            &r.workers,
            &r.alerts,
            &r.escalations,
            &r.events,
            &r.notices,
            &r.webhooks,
            &r.log_lines,
            &r.dropped,
        ] {
            family.render(out);
        }
        let name = "aito_session_duration_seconds";
        header(
            out,
            name,
            "Wall time of handling a trigger with a model session (prompt, session, actions), by role.",
            "histogram",
        );
        for (role, histogram) in &r.durations {
            let mut cumulative = 0;
            for (index, count) in histogram.buckets.iter().enumerate() {
                cumulative += count;
                let bound = DURATION_BUCKETS
                    .get(index)
                    .map_or_else(|| "+Inf".to_owned(), |bound| number(*bound));
                sample(
                    out,
                    &format!("{name}_bucket"),
                    &["role", "le"],
                    &[role.clone(), bound],
                    cumulative as f64,
                );
            }
            let role = [role.clone()];
            sample(out, &format!("{name}_sum"), &["role"], &role, histogram.sum);
            sample(
                out,
                &format!("{name}_count"),
                &["role"],
                &role,
                histogram.count as f64,
            );
        }
    }
}

/// The snake_case name of an outcome, as in the store.
fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Handled => "handled",
        Outcome::HandledWithoutModel => "handled_without_model",
        Outcome::DeadLettered => "dead_lettered",
        Outcome::Dropped => "dropped",
    }
}

/// Writes the `# HELP` and `# TYPE` lines of a metric.
pub(crate) fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Writes one sample line.
pub(crate) fn sample<V: AsRef<str>>(
    out: &mut String,
    name: &str,
    labels: &[&str],
    values: &[V],
    value: f64,
) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (index, (label, value)) in labels.iter().zip(values).enumerate() {
            if index > 0 {
                out.push(',');
            }
            let _ = write!(out, "{label}=\"{}\"", escape_label(value.as_ref()));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {}", number(value));
}

/// A sample value as Prometheus reads it.
fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value == f64::INFINITY {
        "+Inf".to_owned()
    } else if value == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        format!("{value}")
    }
}

/// Escapes a label value: backslash, double quote and line feed.
fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use aito_core::{AgentId, Role};

    #[test]
    fn events_become_counters_and_a_histogram() {
        let metrics = Metrics::default();
        let agent = AgentId::random();
        metrics.record(&Event::SessionStarted {
            agent,
            role: Role::Cto,
            trigger: "task".into(),
        });
        for duration_ms in [800, 4000] {
            metrics.record(&Event::TriggerHandled {
                agent,
                role: Role::Cto,
                trigger: "task".into(),
                outcome: Outcome::Handled,
                summary: "done".into(),
                actions: 1,
                cost_usd: 0.25,
                duration_ms,
            });
        }
        metrics.record(&Event::GuardTripped {
            agent,
            role: Role::Cto,
            guard: "hop\"limit\n".into(),
            reason: "r".into(),
            figures: serde_json::Value::Null,
        });
        let mut out = String::new();
        metrics.render(&mut out);
        assert!(
            out.contains("aito_sessions_total{role=\"cto\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("aito_triggers_handled_total{role=\"cto\",outcome=\"handled\"} 2\n"),
            "{out}"
        );
        assert!(
            out.contains("aito_cost_usd_total{role=\"cto\",source=\"session\"} 0.5\n"),
            "{out}"
        );
        assert!(
            out.contains("aito_session_duration_seconds_bucket{role=\"cto\",le=\"1\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("aito_session_duration_seconds_bucket{role=\"cto\",le=\"5\"} 2\n"),
            "{out}"
        );
        assert!(
            out.contains("aito_session_duration_seconds_bucket{role=\"cto\",le=\"+Inf\"} 2\n"),
            "{out}"
        );
        assert!(
            out.contains("aito_session_duration_seconds_sum{role=\"cto\"} 4.8\n"),
            "{out}"
        );
        assert!(
            out.contains("guard=\"hop\\\"limit\\n\""),
            "label values are escaped: {out}"
        );
        assert!(out.contains("# TYPE aito_session_duration_seconds histogram\n"));
    }

    #[test]
    fn label_sets_are_bounded() {
        let metrics = Metrics::default();
        for n in 0..(MAX_SERIES + 10) {
            metrics.record_unknown(&format!("event-{n}"));
        }
        let mut out = String::new();
        metrics.render(&mut out);
        assert!(
            out.contains("aito_metrics_series_dropped_total{metric=\"aito_events_total\"} 10\n"),
            "{out}"
        );
    }
}
