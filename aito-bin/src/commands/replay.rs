//! `aito replay FILE`: the recorded company again, on a virtual clock, against the recorded
//! answers; the first step that differs is reported and the command exits 1.

use aito_core::recording;
use aito_core::replay::Replay;

use crate::cli::ReplayArgs;
use crate::error::Error;

/// Replays the recording and prints what it found.
pub async fn replay(args: ReplayArgs) -> Result<(), Error> {
    let entries = recording::read(&args.file).map_err(|err| Error::Usage(err.to_string()))?;
    let replay = Replay::new(entries).map_err(|err| Error::Usage(err.to_string()))?;
    let temporary;
    let workspaces = match &args.workspaces {
        Some(dir) => dir.as_path(),
        None => {
            temporary = tempfile::tempdir().map_err(|err| {
                Error::Runtime(format!(
                    "cannot create a directory for the workspaces: {err}"
                ))
            })?;
            temporary.path()
        }
    };
    let started = replay.started_at();
    let report = replay
        .run(workspaces)
        .await
        .map_err(|err| Error::Runtime(format!("the replay could not run: {err}")))?;
    println!(
        "Replayed {} ({} steps from {}): {} sessions.",
        args.file.display(),
        report.steps,
        started.format("%Y-%m-%d %H:%M:%S UTC"),
        report.sessions
    );
    match report.divergence {
        None => {
            println!("No divergence: every prompt, action, worker and tick matched.");
            Ok(())
        }
        Some(divergence) => {
            println!("{divergence}");
            if report.divergences > 1 {
                println!(
                    "({} divergences in all; the first is shown)",
                    report.divergences
                );
            }
            Err(Error::Diverged)
        }
    }
}
