//! The operator's client: `aito send`, `aito status`, `aito decide`, `aito budget`. They reach
//! a company through its store and bus: on Redis (`--redis`), or kept in its data directory on
//! this machine (the default), whether its `aito run` is running or not.

use aito_core::budget::{BudgetChange, Scope};
use aito_core::decision::DecisionStatus;
use aito_core::{Company, DecisionId, Envelope, MessageType, Role, Sender};
use serde_json::Value;

use super::redis_url;
use crate::backend::Backend;
use crate::cli::{
    Answer, BudgetArgs, Connection, DecideArgs, Limit, SendArgs, StatusArgs, TaskArgs, TasksArgs,
};
use crate::config::Config;
use crate::data_dir;
use crate::error::Error;
use crate::model::observer;
use crate::status;
use crate::tasks;

/// The company's bus and store as a client reaches them: Redis when a URL is given (flag,
/// variable or file), else the data directory.
pub(crate) async fn backend(connection: &Connection, config: &Config) -> Result<Backend, Error> {
    match redis_url(connection.redis.as_deref(), config)? {
        Some(url) => Backend::redis(&url, config).await,
        None => {
            let dir = data_dir::dir(connection.data_dir.as_deref(), config);
            data_dir::open_for_client(&dir, config).await
        }
    }
}

/// The company as a client sees it: adapters, directory and decision engine, no daemon.
async fn connect(connection: &Connection, config: &Config) -> Result<(Backend, Company), Error> {
    let backend = backend(connection, config).await?;
    let company = observer(config, &backend)?;
    Ok((backend, company))
}

/// `aito send`: publishes the message and prints its envelope id.
pub async fn send(args: SendArgs, config: Config) -> Result<(), Error> {
    let payload: Value = serde_json::from_str(&args.payload).map_err(|err| {
        Error::Usage(format!(
            "--payload is not JSON ({err}); expected an object such as '{{\"title\": \"Write the changelog\"}}'"
        ))
    })?;
    if !payload.is_object() {
        return Err(Error::Usage(format!(
            "--payload must be a JSON object such as '{{\"title\": \"Write the changelog\"}}', not {payload}"
        )));
    }
    let kind = args.kind.trim();
    if kind.is_empty() {
        return Err(Error::Usage("--type must not be empty".to_owned()));
    }
    // The recipient is checked against the configuration before any connection is made.
    config
        .directory()
        .route_text(&args.to)
        .map_err(|err| Error::Usage(format!("--to: {err}")))?;

    let (backend, company) = connect(&args.connection, &config).await?;
    let runtime = company.runtime();
    let envelope =
        Envelope::new(MessageType::from(kind), Sender::Human, payload).with_priority(args.priority);
    let sent = runtime
        .send(&args.to, envelope)
        .await
        .map_err(|err| match err {
            aito_core::SendError::Bus(err) => Error::Bus(err),
            other => Error::Usage(format!("--to: {other}")),
        })?;
    if let aito_core::Recipient::Agent(id) = &sent.to {
        let known = backend
            .store
            .statuses()
            .await?
            .iter()
            .any(|status| status.id == *id);
        if !known {
            tracing::warn!(to = %args.to, agent = %id, "no daemon of this agent has reported to this store yet; the message waits in its inbox until one starts");
        }
    }
    let id = sent.id;
    println!("{id}");
    Ok(())
}

/// `aito status`: prints the report, as text or one JSON object.
pub async fn status(args: StatusArgs, config: Config) -> Result<(), Error> {
    let (backend, company) = connect(&args.connection, &config).await?;
    let report = status::collect(&config, company.runtime(), &backend.describe()).await?;
    if args.json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|err| Error::Runtime(format!("cannot write the report as JSON: {err}")))?;
        println!("{text}");
    } else {
        print!("{}", report.render_text());
    }
    Ok(())
}

/// `aito decide`: the human's answer to an escalated decision.
pub async fn decide(args: DecideArgs, config: Config) -> Result<(), Error> {
    let id: DecisionId = args.id.parse().map_err(|_| {
        Error::Usage(format!(
            "{:?} is not a decision id; `aito status` lists them (UUIDs)",
            args.id
        ))
    })?;
    if args.reason.trim().is_empty() {
        return Err(Error::Usage(
            "--reason must say why; the proposer reads it".to_owned(),
        ));
    }
    let (_backend, company) = connect(&args.connection, &config).await?;
    let approve = args.answer == Answer::Approve;
    let decision = company
        .runtime()
        .engine
        .human_decide(id, approve, args.reason.trim())
        .await?;
    let told = if decision.status == DecisionStatus::Approved {
        "its proposer is told to carry it out"
    } else {
        "its proposer is told not to carry it out"
    };
    println!(
        "decision {} \"{}\" is {}: {}; {told}",
        decision.id,
        decision.title,
        decision.status,
        decision.path()
    );
    Ok(())
}

fn json_text(value: &impl serde::Serialize) -> Result<String, Error> {
    serde_json::to_string_pretty(value)
        .map_err(|err| Error::Runtime(format!("cannot write JSON: {err}")))
}

/// `aito tasks`: the task ledger, newest first, as a table or one JSON object.
pub async fn tasks(args: TasksArgs, config: Config) -> Result<(), Error> {
    let filter = tasks::Filter::parse(
        &config.directory(),
        args.agent.as_deref(),
        args.status.as_deref(),
    )
    .map_err(|err| Error::Usage(format!("aito tasks: {err}")))?;
    let (backend, company) = connect(&args.connection, &config).await?;
    let listed = tasks::list(&*backend.store, &filter).await?;
    if args.json {
        println!("{}", json_text(&serde_json::json!({ "tasks": listed }))?);
    } else {
        print!(
            "{}",
            tasks::render_list(&listed, company.runtime().clock.now())
        );
    }
    Ok(())
}

/// `aito task ID`: one task with its history and sub-tasks.
pub async fn task(args: TaskArgs, config: Config) -> Result<(), Error> {
    let id: aito_core::TaskId = args.id.parse().map_err(|_| {
        Error::Usage(format!(
            "{:?} is not a task id; `aito tasks` lists them (UUIDs)",
            args.id
        ))
    })?;
    let (backend, company) = connect(&args.connection, &config).await?;
    let detail = tasks::detail(&*backend.store, id)
        .await?
        .ok_or_else(|| Error::Usage(format!("no task with id {id}; `aito tasks` lists them")))?;
    if args.json {
        println!("{}", json_text(&detail)?);
    } else {
        print!(
            "{}",
            tasks::render_detail(&detail, company.runtime().clock.now())
        );
    }
    Ok(())
}

/// `aito budget`: shows an agent's or the company's budget and spend; with limits given, sets
/// them (the other limits stay as they are) and tells every daemon.
pub async fn budget(args: BudgetArgs, config: Config) -> Result<(), Error> {
    let (scope, whose) = match &args.agent {
        Some(text) => {
            let role: Role = text
                .parse()
                .map_err(|err| Error::Usage(format!("--agent: {err}")))?;
            let id = config.directory().id_of(&role).ok_or_else(|| {
                Error::Usage(format!(
                    "--agent: no agent with role {role}; the company has: {}",
                    config.directory().role_names()
                ))
            })?;
            (Scope::Agent(id.to_string()), format!("the {role}"))
        }
        None => (Scope::Company, "the company".to_owned()),
    };
    let change = BudgetChange {
        sessions_per_hour: args
            .sessions_per_hour
            .map(|limit| value(limit).map(|n| n.round() as u32)),
        usd_per_hour: args.usd_per_hour.map(value),
        usd_per_day: args.usd_per_day.map(value),
        tokens_per_hour: args
            .tokens_per_hour
            .map(|limit| value(limit).map(|n| n.round() as u64)),
        tokens_per_day: args
            .tokens_per_day
            .map(|limit| value(limit).map(|n| n.round() as u64)),
    };
    let (_backend, company) = connect(&args.connection, &config).await?;
    let runtime = company.runtime();
    let budget = if change.is_empty() {
        let configured = runtime.configured_budget(&scope).unwrap_or_default();
        runtime.ledger.effective(&scope, &configured).await
    } else {
        let budget = runtime
            .change_budget(&scope, &change, "aito budget")
            .await
            .map_err(|err| Error::Runtime(format!("the budget could not be set: {err}")))?;
        println!("Budget of {whose} set; every daemon was told.");
        budget
    };
    let spend = runtime.ledger.spend(&scope, runtime.clock.now()).await?;
    let limit =
        |value: Option<f64>| value.map_or_else(|| "no limit".to_owned(), |v| format!("{v}"));
    println!("Budget of {whose}:");
    println!(
        "  sessions this hour  {:>10}  of {}",
        spend.sessions_hour,
        limit(budget.sessions_per_hour.map(f64::from))
    );
    println!(
        "  USD this hour       {:>10.4}  of {}",
        spend.usd_hour,
        limit(budget.usd_per_hour)
    );
    println!(
        "  USD today           {:>10.4}  of {}",
        spend.usd_day,
        limit(budget.usd_per_day)
    );
    println!(
        "  tokens this hour    {:>10}  of {}",
        spend.tokens_hour,
        limit(budget.tokens_per_hour.map(|t| t as f64))
    );
    println!(
        "  tokens today        {:>10}  of {}",
        spend.tokens_day,
        limit(budget.tokens_per_day.map(|t| t as f64))
    );
    Ok(())
}

fn value(limit: Limit) -> Option<f64> {
    match limit {
        Limit::None => None,
        Limit::At(value) => Some(value),
    }
}
