//! `aito agent --role ROLE`: one agent's daemon, as in one container per agent, with its
//! health endpoints. The other agents run elsewhere, so the bus and store are Redis.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::{listen, redis_url, shutdown_signal};
use crate::backend::Backend;
use crate::cli::AgentArgs;
use crate::config::Config;
use crate::error::Error;
use crate::health::{self, HealthState};
use crate::model::{self, Purpose};

/// Runs the daemon until Ctrl-C or SIGTERM.
pub async fn agent(args: AgentArgs, config: Config) -> Result<(), Error> {
    let role = config
        .agent(&args.role)
        .map(|agent| agent.spec.role.clone())
        .ok_or_else(|| {
            let roles: Vec<&str> = config
                .agents
                .iter()
                .map(|agent| agent.spec.role.as_str())
                .collect();
            Error::Usage(format!(
                "no agent with role {:?} in {}; its agents are {}",
                args.role,
                config.source,
                roles.join(", ")
            ))
        })?;
    let url = redis_url(args.connection.redis.as_deref(), &config)?.ok_or_else(|| {
        Error::Usage(
            "aito agent runs one agent of a company whose other agents run in other processes, so it needs their shared bus and store: give --redis URL or set AITO_REDIS_URL (to run the whole company in one process, use aito run)".to_owned(),
        )
    })?;
    let choice = model::choose(args.llm.clone(), &config, Purpose::Agent)?;
    let backend = Backend::redis(&url, &config.redis.prefix).await?;
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
    let daemon = company.daemon(&role)?;
    let state = HealthState {
        agent: daemon.id(),
        role: role.clone(),
        monitor: daemon.monitor(),
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
    tracing::info!(%role, agent = %daemon.id(), model = %adapters.description, "agent starting; health on http://{address}/healthz");

    let health_stop = CancellationToken::new();
    let server = tokio::spawn(health::serve(listener, state, health_stop.clone()));
    let shutdown = CancellationToken::new();
    let run = daemon.run(shutdown.clone());
    tokio::pin!(run);
    tokio::select! {
        () = &mut run => {}
        () = shutdown_signal() => {
            shutdown.cancel();
            run.await;
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
