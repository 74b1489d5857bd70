//! Replaying a recording: the same company, on a virtual clock, against the recorded answers,
//! reporting the first step where anything differs — a different prompt, a different action,
//! a tick that did not come, a session the recording does not have.
//!
//! The replay runs on tokio's paused clock, anchored at the recorded start, so cron ticks,
//! deadlines and budget windows fall where they fell. Agents run concurrently, so the replay
//! also reproduces the recorded order of their effects: every timed event of the recording —
//! a session starting (its prompt is built then), a session answering, each of its actions
//! being carried out, a worker finishing, a message from outside — waits until its recorded
//! time has come and every earlier event has completed.
//! An event that never comes (the replay has already diverged) is given up after
//! [`SLACK`] of virtual time, so nothing waits forever.
//!
//! Before comparing, ids, commit hashes and clock readings are normalized, since those differ
//! between runs by nature. The decision policy and the context provider are not recorded: a
//! replay uses the defaults unless given others, and the company-knowledge section of prompts
//! is left out of the comparison (a provider's passages depend on its index, which a replay
//! does not have: knowledge files change, an index on disk remembers earlier runs).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use regex::Regex;
use tokio::sync::Notify;

use crate::agent::{AgentSpec, Settings};
use crate::clock::Clock;
use crate::company::{Company, CompanyError};
use crate::context::ContextProvider;
use crate::envelope::Envelope;
use crate::llm::{LlmError, LlmRequest, LlmResponse, LlmSession};
use crate::memory::{MemoryBus, MemoryStore};
use crate::mock::IDLE_ANSWER;
use crate::recording::{Entry, RecordedAgent, Recorder, SessionOutcome, WorkerOutcome};
use crate::role::Role;
use crate::store::ActionRecord;
use crate::worker::{WorkerError, WorkerResult, WorkerSpawner, WorkerTask};

/// How long past its recorded time an event may be late before the replay gives up on it.
pub const SLACK: Duration = Duration::from_secs(10);

/// Where a replay first differed from its recording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// The 1-based line of the recording.
    pub step: usize,
    /// The agent's role.
    pub role: Option<Role>,
    /// What differed: `prompt`, `actions`, `worker`, `tick`, `extra session`, `missing`.
    pub what: String,
    /// What the recording has.
    pub expected: String,
    /// What the replay did.
    pub actual: String,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let role = self
            .role
            .as_ref()
            .map_or_else(String::new, |role| format!(" ({role})"));
        write!(
            f,
            "step {}{role}: {} differs\n  recorded: {}\n  replayed: {}",
            self.step, self.what, self.expected, self.actual
        )
    }
}

/// What a replay found.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplayReport {
    /// Entries in the recording.
    pub steps: usize,
    /// Sessions replayed.
    pub sessions: usize,
    /// The first divergence, if any.
    pub divergence: Option<Divergence>,
    /// How many divergences there were in all.
    pub divergences: usize,
}

/// Why a replay could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The recording has no start entry.
    #[error("the recording does not begin with a start entry")]
    NoStart,
    /// An agent of the recording could not be rebuilt.
    #[error("agent {role} of the recording: {reason}")]
    Agent {
        /// Its role.
        role: Role,
        /// Why.
        reason: String,
    },
    /// The company could not be built.
    #[error(transparent)]
    Company(#[from] CompanyError),
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

// Constant patterns: they compile, and every replay test exercises them.
static UUID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
        .expect("constant pattern")
});
static TIME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?")
        .expect("constant pattern")
});
static HASH: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b[0-9a-f]{7,40}\b").expect("constant pattern"));

/// Normalizes what differs between runs by nature: ids, commit hashes, clock readings.
fn normalize(text: &str) -> String {
    let text = without_knowledge(text);
    let mut ids: HashMap<String, usize> = HashMap::new();
    let text = UUID.replace_all(&text, |caps: &regex::Captures<'_>| {
        let next = ids.len() + 1;
        let n = *ids.entry(caps[0].to_ascii_lowercase()).or_insert(next);
        format!("<id{n}>")
    });
    let text = TIME.replace_all(&text, "<time>");
    HASH.replace_all(&text, "<hash>").into_owned()
}

/// `text` without the company-knowledge section of a prompt (from its heading to the section
/// that follows it: the history or the trigger).
fn without_knowledge(text: &str) -> std::borrow::Cow<'_, str> {
    let Some(start) = text.find(crate::prompt::CONTEXT_HEADER) else {
        return std::borrow::Cow::Borrowed(text);
    };
    let rest = &text[start + crate::prompt::CONTEXT_HEADER.len()..];
    let end = ["\n# Recent history", "\n# Trigger"]
        .iter()
        .filter_map(|next| rest.find(next))
        .min()
        .map_or(text.len(), |at| {
            start + crate::prompt::CONTEXT_HEADER.len() + at + 1
        });
    std::borrow::Cow::Owned(format!("{}{}", &text[..start], &text[end..]))
}

/// The first line where two texts differ, for the report.
fn first_difference(expected: &str, actual: &str) -> (String, String) {
    let mut left = expected.lines();
    let mut right = actual.lines();
    loop {
        match (left.next(), right.next()) {
            (Some(a), Some(b)) if a == b => {}
            (a, b) => {
                return (
                    a.unwrap_or("(end of text)").to_owned(),
                    b.unwrap_or("(end of text)").to_owned(),
                );
            }
        }
    }
}

/// A timed event of the recording the replay controls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Cue {
    at: DateTime<Utc>,
    step: usize,
    kind: CueKind,
    /// The action's position, for action cues.
    index: usize,
}

impl Cue {
    fn new(at: DateTime<Utc>, step: usize, kind: CueKind) -> Self {
        Self {
            at,
            step,
            kind,
            index: 0,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum CueKind {
    /// A message from outside is sent.
    Input,
    /// A session starts: the agent builds its prompt.
    Start,
    /// A session answers.
    Answer,
    /// One of a session's messages or actions is carried out.
    Action,
    /// A worker finishes.
    Worker,
}

/// Lets the recording's timed events happen in their recorded order.
struct Sequencer {
    pending: Mutex<BTreeSet<Cue>>,
    changed: Notify,
    clock: Clock,
}

impl Sequencer {
    /// Waits until `cue`'s time has come and every earlier event has completed (or been given
    /// up after [`SLACK`]).
    async fn turn(&self, cue: Cue) {
        self.clock.sleep_until(cue.at).await;
        let slack = chrono::Duration::from_std(SLACK).unwrap_or(chrono::Duration::MAX);
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let first = lock(&self.pending).first().copied();
            let Some(first) = first.filter(|first| *first < cue) else {
                return;
            };
            if self.clock.now() > first.at + slack {
                tracing::debug!(step = first.step, kind = ?first.kind, "replay gives up waiting for an event that did not come");
                self.done(first);
                continue;
            }
            tokio::select! {
                () = notified => {}
                () = self.clock.sleep_until(first.at + slack + chrono::Duration::milliseconds(1)) => {}
            }
        }
    }

    /// Marks `cue` completed.
    fn done(&self, cue: Cue) {
        if lock(&self.pending).remove(&cue) {
            self.changed.notify_waiters();
        }
    }
}

/// A recorded entry waiting to be matched, with its line.
struct Pending<T> {
    step: usize,
    item: T,
}

struct RecordedSession {
    start: Cue,
    answer: Cue,
    system_prompt: String,
    prompt: String,
    outcome: SessionOutcome,
}

struct RecordedActions {
    /// The line of the session that produced them (the change a user makes is there).
    session_step: usize,
    /// When each was carried out, in order.
    cues: Vec<Cue>,
    actions: Vec<ActionRecord>,
}

/// Where a role is in carrying out its recorded actions.
#[derive(Default)]
struct ActionPacing {
    next: usize,
    running: Option<Cue>,
}

struct RecordedWorker {
    cue: Cue,
    task: String,
    outcome: WorkerOutcome,
}

struct RecordedTick {
    expression: String,
    tick: DateTime<Utc>,
}

#[derive(Default)]
struct Expected {
    sessions: HashMap<Role, VecDeque<Pending<RecordedSession>>>,
    actions: HashMap<Role, VecDeque<Pending<RecordedActions>>>,
    workers: HashMap<Role, VecDeque<Pending<RecordedWorker>>>,
    ticks: HashMap<Role, VecDeque<Pending<RecordedTick>>>,
}

/// What the replay's adapters share: the expectations, the sequencer and what differed.
struct Ledger {
    expected: Mutex<Expected>,
    pacing: Mutex<HashMap<Role, ActionPacing>>,
    sequencer: Sequencer,
    divergences: Mutex<Vec<Divergence>>,
    sessions: Mutex<usize>,
}

impl Ledger {
    fn diverge(&self, step: usize, role: &Role, what: &str, expected: String, actual: String) {
        tracing::warn!(step, %role, what, "replay diverged");
        lock(&self.divergences).push(Divergence {
            step,
            role: Some(role.clone()),
            what: what.to_owned(),
            expected,
            actual,
        });
    }

    fn compare(&self, step: usize, role: &Role, what: &str, expected: &str, actual: &str) {
        let (expected, actual) = (normalize(expected), normalize(actual));
        if expected != actual {
            let (expected, actual) = first_difference(&expected, &actual);
            self.diverge(step, role, what, expected, actual);
        }
    }
}

/// Answers sessions from the recording, checking each prompt.
struct RecordedLlm(Arc<Ledger>);

#[async_trait]
impl LlmSession for RecordedLlm {
    async fn run(&self, request: LlmRequest) -> Result<LlmResponse, LlmError> {
        let ledger = &self.0;
        *lock(&ledger.sessions) += 1;
        let next = lock(&ledger.expected)
            .sessions
            .get_mut(&request.role)
            .and_then(VecDeque::pop_front);
        let Some(Pending { step, item }) = next else {
            ledger.diverge(
                usize::MAX,
                &request.role,
                "extra session",
                "(no further session for this role)".to_owned(),
                request
                    .prompt
                    .lines()
                    .find(|line| line.starts_with("A ") || line.starts_with("Your scheduled"))
                    .unwrap_or("")
                    .to_owned(),
            );
            return Ok(LlmResponse {
                text: IDLE_ANSWER.to_owned(),
                ..LlmResponse::default()
            });
        };
        // The prompt is built: the start is complete (whether or not the daemon paced it).
        ledger.sequencer.done(item.start);
        ledger.compare(
            step,
            &request.role,
            "system prompt",
            &item.system_prompt,
            &request.system_prompt,
        );
        ledger.compare(step, &request.role, "prompt", &item.prompt, &request.prompt);
        ledger.sequencer.turn(item.answer).await;
        ledger.sequencer.done(item.answer);
        match item.outcome {
            SessionOutcome::Answer(response) => Ok(response),
            SessionOutcome::Failure(error) => Err(error),
        }
    }
}

/// Answers workers from the recording, checking each task.
struct RecordedWorkers(Arc<Ledger>);

#[async_trait]
impl WorkerSpawner for RecordedWorkers {
    async fn spawn(&self, task: WorkerTask) -> Result<WorkerResult, WorkerError> {
        let ledger = &self.0;
        let next = lock(&ledger.expected)
            .workers
            .get_mut(&task.role)
            .and_then(VecDeque::pop_front);
        let Some(Pending { step, item }) = next else {
            ledger.diverge(
                usize::MAX,
                &task.role,
                "extra worker",
                "(none)".to_owned(),
                task.task.clone(),
            );
            return Err(WorkerError::Other(
                "the recording has no such worker".to_owned(),
            ));
        };
        ledger.compare(step, &task.role, "worker", &item.task, &task.task);
        ledger.sequencer.turn(item.cue).await;
        ledger.sequencer.done(item.cue);
        match item.outcome {
            WorkerOutcome::Finished(mut result) => {
                result.task_id = task.id;
                Ok(result)
            }
            WorkerOutcome::Refused(reason) => Err(WorkerError::Other(reason)),
        }
    }
}

/// Paces session starts, and checks actions and ticks as the replayed company produces them.
struct Verifier(Arc<Ledger>);

fn describe_actions(actions: &[ActionRecord]) -> String {
    actions
        .iter()
        .map(|action| {
            format!(
                "{}[{}] {}",
                action.kind,
                if action.ok { "ok" } else { "refused" },
                action.detail
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[async_trait]
impl Recorder for Verifier {
    async fn pace(&self, role: &Role) {
        let start = lock(&self.0.expected)
            .sessions
            .get(role)
            .and_then(|queue| queue.front())
            .map(|session| session.item.start);
        if let Some(start) = start {
            self.0.sequencer.turn(start).await;
        }
    }

    async fn pace_action(&self, role: &Role) {
        let ledger = &self.0;
        let cue = {
            let expected = lock(&ledger.expected);
            let mut pacing = lock(&ledger.pacing);
            let state = pacing.entry(role.clone()).or_default();
            if let Some(previous) = state.running.take() {
                ledger.sequencer.done(previous);
            }
            let cue = expected
                .actions
                .get(role)
                .and_then(|queue| queue.front())
                .and_then(|actions| actions.item.cues.get(state.next).copied());
            state.next += 1;
            state.running = cue;
            cue
        };
        if let Some(cue) = cue {
            ledger.sequencer.turn(cue).await;
        }
    }

    fn record(&self, entry: Entry) {
        let ledger = &self.0;
        match entry {
            Entry::Actions { role, actions, .. } => {
                if let Some(state) = lock(&ledger.pacing).remove(&role)
                    && let Some(running) = state.running
                {
                    ledger.sequencer.done(running);
                }
                let next = lock(&ledger.expected)
                    .actions
                    .get_mut(&role)
                    .and_then(VecDeque::pop_front);
                match next {
                    Some(Pending { item, .. }) => {
                        ledger.compare(
                            item.session_step,
                            &role,
                            "actions",
                            &describe_actions(&item.actions),
                            &describe_actions(&actions),
                        );
                    }
                    None => ledger.diverge(
                        usize::MAX,
                        &role,
                        "extra actions",
                        "(none)".to_owned(),
                        describe_actions(&actions),
                    ),
                }
            }
            Entry::Tick {
                role,
                expression,
                tick,
            } => {
                let next = lock(&ledger.expected)
                    .ticks
                    .get_mut(&role)
                    .and_then(VecDeque::pop_front);
                match next {
                    Some(Pending { step, item }) => ledger.compare(
                        step,
                        &role,
                        "tick",
                        &format!("{} at {}", item.expression, item.tick.to_rfc3339()),
                        &format!("{expression} at {}", tick.to_rfc3339()),
                    ),
                    None => ledger.diverge(
                        usize::MAX,
                        &role,
                        "extra tick",
                        "(none)".to_owned(),
                        format!("{expression} at {tick}"),
                    ),
                }
            }
            Entry::Start { .. }
            | Entry::Input { .. }
            | Entry::Session { .. }
            | Entry::Worker { .. }
            | Entry::End { .. } => {}
        }
    }
}

/// A recording, ready to replay.
pub struct Replay {
    company: String,
    started_at: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
    agents: Vec<RecordedAgent>,
    settings: Settings,
    inputs: Vec<(Cue, String, Envelope)>,
    expected: Expected,
    cues: BTreeSet<Cue>,
    steps: usize,
    context: Option<Arc<dyn ContextProvider>>,
}

impl std::fmt::Debug for Replay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replay")
            .field("company", &self.company)
            .field("steps", &self.steps)
            .finish_non_exhaustive()
    }
}

impl Replay {
    /// Prepares `entries` (as read by [`recording::read`](crate::recording::read)).
    pub fn new(entries: Vec<Entry>) -> Result<Self, ReplayError> {
        let steps = entries.len();
        let mut entries = entries
            .into_iter()
            .enumerate()
            .map(|(index, entry)| (index + 1, entry));
        let Some((
            _,
            Entry::Start {
                company,
                started_at,
                agents,
                settings,
            },
        )) = entries.next()
        else {
            return Err(ReplayError::NoStart);
        };
        let mut replay = Self {
            company,
            started_at,
            ended_at: None,
            agents,
            settings: *settings,
            inputs: Vec::new(),
            expected: Expected::default(),
            cues: BTreeSet::new(),
            steps,
            context: None,
        };
        // Per role, the line of its last session, to which its next actions belong.
        let mut last_session: HashMap<Role, usize> = HashMap::new();
        for (step, entry) in entries {
            match entry {
                Entry::Start { .. } => {}
                Entry::End { at } => replay.ended_at = Some(at),
                Entry::Input { at, to, envelope } => {
                    let cue = Cue::new(at, step, CueKind::Input);
                    replay.cues.insert(cue);
                    replay.inputs.push((cue, to, *envelope));
                }
                Entry::Session {
                    at,
                    ended_at,
                    role,
                    system_prompt,
                    prompt,
                    outcome,
                    ..
                } => {
                    let start = Cue::new(at, step, CueKind::Start);
                    let answer = Cue::new(ended_at, step, CueKind::Answer);
                    replay.cues.insert(start);
                    replay.cues.insert(answer);
                    last_session.insert(role.clone(), step);
                    replay
                        .expected
                        .sessions
                        .entry(role)
                        .or_default()
                        .push_back(Pending {
                            step,
                            item: RecordedSession {
                                start,
                                answer,
                                system_prompt,
                                prompt,
                                outcome,
                            },
                        });
                }
                Entry::Actions { role, actions, .. } => {
                    let session_step = last_session.remove(&role).unwrap_or(step);
                    let cues: Vec<Cue> = actions
                        .iter()
                        .enumerate()
                        .filter_map(|(index, action)| {
                            action.at.map(|at| Cue {
                                at,
                                step,
                                kind: CueKind::Action,
                                index,
                            })
                        })
                        .collect();
                    replay.cues.extend(cues.iter().copied());
                    replay
                        .expected
                        .actions
                        .entry(role)
                        .or_default()
                        .push_back(Pending {
                            step,
                            item: RecordedActions {
                                session_step,
                                cues,
                                actions,
                            },
                        });
                }
                Entry::Worker {
                    at,
                    role,
                    task,
                    outcome,
                    ..
                } => {
                    let cue = Cue::new(at, step, CueKind::Worker);
                    replay.cues.insert(cue);
                    replay
                        .expected
                        .workers
                        .entry(role)
                        .or_default()
                        .push_back(Pending {
                            step,
                            item: RecordedWorker { cue, task, outcome },
                        });
                }
                Entry::Tick {
                    role,
                    expression,
                    tick,
                } => {
                    replay
                        .expected
                        .ticks
                        .entry(role)
                        .or_default()
                        .push_back(Pending {
                            step,
                            item: RecordedTick { expression, tick },
                        });
                }
            }
        }
        Ok(replay)
    }

    /// Uses `context` as the context provider (when the recorded run had one).
    pub fn context(mut self, context: Arc<dyn ContextProvider>) -> Self {
        self.context = Some(context);
        self
    }

    /// The recorded start.
    pub fn started_at(&self) -> DateTime<Utc> {
        self.started_at
    }

    /// Runs the replay. Call it with tokio's clock paused (`tokio::time::pause()`, or a
    /// current-thread runtime built with `start_paused(true)`): the replay's time is virtual.
    pub async fn run(self, workspace_root: &Path) -> Result<ReplayReport, ReplayError> {
        let clock = Clock::starting_at(self.started_at);
        let ledger = Arc::new(Ledger {
            expected: Mutex::new(self.expected),
            pacing: Mutex::new(HashMap::new()),
            sequencer: Sequencer {
                pending: Mutex::new(self.cues),
                changed: Notify::new(),
                clock,
            },
            divergences: Mutex::new(Vec::new()),
            sessions: Mutex::new(0),
        });
        let mut agents = Vec::with_capacity(self.agents.len());
        for agent in &self.agents {
            let spec = AgentSpec::new(agent.role.clone())
                .id(agent.id)
                .profile(agent.profile.clone())
                .schedules(&agent.schedules)
                .map_err(|err| ReplayError::Agent {
                    role: agent.role.clone(),
                    reason: err.to_string(),
                })?
                .budget(agent.budget.clone())
                .mcp_servers(agent.mcp_servers.clone())
                .run_on_startup(agent.run_on_startup);
            agents.push(match &agent.model {
                Some(model) => spec.model(model.clone()),
                None => spec,
            });
        }
        let mut builder = Company::builder(self.company.clone())
            .agents(agents)
            .bus(Arc::new(MemoryBus::new()))
            .store(Arc::new(MemoryStore::new()))
            .llm(Arc::new(RecordedLlm(Arc::clone(&ledger))))
            .workers(Arc::new(RecordedWorkers(Arc::clone(&ledger))))
            .clock(clock)
            .settings(self.settings.clone())
            .workspace_root(workspace_root)
            .recorder(Arc::new(Verifier(Arc::clone(&ledger))));
        if let Some(context) = self.context {
            builder = builder.context(context);
        }
        let running = builder.build()?.start()?;
        for (cue, to, envelope) in self.inputs {
            ledger.sequencer.turn(cue).await;
            if let Err(err) = running.runtime().send(&to, envelope).await {
                tracing::warn!(error = %err, "a recorded input could not be sent again");
            }
            ledger.sequencer.done(cue);
        }
        let end = self.ended_at.unwrap_or(self.started_at);
        clock.sleep_until(end).await;
        running.wait_idle(Duration::from_millis(100)).await;
        running.shutdown().await;

        let mut divergences = std::mem::take(&mut *lock(&ledger.divergences));
        {
            let expected = lock(&ledger.expected);
            let missing = |step: usize, role: &Role, what: &str| Divergence {
                step,
                role: Some(role.clone()),
                what: "missing".to_owned(),
                expected: format!("a {what}"),
                actual: "(the replay did not produce it)".to_owned(),
            };
            for (role, queue) in &expected.sessions {
                divergences.extend(queue.iter().map(|p| missing(p.step, role, "session")));
            }
            for (role, queue) in &expected.actions {
                divergences.extend(
                    queue
                        .iter()
                        .map(|p| missing(p.step, role, "set of actions")),
                );
            }
            for (role, queue) in &expected.workers {
                divergences.extend(queue.iter().map(|p| missing(p.step, role, "worker")));
            }
            for (role, queue) in &expected.ticks {
                divergences.extend(queue.iter().map(|p| missing(p.step, role, "tick")));
            }
        }
        divergences.sort_by_key(|divergence| divergence.step);
        let sessions = *lock(&ledger.sessions);
        Ok(ReplayReport {
            steps: self.steps,
            sessions,
            divergences: divergences.len(),
            divergence: divergences.into_iter().next(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_knowledge_section_is_left_out_of_the_comparison_and_nothing_else() {
        let with = format!(
            "# Now\nIt is <time>.\n\n{}[knowledge/a.md]\nalpha\n\n# Recent history (oldest first)\n- did b\n\n# Trigger\nt\n",
            crate::prompt::CONTEXT_HEADER
        );
        let without =
            "# Now\nIt is <time>.\n\n# Recent history (oldest first)\n- did b\n\n# Trigger\nt\n";
        assert_eq!(normalize(&with), normalize(without));
        let other = format!(
            "{}[knowledge/b.md]\nbeta\n\n# Trigger\nt\n",
            crate::prompt::CONTEXT_HEADER
        );
        assert_eq!(normalize(&other), "# Trigger\nt\n");
        assert_ne!(
            normalize(without),
            normalize("# Now\nIt is <time>.\n\n# Trigger\nt\n")
        );
    }
}
