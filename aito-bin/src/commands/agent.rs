//! `aito agent --role ROLE`: one agent's daemon, as in one container per agent, with its
//! health endpoints. The other agents run elsewhere, so the bus and store are Redis.
//! `--role` repeated, or `--all`, runs several agents' daemons in this one process (a host
//! packing many agents), sharing its connections and its health endpoint.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::{listen, redis_url, shutdown_signal};
use crate::backend::Backend;
use crate::cli::AgentArgs;
use crate::config::Config;
use crate::error::Error;
use crate::health::{self, AgentHealth, HealthState};
use crate::model::{self, Purpose};

/// Runs the daemon until Ctrl-C or SIGTERM.
pub async fn agent(args: AgentArgs, config: Config) -> Result<(), Error> {
    let roles = roles(&args, &config)?;
    let url = redis_url(args.connection.redis.as_deref(), &config)?.ok_or_else(|| {
        Error::Usage(
            "aito agent runs agents of a company whose other agents run in other processes, so it needs their shared bus and store: give --redis URL or set AITO_REDIS_URL (to run the whole company in one process, use aito run)".to_owned(),
        )
    })?;
    let choice = model::choose(args.llm.clone(), &config, Purpose::Agent)?;
    // One agent's few readers wait on connections of their own: a delivery takes one round
    // trip. Many agents' readers share one waiting connection: Redis keeps buffers for every
    // connection (docs/scaling.md).
    let backend = Backend::redis_waiting(&url, &config, roles.len() > 1).await?;
    // Before any model process starts: the groups a killed predecessor left are killed first.
    super::reap_process_groups(&config.data_dir);
    let adapters = model::adapters(&choice, &config, Arc::clone(&backend.bus))?;
    if !adapters.kickoff.is_empty() {
        tracing::info!(
            "the scenario's kickoff messages are sent by aito run only; send work to this agent with aito send"
        );
    }
    let (builder, context) = super::context::attach(
        config.company_builder(),
        &config,
        aito_core::Clock::system(),
    )?;
    let company = builder
        .bus(Arc::clone(&backend.bus))
        .store(Arc::clone(&backend.store))
        .llm(Arc::clone(&adapters.llm))
        .workers(Arc::clone(&adapters.workers))
        .build()?;
    if let Some(context) = &context {
        super::context::remember(context, company.runtime()).await;
    }
    let mut daemons = Vec::with_capacity(roles.len());
    for role in &roles {
        daemons.push(company.daemon(role)?);
    }
    let state = HealthState {
        agents: daemons
            .iter()
            .map(|daemon| AgentHealth {
                agent: daemon.id(),
                role: daemon.spec().role.clone(),
                monitor: daemon.monitor(),
            })
            .collect(),
        runtime: company.runtime().clone(),
    };
    let bind = args.health_bind.unwrap_or(config.health_bind);
    let listener = listen(
        bind,
        "the health endpoint",
        "--health-bind or AITO_HEALTH_BIND",
    )
    .await?;
    let address = listener
        .local_addr()
        .map_err(|err| Error::Runtime(format!("the health socket has no address: {err}")))?;
    for daemon in &daemons {
        tracing::info!(role = %daemon.spec().role, agent = %daemon.id(), model = %adapters.description, "agent starting; health on http://{address}/healthz");
    }

    let health_stop = CancellationToken::new();
    let server = tokio::spawn(health::serve(listener, state, health_stop.clone()));
    let shutdown = CancellationToken::new();
    let mut running = tokio::task::JoinSet::new();
    for daemon in daemons {
        running.spawn(daemon.run(shutdown.clone()));
    }
    tokio::select! {
        () = async { while running.join_next().await.is_some() {} } => {}
        () = shutdown_signal() => {
            shutdown.cancel();
            while let Some(result) = running.join_next().await {
                if let Err(err) = result {
                    tracing::warn!(error = %err, "a daemon task failed");
                }
            }
        }
    }
    health_stop.cancel();
    match server.await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::warn!(error = %err, "the health endpoint stopped with an error"),
        Err(err) => tracing::warn!(error = %err, "the health endpoint task failed"),
    }
    Ok(())
}

/// The roles to run: each `--role` once, in the order given, or every agent with `--all`.
fn roles(args: &AgentArgs, config: &Config) -> Result<Vec<aito_core::Role>, Error> {
    if args.all {
        return Ok(config
            .agents
            .iter()
            .map(|agent| agent.spec.role.clone())
            .collect());
    }
    let mut roles: Vec<aito_core::Role> = Vec::with_capacity(args.role.len());
    for name in &args.role {
        let role = config
            .agent(name)
            .map(|agent| agent.spec.role.clone())
            .ok_or_else(|| {
                let known: Vec<&str> = config
                    .agents
                    .iter()
                    .map(|agent| agent.spec.role.as_str())
                    .collect();
                Error::Usage(format!(
                    "no agent with role {name:?} in {}; its agents are {}",
                    config.source,
                    known.join(", ")
                ))
            })?;
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    Ok(roles)
}
