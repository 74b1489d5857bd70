//! `aito export` and `aito import`: a company as JSON lines (aito_core::export), to move it
//! between its data directory and Redis, or to keep a copy.

use std::io::{BufRead, Write};
use std::sync::Arc;

use aito_core::export::{Export, FORMAT, Record, import as write_records};
use aito_core::store::StateStore;
use aito_redis::RedisStateStore;
use aito_sqlite::{DirLock, Embedded};

use super::redis_url;
use crate::backend::Backend;
use crate::cli::{ExportArgs, ImportArgs};
use crate::config::Config;
use crate::data_dir;
use crate::error::Error;

/// `aito export`.
pub async fn export(args: ExportArgs, config: Config) -> Result<(), Error> {
    let (exporter, source): (Arc<dyn Export>, String) =
        match redis_url(args.connection.redis.as_deref(), &config)? {
            Some(url) => {
                let store = redis_store(&url, &config).await?;
                (Arc::new(store), format!("redis {}", url.masked()))
            }
            None => {
                let dir = data_dir::dir(args.connection.data_dir.as_deref(), &config);
                let backend = data_dir::open_for_client(&dir, &config).await?;
                let embedded = backend
                    .embedded
                    .ok_or_else(|| Error::Runtime("no embedded store".to_owned()))?;
                let source = format!("embedded {}", embedded.db.path().display());
                (Arc::new(embedded.store), source)
            }
        };
    let records = exporter.export().await?;
    let mut out: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).map_err(|err| {
                Error::Usage(format!("--out: cannot create {}: {err}", path.display()))
            })?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let header = Record::Export {
        format: FORMAT.to_owned(),
        company: config.company.clone(),
        source,
    };
    let written = std::iter::once(&header)
        .chain(records.iter())
        .try_for_each(|record| {
            let line = serde_json::to_string(record).map_err(std::io::Error::other)?;
            writeln!(out, "{line}")
        })
        .and_then(|()| out.flush());
    written.map_err(|err| Error::Runtime(format!("cannot write the export: {err}")))?;
    if let Some(path) = &args.out {
        eprintln!("{} records written to {}", records.len(), path.display());
    }
    Ok(())
}

/// `aito import`.
pub async fn import(args: ImportArgs, config: Config) -> Result<(), Error> {
    let records = read(&args.file, &config)?;
    let (backend, _lock) = match redis_url(args.connection.redis.as_deref(), &config)? {
        Some(url) => (Backend::redis(&url, &config).await?, None),
        None => {
            let dir = data_dir::dir(args.connection.data_dir.as_deref(), &config);
            let lock = DirLock::acquire(&dir, &format!("aito import, pid {}", std::process::id()))?;
            (
                Backend::embedded(Embedded::open(&dir).await?, None, &config.bus),
                Some(lock),
            )
        }
    };
    refuse_if_taken(&*backend.store, &config, &backend).await?;
    let imported = write_records(records, &*backend.store, &*backend.bus)
        .await
        .map_err(|err| Error::Runtime(format!("the import stopped: {err}")))?;
    println!(
        "{} records imported into {}{}",
        imported.records,
        backend.describe(),
        if imported.skipped > 0 {
            format!(
                " ({} left out: expired, or already there)",
                imported.skipped
            )
        } else {
            String::new()
        }
    );
    Ok(())
}

async fn redis_store(
    url: &aito_redis::RedisUrl,
    config: &Config,
) -> Result<RedisStateStore, Error> {
    let settings = aito_redis::RedisConfig::new(url.clone()).with_prefix(&config.redis.prefix);
    RedisStateStore::connect(settings)
        .await
        .map_err(|err| Error::Redis {
            url: url.masked(),
            reason: err.to_string(),
        })
}

/// The records of an export file, checked line by line.
fn read(path: &std::path::Path, config: &Config) -> Result<Vec<Record>, Error> {
    let file = std::fs::File::open(path)
        .map_err(|err| Error::Usage(format!("cannot read {}: {err}", path.display())))?;
    let mut records = Vec::new();
    for (index, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line =
            line.map_err(|err| Error::Usage(format!("cannot read {}: {err}", path.display())))?;
        if line.trim().is_empty() {
            continue;
        }
        let record: Record = serde_json::from_str(&line).map_err(|err| {
            Error::Usage(format!(
                "{}:{}: not a record of `aito export`: {err}",
                path.display(),
                index + 1
            ))
        })?;
        if index == 0 {
            match &record {
                Record::Export {
                    format, company, ..
                } => {
                    if format != FORMAT {
                        return Err(Error::Usage(format!(
                            "{}: format {format:?}, this aito reads {FORMAT:?}",
                            path.display()
                        )));
                    }
                    if company != &config.company {
                        return Err(Error::Usage(format!(
                            "{} holds company {company:?}, the configuration's is {:?}; agents' ids derive from the name, so import with the same [company] name",
                            path.display(),
                            config.company
                        )));
                    }
                }
                _ => {
                    return Err(Error::Usage(format!(
                        "{}: the first line is not the header of `aito export`",
                        path.display()
                    )));
                }
            }
        }
        records.push(record);
    }
    if records.is_empty() {
        return Err(Error::Usage(format!("{} is empty", path.display())));
    }
    Ok(records)
}

/// Refuses a target that holds a company already: an import adds, it does not merge.
async fn refuse_if_taken(
    store: &dyn StateStore,
    config: &Config,
    backend: &Backend,
) -> Result<(), Error> {
    let mut taken = !store.statuses().await?.is_empty() || !store.decisions(None).await?.is_empty();
    for agent in config.agents.iter().filter_map(|agent| agent.spec.id) {
        taken |= store.load_state(agent).await?.version > 0;
    }
    if taken {
        return Err(Error::Usage(format!(
            "{} holds a company already; import into an empty data directory (--data-dir DIR) or Redis (--redis URL, or another [redis] prefix)",
            backend.describe()
        )));
    }
    Ok(())
}
