//! `aito run`: the whole company in one process, with the dashboard, until Ctrl-C or SIGTERM
//! (or, with `--exit-when-idle`, until nothing is left to do); then a summary.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aito_core::directory::Directory;
use aito_core::recording::FileRecorder;
use aito_core::store::Activity;
use aito_core::{AgentId, MessageType, Role, RunningCompany};
use tokio_util::sync::CancellationToken;

use super::{listen, redis_url, shutdown_signal};
use crate::backend::Backend;
use crate::cli::RunArgs;
use crate::config::Config;
use crate::dashboard;
use crate::data_dir;
use crate::error::Error;
use crate::model::{self, Purpose};
use crate::scenario::Kickoff;
use crate::summary::{Baseline, RunFacts, Summary};

/// How long every agent must stay idle before `--exit-when-idle` ends the run. Messages an
/// agent sends reach their receiver within milliseconds; this leaves room for a loaded machine.
const IDLE_SETTLE: Duration = Duration::from_millis(1000);

/// How long to wait for every daemon to report that it serves.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// `--exit-when-idle` waits for an agent parked on the model's rate limit or quota when it
/// tries again within this long; a longer wait ends the run, and the summary names the agent.
const PARK_PATIENCE: Duration = Duration::from_secs(15 * 60);

/// Runs the company.
pub async fn run(args: RunArgs, config: Config) -> Result<(), Error> {
    let url = redis_url(args.connection.redis.as_deref(), &config)?;
    let choice = model::choose(args.llm.clone(), &config, Purpose::Company)?;
    if let model::LlmChoice::Replay(path) = &choice {
        // A scenario that cannot be read is a usage error: found before anything is opened.
        crate::scenario::Scenario::from_file(path)?;
    }
    let kickoff = match args.kickoff.as_deref() {
        None => None,
        Some("demo") => Some(crate::scenario::Scenario::demo()?.kickoff),
        Some(path) => {
            Some(crate::scenario::Scenario::from_file(std::path::Path::new(path))?.kickoff)
        }
    };
    let dir = data_dir::dir(args.connection.data_dir.as_deref(), &config);
    // The context index on disk lives in the same directory.
    let mut config = config;
    config.data_dir = dir.clone();
    let (backend, found) = match &url {
        _ if args.memory => (Backend::memory(&config.bus), None),
        // A recording is replayed on an empty company in memory; recorded on one, the replay
        // sees what the run saw.
        None if args.record.is_some() => {
            tracing::info!("recording: the company is kept in memory, as its replay will be");
            (Backend::memory(&config.bus), None)
        }
        Some(url) => (Backend::redis(url, &config).await?, None),
        None => {
            let ids: Vec<AgentId> = config
                .agents
                .iter()
                .filter_map(|agent| agent.spec.id)
                .collect();
            let (backend, found) = data_dir::open_for_run(&dir, &ids, &config.bus).await?;
            tracing::info!("company {}", found.describe());
            (backend, Some(found))
        }
    };
    // Before any model process starts: the groups a killed predecessor left are killed first.
    super::reap_process_groups(&dir);
    let mut adapters = model::adapters(&choice, &config, Arc::clone(&backend.bus))?;
    if let Some(kickoff) = kickoff {
        adapters.kickoff = kickoff;
    }
    let (builder, context) = super::context::attach(
        config.company_builder(),
        &config,
        aito_core::Clock::system(),
    )?;
    let mut builder = builder
        .bus(Arc::clone(&backend.bus))
        .store(Arc::clone(&backend.store))
        .llm(Arc::clone(&adapters.llm))
        .workers(Arc::clone(&adapters.workers));
    if let Some(path) = &args.record {
        let recorder = FileRecorder::create(path).map_err(|err| {
            Error::Usage(format!("--record: cannot create {}: {err}", path.display()))
        })?;
        tracing::info!(file = %path.display(), "recording the run");
        builder = builder.recorder(Arc::new(recorder));
    }
    let company = builder.build()?;
    if let Some(context) = &context {
        super::context::remember(context, company.runtime()).await;
    }
    check_kickoff(&adapters.kickoff, &company.runtime().directory)?;
    let agents: Vec<(AgentId, Role)> = company
        .agents()
        .map(|(id, spec)| (id, spec.role.clone()))
        .collect();

    let bind = args.bind.unwrap_or(config.dashboard_bind);
    let listener = listen(bind, "the dashboard", "--bind or AITO_DASHBOARD_BIND").await?;
    let address = listener
        .local_addr()
        .map_err(|err| Error::Runtime(format!("the dashboard socket has no address: {err}")))?;

    let baseline = Baseline::take(company.runtime(), &agents).await?;
    let started = Instant::now();
    let running = company.start()?;
    tracing::info!(
        company = %config.company,
        agents = agents.len(),
        store = %backend.describe(),
        model = %adapters.description,
        "company running; dashboard on http://{address}"
    );
    let dashboard_stop = CancellationToken::new();
    let dashboard = tokio::spawn(dashboard::serve(
        listener,
        super::dashboard::state(&config, running.runtime().clone()),
        dashboard_stop.clone(),
    ));

    let work = drive(
        &running,
        &agents,
        &adapters.kickoff,
        &baseline,
        args.exit_when_idle,
    );
    let result = tokio::select! {
        () = shutdown_signal() => Ok(()),
        result = work => result,
        () = running.stopped() => Ok(()),
    };
    let runtime = running.runtime().clone();
    let live = running
        .snapshots()
        .into_iter()
        .map(|(id, _, snapshot)| (id, snapshot))
        .collect();
    running.shutdown().await;
    if let Some(embedded) = &backend.embedded {
        // Everything into the file itself: it is whole on its own after a clean stop.
        if let Err(err) = embedded.db.checkpoint().await {
            tracing::warn!(error = %err, "could not checkpoint the database");
        }
    }
    dashboard_stop.cancel();
    match dashboard.await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::warn!(error = %err, "the dashboard stopped with an error"),
        Err(err) => tracing::warn!(error = %err, "the dashboard task failed"),
    }
    result?;

    let summary = Summary::collect(
        &runtime,
        &agents,
        &baseline,
        RunFacts {
            model: adapters.description.clone(),
            backend: backend.describe(),
            shared: backend.is_shared(),
            answer_flags: answer_flags(&args, &url),
            found,
            elapsed: started.elapsed(),
            budget_usd_per_day: config.company_budget.usd_per_day,
            live,
        },
    )
    .await?;
    print!("{summary}");
    Ok(())
}

/// What `aito decide` needs besides the id to reach this run's company (printed in the
/// summary): the `--redis` or `--data-dir` given on this command line, if any.
fn answer_flags(args: &RunArgs, url: &Option<aito_redis::RedisUrl>) -> String {
    if let Some(text) = &args.connection.redis {
        // The flag's own text: a password in it is the user's to retype (masked here).
        let masked = url
            .as_ref()
            .map_or_else(|| text.clone(), |url| url.masked());
        return format!(" --redis {masked}");
    }
    match &args.connection.data_dir {
        Some(dir) => format!(" --data-dir {}", shell_word(&dir.display().to_string())),
        None => String::new(),
    }
}

/// `text` as one shell word.
fn shell_word(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@%+=,".contains(c))
    {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// Refuses a scenario whose first messages go to no one in this company.
fn check_kickoff(kickoff: &[Kickoff], directory: &Directory) -> Result<(), Error> {
    for message in kickoff {
        directory.route_text(&message.to).map_err(|err| {
            Error::Usage(format!(
                "the scenario's kickoff message to {:?} cannot be delivered: {err}",
                message.to
            ))
        })?;
    }
    Ok(())
}

/// Waits for the daemons, sends the scenario's first messages, and with `exit_when_idle`
/// returns once the company has nothing left to do (else never). An agent parked on the
/// model's rate limit or quota is waited for when it tries again within [`PARK_PATIENCE`];
/// one that waits longer is named in the log (and the summary) as work left.
async fn drive(
    running: &RunningCompany,
    agents: &[(AgentId, Role)],
    kickoff: &[Kickoff],
    baseline: &Baseline,
    exit_when_idle: bool,
) -> Result<(), Error> {
    wait_serving(running, agents, baseline).await;
    for message in kickoff {
        let id = running
            .send(
                &message.to,
                MessageType::from(message.kind.as_str()),
                message.payload.clone(),
                message.priority,
            )
            .await?;
        tracing::info!(to = %message.to, kind = %message.kind, %id, "scenario message sent");
    }
    if exit_when_idle {
        let waiting = running.wait_settled(IDLE_SETTLE, PARK_PATIENCE).await;
        if waiting.is_empty() {
            tracing::info!("every agent is idle; stopping");
        }
        for (_, role, parked) in waiting {
            tracing::warn!(
                %role,
                until = %parked.until.to_rfc3339(),
                reason = parked.reason,
                "stopping while {role} still holds work: it waits until {} ({})",
                parked.until.to_rfc3339(),
                parked.reason
            );
        }
        Ok(())
    } else {
        std::future::pending().await
    }
}

/// Waits until every daemon has reported since the run started (so nothing is sent before
/// they listen, and idleness means something).
async fn wait_serving(running: &RunningCompany, agents: &[(AgentId, Role)], baseline: &Baseline) {
    let store = &running.runtime().store;
    let since = baseline.started;
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let statuses = store.statuses().await.unwrap_or_default();
        let waiting: Vec<&Role> = agents
            .iter()
            .filter(|(id, _)| {
                !statuses.iter().any(|status| {
                    status.id == *id
                        && status.activity != Activity::Stopped
                        && since.is_none_or(|since| status.heartbeat >= since)
                })
            })
            .map(|(_, role)| role)
            .collect();
        if waiting.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            let roles: Vec<&str> = waiting.iter().map(|role| role.as_str()).collect();
            tracing::warn!(waiting = ?roles, "some daemons did not report within {START_TIMEOUT:?}; going on");
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
