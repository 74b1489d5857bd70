//! Prompt building: role profile and response contract as the system prompt; state, history,
//! decisions, context and the trigger as the prompt, within a size budget.
//!
//! Every section has a share of the budget. History fills what is left, newest first, and the
//! oldest entries are the ones cut; every cut is marked in the text so the model knows.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::context::{Passage, fit_passages};
use crate::decision::{Decision, DecisionStatus};
use crate::directory::Directory;
use crate::id::AgentId;
use crate::role::Role;
use crate::store::{AgentState, HistoryEntry};
use crate::task::{Task, TaskStatus};
use crate::trigger::{Trigger, TriggerKind};

/// The response contract, appended to every system prompt.
pub const RESPONSE_FORMAT: &str = r#"# Response format
Answer with exactly ONE JSON object, bare or in a ```json fenced block. Prose around it is
ignored; if you write several objects, only the LAST one with "actions" or "messages" counts.

{
  "summary": "what you did and why, in one or two sentences",
  "actions": [
    {"type": "spawn_worker", "data": {"task": "what the worker must do", "servers": ["mcp-server"], "timeout": 60000}},
    {"type": "propose_decision", "data": {"tier": "operational|minor|major|critical", "title": "...", "description": "...", "options": []}},
    {"type": "propose_decision", "data": {"decisionId": "<id of YOUR vetoed decision>", "title": "...", "description": "revised proposal"}},
    {"type": "withdraw_decision", "data": {"decisionId": "...", "reason": "..."}},
    {"type": "vote", "data": {"decisionId": "...", "vote": "approve|veto|abstain", "reason": "..."}},
    {"type": "create_task", "data": {"assignTo": "role", "title": "...", "description": "...", "priority": "low|normal|high|urgent|critical", "deadline": "2026-03-01 17:00", "parentTaskId": "<optional task id>"}},
    {"type": "update_task", "data": {"taskId": "...", "status": "in_progress|blocked|done|cancelled", "note": "why it is blocked, or the result"}},
    {"type": "alert", "data": {"alertType": "general|security|budget", "severity": "low|normal|high|critical", "message": "..."}},
    {"type": "operational", "data": {"title": "...", "files": [{"path": "relative/path.md", "content": "..."}], "commit": "commit message"}},
    {"type": "request_human_action", "data": {"title": "...", "description": "what a human must do"}}
  ],
  "messages": [{"to": "role | all | head | clevel", "content": "...", "type": "direct|task", "priority": "normal"}],
  "stateUpdates": {"current_focus": "one sentence"}
}

Rules:
- Use only the action types above; anything else is skipped and reported back to you.
- File paths are relative to your workspace; paths outside it are refused.
- Tiers: operational = within your authority, executes at once; minor = the CEO may veto;
  major (spend over $500, partnerships) = CEO and DAO vote; critical (smart contracts, token
  burns, legal) = CEO and DAO vote, then a human confirms.
- Tasks are tracked until done: mark yours in_progress, blocked (with the reason) or done (with
  the result) with update_task; only the assignee, the creator and the CEO may change a task.
- Messages wake their receiver. Do not send a message that needs no answer or action.
- If there is nothing to do, answer {"summary": "nothing to do", "actions": []}."#;

/// The heading of the context section.
pub const CONTEXT_HEADER: &str = "# Company knowledge (most relevant first)\n";

/// Fixed shares of the budget, in percent.
const TRIGGER_SHARE: usize = 35;
const NOTES_SHARE: usize = 8;
const STATE_SHARE: usize = 12;
const DECISIONS_SHARE: usize = 15;
const TASKS_SHARE: usize = 12;

/// Everything a prompt is made of.
#[derive(Debug)]
pub struct PromptInput<'a> {
    /// The agent.
    pub agent: AgentId,
    /// Its role.
    pub role: &'a Role,
    /// Its profile (markdown).
    pub profile: &'a str,
    /// Who is who.
    pub directory: &'a Directory,
    /// Its state.
    pub state: &'a AgentState,
    /// Recent history, oldest first.
    pub history: &'a [HistoryEntry],
    /// Decisions that involve it.
    pub decisions: &'a [Decision],
    /// Its open tasks, most urgent first ([`sort_by_urgency`](crate::task::sort_by_urgency)).
    pub tasks: &'a [Task],
    /// How many tasks the prompt lists at most; the rest are counted.
    pub task_limit: usize,
    /// RAG passages, best first.
    pub context: &'a [Passage],
    /// Characters the context section may take; longer is cut and marked.
    pub context_budget: usize,
    /// What woke it.
    pub trigger: &'a Trigger,
    /// Now.
    pub now: DateTime<Utc>,
    /// Budget in characters for the prompt (the system prompt is not counted).
    pub budget: usize,
}

/// A built prompt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prompt {
    /// Profile, company directory and response contract.
    pub system: String,
    /// The prompt proper.
    pub user: String,
}

/// Cuts `text` to at most `max` characters, marking the cut.
pub fn fit(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_owned();
    }
    let marker_room = 48.min(max);
    let keep = max - marker_room;
    let mut out: String = text.chars().take(keep).collect();
    let _ = write!(out, "\n[… cut: {} more characters]", count - keep);
    out
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// Builds the system prompt: profile, the company's agents, the response contract.
pub fn system_prompt(role: &Role, agent: AgentId, profile: &str, directory: &Directory) -> String {
    let mut out = String::with_capacity(profile.len() + RESPONSE_FORMAT.len() + 512);
    out.push_str(profile.trim());
    let _ = write!(
        out,
        "\n\n# Your company\nYou are the {} (agent id {agent}). The agents:\n",
        role.as_str().to_uppercase()
    );
    for entry in directory.agents() {
        let _ = writeln!(out, "- {} ({})", entry.role, entry.id);
    }
    out.push('\n');
    out.push_str(RESPONSE_FORMAT);
    out
}

/// Builds the prompt within its budget.
pub fn build(input: &PromptInput<'_>) -> Prompt {
    let budget = input.budget.max(2_000);
    let share = |percent: usize| budget * percent / 100;
    let mut sections: Vec<String> = Vec::new();

    let mut now = String::new();
    let _ = write!(
        now,
        "# Now\nIt is {} (UTC). You were woken by: {}.\n",
        input.now.format("%Y-%m-%d %H:%M"),
        input.trigger.name()
    );
    sections.push(now);

    if !input.state.notes.is_empty() {
        let mut notes = String::from("# Notes from your last session\n");
        for note in &input.state.notes {
            let _ = writeln!(notes, "- {note}");
        }
        sections.push(fit(&notes, share(NOTES_SHARE)));
    }

    let mut state = String::from("# Your state\n");
    let _ = writeln!(
        state,
        "Sessions so far: {}. Last session: {}.",
        input.state.loop_count,
        input.state.last_loop_at.map_or_else(
            || "never".to_owned(),
            |at| at.format("%Y-%m-%d %H:%M").to_string()
        )
    );
    if !input.state.values.is_empty() {
        let _ = writeln!(
            state,
            "{}",
            pretty(&Value::Object(input.state.values.clone()))
        );
    }
    sections.push(fit(&state, share(STATE_SHARE)));

    if let Some(tasks) = tasks_section(input, share(TASKS_SHARE)) {
        sections.push(tasks);
    }

    if !input.decisions.is_empty() {
        sections.push(fit(&decisions_section(input), share(DECISIONS_SHARE)));
    }

    if let Some(context) = context_section(input.context, input.context_budget) {
        sections.push(context);
    }

    let trigger = fit(&trigger_section(input), share(TRIGGER_SHARE));
    let answer = "# Answer\nDecide what to do about the trigger above and answer with the JSON object described under \"Response format\".\n".to_owned();

    let used: usize = sections.iter().map(|s| s.chars().count()).sum::<usize>()
        + trigger.chars().count()
        + answer.chars().count();
    let history = history_section(input, budget.saturating_sub(used));
    if let Some(history) = history {
        sections.push(history);
    }
    sections.push(trigger);
    sections.push(answer);
    Prompt {
        system: system_prompt(input.role, input.agent, input.profile, input.directory),
        user: sections.join("\n"),
    }
}

/// The repair prompt after unreadable output: the same prompt plus the parse error.
pub fn repair(prompt: &Prompt, error: &str, budget: usize) -> Prompt {
    let note = format!(
        "\n# Your previous answer could not be read\n{}\nAnswer again with only the JSON object described under \"Response format\".\n",
        fit(error, 600)
    );
    let room = budget.saturating_sub(note.chars().count());
    Prompt {
        system: prompt.system.clone(),
        user: format!("{}{note}", fit(&prompt.user, room)),
    }
}

/// The context section: passages best first, each under its source, within `budget`
/// characters, fitted by [`fit_passages`] (whole passages kept in order, the first that does
/// not fit cut, those left out counted; every cut marked). `None` when there are no passages or
/// the budget cannot hold a useful part of one.
pub fn context_section(passages: &[Passage], budget: usize) -> Option<String> {
    let room = budget.checked_sub(CONTEXT_HEADER.chars().count())?;
    let fitted = fit_passages(passages, room);
    if fitted.is_empty() {
        return None;
    }
    let mut out = String::from(CONTEXT_HEADER);
    for passage in &fitted {
        push_passage(&mut out, &passage.source, passage.text.trim());
    }
    Some(out)
}

/// Writes one passage as [`Passage::prompt_chars`] counts it.
fn push_passage(out: &mut String, source: &str, text: &str) {
    let _ = writeln!(out, "[{source}]\n{text}\n");
}

fn trigger_section(input: &PromptInput<'_>) -> String {
    let mut out = String::from("# Trigger\n");
    match &input.trigger.kind {
        TriggerKind::Message { envelope, channel } => {
            let _ = writeln!(
                out,
                "A {} message from {} (priority {}, on {channel}):",
                envelope.kind,
                input.directory.name_of(&envelope.from),
                envelope.priority
            );
            let _ = writeln!(out, "{}", pretty(&envelope.payload));
            if envelope.requires_response {
                out.push_str("The sender expects an answer.\n");
            }
        }
        TriggerKind::Schedule { expression, tick } => {
            let _ = writeln!(
                out,
                "Your scheduled check-in ({expression}, due {}). Work on your open tasks (most urgent first) and review your state and open decisions; report progress with update_task; act only where something needs doing.",
                tick.format("%Y-%m-%d %H:%M")
            );
        }
        TriggerKind::Startup => {
            out.push_str("You just started. Review your state and open decisions.\n");
        }
    }
    out
}

/// The open tasks, most urgent first, one line each (and a short description), within `room`
/// characters and at most `task_limit` of them; those left out are counted.
fn tasks_section(input: &PromptInput<'_>, room: usize) -> Option<String> {
    if input.tasks.is_empty() {
        return None;
    }
    let header = "# Your open tasks (most urgent first)\n";
    // Room for the heading and the line that counts what was left out.
    let mut budget = room.saturating_sub(header.len() + 64);
    let mut out = String::from(header);
    let mut shown = 0;
    for task in input.tasks.iter().take(input.task_limit) {
        let mut line = format!(
            "- [{}] \"{}\" — {}, {} priority, from {}",
            task.id,
            fit(&task.title, 160),
            task.status,
            task.priority,
            task.creator_role
        );
        if let Some(deadline) = task.deadline {
            let _ = write!(line, ", due {}", deadline.format("%Y-%m-%d %H:%M"));
            if deadline <= input.now {
                line.push_str(" (OVERDUE)");
            }
        }
        if let Some(parent) = task.parent {
            let _ = write!(line, ", part of {parent}");
        }
        line.push('\n');
        let detail = if task.status == TaskStatus::Blocked && !task.note.is_empty() {
            format!("blocked: {}", task.note)
        } else {
            task.description.clone()
        };
        if !detail.trim().is_empty() {
            let _ = writeln!(line, "  {}", fit(detail.trim(), 240).replace('\n', " "));
        }
        let size = line.chars().count();
        if size > budget {
            break;
        }
        budget -= size;
        out.push_str(&line);
        shown += 1;
    }
    let left = input.tasks.len() - shown;
    if left > 0 {
        let _ = writeln!(
            out,
            "[… {left} more open tasks not shown; they are less urgent]"
        );
    }
    Some(out)
}

fn decisions_section(input: &PromptInput<'_>) -> String {
    let mut out = String::from("# Decisions that involve you\n");
    for decision in input.decisions {
        let expected = if decision.status == DecisionStatus::Pending
            && decision.reviewers.contains(input.role)
            && decision.vote_of(input.role).is_none()
        {
            "waiting for YOUR vote"
        } else if decision.status == DecisionStatus::Revising && decision.proposer == input.agent {
            "vetoed: revise it (propose_decision with its decisionId) or withdraw it"
        } else if decision.status == DecisionStatus::Escalated {
            "waiting for a human"
        } else if decision.status == DecisionStatus::Approved && decision.proposer == input.agent {
            "approved: carry it out"
        } else if decision.status.is_open() {
            "waiting for the reviewers"
        } else {
            "for your information"
        };
        let _ = writeln!(
            out,
            "- [{}] \"{}\" — {} by {}, {} in round {}; {}.",
            decision.id,
            decision.title,
            decision.tier,
            decision.proposer_role,
            decision.status,
            decision.round,
            expected
        );
        if !decision.description.is_empty() {
            let _ = writeln!(
                out,
                "  {}",
                fit(&decision.description, 400).replace('\n', "\n  ")
            );
        }
        for vote in decision
            .votes
            .iter()
            .filter(|vote| vote.round == decision.round)
        {
            let _ = writeln!(
                out,
                "  {} voted {:?}: {}",
                vote.role, vote.choice, vote.reason
            );
        }
    }
    out
}

fn history_section(input: &PromptInput<'_>, room: usize) -> Option<String> {
    if input.history.is_empty() || room < 80 {
        return (!input.history.is_empty()).then(|| {
            format!(
                "# Recent history\n[… {} entries omitted to fit the prompt budget]\n",
                input.history.len()
            )
        });
    }
    let header = "# Recent history (oldest first)\n";
    let mut budget = room.saturating_sub(header.len() + 64);
    let mut lines: Vec<String> = Vec::new();
    for entry in input.history.iter().rev() {
        let mut line = format!(
            "- {} — {} — {}",
            entry.at.format("%m-%d %H:%M"),
            fit(&entry.trigger, 120),
            fit(&entry.summary, 300)
        );
        let done: Vec<&str> = entry
            .actions
            .iter()
            .map(|action| action.kind.as_str())
            .collect();
        if !done.is_empty() {
            let _ = write!(line, " [{}]", done.join(", "));
        }
        line.push('\n');
        let size = line.chars().count();
        if size > budget {
            break;
        }
        budget -= size;
        lines.push(line);
    }
    let omitted = input.history.len() - lines.len();
    let mut out = String::from(header);
    if omitted > 0 {
        let _ = writeln!(
            out,
            "[… {omitted} older entries omitted to fit the prompt budget]"
        );
    }
    for line in lines.iter().rev() {
        out.push_str(line);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::Channel;
    use crate::directory::AgentEntry;
    use crate::envelope::{Envelope, MessageType, Priority, Sender};
    use crate::store::Outcome;
    use serde_json::json;

    fn entry(n: usize) -> HistoryEntry {
        HistoryEntry {
            at: Utc::now(),
            trigger_id: format!("t{n}"),
            trigger: format!("task number {n}"),
            outcome: Outcome::Handled,
            summary: format!("handled number {n} {}", "x".repeat(200)),
            actions: vec![],
            cost_usd: 0.0,
            tokens: 0,
            duration_ms: 0,
            provider: None,
        }
    }

    #[test]
    fn history_is_cut_oldest_first_and_the_cut_is_marked() {
        let agent = AgentId::random();
        let directory = Directory::new([AgentEntry {
            id: agent,
            role: Role::Cto,
        }]);
        let history: Vec<_> = (0..100).map(entry).collect();
        let envelope = Envelope::new(
            MessageType::Task,
            Sender::Human,
            json!({"title": "Build it"}),
        );
        let trigger = Trigger {
            id: "x".into(),
            kind: TriggerKind::Message {
                envelope,
                channel: Channel::Agent(agent),
            },
            priority: Priority::Normal,
            at: Utc::now(),
        };
        let state = AgentState::default();
        let prompt = build(&PromptInput {
            agent,
            role: &Role::Cto,
            profile: "profile",
            directory: &directory,
            state: &state,
            history: &history,
            decisions: &[],
            tasks: &[],
            task_limit: 20,
            context: &[],
            context_budget: 1_000,
            trigger: &trigger,
            now: Utc::now(),
            budget: 6_000,
        });
        assert!(
            prompt.user.chars().count() <= 6_000,
            "{}",
            prompt.user.len()
        );
        assert!(
            prompt.user.contains("handled number 99"),
            "the newest entry is kept"
        );
        assert!(
            !prompt.user.contains("handled number 0 "),
            "the oldest entry is cut"
        );
        assert!(prompt.user.contains("older entries omitted"));
        assert!(prompt.user.contains("Build it"));
        assert!(prompt.system.contains("Response format"));
    }

    fn open_task(n: usize, priority: Priority, now: DateTime<Utc>) -> Task {
        Task {
            id: crate::id::TaskId::random(),
            title: format!("task {n}"),
            description: format!("what task {n} is about"),
            creator: AgentId::random(),
            creator_role: Role::Ceo,
            assignee: AgentId::random(),
            assignee_role: Role::Cto,
            priority,
            deadline: None,
            parent: None,
            status: TaskStatus::Open,
            note: String::new(),
            created_at: now,
            updated_at: now,
            history: Vec::new(),
            overdue_reminded_at: None,
            assignee_sessions_at_change: 0,
            version: 1,
        }
    }

    #[test]
    fn open_tasks_are_listed_most_urgent_first_within_bounds_and_the_cut_is_marked() {
        let agent = AgentId::random();
        let directory = Directory::new([AgentEntry {
            id: agent,
            role: Role::Cto,
        }]);
        let now = Utc::now();
        let mut tasks: Vec<Task> = (0..200)
            .map(|n| open_task(n, Priority::Normal, now))
            .collect();
        tasks.push(open_task(999, Priority::Critical, now));
        let late = now - chrono::Duration::hours(1);
        tasks[150].deadline = Some(late);
        tasks[150].status = TaskStatus::Blocked;
        tasks[150].note = "waiting for the CFO".into();
        crate::task::sort_by_urgency(&mut tasks, now);
        let trigger = Trigger {
            id: "cron".into(),
            kind: TriggerKind::Schedule {
                expression: "0 9 * * *".into(),
                tick: now,
            },
            priority: Priority::Low,
            at: now,
        };
        let state = AgentState::default();
        let prompt = build(&PromptInput {
            agent,
            role: &Role::Cto,
            profile: "profile",
            directory: &directory,
            state: &state,
            history: &[],
            decisions: &[],
            tasks: &tasks,
            task_limit: 20,
            context: &[],
            context_budget: 1_000,
            trigger: &trigger,
            now,
            budget: 24_000,
        });
        let user = &prompt.user;
        let overdue = user
            .find("\"task 150\"")
            .expect("the overdue task is listed");
        let critical = user
            .find("\"task 999\"")
            .expect("the critical task is listed");
        let normal = user
            .find("\"task 0\"")
            .expect("the oldest normal task is listed");
        assert!(overdue < critical && critical < normal, "{user}");
        assert!(user.contains("(OVERDUE)") && user.contains("blocked: waiting for the CFO"));
        assert!(!user.contains("\"task 100\""), "beyond the limit");
        assert!(user.contains("[… 181 more open tasks not shown"), "{user}");
        assert!(
            user.contains("update_task"),
            "the check-in asks for progress"
        );

        // A small budget shows fewer, and still marks the cut.
        let small = build(&PromptInput {
            budget: 3_000,
            ..PromptInput {
                agent,
                role: &Role::Cto,
                profile: "profile",
                directory: &directory,
                state: &state,
                history: &[],
                decisions: &[],
                tasks: &tasks,
                task_limit: 20,
                context: &[],
                context_budget: 0,
                trigger: &trigger,
                now,
                budget: 3_000,
            }
        });
        let section_start = small.user.find("# Your open tasks").expect("section");
        let section_end = small.user[section_start..]
            .find("\n# ")
            .map_or(small.user.len(), |end| section_start + end);
        assert!(
            section_end - section_start <= 3_000 * TASKS_SHARE / 100,
            "within its share"
        );
        assert!(small.user.contains("more open tasks not shown"));
    }

    fn passage(source: &str, text: &str) -> Passage {
        Passage {
            source: source.to_owned(),
            text: text.to_owned(),
            score: 1.0,
        }
    }

    #[test]
    fn passages_within_the_budget_are_shown_whole_and_counted_exactly() {
        let passages = vec![
            passage("knowledge/a.md", "alpha text"),
            passage("decision:1", "  beta text\n"),
        ];
        let budget = CONTEXT_HEADER.chars().count()
            + passages.iter().map(Passage::prompt_chars).sum::<usize>();
        let section = context_section(&passages, budget).expect("section");
        assert_eq!(section.chars().count(), budget);
        assert!(section.contains("[knowledge/a.md]\nalpha text"));
        assert!(section.contains("[decision:1]\nbeta text"));
        assert!(!section.contains("omitted") && !section.contains("cut:"));
        assert_eq!(context_section(&[], 1_000), None);
    }

    #[test]
    fn context_over_its_share_is_cut_within_the_budget_and_the_cut_is_marked() {
        let passages: Vec<_> = (0..10)
            .map(|n| {
                passage(
                    &format!("knowledge/{n}.md"),
                    &format!("{n} {}", "w".repeat(400)),
                )
            })
            .collect();
        for budget in [400, 700, 1_000, 1_500, 2_345] {
            let section = context_section(&passages, budget).expect("section");
            assert!(
                section.chars().count() <= budget,
                "{} > {budget}",
                section.chars().count()
            );
            assert!(section.contains("more passages omitted"), "{section}");
            if budget >= 700 {
                assert!(
                    section.contains("[knowledge/0.md]"),
                    "the best passage comes first"
                );
            }
        }
        let section = context_section(&passages, 1_200).expect("section");
        assert!(
            section.contains("cut: "),
            "a partly shown passage is marked: {section}"
        );
        assert_eq!(
            context_section(&passages, 50),
            None,
            "no room even for the heading"
        );
    }

    #[test]
    fn fit_marks_the_cut() {
        let cut = fit(&"a".repeat(500), 100);
        assert!(cut.chars().count() <= 100 + 10);
        assert!(cut.contains("cut: "));
        assert_eq!(fit("short", 100), "short");
    }
}
