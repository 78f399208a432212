//! Lineage: what each item was derived from, and what deleting it must reach.
//!
//! Rules (E1): a derived item has at least one source; every source is a live item
//! of the same child (never another child's, never one that is deleted or pending
//! deletion); a collected item has no sources. Because edges are recorded at ingest,
//! deleting an item reaches everything derived from it, transitively
//! ([`deletion_closure`]), and a derived item never outlives its sources
//! ([`retain_until`]).

use std::collections::{BTreeSet, VecDeque};

use crate::ids::{ChildId, ItemId};
use crate::item::{ItemKind, ItemState, Origin};
use crate::Timestamp;

/// The most sources one item may name.
pub const MAX_SOURCES: usize = 64;

/// What the rules need to know about a would-be source, as found in the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceView {
    pub id: ItemId,
    pub child_id: ChildId,
    pub state: ItemState,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LineageError {
    #[error("a {0} must be derived from at least one item (derived_from)")]
    SourcesRequired(&'static str),
    #[error("a {0} is collected, not derived: derived_from must be empty")]
    SourcesNotAllowed(&'static str),
    #[error("derived_from names at most {MAX_SOURCES} items")]
    TooManySources,
    /// Deliberately one error for "missing", "deleted" and "another child's": the
    /// caller learns nothing about items it may not see.
    #[error("derived_from item {0} is not a live item of this child")]
    InvalidSource(ItemId),
}

/// Checks a derivation. `found` holds whatever the store found for the ids in
/// `derived_from` (missing ids are simply absent).
pub fn check_derivation(
    child: ChildId,
    kind: ItemKind,
    derived_from: &[ItemId],
    found: &[SourceView],
) -> Result<(), LineageError> {
    match kind.spec().origin {
        Origin::Collected if !derived_from.is_empty() => return Err(LineageError::SourcesNotAllowed(kind.as_str())),
        Origin::Derived if derived_from.is_empty() => return Err(LineageError::SourcesRequired(kind.as_str())),
        _ => {}
    }
    if derived_from.len() > MAX_SOURCES {
        return Err(LineageError::TooManySources);
    }
    for id in derived_from {
        let ok = found.iter().any(|s| s.id == *id && s.child_id == child && s.state == ItemState::Live);
        if !ok {
            return Err(LineageError::InvalidSource(*id));
        }
    }
    Ok(())
}

/// Everything that deleting `roots` must delete: the roots and every item derived
/// from them, transitively. `derived_from_edge(id)` lists the items derived directly
/// from `id`. Cycles cannot arise (an item's sources exist before it), but the walk
/// would terminate on them anyway.
pub fn deletion_closure<F>(roots: &[ItemId], mut derived_from_edge: F) -> BTreeSet<ItemId>
where
    F: FnMut(ItemId) -> Vec<ItemId>,
{
    let mut seen: BTreeSet<ItemId> = BTreeSet::new();
    let mut queue: VecDeque<ItemId> = roots.iter().copied().collect();
    while let Some(id) = queue.pop_front() {
        if seen.insert(id) {
            queue.extend(derived_from_edge(id).into_iter().filter(|d| !seen.contains(d)));
        }
    }
    seen
}

/// The latest time a derived item may be kept: never later than its own limit or
/// any of its sources' (`None` = no limit from that side).
pub fn retain_until(own: Option<Timestamp>, sources: &[Option<Timestamp>]) -> Option<Timestamp> {
    sources.iter().copied().chain(std::iter::once(own)).flatten().min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone, Utc};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn t0() -> Timestamp {
        Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
    }

    #[test]
    fn derivation_rules() {
        let child = ChildId::generate(t0());
        let other = ChildId::generate(t0());
        let rec = ItemId::generate(t0());
        let live = SourceView { id: rec, child_id: child, state: ItemState::Live };
        assert_eq!(check_derivation(child, ItemKind::Transcript, &[rec], &[live]), Ok(()));
        assert_eq!(
            check_derivation(child, ItemKind::Transcript, &[], &[]),
            Err(LineageError::SourcesRequired("transcript"))
        );
        assert_eq!(
            check_derivation(child, ItemKind::Location, &[rec], &[live]),
            Err(LineageError::SourcesNotAllowed("location"))
        );
        // Missing, another child's, and pending deletion all look the same.
        for found in [
            vec![],
            vec![SourceView { child_id: other, ..live }],
            vec![SourceView { state: ItemState::PendingDeletion, ..live }],
        ] {
            assert_eq!(
                check_derivation(child, ItemKind::Intent, &[rec], &found),
                Err(LineageError::InvalidSource(rec))
            );
        }
        let many: Vec<ItemId> = (0..=MAX_SOURCES).map(|_| ItemId::generate(t0())).collect();
        assert_eq!(check_derivation(child, ItemKind::Memory, &many, &[]), Err(LineageError::TooManySources));
    }

    /// A random DAG: item i may be derived from any items before it.
    fn dag() -> impl Strategy<Value = (usize, Vec<(usize, usize)>, Vec<usize>)> {
        (2usize..40).prop_flat_map(|n| {
            let edges = proptest::collection::vec((1..n, 0..n), 0..80)
                .prop_map(|es| es.into_iter().map(|(d, s)| (d, s % d)).collect::<Vec<_>>());
            let roots = proptest::collection::vec(0..n, 1..4);
            (Just(n), edges, roots)
        })
    }

    proptest! {
        /// After deleting the closure, no surviving item has a deleted source, and
        /// nothing was deleted that is not derived from a root.
        #[test]
        fn closure_leaves_no_orphans_and_takes_nothing_extra((n, edges, roots) in dag()) {
            let ids: Vec<ItemId> = (0..n).map(|_| ItemId::generate(t0())).collect();
            let mut children: BTreeMap<ItemId, Vec<ItemId>> = BTreeMap::new();
            for (d, s) in &edges {
                children.entry(ids[*s]).or_default().push(ids[*d]);
            }
            let root_ids: Vec<ItemId> = roots.iter().map(|r| ids[*r]).collect();
            let closure = deletion_closure(&root_ids, |id| children.get(&id).cloned().unwrap_or_default());
            for r in &root_ids {
                prop_assert!(closure.contains(r));
            }
            for (d, s) in &edges {
                if closure.contains(&ids[*s]) {
                    prop_assert!(closure.contains(&ids[*d]), "orphan left behind");
                }
            }
            // Minimality: every deleted item is reachable from a root.
            let reach = deletion_closure(&root_ids, |id| children.get(&id).cloned().unwrap_or_default());
            prop_assert_eq!(&reach, &closure);
            for id in &closure {
                let idx = ids.iter().position(|x| x == id).unwrap();
                prop_assert!(roots.contains(&idx) || edges.iter().any(|(d, s)| *d == idx && closure.contains(&ids[*s])));
            }
        }

        /// A derived item never outlives any of its sources.
        #[test]
        fn derived_items_never_outlive_sources(own in proptest::option::of(0i64..1000), srcs in proptest::collection::vec(proptest::option::of(0i64..1000), 0..5)) {
            let at = |d: i64| t0() + Duration::days(d);
            let sources: Vec<Option<Timestamp>> = srcs.iter().map(|s| s.map(at)).collect();
            let r = retain_until(own.map(at), &sources);
            for s in sources.iter().flatten() {
                prop_assert!(r.is_some_and(|r| r <= *s));
            }
            if let Some(o) = own { prop_assert!(r.is_some_and(|r| r <= at(o))); }
            if own.is_none() && sources.iter().all(Option::is_none) { prop_assert!(r.is_none()); }
        }
    }
}
