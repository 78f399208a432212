//! Group commit's queue discipline, shared by the SQLite writer and the blob writer:
//! block for the first request, then take every request already waiting (up to a
//! cap), so one fsync acknowledges all of them.

use std::sync::mpsc::Receiver;

/// The next batch, or `None` once every sender is gone. A batch holds at most
/// `max_items` requests and stops growing once their `weight` reaches
/// `max_weight` (it always holds at least one).
pub fn next_batch<T>(
    queue: &Receiver<T>,
    max_items: usize,
    max_weight: usize,
    weight: impl Fn(&T) -> usize,
) -> Option<Vec<T>> {
    let first = queue.recv().ok()?;
    let mut total = weight(&first);
    let mut batch = vec![first];
    while batch.len() < max_items && total < max_weight {
        match queue.try_recv() {
            Ok(item) => {
                total += weight(&item);
                batch.push(item);
            }
            Err(_) => break,
        }
    }
    Some(batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_bounded_by_count_and_weight() {
        let (tx, rx) = std::sync::mpsc::channel();
        for w in [5, 5, 5, 5, 1, 1, 1, 1, 1] {
            tx.send(w).unwrap();
        }
        drop(tx);
        assert_eq!(next_batch(&rx, 10, 12, |w| *w), Some(vec![5, 5, 5]));
        assert_eq!(next_batch(&rx, 3, 100, |w| *w), Some(vec![5, 1, 1]));
        assert_eq!(next_batch(&rx, 10, 100, |w| *w), Some(vec![1, 1, 1]));
        assert_eq!(next_batch(&rx, 10, 100, |w| *w), None);
    }
}
