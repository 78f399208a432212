//! Crashes at chosen points, for tests: with the `fault-injection` feature the
//! process aborts (no unwinding, no shutdown, like `kill -9`) at the point an
//! environment variable names. Compiled out of every other build.

use kidvault_domain::deletion::DeletionStep;

/// With `KIDVAULT_FAULT_AFTER_STEP=<step>`: as soon as a deletion has durably
/// reached that step.
#[cfg(feature = "fault-injection")]
pub(crate) fn after_step(step: DeletionStep) {
    if std::env::var("KIDVAULT_FAULT_AFTER_STEP").is_ok_and(|s| s == step.as_str()) {
        eprintln!("fault injection: aborting after step {}", step.as_str());
        std::process::abort();
    }
}

#[cfg(not(feature = "fault-injection"))]
pub(crate) fn after_step(_: DeletionStep) {}

/// With `KIDVAULT_FAULT_AFTER_SWEEP_WRITES=<n>`: once a sweep's work on `n`
/// children has committed in this process (others of the same batch may be
/// committed or not: a crash between children).
#[cfg(feature = "fault-injection")]
pub(crate) fn after_sweep_write() {
    static DONE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let Some(limit) = std::env::var("KIDVAULT_FAULT_AFTER_SWEEP_WRITES").ok().and_then(|n| n.parse::<u64>().ok())
    else {
        return;
    };
    if DONE.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 >= limit {
        eprintln!("fault injection: aborting after {limit} sweep writes");
        std::process::abort();
    }
}

#[cfg(not(feature = "fault-injection"))]
pub(crate) fn after_sweep_write() {}
