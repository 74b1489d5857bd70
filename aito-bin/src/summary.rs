//! The summary `aito run` prints when it ends: who did what, each decision's path, what was
//! spent, and what still waits for a human.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use aito_core::budget::Scope;
use aito_core::daemon::{MonitorSnapshot, Parked};
use aito_core::decision::{Decision, DecisionStatus, VoteChoice};
use aito_core::store::{HistoryEntry, Outcome};
use aito_core::{AgentId, Role, Runtime};
use chrono::{DateTime, Utc};

use crate::data_dir::Found;
use crate::error::Error;

/// Spend when the run started, to report what the run itself spent.
#[derive(Clone, Debug, Default)]
pub struct Baseline {
    /// When the run started.
    pub started: Option<DateTime<Utc>>,
    company_usd: f64,
    agents_usd: BTreeMap<AgentId, f64>,
}

impl Baseline {
    /// Reads the counters at the start of a run.
    pub async fn take(runtime: &Runtime, agents: &[(AgentId, Role)]) -> Result<Self, Error> {
        let now = runtime.clock.now();
        let mut agents_usd = BTreeMap::new();
        for (id, _) in agents {
            let spend = runtime
                .ledger
                .spend(&Scope::Agent(id.to_string()), now)
                .await?;
            agents_usd.insert(*id, spend.usd_day);
        }
        Ok(Self {
            started: Some(now),
            company_usd: runtime.ledger.spend(&Scope::Company, now).await?.usd_day,
            agents_usd,
        })
    }
}

/// What one agent did during the run.
#[derive(Clone, Debug)]
pub struct AgentWork {
    /// Its role.
    pub role: Role,
    /// The triggers it handled, oldest first.
    pub sessions: Vec<HistoryEntry>,
    /// Model sessions it ran during the run: one per handled trigger, and more when a
    /// session was tried again (a rate limit, a failure, an unreadable answer) or is still
    /// waiting to be.
    pub sessions_run: usize,
    /// Work it still holds, waiting (for a rate limit, a quota, a budget window) until then.
    pub waiting: Option<Parked>,
    /// What it spent (sessions and workers).
    pub spent_usd: f64,
}

/// The end-of-run summary.
#[derive(Clone, Debug)]
pub struct Summary {
    /// The company.
    pub company: String,
    /// The model in use.
    pub model: String,
    /// Where the bus and store were.
    pub backend: String,
    /// Whether the bus and store outlive this process.
    pub shared: bool,
    /// What `aito decide` needs besides the id to reach this company (` --data-dir DIR`, ...).
    pub answer_flags: String,
    /// What the run found in its data directory from earlier runs.
    pub found: Option<Found>,
    /// How long the run took.
    pub elapsed: Duration,
    /// Each agent's work, in the configured order.
    pub agents: Vec<AgentWork>,
    /// Decisions proposed during the run, and older ones still open.
    pub decisions: Vec<Decision>,
    /// Tasks created during the run, and older ones still open, oldest first.
    pub tasks: Vec<aito_core::Task>,
    /// Spend of the whole run.
    pub spent_usd: f64,
    /// Spend of the company today (UTC).
    pub today_usd: f64,
    /// The company's daily budget.
    pub budget_usd_per_day: Option<f64>,
    /// Workers started during the run.
    pub workers: usize,
    /// Triggers given up on during the run.
    pub dead_letters: usize,
}

/// The run's facts that are not in the store.
#[derive(Clone, Debug)]
pub struct RunFacts {
    /// The model in use.
    pub model: String,
    /// Where the bus and store were.
    pub backend: String,
    /// Whether the bus and store outlive this process.
    pub shared: bool,
    /// What `aito decide` needs besides the id to reach this company (` --data-dir DIR`, ...).
    pub answer_flags: String,
    /// What the run found in its data directory from earlier runs.
    pub found: Option<Found>,
    /// How long the run took.
    pub elapsed: Duration,
    /// The company's daily budget.
    pub budget_usd_per_day: Option<f64>,
    /// Each agent's live counters when the run ended (sessions run, work left waiting).
    pub live: BTreeMap<AgentId, MonitorSnapshot>,
}

impl Summary {
    /// Reads the summary from the store.
    pub async fn collect(
        runtime: &Runtime,
        agents: &[(AgentId, Role)],
        baseline: &Baseline,
        facts: RunFacts,
    ) -> Result<Self, Error> {
        let now = runtime.clock.now();
        let started = baseline.started.unwrap_or(now);
        let keep = runtime.settings.history_keep;
        let mut work = Vec::with_capacity(agents.len());
        let mut workers = 0;
        for (id, role) in agents {
            let sessions: Vec<HistoryEntry> = runtime
                .store
                .history(*id, keep)
                .await?
                .into_iter()
                .filter(|entry| entry.at >= started)
                .collect();
            workers += sessions
                .iter()
                .flat_map(|entry| &entry.actions)
                .filter(|action| action.kind == "spawn_worker" && action.ok)
                .count();
            let spent = runtime
                .ledger
                .spend(&Scope::Agent(id.to_string()), now)
                .await?
                .usd_day;
            let before = baseline.agents_usd.get(id).copied().unwrap_or(0.0);
            let live = facts.live.get(id);
            let sessions_run = live
                .map_or(0, |live| {
                    usize::try_from(live.sessions).unwrap_or(usize::MAX)
                })
                .max(sessions.len());
            let waiting = live
                .filter(|live| live.queue_len > 0)
                .and_then(|live| live.parked);
            work.push(AgentWork {
                role: role.clone(),
                sessions,
                sessions_run,
                waiting,
                spent_usd: (spent - before).max(0.0),
            });
        }
        let decisions = runtime
            .store
            .decisions(None)
            .await?
            .into_iter()
            .filter(|decision| decision.created_at >= started || decision.status.is_open())
            .collect();
        let tasks = runtime
            .store
            .tasks(crate::tasks::LIST_LIMIT)
            .await?
            .into_iter()
            .filter(|task| task.created_at >= started || !task.status.is_closed())
            .collect();
        let today = runtime.ledger.spend(&Scope::Company, now).await?.usd_day;
        let dead_letters = runtime
            .store
            .dead_letters(None, 1000)
            .await?
            .iter()
            .filter(|letter| letter.at >= started)
            .count();
        Ok(Self {
            company: runtime.company.clone(),
            model: facts.model,
            backend: facts.backend,
            shared: facts.shared,
            answer_flags: facts.answer_flags,
            found: facts.found,
            elapsed: facts.elapsed,
            agents: work,
            decisions,
            tasks,
            spent_usd: (today - baseline.company_usd).max(0.0),
            today_usd: today,
            budget_usd_per_day: facts.budget_usd_per_day,
            workers,
            dead_letters,
        })
    }

    /// Decisions that wait for a human.
    pub fn escalated(&self) -> impl Iterator<Item = &Decision> {
        self.decisions
            .iter()
            .filter(|decision| decision.status == DecisionStatus::Escalated)
    }
}

fn actions_of(entry: &HistoryEntry) -> String {
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for action in &entry.actions {
        if action.ok {
            *kinds.entry(action.kind.as_str()).or_default() += 1;
        } else {
            failures.push(format!("{} failed: {}", action.kind, action.detail));
        }
    }
    let mut parts: Vec<String> = kinds
        .into_iter()
        .map(|(kind, count)| match (kind, count) {
            ("message", 1) => "1 message".to_owned(),
            ("message", n) => format!("{n} messages"),
            (kind, 1) => kind.to_owned(),
            (kind, n) => format!("{n} × {kind}"),
        })
        .collect();
    parts.extend(failures);
    if parts.is_empty() {
        String::new()
    } else {
        format!(" [{}]", parts.join("; "))
    }
}

fn wait_words(parked: &Parked) -> &'static str {
    match parked.reason {
        "quota" => "rate limited by the model",
        "budget" => "over its budget",
        _ => "the store could not persist",
    }
}

fn vote_word(choice: VoteChoice) -> &'static str {
    match choice {
        VoteChoice::Approve => "approved",
        VoteChoice::Veto => "vetoed",
        VoteChoice::Abstain => "abstained",
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sessions: usize = self.agents.iter().map(|agent| agent.sessions_run).sum();
        writeln!(
            f,
            "== aito run summary: {} ({:.1} s; model: {}; bus and store: {}) ==",
            self.company,
            self.elapsed.as_secs_f64(),
            self.model,
            self.backend
        )?;
        if let Some(found) = &self.found {
            writeln!(f, "Company {}", found.describe())?;
        }
        writeln!(f, "\nWho did what")?;
        for agent in &self.agents {
            let count = agent.sessions_run;
            writeln!(
                f,
                "  {} — {count} session{}, ${:.2}",
                agent.role,
                if count == 1 { "" } else { "s" },
                agent.spent_usd
            )?;
            for entry in &agent.sessions {
                let outcome = match entry.outcome {
                    Outcome::Handled | Outcome::HandledWithoutModel => "",
                    Outcome::DeadLettered => " (gave up; dead-lettered)",
                    Outcome::Dropped => " (dropped)",
                };
                writeln!(f, "    - on {}{outcome}", entry.trigger)?;
                writeln!(f, "      {}{}", entry.summary, actions_of(entry))?;
            }
            if let Some(parked) = &agent.waiting {
                writeln!(
                    f,
                    "    - still waiting: {}; it tries again at {}",
                    wait_words(parked),
                    parked.until.to_rfc3339()
                )?;
            }
        }
        writeln!(f, "\nDecisions")?;
        if self.decisions.is_empty() {
            writeln!(f, "  none")?;
        }
        for decision in &self.decisions {
            writeln!(
                f,
                "  [{}] \"{}\" proposed by {}",
                decision.tier, decision.title, decision.proposer_role
            )?;
            writeln!(f, "    path: {}", decision.path())?;
            for round in 1..=decision.round {
                let votes: Vec<String> = decision
                    .votes
                    .iter()
                    .filter(|vote| vote.round == round)
                    .map(|vote| {
                        format!("{} {} ({})", vote.role, vote_word(vote.choice), vote.reason)
                    })
                    .collect();
                if !votes.is_empty() {
                    writeln!(f, "    round {round}: {}", votes.join("; "))?;
                }
            }
            let end = match decision.status {
                DecisionStatus::Escalated => format!(
                    "escalated, waiting for a human: {}",
                    decision.escalation.as_deref().unwrap_or("no reason given")
                ),
                status => status.to_string(),
            };
            writeln!(f, "    final: {end}")?;
        }
        writeln!(f, "\nTasks")?;
        if self.tasks.is_empty() {
            writeln!(f, "  none")?;
        }
        for task in &self.tasks {
            writeln!(
                f,
                "  [{}] \"{}\" for {}, from {}",
                task.status, task.title, task.assignee_role, task.creator_role
            )?;
            let path: Vec<&str> = task
                .history
                .iter()
                .map(|change| change.status.as_str())
                .fold(Vec::new(), |mut path, status| {
                    if path.last() != Some(&status) {
                        path.push(status);
                    }
                    path
                });
            writeln!(f, "    path: {}", path.join(" → "))?;
            for change in task.history.iter().skip(1) {
                if change.status == aito_core::TaskStatus::Blocked {
                    writeln!(f, "    blocked by {}: {}", change.by_name, change.note)?;
                }
            }
            if task.status == aito_core::TaskStatus::Done {
                writeln!(f, "    result: {}", task.note)?;
            }
        }
        let budget = self.budget_usd_per_day.map_or_else(
            || "no daily limit".to_owned(),
            |of| format!("${of:.2} a day"),
        );
        writeln!(f, "\nSpend")?;
        writeln!(
            f,
            "  this run: ${:.2} ({sessions} session{}, {} worker{})",
            self.spent_usd,
            if sessions == 1 { "" } else { "s" },
            self.workers,
            if self.workers == 1 { "" } else { "s" }
        )?;
        writeln!(
            f,
            "  today (UTC): ${:.2} of the company's {budget}",
            self.today_usd
        )?;
        if self.dead_letters > 0 {
            writeln!(
                f,
                "\n{} trigger(s) were given up on and dead-lettered; the logs above say why.",
                self.dead_letters
            )?;
        }
        let waiting: Vec<&AgentWork> = self
            .agents
            .iter()
            .filter(|agent| agent.waiting.is_some())
            .collect();
        if !waiting.is_empty() {
            let names: Vec<String> = waiting
                .iter()
                .filter_map(|agent| {
                    let parked = agent.waiting.as_ref()?;
                    Some(format!(
                        "{} ({} until {})",
                        agent.role,
                        wait_words(parked),
                        parked.until.to_rfc3339()
                    ))
                })
                .collect();
            writeln!(
                f,
                "\nThe run stopped while {} still held work: {}.",
                if waiting.len() == 1 {
                    "one agent"
                } else {
                    "agents"
                },
                names.join("; ")
            )?;
            if self.shared {
                writeln!(
                    f,
                    "  Their triggers are kept in the store and run when their daemons next run."
                )?;
            } else {
                writeln!(
                    f,
                    "  This run used the embedded in-memory store, so that work ends with the process; run without --exit-when-idle (or on Redis) to let it finish."
                )?;
            }
        }
        let escalated: Vec<&Decision> = self.escalated().collect();
        if escalated.is_empty() {
            writeln!(f, "\nNo decision waits for a human.")?;
        } else {
            writeln!(
                f,
                "\nOpen escalations: {} decision{} still wait{} for a human",
                escalated.len(),
                if escalated.len() == 1 { "" } else { "s" },
                if escalated.len() == 1 { "s" } else { "" }
            )?;
            for decision in &escalated {
                writeln!(f, "  {}  \"{}\"", decision.id, decision.title)?;
                if self.shared {
                    writeln!(
                        f,
                        "    answer: aito decide {}{} approve --reason \"...\"   (or reject)",
                        decision.id, self.answer_flags
                    )?;
                }
            }
            if self.shared {
                writeln!(
                    f,
                    "  Answer now or later from this directory: the company is kept, and the proposer hears the answer at once\n  while `aito run` runs, else when it next starts. Or answer on the dashboard while it runs."
                )?;
            } else {
                writeln!(
                    f,
                    "  This run kept the company in memory (--memory), which ends with the process, so these stay unanswered.\n  Without --memory the company is kept in its data directory and `aito decide <ID> approve|reject --reason TEXT`\n  answers them, now or later; or answer them on the dashboard while `aito run` is running."
                )?;
            }
        }
        Ok(())
    }
}
