//! The CPU time a benchmark's process used, which, unlike a rate or a round trip, does not
//! depend on how soon the machine wakes a sleeping thread.

use std::time::Duration;

/// CPU time this process has used, on every thread.
pub(crate) fn cpu_time() -> Duration {
    let spent = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(
        u64::try_from(spent.tv_sec).unwrap_or(0),
        u32::try_from(spent.tv_nsec).unwrap_or(0),
    )
}
