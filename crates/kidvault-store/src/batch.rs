//! Group commit's queue discipline, shared by the SQLite writer and the blob writer:
//! block for the first request, then take every request already waiting (up to a
//! cap), so one fsync acknowledges all of them.

use std::sync::mpsc::Receiver;

/// The next batch, or `None` once every sender is gone.
pub(crate) fn next_batch<T>(queue: &Receiver<T>, max: usize) -> Option<Vec<T>> {
    let first = queue.recv().ok()?;
    let mut batch = vec![first];
    while batch.len() < max {
        match queue.try_recv() {
            Ok(item) => batch.push(item),
            Err(_) => break,
        }
    }
    Some(batch)
}
