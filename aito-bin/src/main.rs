//! The `aito` binary: parses the command line, sets up logging, runs the command and turns its
//! result into the exit code (0 ok, 1 runtime error, 2 usage or configuration error).

use std::process::ExitCode;

use aito_bin::cli::Cli;
use aito_bin::error::{EXIT_OK, EXIT_RUNTIME, EXIT_USAGE};
use aito_bin::{commands, logging};
use clap::Parser;

fn main() -> ExitCode {
    give_freed_memory_back();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // --help and --version print to stdout and succeed; usage errors exit with 2.
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() {
                EXIT_USAGE
            } else {
                EXIT_OK
            });
        }
    };
    logging::init(cli.command.default_log_filter());
    let mut builder = if cli.command.is_virtual_time() {
        // A replay's time is virtual: timers fire as soon as everything waits.
        let mut builder = tokio::runtime::Builder::new_current_thread();
        builder.start_paused(true);
        builder
    } else if cli.command.is_long_running() && !cli.command.is_recording() {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(2);
        builder
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("aito: cannot start the async runtime: {err}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    match runtime.block_on(commands::execute(cli)) {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(err) => {
            eprintln!("aito: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}

/// Makes glibc's allocator give freed memory back to the system. By default it raises its
/// threshold for serving large blocks from the heap each time such a block is freed, and
/// keeps what a thread freed in that thread's arena: an idle company held on to the 30 MB the
/// context index writer had used, and freed, while indexing. With both thresholds fixed at
/// 128 KiB, large blocks are mapped and unmapped, and a heap's free top is trimmed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn give_freed_memory_back() {
    const THRESHOLD: libc::c_int = 128 * 1024;
    // SAFETY: `mallopt` only sets the allocator's parameters; it is called first thing in
    // `main`, before any other thread exists.
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, THRESHOLD);
    }
}

/// Other allocators keep their defaults.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn give_freed_memory_back() {}
