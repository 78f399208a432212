//! Lifecycle work on many children or deletions at once. Each one keeps its
//! own transactions (every step is conditional, so a crash leaves each one done
//! or at a step, and the next run goes on without doing anything twice); sent
//! together, their writes share commits (group commit on both backends), so a
//! batch costs a few commits instead of one per child.

use std::future::Future;

use futures::{StreamExt, TryStreamExt};

use crate::Result;

/// How many are worked on at once.
pub(crate) const AT_ONCE: usize = 64;

/// Runs `work`, [`AT_ONCE`] at a time; the results in order, stopping at the
/// first error.
pub(crate) async fn try_at_once<T, Fut: Future<Output = Result<T>>>(
    work: impl IntoIterator<Item = Fut>,
) -> Result<Vec<T>> {
    futures::stream::iter(work).buffered(AT_ONCE).try_collect().await
}
