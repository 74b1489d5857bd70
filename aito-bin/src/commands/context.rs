//! The agents' searchable memory: the `[context]` provider attached to a company, and
//! `aito context search "QUERY" --agent ROLE`, which prints what that agent would get.

use std::sync::Arc;

use aito_context::{Inspection, TantivyContext, budget_for, search_as};
use aito_core::context::ContextQuery;
use aito_core::{Clock, CompanyBuilder, Role, Runtime};

use crate::cli::ContextSearchArgs;
use crate::config::Config;
use crate::data_dir;
use crate::error::Error;
use crate::model::observer;

/// The configured context provider; `None` when `[context]` is absent.
pub(crate) fn provider(
    config: &Config,
    clock: Clock,
) -> Result<Option<Arc<TantivyContext>>, Error> {
    let Some(settings) = &config.context else {
        return Ok(None);
    };
    let context = Arc::new(
        settings
            .build(&config.base, &config.data_dir, clock)
            .map_err(|err| {
                Error::Runtime(format!("the context index could not be opened: {err}"))
            })?,
    );
    tracing::info!(
        knowledge = settings.knowledge.len(),
        storage = ?settings.storage,
        "agents search the company's memory (context provider)"
    );
    Ok(Some(context))
}

/// Adds the configured context provider to `builder`, and returns it.
pub(crate) fn attach(
    builder: CompanyBuilder,
    config: &Config,
    clock: Clock,
) -> Result<(CompanyBuilder, Option<Arc<TantivyContext>>), Error> {
    Ok(match provider(config, clock)? {
        Some(context) => (builder.context(Arc::clone(&context) as _), Some(context)),
        None => (builder, None),
    })
}

/// Gives the provider what the store remembers (session summaries, decided decisions), so an
/// index in memory knows the company's past after a restart.
pub(crate) async fn remember(context: &TantivyContext, runtime: &Runtime) {
    match context
        .backfill(
            &*runtime.store,
            &runtime.directory,
            runtime.settings.history_keep,
        )
        .await
    {
        Ok(report) => tracing::info!(
            summaries = report.summaries,
            decisions = report.decisions,
            "context index filled from the store"
        ),
        Err(err) => {
            tracing::warn!(error = %err, "the context index could not be filled from the store")
        }
    }
}

/// `aito context search`.
pub async fn search(args: ContextSearchArgs, config: Config) -> Result<(), Error> {
    let settings = config.context.clone().ok_or_else(|| {
        Error::Usage(
            "this configuration has no [context] section, so agents get no company knowledge; add one (see docs/context.md)".to_owned(),
        )
    })?;
    let role: Role = args
        .agent
        .parse()
        .map_err(|err| Error::Usage(format!("--agent: {err}")))?;
    let id = config.directory().id_of(&role).ok_or_else(|| {
        Error::Usage(format!(
            "--agent: no agent with role {role}; the company has: {}",
            config.directory().role_names()
        ))
    })?;
    if args.query.trim().is_empty() {
        return Err(Error::Usage("the query is empty".to_owned()));
    }
    let query = ContextQuery {
        agent: id,
        role,
        text: args.query.clone(),
        budget_chars: budget_for(&config.settings()),
    };
    let now = chrono::Utc::now();
    let mut config = config;
    config.data_dir = data_dir::dir(args.connection.data_dir.as_deref(), &config);
    let inspection = if settings.index_dir(&config.data_dir).is_none() {
        // An index kept in memory learns the company's past from its store first, when there
        // is a company to learn from (on Redis, or in the data directory).
        match super::client::backend(&args.connection, &config).await {
            Ok(backend) => {
                let company = observer(&config, &backend)?;
                let context = provider(&config, Clock::system())?
                    .ok_or_else(|| Error::Runtime("no context provider".to_owned()))?;
                remember(&context, company.runtime()).await;
                Inspection::of(&context, &query, now)
            }
            Err(Error::NoCompany(_)) => {
                search_as(&settings, &config.base, &config.data_dir, &query, now)
            }
            Err(err) => return Err(err),
        }
    } else {
        search_as(&settings, &config.base, &config.data_dir, &query, now)
    }
    .map_err(|err| Error::Runtime(format!("the search failed: {err}")))?;
    print!("{}", inspection.render());
    Ok(())
}
