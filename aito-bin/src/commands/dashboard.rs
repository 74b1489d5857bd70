//! `aito dashboard`: the dashboard of a company whose agents run in other processes, read from
//! and acting on their shared Redis.

use tokio_util::sync::CancellationToken;

use super::{listen, redis_url, shutdown_signal};
use crate::backend::Backend;
use crate::cli::DashboardArgs;
use crate::config::Config;
use crate::dashboard::{self, DashboardState};
use crate::error::Error;
use crate::model::observer;

/// Serves the dashboard until Ctrl-C or SIGTERM.
pub async fn dashboard(args: DashboardArgs, config: Config) -> Result<(), Error> {
    let url = redis_url(args.connection.redis.as_deref(), &config)?.ok_or_else(|| {
        Error::Usage(
            "aito dashboard shows a company whose agents run in other processes, so it needs their shared bus and store: give --redis URL or set AITO_REDIS_URL (aito run serves the dashboard of its own company)".to_owned(),
        )
    })?;
    let backend = Backend::redis(&url, &config).await?;
    let company = observer(&config, &backend)?;
    let bind = args.bind.unwrap_or(config.dashboard_bind);
    let listener = listen(bind, "the dashboard", "--bind or AITO_DASHBOARD_BIND").await?;
    let address = listener
        .local_addr()
        .map_err(|err| Error::Runtime(format!("the dashboard socket has no address: {err}")))?;
    tracing::info!(company = %config.company, store = %backend.describe(), "dashboard on http://{address}");
    let stop = CancellationToken::new();
    let state = state(&config, company.runtime().clone());
    let server = dashboard::serve(listener, state, stop.clone());
    tokio::pin!(server);
    let result = tokio::select! {
        result = &mut server => result,
        () = shutdown_signal() => {
            stop.cancel();
            server.await
        }
    };
    result.map_err(|err| Error::Runtime(format!("the dashboard failed: {err}")))
}

/// The dashboard's state for `runtime` under `config`: token, escalation webhook, public URL,
/// webhook sources.
pub(crate) fn state(config: &Config, runtime: aito_core::Runtime) -> DashboardState {
    let mut state = DashboardState::new(
        runtime,
        config
            .dashboard_token
            .as_ref()
            .map(|token| token.expose().to_owned()),
    );
    if let Some(webhook) = &config.escalation_webhook {
        state = state.with_escalation_webhook(webhook.clone());
    }
    if let Some(url) = &config.public_url {
        state = state.with_public_url(url.clone());
    }
    state.with_webhooks(config.webhooks.iter().cloned())
}
