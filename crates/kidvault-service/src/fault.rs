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
/// committed or not: a crash between children), counting `children` more
/// now. Where a whole batch commits at once (whole-child deletions), the
/// crash falls after its first transaction, before its keys are destroyed.
#[cfg(feature = "fault-injection")]
pub(crate) fn after_sweep_writes(children: usize) {
    static DONE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let Some(limit) = std::env::var("KIDVAULT_FAULT_AFTER_SWEEP_WRITES").ok().and_then(|n| n.parse::<u64>().ok())
    else {
        return;
    };
    let children = children as u64;
    if DONE.fetch_add(children, std::sync::atomic::Ordering::SeqCst) + children >= limit {
        eprintln!("fault injection: aborting after {limit} sweep writes");
        std::process::abort();
    }
}

#[cfg(not(feature = "fault-injection"))]
pub(crate) fn after_sweep_writes(_: usize) {}
