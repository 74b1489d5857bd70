//! The subcommands. Each returns `Ok(())` or an [`Error`] whose exit code `main` returns;
//! nothing here exits the process.

pub mod agent;
pub mod client;
pub mod config;
pub mod context;
pub mod dashboard;
pub mod replay;
pub mod run;
pub mod transfer;

use std::net::SocketAddr;
use std::time::Duration;

use aito_redis::{RedisConfig, RedisUrl};
use tokio::net::TcpListener;

use crate::cli::{Cli, Command, ConfigCommand, ContextCommand};
use crate::config::{Config, Env};
use crate::error::Error;

/// Runs the command of `cli`.
pub async fn execute(cli: Cli) -> Result<(), Error> {
    let env = Env::from_process();
    let path = cli.config.as_deref();
    match cli.command {
        Command::Health(args) => {
            let timeout = Duration::from_secs(args.timeout.max(1));
            let url = args.url;
            tokio::task::spawn_blocking(move || crate::health::probe(&url, timeout))
                .await
                .map_err(|err| Error::Runtime(format!("the probe failed: {err}")))?
                .map_err(Error::Runtime)
        }
        Command::Config {
            command: ConfigCommand::Check,
        } => config::check(path, &env),
        Command::Run(args) => run::run(args, load(path, &env)?).await,
        Command::Agent(args) => agent::agent(args, load(path, &env)?).await,
        Command::Dashboard(args) => dashboard::dashboard(args, load(path, &env)?).await,
        Command::Send(args) => client::send(args, load(path, &env)?).await,
        Command::Status(args) => client::status(args, load(path, &env)?).await,
        Command::Decide(args) => client::decide(args, load(path, &env)?).await,
        Command::Tasks(args) => client::tasks(args, load(path, &env)?).await,
        Command::Task(args) => client::task(args, load(path, &env)?).await,
        Command::Budget(args) => client::budget(args, load(path, &env)?).await,
        Command::Replay(args) => replay::replay(args).await,
        Command::Export(args) => transfer::export(args, load(path, &env)?).await,
        Command::Import(args) => transfer::import(args, load(path, &env)?).await,
        Command::Context {
            command: ContextCommand::Search(args),
        } => context::search(args, load(path, &env)?).await,
    }
}

/// Loads the configuration and logs what is worth knowing about it.
fn load(path: Option<&std::path::Path>, env: &Env) -> Result<Config, Error> {
    let config = Config::load(path, env)?;
    tracing::debug!(source = %config.source, overrides = ?config.overrides, "configuration loaded");
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    Ok(config)
}

/// The Redis URL: `--redis`, else `AITO_REDIS_URL`, else `[redis] url`.
fn redis_url(flag: Option<&str>, config: &Config) -> Result<Option<RedisUrl>, Error> {
    match flag {
        Some(text) => {
            let url = RedisUrl::new(text.trim());
            RedisConfig::new(url.clone())
                .validate()
                .map_err(|err| Error::Usage(format!("--redis: {err}")))?;
            Ok(Some(url))
        }
        None => Ok(config.redis.url.clone()),
    }
}

/// Kills what the model processes of a daemon killed earlier on this data directory left
/// running (their process groups, recorded in `<data_dir>/process-groups`), then records the
/// groups this process starts there. Called before any work starts.
fn reap_process_groups(data_dir: &std::path::Path) {
    let registry = aito_claude::GroupRegistry::in_data_dir(data_dir);
    let reaped = registry.reap();
    if !reaped.killed.is_empty() {
        tracing::warn!(
            groups = reaped.killed.len(),
            dir = %registry.dir().display(),
            "killed the process groups an earlier daemon left running when it was killed"
        );
    }
    if !registry.install() {
        tracing::debug!("a registry of process groups was installed already");
    }
}

/// Opens a listening socket, with an error that says how to choose another address.
async fn listen(
    address: SocketAddr,
    what: &'static str,
    hint: &'static str,
) -> Result<TcpListener, Error> {
    TcpListener::bind(address)
        .await
        .map_err(|source| Error::Bind {
            what,
            address,
            hint,
            source,
        })
}

/// Waits for Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C: shutting down"),
        () = terminate => tracing::info!("SIGTERM: shutting down"),
    }
}
