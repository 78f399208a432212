//! The conformance suite: what every [`Store`], [`Keystore`] and [`BlobStore`]
//! backend must do. A backend's test file invokes [`store_conformance_tests!`]
//! with a constructor; each case becomes its own `#[tokio::test]`.
//!
//! The cases use opaque bytes for sealed values: a store never sees plaintext.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{Duration, TimeZone, Utc};
use kidvault_domain::consent::{Consent, ConsentMethod, ConsentScope, ScopeGrant};
use kidvault_domain::entities::{Child, ChildStatus, Device, Guardian};
use kidvault_domain::ids::*;
use kidvault_domain::item::{ItemKind, ItemMeta, ItemState};
use kidvault_domain::lineage::LineageError;
use kidvault_domain::Timestamp;
use kidvault_ledger::entry::{EntryKind, NewEntry};

use crate::model::*;
use crate::{BlobStore, Keystore, Store, StoreError};

/// Generates one test per conformance case. `$make` is an expression evaluating to
/// a future of `Option<(guard, Arc<dyn Store>, Arc<dyn Keystore>, Arc<dyn BlobStore>)>`;
/// the guard (e.g. a temp dir) lives until the case ends. `None` skips the case
/// (a backend the run did not ask for).
#[macro_export]
macro_rules! store_conformance_tests {
    ($make:expr) => {
        $crate::store_conformance_tests!(@cases $make;
            household_and_unique_email, sessions_round_trip, children_are_scoped_to_households,
            consent_makes_child_active_and_scopes_withdraw_separately, devices_pair_and_revoke,
            ingest_context_reads_device_child_and_consents,
            concurrent_ingest_context_reads_each_see_their_own_device_as_of_now, items_round_trip_with_lineage,
            lineage_refusals_store_nothing, concurrent_writes_all_land, ledger_appends_prove_and_commit_with_their_action,
            keystore_epochs_and_destruction, keystore_rows_are_resealed_in_order_and_never_over_a_newer_row,
            blobs_round_trip_and_delete, items_page_newest_first_with_filters,
            deletions_follow_lineage_and_purge_only_their_scope, processor_tasks_are_leased_retried_and_acknowledged,
            processor_names_are_unique, a_closing_household_is_purged_once_settled,
            notices_are_written_with_their_event_and_leased_until_delivered, invites_are_single_use_and_expire,
            email_plus_consent_counts_once_confirmed_by_its_guardian, totp_steps_and_recovery_codes_work_once,
            sweeps_read_only_what_is_due_and_activity_ends_dormancy, leases_have_one_holder_until_they_expire,
            sign_in_failures_are_kept_per_key_for_their_window, blob_items_are_listed_and_relocated,
            disclosures_follow_consent_and_withdrawals_are_recalled, disclosable_items_follow_the_consent_rule,
            datasets_hold_only_eligible_items_and_removals_flag_the_models_built_on_them,
            staff_sign_in_once_per_step_and_sessions_end_with_the_account,
            support_grants_one_at_a_time_break_glass_and_reviews_commit_with_their_entries,
            device_codes_pair_once_and_give_their_token_once, healthy_stores_pass_their_integrity_check,
            whole_children_deleted_in_one_batch_end_as_each_would_alone,
            deletions_dispatched_together_each_get_their_own_tasks_and_set_reads_answer_per_deletion,
            purged_children_leave_no_marker_in_any_notice_and_others_keep_theirs,
            sign_ups_by_e_mail_create_their_account_once_while_their_link_lives);
    };
    (@cases $make:expr; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some((_guard, store, keystore, blobs)) = $make.await else { return };
                $crate::conformance::$case(store, keystore, blobs).await;
            }
        )*
    };
}

type S = Arc<dyn Store>;
type K = Arc<dyn Keystore>;
type B = Arc<dyn BlobStore>;

fn t(day: i64) -> Timestamp {
    Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap() + Duration::days(day)
}

fn sealed(tag: u8) -> Sealed {
    Sealed { epoch: 1, wrapped_key: vec![tag; 61], ciphertext: vec![tag; 40] }
}

/// The check run while serving answers on a healthy store, written to or not
/// (the damaged case is tested through the binary on the file itself).
pub async fn healthy_stores_pass_their_integrity_check(store: S, keystore: K, _: B) {
    store.check_integrity().await.unwrap();
    keystore.check_integrity().await.unwrap();
    household(&store, "ok@example.org").await;
    keystore.insert_child_key(ChildId::generate(t(0)), 1, &[7; 61], t(0)).await.unwrap();
    store.check_integrity().await.unwrap();
    keystore.check_integrity().await.unwrap();
}

async fn household(store: &S, email: &str) -> (HouseholdId, GuardianRecord) {
    let hh = HouseholdId::generate(t(0));
    let g = GuardianRecord {
        guardian: Guardian {
            id: GuardianId::generate(t(0)),
            household_id: hh,
            email: email.into(),
            display_name: "Ana".into(),
            created_at: t(0),
            time_zone: None,
            language: None,
        },
        password_hash: "$argon2id$fake".into(),
    };
    store.create_household(hh, &g).await.unwrap();
    (hh, g)
}

async fn child(store: &S, hh: HouseholdId, day: i64) -> ChildRecord {
    let r = ChildRecord {
        child: Child {
            id: ChildId::generate(t(day)),
            household_id: hh,
            status: ChildStatus::PendingConsent,
            created_at: t(day),
            last_active_at: None,
            keep_recordings_days: None,
        },
        profile: sealed(7),
    };
    store.create_child(&r).await.unwrap();
    r
}

fn consent(child: ChildId, guardian: GuardianId, scopes: &[ConsentScope], day: i64) -> Consent {
    Consent {
        id: ConsentId::generate(t(day)),
        child_id: child,
        guardian_id: guardian,
        method: ConsentMethod::SignedForm,
        evidence_ref: "form-42".into(),
        notice_version: "v1".into(),
        granted_at: t(day),
        scopes: scopes.iter().map(|s| ScopeGrant { scope: *s, withdrawn_at: None }).collect(),
    }
}

async fn device(store: &S, c: &ChildRecord, token: u8) -> DeviceRecord {
    let d = DeviceRecord {
        device: Device {
            id: DeviceId::generate(t(0)),
            household_id: c.child.household_id,
            child_id: c.child.id,
            created_at: t(0),
            revoked_at: None,
        },
        name: sealed(3),
        token_hash: [token; 32],
    };
    store.create_device(&d).await.unwrap();
    d
}

fn item(child: ChildId, kind: ItemKind, from: &[ItemId], day: i64) -> ItemRecord {
    ItemRecord {
        meta: ItemMeta {
            id: ItemId::generate(t(day)),
            child_id: child,
            kind,
            category: kind.spec().category,
            state: ItemState::Live,
            recorded_at: t(day),
            received_at: t(day) + Duration::seconds(2),
            device_id: None,
            derived_from: from.to_vec(),
            size: 40,
        },
        key_epoch: 1,
        wrapped_key: vec![9; 61],
        content: StoredContent::Inline(vec![1, 2, 3]),
    }
}

pub async fn household_and_unique_email(store: S, _: K, _: B) {
    let (hh, g) = household(&store, "ana@example.org").await;
    let found = store.guardian_by_email("ana@example.org").await.unwrap().unwrap();
    assert_eq!(found, g);
    assert_eq!(store.guardian_ids(hh).await.unwrap(), vec![g.guardian.id]);
    assert!(store.guardian_by_email("nobody@example.org").await.unwrap().is_none());
    let mut dup = g.clone();
    dup.guardian.id = GuardianId::generate(t(1));
    let err = store.create_household(HouseholdId::generate(t(1)), &dup).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    // The refused household was not half-created.
    assert!(store.children_of(HouseholdId::generate(t(1))).await.unwrap().is_empty());
    store.ping().await.unwrap();
}

pub async fn sessions_round_trip(store: S, _: K, _: B) {
    let (hh, g) = household(&store, "s@example.org").await;
    let s = SessionRecord {
        token_hash: [5; 32],
        guardian_id: g.guardian.id,
        household_id: hh,
        created_at: t(0),
        expires_at: t(30),
        revoked_at: None,
        label: None,
    };
    store.create_session(&s).await.unwrap();
    assert_eq!(store.session(&[5; 32]).await.unwrap(), Some(s.clone()));
    store.label_session(&[5; 32], "Firefox on Linux").await.unwrap();
    let s = SessionRecord { label: Some("Firefox on Linux".into()), ..s };
    assert_eq!(store.session(&[5; 32]).await.unwrap(), Some(s.clone()), "named by its browser");
    assert_eq!(store.session(&[6; 32]).await.unwrap(), None);
    let later = SessionRecord { token_hash: [7; 32], created_at: t(2), expires_at: t(3), ..s.clone() };
    store.create_session(&later).await.unwrap();
    assert_eq!(store.sessions_of(g.guardian.id, t(2)).await.unwrap(), vec![later.clone(), s.clone()], "newest first");
    assert_eq!(store.sessions_of(g.guardian.id, t(3)).await.unwrap(), vec![s.clone()], "expired ones are not listed");
    store.revoke_session(&[5; 32], t(1)).await.unwrap();
    assert_eq!(store.session(&[5; 32]).await.unwrap().unwrap().revoked_at, Some(t(1)));
    assert!(store.sessions_of(g.guardian.id, t(3)).await.unwrap().is_empty(), "revoked ones are not listed");
}

pub async fn children_are_scoped_to_households(store: S, _: K, _: B) {
    let (a, _) = household(&store, "a@example.org").await;
    let (b, _) = household(&store, "b@example.org").await;
    let c1 = child(&store, a, 1).await;
    let c2 = child(&store, a, 2).await;
    let c3 = child(&store, b, 3).await;
    assert_eq!(store.children_of(a).await.unwrap(), vec![c1.clone(), c2]);
    assert_eq!(store.children_of(b).await.unwrap(), vec![c3]);
    assert_eq!(store.child(c1.child.id).await.unwrap(), Some(c1));
    assert_eq!(store.child(ChildId::generate(t(9))).await.unwrap(), None);
}

pub async fn consent_makes_child_active_and_scopes_withdraw_separately(store: S, _: K, _: B) {
    let (hh, g) = household(&store, "c@example.org").await;
    let c = child(&store, hh, 1).await;
    let k1 = consent(c.child.id, g.guardian.id, &[ConsentScope::Voice, ConsentScope::Training], 2);
    store.record_consent(&k1, &entry(EntryKind::ConsentGranted, c.child.id)).await.unwrap();
    assert_eq!(store.child(c.child.id).await.unwrap().unwrap().child.status, ChildStatus::Active);
    let withdrawn = entry(EntryKind::ConsentWithdrawn, c.child.id);
    assert_eq!(store.withdraw_scope(c.child.id, ConsentScope::Training, t(3), &withdrawn).await.unwrap(), 1);
    assert_eq!(store.withdraw_scope(c.child.id, ConsentScope::Training, t(4), &withdrawn).await.unwrap(), 0);
    // One entry per action that happened: the grant and the one real withdrawal.
    let kinds: Vec<EntryKind> = store.child_entries(c.child.id, None).await.unwrap().iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vec![EntryKind::ConsentGranted, EntryKind::ConsentWithdrawn]);
    let history = store.consents_of(c.child.id).await.unwrap();
    assert_eq!(history.len(), 1);
    let mut scopes = history[0].scopes.clone();
    scopes.sort_by_key(|g| g.scope);
    assert_eq!(
        scopes,
        vec![
            ScopeGrant { scope: ConsentScope::Voice, withdrawn_at: None },
            ScopeGrant { scope: ConsentScope::Training, withdrawn_at: Some(t(3)) },
        ]
    );
    let k2 = consent(c.child.id, g.guardian.id, &[ConsentScope::PreciseLocation], 5);
    store.record_consent(&k2, &entry(EntryKind::ConsentGranted, c.child.id)).await.unwrap();
    let history = store.consents_of(c.child.id).await.unwrap();
    assert_eq!(history.iter().map(|k| k.id).collect::<Vec<_>>(), vec![k1.id, k2.id]);
}

pub async fn devices_pair_and_revoke(store: S, _: K, _: B) {
    let (hh, _) = household(&store, "d@example.org").await;
    let c = child(&store, hh, 1).await;
    let d = device(&store, &c, 1).await;
    assert_eq!(store.device(d.device.id).await.unwrap(), Some(d.clone()));
    assert!(store.revoke_device(d.device.id, t(2)).await.unwrap());
    assert!(!store.revoke_device(d.device.id, t(3)).await.unwrap());
    assert_eq!(store.device(d.device.id).await.unwrap().unwrap().device.revoked_at, Some(t(2)));
    assert!(!store.revoke_device(DeviceId::generate(t(0)), t(3)).await.unwrap());
    let other = child(&store, hh, 2).await;
    assert!(store.devices_of(other.child.id).await.unwrap().is_empty());
    let listed = store.devices_of(c.child.id).await.unwrap();
    assert_eq!(
        listed.iter().map(|r| (r.device.id, r.device.revoked_at)).collect::<Vec<_>>(),
        vec![(d.device.id, Some(t(2)))]
    );
}

pub async fn ingest_context_reads_device_child_and_consents(store: S, _: K, _: B) {
    let (hh, g) = household(&store, "i@example.org").await;
    let c = child(&store, hh, 1).await;
    let d = device(&store, &c, 2).await;
    let k = consent(c.child.id, g.guardian.id, &[ConsentScope::Voice], 2);
    store.record_consent(&k, &entry(EntryKind::ConsentGranted, c.child.id)).await.unwrap();
    let ctx = store.ingest_context(&[2; 32]).await.unwrap().unwrap();
    assert_eq!(ctx.device, d);
    assert_eq!(ctx.child.child.id, c.child.id);
    assert_eq!(ctx.consents, vec![k]);
    assert!(store.ingest_context(&[3; 32]).await.unwrap().is_none());
}

/// Device requests read their contexts at once (on PostgreSQL, in shared
/// statements): each read gets what it would get alone, and what changed
/// before it was asked (a revocation, a withdrawn scope) is what it sees.
pub async fn concurrent_ingest_context_reads_each_see_their_own_device_as_of_now(store: S, _: K, _: B) {
    let (hh, g) = household(&store, "m@example.org").await;
    let (a, b, none) = (child(&store, hh, 1).await, child(&store, hh, 2).await, child(&store, hh, 3).await);
    let ka = consent(a.child.id, g.guardian.id, &[ConsentScope::Voice, ConsentScope::Training], 2);
    let ka2 = consent(a.child.id, g.guardian.id, &[ConsentScope::PreciseLocation], 3);
    let kb = consent(b.child.id, g.guardian.id, &[ConsentScope::Voice], 4);
    for k in [&ka, &ka2, &kb] {
        store.record_consent(k, &entry(EntryKind::ConsentGranted, k.child_id)).await.unwrap();
    }
    let devices = [
        device(&store, &a, 40).await,
        device(&store, &a, 41).await,
        device(&store, &b, 42).await,
        device(&store, &none, 43).await,
    ];
    assert!(store.revoke_device(devices[1].device.id, t(5)).await.unwrap());
    let alone = |token: u8| {
        let store = Arc::clone(&store);
        async move { store.ingest_context(&[token; 32]).await.unwrap() }
    };
    let mut expected = Vec::new();
    for token in [40, 41, 42, 43, 44] {
        expected.push(alone(token).await);
    }
    let read_all = || async {
        let reads: Vec<_> = (0..40u8)
            .map(|n| {
                let store = Arc::clone(&store);
                let token = 40 + n % 5;
                tokio::spawn(async move { (token, store.ingest_context(&[token; 32]).await.unwrap()) })
            })
            .collect();
        let mut out = Vec::new();
        for r in reads {
            out.push(r.await.unwrap());
        }
        out
    };
    for (token, got) in read_all().await {
        assert_eq!(got, expected[usize::from(token - 40)], "device {token} read with the others");
    }
    let a_ctx = expected[0].as_ref().unwrap();
    let ids = |ctx: &IngestContext| ctx.consents.iter().map(|k| k.id).collect::<Vec<_>>();
    assert_eq!(ids(a_ctx), [ka.id, ka2.id], "both of the child's consents, in order");
    assert_eq!(a_ctx.consents[0].scopes.len(), 2, "with all of their scopes");
    assert!(expected[1].as_ref().unwrap().device.device.revoked_at.is_some(), "the revocation is read");
    assert_eq!(ids(expected[2].as_ref().unwrap()), [kb.id]);
    assert!(expected[3].as_ref().unwrap().consents.is_empty(), "a child without consent has none");
    assert_eq!(expected[4], None, "an unknown token has no context");

    let withdrawn = entry(EntryKind::ConsentWithdrawn, a.child.id);
    assert_eq!(store.withdraw_scope(a.child.id, ConsentScope::Training, t(6), &withdrawn).await.unwrap(), 1);
    for (token, got) in read_all().await {
        if token == 40 {
            let scopes = &got.unwrap().consents[0].scopes;
            let training = scopes.iter().find(|s| s.scope == ConsentScope::Training).unwrap();
            assert_eq!(training.withdrawn_at, Some(t(6)), "a withdrawal is seen by the next read");
        }
    }
}

pub async fn items_round_trip_with_lineage(store: S, _: K, _: B) {
    let (hh, _) = household(&store, "l@example.org").await;
    let c = child(&store, hh, 1).await;
    let mut rec = item(c.child.id, ItemKind::VoiceRecording, &[], 2);
    rec.content = StoredContent::Blob(BlobLocator("local:1:28:100".into()));
    store.insert_item(&rec).await.unwrap();
    let tr = item(c.child.id, ItemKind::Transcript, &[rec.meta.id], 2);
    store.insert_item(&tr).await.unwrap();
    let intent = item(c.child.id, ItemKind::Intent, &[tr.meta.id, rec.meta.id], 2);
    store.insert_item(&intent).await.unwrap();
    assert_eq!(store.item(rec.meta.id).await.unwrap(), Some(rec.clone()));
    let got = store.item(intent.meta.id).await.unwrap().unwrap();
    let mut want = intent.meta.derived_from.clone();
    want.sort();
    assert_eq!(got.meta.derived_from, want);
    let mut derived = vec![tr.meta.id, intent.meta.id];
    derived.sort();
    assert_eq!(store.derived_from(rec.meta.id).await.unwrap(), derived);
    assert_eq!(store.derived_from(intent.meta.id).await.unwrap(), vec![]);
    // Ingest is the child's activity.
    assert_eq!(store.child(c.child.id).await.unwrap().unwrap().child.last_active_at, Some(intent.meta.received_at));
    // The same id twice is a conflict, not an overwrite.
    assert!(matches!(store.insert_item(&rec).await, Err(StoreError::Conflict(_))));
}

pub async fn lineage_refusals_store_nothing(store: S, _: K, _: B) {
    let (hh, _) = household(&store, "r@example.org").await;
    let mine = child(&store, hh, 1).await;
    let other = child(&store, hh, 1).await;
    let theirs = item(other.child.id, ItemKind::VoiceRecording, &[], 2);
    store.insert_item(&theirs).await.unwrap();
    let before = store.child(mine.child.id).await.unwrap();

    let cases = [
        item(mine.child.id, ItemKind::Transcript, &[theirs.meta.id], 3),
        item(mine.child.id, ItemKind::Transcript, &[ItemId::generate(t(3))], 3),
        item(mine.child.id, ItemKind::Transcript, &[], 3),
    ];
    for bad in &cases {
        let err = store.insert_item(bad).await.unwrap_err();
        assert!(matches!(err, StoreError::Lineage(_)), "{err:?}");
        assert_eq!(store.item(bad.meta.id).await.unwrap(), None);
    }
    let err = store.insert_item(&cases[0]).await.unwrap_err();
    assert!(matches!(err, StoreError::Lineage(LineageError::InvalidSource(id)) if id == theirs.meta.id));
    assert_eq!(store.child(mine.child.id).await.unwrap(), before, "a refused item is not activity");
}

/// Writes sent together are committed together (group commit on both
/// backends); a write refused for any reason (a lineage check, a retired key
/// epoch, a duplicate key the database itself rejects) fails alone, with its
/// usual error, and leaves nothing behind, while its batch-mates land.
pub async fn concurrent_writes_all_land(store: S, _: K, _: B) {
    let (hh, _) = household(&store, "w@example.org").await;
    let c = child(&store, hh, 1).await;
    let rec = item(c.child.id, ItemKind::VoiceRecording, &[], 2);
    store.insert_item(&rec).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let store = Arc::clone(&store);
        let mut it = item(c.child.id, ItemKind::Transcript, &[rec.meta.id], 2);
        let expect: fn(&StoreError) -> bool = match i % 8 {
            0 | 4 => {
                it.meta.derived_from = vec![ItemId::generate(t(0))];
                |e| matches!(e, StoreError::Lineage(LineageError::InvalidSource(_)))
            }
            1 => {
                it.meta.id = rec.meta.id;
                |e| matches!(e, StoreError::Conflict(_))
            }
            5 => {
                it.key_epoch = 7;
                |e| matches!(e, StoreError::StaleKeyEpoch)
            }
            _ => |_| false,
        };
        tasks.push(tokio::spawn(async move { (store.insert_item(&it).await, it, expect) }));
    }
    let mut ok = 0;
    for task in tasks {
        let (result, it, expect) = task.await.unwrap();
        match result {
            Ok(()) => {
                assert_eq!(store.item(it.meta.id).await.unwrap(), Some(it));
                ok += 1;
            }
            Err(e) => {
                assert!(expect(&e), "refused with its usual error: {e:?}");
                if it.meta.id != rec.meta.id {
                    assert_eq!(store.item(it.meta.id).await.unwrap(), None, "nothing of a refused write");
                }
            }
        }
    }
    assert_eq!(ok, 100, "every valid write landed");
    assert_eq!(store.derived_from(rec.meta.id).await.unwrap().len(), 100);
    assert_eq!(store.item(rec.meta.id).await.unwrap(), Some(rec), "the duplicates changed nothing");
}

fn entry(kind: EntryKind, child: ChildId) -> NewEntry {
    NewEntry {
        kind,
        at: "2026-06-01T12:00:00.000000Z".into(),
        actor: "guardian:test".into(),
        household: Some("h".into()),
        child: Some(child.to_string()),
        subjects: vec![],
        purpose: Some("guardian_review".into()),
        detail: Default::default(),
        counts: Default::default(),
        hashes: Default::default(),
    }
}

pub async fn ledger_appends_prove_and_commit_with_their_action(store: S, _: K, _: B) {
    use kidvault_ledger::hash::leaf_hash;
    use kidvault_ledger::verify::{verify_consistency, verify_inclusion};
    let (hh, g) = household(&store, "l@example.org").await;
    let c = child(&store, hh, 1).await;
    let other = child(&store, hh, 1).await;
    assert_eq!(store.ledger_size().await.unwrap(), 0);
    let first = store.append_entries(&[entry(EntryKind::AccessRead, c.child.id)]).await.unwrap();
    assert_eq!(first, vec![0]);
    let batch: Vec<NewEntry> =
        (0..20).map(|i| entry(EntryKind::AccessRead, if i % 3 == 0 { other.child.id } else { c.child.id })).collect();
    assert_eq!(store.append_entries(&batch).await.unwrap(), (1..21).collect::<Vec<u64>>());
    // Concurrent appends serialise: no gaps, no duplicates.
    let mut tasks = Vec::new();
    for _ in 0..30 {
        let store = Arc::clone(&store);
        let e = entry(EntryKind::AccessRead, c.child.id);
        tasks.push(tokio::spawn(async move { store.append_entries(&[e]).await.unwrap()[0] }));
    }
    let mut got: Vec<u64> = Vec::new();
    for t in tasks {
        got.push(t.await.unwrap());
    }
    got.sort_unstable();
    assert_eq!(got, (21..51).collect::<Vec<u64>>());
    let size = store.ledger_size().await.unwrap();
    assert_eq!(size, 51);

    // Every entry's proof verifies against the root; every older root is consistent.
    let root = store.ledger_root(size).await.unwrap();
    for index in [0, 1, 7, 20, 50] {
        let e = store.ledger_entry(index).await.unwrap().unwrap();
        let parsed = kidvault_ledger::entry::Entry::from_canonical(&e.body).unwrap();
        assert_eq!(parsed.index, index);
        let proof = store.inclusion_proof(index, size).await.unwrap();
        verify_inclusion(&leaf_hash(&e.body), index, size, &proof, &root).unwrap();
    }
    for from in [1, 2, 21, 50] {
        let old = store.ledger_root(from).await.unwrap();
        let proof = store.consistency_proof(from, size).await.unwrap();
        verify_consistency(from, size, &proof, &old, &root).unwrap();
    }
    assert!(store.ledger_entry(size).await.unwrap().is_none());
    assert!(matches!(store.inclusion_proof(size, size).await, Err(StoreError::NotFound)));

    // Entries about a child, by kind.
    let mine = store.child_entries(c.child.id, Some(EntryKind::AccessRead)).await.unwrap();
    assert_eq!(mine.len(), 1 + 13 + 30);
    assert!(mine.windows(2).all(|w| w[0].index < w[1].index));

    // An action that fails appends nothing: a consent for a child that does not exist.
    let ghost = ChildId::generate(t(0));
    let k = consent(ghost, g.guardian.id, &[ConsentScope::Voice], 2);
    assert!(store.record_consent(&k, &entry(EntryKind::ConsentGranted, ghost)).await.is_err());
    assert_eq!(store.ledger_size().await.unwrap(), size, "no entry without its action");
    assert_eq!(store.ledger_root(size).await.unwrap(), root);

    // Checkpoints are kept, newest last.
    assert!(store.latest_checkpoint().await.unwrap().is_none());
    store.save_checkpoint(21, t(1), "note 21").await.unwrap();
    store.save_checkpoint(51, t(2), "note 51").await.unwrap();
    store.save_checkpoint(51, t(3), "again").await.unwrap();
    assert_eq!(store.latest_checkpoint().await.unwrap(), Some((51, "note 51".into())));
    assert_eq!(store.checkpoint_at(21).await.unwrap().as_deref(), Some("note 21"));
}

pub async fn keystore_epochs_and_destruction(store: S, keys: K, _: B) {
    // Each is bound to one deployment: the first binding stays.
    assert_eq!(keys.deployment_binding().await.unwrap(), None);
    assert_eq!(store.deployment_binding().await.unwrap(), None);
    assert_eq!(keys.bind_deployment("k1").await.unwrap(), "k1");
    assert_eq!(keys.bind_deployment("k2").await.unwrap(), "k1");
    assert_eq!(store.bind_deployment("d1").await.unwrap(), "d1");
    assert_eq!(store.bind_deployment("d2").await.unwrap(), "d1");
    assert_eq!(store.deployment_binding().await.unwrap().as_deref(), Some("d1"));
    assert_eq!(keys.deployment_binding().await.unwrap().as_deref(), Some("k1"));

    let a = ChildId::generate(t(0));
    let b = ChildId::generate(t(0));
    keys.insert_child_key(a, 1, &[1; 60], t(0)).await.unwrap();
    keys.insert_child_key(a, 2, &[2; 60], t(1)).await.unwrap();
    keys.insert_child_key(b, 1, &[3; 60], t(0)).await.unwrap();
    assert!(matches!(keys.insert_child_key(a, 2, &[9; 60], t(2)).await, Err(StoreError::Conflict(_))));
    assert_eq!(keys.latest_child_key(a).await.unwrap(), Some((2, vec![2; 60])));
    assert_eq!(keys.child_key(a, 1).await.unwrap(), Some(vec![1; 60]));
    assert_eq!(keys.destroy_child_keys(&[a]).await.unwrap(), 2);
    assert_eq!(keys.latest_child_key(a).await.unwrap(), None);
    assert_eq!(keys.child_key(a, 1).await.unwrap(), None);
    assert_eq!(keys.latest_child_key(b).await.unwrap(), Some((1, vec![3; 60])));

    // Item data keys: stored, replaced (a re-sealed item), destroyed one by one,
    // and all of a child's with its child key.
    let key = |item: ItemId, child: ChildId, byte: u8| ItemKey { item, child, epoch: 1, wrapped: vec![byte; 60] };
    let (i1, i2, i3) = (ItemId::generate(t(0)), ItemId::generate(t(0)), ItemId::generate(t(0)));
    keys.put_item_keys(&[key(i1, b, 1), key(i2, b, 2)]).await.unwrap();
    keys.put_item_keys(&[key(i3, a, 3)]).await.unwrap();
    assert_eq!(keys.item_key(i1).await.unwrap(), Some((1, vec![1; 60])));
    keys.put_item_keys(&[ItemKey { epoch: 2, ..key(i1, b, 7) }]).await.unwrap();
    assert_eq!(keys.item_key(i1).await.unwrap(), Some((2, vec![7; 60])), "replaced");
    assert_eq!(keys.destroy_item_keys(&[i1, ItemId::generate(t(0))]).await.unwrap(), 1);
    assert_eq!(keys.item_key(i1).await.unwrap(), None);
    assert_eq!(keys.item_key(i2).await.unwrap(), Some((1, vec![2; 60])), "the others stay");
    keys.destroy_child_keys(&[b]).await.unwrap();
    assert_eq!(keys.item_key(i2).await.unwrap(), None, "a child's item keys go with it");
    assert_eq!(keys.item_key(i3).await.unwrap(), Some((1, vec![3; 60])));
    keys.scrub().await.unwrap();
}

pub async fn keystore_rows_are_resealed_in_order_and_never_over_a_newer_row(_: S, keys: K, _: B) {
    // Generations: recorded once, completed once, forgotten from the oldest.
    let generation = |g: u32, at: i64| SealGeneration {
        generation: g,
        fingerprint: format!("fp{g}"),
        began_at: t(at),
        completed_at: None,
    };
    assert!(keys.seal_generations().await.unwrap().is_empty());
    assert!(keys.begin_seal_generation(&generation(0, 0)).await.unwrap());
    assert!(!keys.begin_seal_generation(&generation(0, 5)).await.unwrap(), "another node began it");
    keys.complete_seal_generation(0, t(1)).await.unwrap();
    keys.complete_seal_generation(0, t(9)).await.unwrap();
    assert!(keys.begin_seal_generation(&generation(1, 2)).await.unwrap());
    let gens = keys.seal_generations().await.unwrap();
    assert_eq!(gens, vec![SealGeneration { completed_at: Some(t(1)), ..generation(0, 0) }, generation(1, 2)]);

    // Rows below a prefix (bytes that sort lower: older generations, or the
    // root key's framing, which starts with 1), child keys first, in key order.
    let old = |b: u8| [&[1u8][..], &[b; 59][..]].concat();
    let newer = |b: u8| [&b"S\0\0\0\x02"[..], &[b; 60][..]].concat();
    let mut children: Vec<ChildId> = (0..3).map(|_| ChildId::generate(t(0))).collect();
    children.sort();
    keys.insert_child_key(children[0], 1, &old(1), t(0)).await.unwrap();
    keys.insert_child_key(children[0], 2, &newer(2), t(0)).await.unwrap();
    keys.insert_child_key(children[1], 1, &old(3), t(0)).await.unwrap();
    keys.insert_child_key(children[2], 1, &old(4), t(0)).await.unwrap();
    let mut items: Vec<ItemId> = (0..3).map(|_| ItemId::generate(t(0))).collect();
    items.sort();
    let item_key = |item: ItemId, wrapped: Vec<u8>| ItemKey { item, child: children[1], epoch: 1, wrapped };
    keys.put_item_keys(&[item_key(items[0], old(5)), item_key(items[1], newer(6)), item_key(items[2], old(7))])
        .await
        .unwrap();
    let below = b"S\0\0\0\x02";
    let page = keys.key_rows_below(below, None, 2).await.unwrap();
    let ids: Vec<KeyRowId> = page.iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![KeyRowId::Child(children[0], 1), KeyRowId::Child(children[1], 1)]);
    assert_eq!(page[1].wrapped, old(3));
    let page = keys.key_rows_below(below, Some(ids[1]), 2).await.unwrap();
    let ids: Vec<KeyRowId> = page.iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![KeyRowId::Child(children[2], 1), KeyRowId::Item(items[0])]);
    let page = keys.key_rows_below(below, Some(ids[1]), 10).await.unwrap();
    assert_eq!(page.iter().map(|r| r.id).collect::<Vec<_>>(), vec![KeyRowId::Item(items[2])]);

    // Resealed only where the row still holds what was read: a row replaced
    // meanwhile (a re-sealed item) or destroyed keeps its newer state.
    keys.put_item_keys(&[item_key(items[2], newer(8))]).await.unwrap();
    keys.destroy_child_keys(&[children[2]]).await.unwrap();
    let all = keys.key_rows_below(below, None, 100).await.unwrap();
    let resealed: Vec<Resealed> = all
        .iter()
        .map(|r| Resealed { id: r.id, old: r.wrapped.clone(), new: newer(9) })
        .chain([
            Resealed { id: KeyRowId::Item(items[2]), old: old(7), new: newer(9) },
            Resealed { id: KeyRowId::Child(children[2], 1), old: old(4), new: newer(9) },
        ])
        .collect();
    assert_eq!(keys.reseal_key_rows(&resealed).await.unwrap(), 3);
    assert!(keys.key_rows_below(below, None, 100).await.unwrap().is_empty());
    assert_eq!(keys.child_key(children[1], 1).await.unwrap(), Some(newer(9)));
    assert_eq!(keys.item_key(items[2]).await.unwrap(), Some((1, newer(8))), "the newer row stays");
    assert_eq!(keys.child_key(children[2], 1).await.unwrap(), None, "a destroyed row stays destroyed");

    assert_eq!(keys.forget_seal_generations_before(1).await.unwrap(), 1);
    assert_eq!(keys.seal_generations().await.unwrap(), vec![generation(1, 2)]);

    // A page may end between two epochs of one child: the next page resumes
    // at the child's next epoch, not at the next child.
    let c = ChildId::generate(t(0));
    keys.insert_child_key(c, 1, &old(10), t(0)).await.unwrap();
    keys.insert_child_key(c, 2, &old(11), t(0)).await.unwrap();
    let first = keys.key_rows_below(below, None, 1).await.unwrap();
    assert_eq!(first.iter().map(|r| r.id).collect::<Vec<_>>(), vec![KeyRowId::Child(c, 1)]);
    let next = keys.key_rows_below(below, Some(first[0].id), 1).await.unwrap();
    assert_eq!(next.iter().map(|r| r.id).collect::<Vec<_>>(), vec![KeyRowId::Child(c, 2)]);
    assert!(keys.key_rows_below(below, Some(next[0].id), 1).await.unwrap().is_empty());
}

pub async fn blobs_round_trip_and_delete(_: S, _: K, blobs: B) {
    let mut tasks = Vec::new();
    for i in 0..50u8 {
        let blobs = Arc::clone(&blobs);
        tasks.push(tokio::spawn(async move {
            let data = Bytes::from(vec![i; 1000 + usize::from(i) * 37]);
            let loc = blobs.put(uuid::Uuid::now_v7(), data.clone()).await.unwrap();
            (loc, data)
        }));
    }
    let mut stored = Vec::new();
    for task in tasks {
        stored.push(task.await.unwrap());
    }
    for (loc, data) in &stored {
        assert_eq!(&blobs.get(loc).await.unwrap(), data);
    }
    let (gone, _) = &stored[7];
    blobs.delete(gone).await.unwrap();
    let after = blobs.get(gone).await;
    assert!(after.is_err() || after.unwrap().iter().all(|b| *b == 0), "deleted blob still readable");
    assert!(blobs.holds(gone), "its own locator");
    assert!(!blobs.holds(&BlobLocator("elsewhere:1".into())));
    let (kept, data) = &stored[8];
    assert_eq!(&blobs.get(kept).await.unwrap(), data);
    // Many at once (one already gone): all erased, the rest untouched.
    let many: Vec<BlobLocator> = stored[10..20].iter().map(|(l, _)| l.clone()).chain([gone.clone()]).collect();
    blobs.delete_many(&many).await.unwrap();
    for (loc, _) in &stored[10..20] {
        let after = blobs.get(loc).await;
        assert!(after.is_err() || after.unwrap().iter().all(|b| *b == 0), "deleted blob still readable");
    }
    for (loc, data) in &stored[20..] {
        assert_eq!(&blobs.get(loc).await.unwrap(), data);
    }
}

pub async fn items_page_newest_first_with_filters(store: S, _: K, _: B) {
    let (hh, _) = household(&store, "p@example.org").await;
    let c = child(&store, hh, 0).await;
    let other = child(&store, hh, 0).await;
    let mut all = Vec::new();
    for day in 0..10 {
        let rec = item(c.child.id, ItemKind::VoiceRecording, &[], day);
        store.insert_item(&rec).await.unwrap();
        let tr = item(c.child.id, ItemKind::Transcript, &[rec.meta.id], day);
        store.insert_item(&tr).await.unwrap();
        all.push(rec.meta);
        all.push(tr.meta);
    }
    store.insert_item(&item(other.child.id, ItemKind::VoiceRecording, &[], 3)).await.unwrap();
    all.sort_by_key(|m| std::cmp::Reverse((m.recorded_at, m.id)));
    let mut got = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_items(
                c.child.id,
                &ItemFilter { kind: None, from: None, to: None, after, before: None, device: None, limit: 3 },
            )
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 3);
        after = page.last().map(|m| (m.recorded_at, m.id));
        got.extend(page);
    }
    let ids = |v: &[ItemMeta]| v.iter().map(|m| m.id).collect::<Vec<_>>();
    assert_eq!(ids(&got), ids(&all), "pages cover every item once, newest first, and no other child's");
    // Newer: the page just before a page's first item is the page before it.
    let page = |after, before, device| ItemFilter { kind: None, from: None, to: None, after, before, device, limit: 3 };
    let third = store.list_items(c.child.id, &page(Some((all[5].recorded_at, all[5].id)), None, None)).await.unwrap();
    assert_eq!(ids(&third), ids(&all[6..9]));
    let back = store.list_items(c.child.id, &page(None, Some((all[6].recorded_at, all[6].id)), None)).await.unwrap();
    assert_eq!(ids(&back), ids(&all[3..6]), "newer, still newest first");
    let elsewhere = page(None, None, Some(DeviceId::generate(t(0))));
    assert!(store.list_items(c.child.id, &elsewhere).await.unwrap().is_empty(), "only what that device sent");
    let recs = store
        .list_items(
            c.child.id,
            &ItemFilter {
                kind: Some(ItemKind::VoiceRecording),
                from: Some(t(2)),
                to: Some(t(5)),
                after: None,
                before: None,
                device: None,
                limit: 100,
            },
        )
        .await
        .unwrap();
    assert_eq!(recs.len(), 3);
    assert!(recs.iter().all(|m| m.kind == ItemKind::VoiceRecording && m.recorded_at >= t(2) && m.recorded_at < t(5)));
    assert_eq!(got.iter().find(|m| m.kind == ItemKind::Transcript).map(|m| m.derived_from.len()), Some(1));
}

/// A child of `hh` with a recording and its transcript: (child, [recording, transcript]).
async fn child_with_recording(store: &S, hh: HouseholdId, day: i64) -> (ChildId, Vec<ItemId>) {
    let c = child(store, hh, day).await;
    let rec = item(c.child.id, ItemKind::VoiceRecording, &[], 1);
    let tr = item(c.child.id, ItemKind::Transcript, &[rec.meta.id], 1);
    store.insert_item(&rec).await.unwrap();
    store.insert_item(&tr).await.unwrap();
    (c.child.id, vec![rec.meta.id, tr.meta.id])
}

fn deletion(hh: HouseholdId, child: ChildId, scope: kidvault_domain::deletion::DeletionScope) -> DeletionRecord {
    DeletionRecord {
        id: DeletionId::generate(t(5)),
        household_id: hh,
        child_id: child,
        requested_by: "guardian:test".into(),
        reason: kidvault_domain::deletion::DeletionReason::Guardian,
        scope,
        step: kidvault_domain::deletion::DeletionStep::Requested,
        requested_at: t(5),
        updated_at: t(5),
        rotation_epoch: None,
        summary: None,
        ledger_index: None,
    }
}

/// The sweeps' deletions of many whole children, recorded and resolved in one
/// transaction, end as each would through `create_deletion` then
/// `resolve_deletion`: resolved, the child `deleting`, every item of it (its
/// lineage included) recorded for its deletion and no longer served. A child
/// outside the batch is untouched; a batch mixing other scopes is resolved
/// one by one, alike.
pub async fn whole_children_deleted_in_one_batch_end_as_each_would_alone(store: S, _: K, _: B) {
    use kidvault_domain::deletion::{DeletionScope, DeletionStep};
    let all = ItemFilter { kind: None, from: None, to: None, after: None, before: None, device: None, limit: 10 };
    let (hh, _) = household(&store, "batch@example.org").await;
    let mut kids = Vec::new();
    for day in 0..4 {
        kids.push(child_with_recording(&store, hh, day).await);
    }
    let whole: Vec<DeletionRecord> = kids[..2].iter().map(|(c, _)| deletion(hh, *c, DeletionScope::Child)).collect();
    store.record_resolved_deletions(&whole).await.unwrap();
    let one_item = deletion(hh, kids[2].0, DeletionScope::Item { item: kids[2].1[0] });
    let alone = deletion(hh, kids[3].0, DeletionScope::Child);
    store.record_resolved_deletions(&[one_item.clone(), alone.clone()]).await.unwrap();

    for (d, (c, items)) in whole.iter().chain([&one_item, &alone]).zip(&kids) {
        let got = store.deletion(d.id).await.unwrap().unwrap();
        assert_eq!((got.step, got.scope.clone(), got.updated_at), (DeletionStep::Resolved, d.scope.clone(), t(5)));
        let mut recorded: Vec<ItemId> = store.deletion_items(d.id).await.unwrap().iter().map(|i| i.item_id).collect();
        recorded.sort();
        let mut expected = items.clone();
        expected.sort();
        assert_eq!(recorded, expected, "the recording and its transcript");
        assert!(store.list_items(*c, &all).await.unwrap().is_empty(), "nothing served");
        let status = store.child(*c).await.unwrap().unwrap().child.status;
        assert_eq!(status == kidvault_domain::entities::ChildStatus::Deleting, d.scope.is_child(), "{status:?}");
    }
    assert_eq!(store.open_deletions().await.unwrap().len(), 4);
    let (other_hh, _) = household(&store, "untouched@example.org").await;
    let other = child(&store, other_hh, 0).await;
    let kept = item(other.child.id, ItemKind::VoiceRecording, &[], 1);
    store.insert_item(&kept).await.unwrap();
    store.record_resolved_deletions(&[deletion(hh, kids[0].0, DeletionScope::Child)]).await.unwrap();
    assert_eq!(store.list_items(other.child.id, &all).await.unwrap().len(), 1);
}

pub async fn deletions_follow_lineage_and_purge_only_their_scope(store: S, _: K, _: B) {
    use kidvault_domain::deletion::{DeletionScope, DeletionStep};
    let (hh, g) = household(&store, "del@example.org").await;
    let c = child(&store, hh, 0).await;
    store
        .record_consent(
            &consent(c.child.id, g.guardian.id, &[ConsentScope::Voice], 0),
            &entry(EntryKind::ConsentGranted, c.child.id),
        )
        .await
        .unwrap();
    let d = device(&store, &c, 9).await;
    let rec = item(c.child.id, ItemKind::VoiceRecording, &[], 1);
    let tr = item(c.child.id, ItemKind::Transcript, &[rec.meta.id], 1);
    let intent = item(c.child.id, ItemKind::Intent, &[tr.meta.id], 1);
    let other = item(c.child.id, ItemKind::VoiceRecording, &[], 2);
    let other_tr = item(c.child.id, ItemKind::Transcript, &[other.meta.id], 2);
    for i in [&rec, &tr, &intent, &other, &other_tr] {
        store.insert_item(i).await.unwrap();
    }

    // The confirmation page's preview follows lineage like the deletion will.
    let preview = store.preview_deletion(c.child.id, &DeletionScope::Item { item: rec.meta.id }).await.unwrap();
    assert_eq!(preview, vec![(ItemKind::Intent, 1), (ItemKind::Transcript, 1), (ItemKind::VoiceRecording, 1)]);
    let day2 =
        DeletionScope::Items { kinds: vec![ItemKind::VoiceRecording], from: Some(t(2)), to: Some(t(3)), device: None };
    assert_eq!(
        store.preview_deletion(c.child.id, &day2).await.unwrap(),
        vec![(ItemKind::Transcript, 1), (ItemKind::VoiceRecording, 1)]
    );
    let (other_hh, _) = household(&store, "elsewhere@example.org").await;
    let stranger = child(&store, other_hh, 0).await;
    assert!(store
        .preview_deletion(stranger.child.id, &DeletionScope::Item { item: rec.meta.id })
        .await
        .unwrap()
        .is_empty());

    let del = deletion(hh, c.child.id, DeletionScope::Item { item: rec.meta.id });
    store.create_deletion(&del).await.unwrap();
    assert_eq!(store.open_deletions().await.unwrap().iter().map(|d| d.id).collect::<Vec<_>>(), vec![del.id]);
    assert_eq!(store.household_deletions(hh, 10).await.unwrap().iter().map(|d| d.id).collect::<Vec<_>>(), vec![del.id]);
    assert!(store.household_deletions(other_hh, 10).await.unwrap().is_empty());
    assert_eq!(store.resolve_deletion(del.id, t(5)).await.unwrap(), 3, "the recording, its transcript and intent");
    // Pending: no longer listed, no longer derivable.
    let listed = store
        .list_items(
            c.child.id,
            &ItemFilter { kind: None, from: None, to: None, after: None, before: None, device: None, limit: 50 },
        )
        .await
        .unwrap();
    assert_eq!(listed.iter().map(|m| m.id).collect::<Vec<_>>().len(), 2);
    assert!(listed.iter().all(|m| m.id == other.meta.id || m.id == other_tr.meta.id));
    let late = item(c.child.id, ItemKind::Memory, &[tr.meta.id], 3);
    assert!(matches!(store.insert_item(&late).await, Err(StoreError::Lineage(_))));
    // Steps out of order are refused.
    assert!(matches!(store.purge_deletion(del.id, t(5)).await, Err(StoreError::Conflict(_))));
    store.shred_deletion_items(del.id, t(5)).await.unwrap();
    // Rotation to epoch 2: data sealed under epoch 1 is refused from now on,
    // items and device names alike.
    store.set_rotation_epoch(del.id, 2).await.unwrap();
    let stale = item(c.child.id, ItemKind::VoiceRecording, &[], 3);
    assert!(matches!(store.insert_item(&stale).await, Err(StoreError::StaleKeyEpoch)));
    let mut stale_device = d.clone();
    stale_device.device.id = DeviceId::generate(t(3));
    stale_device.token_hash = [42; 32];
    assert!(matches!(store.create_device(&stale_device).await, Err(StoreError::StaleKeyEpoch)));
    let mut current = item(c.child.id, ItemKind::VoiceRecording, &[], 3);
    current.key_epoch = 2;
    store.insert_item(&current).await.unwrap();
    assert!(store.item(tr.meta.id).await.unwrap().unwrap().wrapped_key.is_empty());
    assert!(!store.item(other_tr.meta.id).await.unwrap().unwrap().wrapped_key.is_empty());
    // Data keys still beside their items (older deployments) are listed until
    // moved to the keystore, then blanked, only if unchanged meanwhile.
    let legacy = store.legacy_item_keys(100).await.unwrap();
    assert!(legacy.iter().any(|k| k.item == other_tr.meta.id && k.wrapped == vec![9; 61] && k.child == c.child.id));
    assert!(legacy.iter().all(|k| k.item != tr.meta.id), "a shredded item's key is not listed");
    let mut changed = legacy.iter().find(|k| k.item == other_tr.meta.id).unwrap().clone();
    changed.wrapped = vec![1; 61];
    assert_eq!(store.clear_legacy_item_keys(&[changed]).await.unwrap(), 0, "only the key that was moved");
    assert_eq!(store.clear_legacy_item_keys(&legacy).await.unwrap(), legacy.len() as u64);
    assert!(store.legacy_item_keys(100).await.unwrap().is_empty());
    assert!(store.item(other_tr.meta.id).await.unwrap().unwrap().wrapped_key.is_empty());
    store.scrub().await.unwrap();
    store.set_deletion_step(del.id, DeletionStep::Rotated, t(5)).await.unwrap();
    let covered = store.deletion_items(del.id).await.unwrap();
    assert_eq!(covered.len(), 3);
    assert_eq!(covered.iter().filter(|i| i.kind == ItemKind::VoiceRecording).count(), 1);
    store.purge_deletion(del.id, t(5)).await.unwrap();
    for gone in [&rec, &tr, &intent] {
        assert_eq!(store.item(gone.meta.id).await.unwrap(), None);
    }
    assert!(store.item(other_tr.meta.id).await.unwrap().is_some());
    assert_eq!(store.derived_from(other.meta.id).await.unwrap(), vec![other_tr.meta.id]);
    // Completing before every processor acknowledged is refused.
    assert!(matches!(store.complete_deletion(del.id, t(6), "{}", &[], &[]).await, Err(StoreError::Conflict(_))));
    store.dispatch_deletion(del.id, t(5), &[]).await.unwrap();
    store.set_deletion_step(del.id, DeletionStep::Acknowledged, t(5)).await.unwrap();
    let indexes = store
        .complete_deletion(del.id, t(6), "{}", &[entry(EntryKind::DeletionCompleted, c.child.id)], &[])
        .await
        .unwrap();
    let done = store.deletion(del.id).await.unwrap().unwrap();
    assert_eq!((done.step, done.ledger_index), (DeletionStep::Completed, indexes.last().copied()));
    assert!(store.open_deletions().await.unwrap().is_empty());

    // The whole child: profile, consents, devices, every item.
    let all = deletion(hh, c.child.id, DeletionScope::Child);
    store.create_deletion(&all).await.unwrap();
    assert_eq!(store.child(c.child.id).await.unwrap().unwrap().child.status, ChildStatus::Deleting);
    assert_eq!(store.resolve_deletion(all.id, t(7)).await.unwrap(), 3);
    store.set_deletion_step(all.id, DeletionStep::Shredded, t(7)).await.unwrap();
    store.set_deletion_step(all.id, DeletionStep::Rotated, t(7)).await.unwrap();
    store.purge_deletion(all.id, t(7)).await.unwrap();
    assert_eq!(store.child(c.child.id).await.unwrap(), None);
    assert!(store.consents_of(c.child.id).await.unwrap().is_empty());
    assert_eq!(store.device(d.device.id).await.unwrap(), None);
    assert!(store.item(other.meta.id).await.unwrap().is_none());
}

pub async fn processor_names_are_unique(store: S, _: K, _: B) {
    let p = processor("warehouse", 0);
    store.create_processor(&p).await.unwrap();
    let again = ProcessorRecord { id: ProcessorId::generate(t(1)), ..p.clone() };
    assert!(matches!(store.create_processor(&again).await, Err(StoreError::Conflict(_))));
    let got = store.processor(p.id).await.unwrap().unwrap();
    assert_eq!((got.url.as_str(), got.categories.clone()), (p.url.as_str(), p.categories.clone()));
    assert!(store.disable_processor(p.id, t(2)).await.unwrap());
    assert!(!store.disable_processor(p.id, t(3)).await.unwrap());
    assert_eq!(store.processors().await.unwrap()[0].disabled_at, Some(t(2)));
}

/// A pending task, due at its creation.
fn pending_task(
    deletion: Option<DeletionId>,
    child: ChildId,
    processor: ProcessorId,
    payload: String,
    (created, deadline): (Timestamp, Timestamp),
) -> TaskRecord {
    TaskRecord {
        id: TaskId::generate(created),
        deletion_id: deletion,
        child_id: child,
        processor_id: processor,
        processor_name: String::new(),
        state: kidvault_domain::downstream::TaskState::Pending,
        payload,
        attempts: 0,
        next_attempt_at: None,
        deadline,
        created_at: created,
        delivered_at: None,
        acknowledged_at: None,
        acknowledged_via: None,
        last_error: None,
    }
}

fn processor(name: &str, day: i64) -> ProcessorRecord {
    use kidvault_domain::item::DataCategory;
    ProcessorRecord {
        id: ProcessorId::generate(t(day)),
        name: name.into(),
        url: format!("https://{name}.example/hook"),
        purpose: kidvault_domain::disclosure::Purpose::Integral,
        categories: vec![DataCategory::Content, DataCategory::BiometricVoice],
        secret_wrapped: vec![7; 60],
        created_at: t(day),
        disabled_at: None,
    }
}

pub async fn processor_tasks_are_leased_retried_and_acknowledged(store: S, _: K, _: B) {
    use kidvault_domain::deletion::{DeletionScope, DeletionStep};
    use kidvault_domain::downstream::TaskState;
    let (hh, _) = household(&store, "tasks@example.org").await;
    let c = child(&store, hh, 0).await;
    let (a, b) = (processor("alpha", 0), processor("beta", 0));
    store.create_processor(&a).await.unwrap();
    store.create_processor(&b).await.unwrap();
    let del = deletion(hh, c.child.id, DeletionScope::Child);
    store.create_deletion(&del).await.unwrap();
    store.resolve_deletion(del.id, t(1)).await.unwrap();
    let task = |p: &ProcessorRecord| {
        pending_task(Some(del.id), c.child.id, p.id, format!("{{\"to\":\"{}\"}}", p.name), (t(1), t(4)))
    };
    let (ta, tb) = (task(&a), task(&b));
    // Tasks are created only by the purged → dispatched step.
    assert!(matches!(
        store.dispatch_deletion(del.id, t(1), std::slice::from_ref(&ta)).await,
        Err(StoreError::Conflict(_))
    ));
    store.set_deletion_step(del.id, DeletionStep::Purged, t(1)).await.unwrap();
    store.dispatch_deletion(del.id, t(1), &[ta.clone(), tb.clone()]).await.unwrap();
    assert_eq!(store.deletion(del.id).await.unwrap().unwrap().step, DeletionStep::Dispatched);

    // Claimed once: a second claimant finds nothing until the lease runs out.
    let lease = t(1) + Duration::minutes(1);
    let claimed = store.claim_due_tasks(t(1), lease, 10).await.unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(claimed.iter().all(|t| t.attempts == 1));
    assert_eq!(claimed.iter().map(|t| t.processor_name.as_str()).collect::<Vec<_>>().len(), 2);
    assert!(store.claim_due_tasks(t(1), lease, 10).await.unwrap().is_empty());
    // A claimant that died: the task is due again after its lease.
    let retaken = store.claim_due_tasks(lease, lease + Duration::minutes(1), 10).await.unwrap();
    assert_eq!(retaken.len(), 2);
    assert!(retaken.iter().all(|t| t.attempts == 2));

    // alpha fails and is retried later; beta accepts and will ack later.
    let retry_at = t(2);
    let failed = Delivery::Failed { error: "HTTP 503".into(), retry_at };
    store.record_delivery(ta.id, lease, &failed).await.unwrap();
    store.record_delivery(tb.id, lease, &Delivery::Delivered).await.unwrap();
    assert!(store.claim_due_tasks(retry_at - Duration::seconds(1), t(3), 10).await.unwrap().is_empty());
    let again = store.claim_due_tasks(retry_at, t(3), 10).await.unwrap();
    assert_eq!(again.iter().map(|t| (t.id, t.attempts)).collect::<Vec<_>>(), vec![(ta.id, 3)]);
    assert_eq!(again[0].last_error.as_deref(), Some("HTTP 503"));
    store.record_delivery(ta.id, t(2), &Delivery::Acknowledged).await.unwrap();

    let open = store.open_tasks(10).await.unwrap();
    assert_eq!(open.iter().map(|t| t.id).collect::<Vec<_>>(), vec![tb.id]);
    assert!(open[0].overdue(t(5)) && !open[0].overdue(t(3)));
    store.acknowledge_task(tb.id, t(5), "endpoint").await.unwrap();
    store.acknowledge_task(tb.id, t(6), "endpoint").await.unwrap();
    let tasks = store.deletion_tasks(del.id).await.unwrap();
    assert!(tasks.iter().all(|t| t.state == TaskState::Acknowledged));
    let b_done = tasks.iter().find(|t| t.id == tb.id).unwrap();
    assert_eq!((b_done.acknowledged_at, b_done.acknowledged_via.as_deref()), (Some(t(5)), Some("endpoint")));
    assert_eq!(tasks.iter().find(|t| t.id == ta.id).unwrap().acknowledged_via.as_deref(), Some("response"));
    // A late failure report cannot reopen an acknowledged task.
    store.record_delivery(ta.id, t(6), &failed).await.unwrap();
    assert_eq!(store.task(ta.id).await.unwrap().unwrap().state, TaskState::Acknowledged);
    assert!(store.open_tasks(10).await.unwrap().is_empty());
    assert!(matches!(
        store.acknowledge_task(TaskId::generate(t(1)), t(6), "endpoint").await,
        Err(StoreError::NotFound)
    ));
}

/// The deletion runner dispatches many deletions at once (PostgreSQL's writer
/// merges them) and reads their items and tasks in one statement each.
pub async fn deletions_dispatched_together_each_get_their_own_tasks_and_set_reads_answer_per_deletion(
    store: S,
    _: K,
    _: B,
) {
    use kidvault_domain::deletion::{DeletionScope, DeletionStep};
    let (hh, _) = household(&store, "together@example.org").await;
    let alpha = processor("alpha", 0);
    store.create_processor(&alpha).await.unwrap();
    let mut ds = Vec::new();
    let mut covered = HashMap::new();
    for day in 0..40 {
        let (c, mut ids) = child_with_recording(&store, hh, day).await;
        let d = deletion(hh, c, DeletionScope::Child);
        ids.sort();
        covered.insert(d.id, ids);
        ds.push(d);
    }
    store.record_resolved_deletions(&ds).await.unwrap();
    let ids: Vec<DeletionId> = ds.iter().map(|d| d.id).collect();
    let items = store.deletions_items(&ids).await.unwrap();
    for (id, expected) in &covered {
        assert_eq!(&items[id].iter().map(|i| i.item_id).collect::<Vec<_>>(), expected, "each its own items");
    }
    // Every tenth from the fifth is not at `purged`; every tenth from the
    // tenth names another deletion's task. Sent together, they share batches.
    let role = |i: usize| i % 10;
    for (_, d) in ds.iter().enumerate().filter(|(i, _)| role(*i) != 4) {
        store.set_deletion_step(d.id, DeletionStep::Purged, t(6)).await.unwrap();
    }
    let task = |d: &DeletionRecord, of: DeletionId| {
        pending_task(Some(of), d.child_id, alpha.id, format!("{{\"deletion\":\"{of}\"}}"), (t(6), t(9)))
    };
    let tasks: Vec<TaskRecord> =
        ds.iter().enumerate().map(|(i, d)| task(d, if role(i) == 9 { ds[0].id } else { d.id })).collect();
    let spawned: Vec<_> = ds
        .iter()
        .zip(&tasks)
        .map(|(d, task)| {
            let (store, id, task) = (Arc::clone(&store), d.id, task.clone());
            tokio::spawn(async move { store.dispatch_deletion(id, t(7), &[task]).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for s in spawned {
        outcomes.push(s.await.unwrap());
    }
    for (i, o) in outcomes.iter().enumerate() {
        match role(i) {
            4 => assert!(matches!(o, Err(StoreError::Conflict(_))), "{i} is not at purged: {o:?}"),
            9 => assert!(o.is_err(), "{i} names another deletion's task: {o:?}"),
            _ => assert!(o.is_ok(), "dispatch {i}: {o:?}"),
        }
    }
    let now: HashMap<DeletionId, DeletionStep> =
        store.deletions(&ids).await.unwrap().into_iter().map(|d| (d.id, d.step)).collect();
    for (i, id) in ids.iter().enumerate() {
        let expected = match role(i) {
            4 => DeletionStep::Resolved,
            9 => DeletionStep::Purged,
            _ => DeletionStep::Dispatched,
        };
        assert_eq!(now[id], expected, "deletion {i}");
    }
    // Each dispatched deletion holds its own task and nothing else does.
    let stored = store.deletions_tasks(&ids).await.unwrap();
    let mut got: Vec<(DeletionId, TaskId)> = stored.iter().map(|t| (t.deletion_id.unwrap(), t.id)).collect();
    got.sort();
    let mut expected: Vec<(DeletionId, TaskId)> = (tasks.iter().enumerate())
        .filter(|(i, _)| !matches!(role(*i), 4 | 9))
        .map(|(_, t)| (t.deletion_id.unwrap(), t.id))
        .collect();
    expected.sort();
    assert_eq!(got, expected);
    assert!(stored
        .iter()
        .all(|t| t.processor_name == "alpha" && t.payload.contains(&t.deletion_id.unwrap().to_string())));
    assert_eq!(store.deletion_tasks(ds[1].id).await.unwrap().len(), 1);
    assert!(store.deletion_tasks(ds[4].id).await.unwrap().is_empty());
}

/// A whole child's purge rewrites its marker (raw, and escaped inside a
/// message) in its household's notices, however many children and households
/// one purge statement covers; other children's markers stay.
pub async fn purged_children_leave_no_marker_in_any_notice_and_others_keep_theirs(store: S, _: K, _: B) {
    use kidvault_domain::deletion::{DeletionScope, DeletionStep};
    use kidvault_domain::notice::{forget_child, NewNotice, NoticeKind};
    let mut households = Vec::new();
    for n in 0..3 {
        let (hh, g) = household(&store, &format!("markers{n}@example.org")).await;
        let kids = [child(&store, hh, 0).await.child.id, child(&store, hh, 1).await.child.id];
        households.push((hh, g, kids));
    }
    // Each marker as it stands in text ([1]) and escaped inside a message ([0]).
    let forms = |c: ChildId| forget_child(c).map(|(marker, _)| marker);
    // Each household's notice names both its children, in both forms; it is
    // written with the deletion of a third child.
    for (hh, _, kids) in &households {
        let carrier = child(&store, *hh, 2).await;
        let del = deletion(*hh, carrier.child.id, DeletionScope::Child);
        store.create_deletion(&del).await.unwrap();
        store.resolve_deletion(del.id, t(3)).await.unwrap();
        store.set_deletion_step(del.id, DeletionStep::Acknowledged, t(3)).await.unwrap();
        let [a, b] = kids.map(forms);
        let notice = NewNotice {
            kind: NoticeKind::DeletionCompleted,
            subject: format!("About {} and {}", a[1], b[1]),
            body: format!("{}|{}|{}|{}", a[0], b[0], a[1], b[1]),
        };
        store.complete_deletion(del.id, t(4), "{}", &[], &[notice]).await.unwrap();
    }
    // The first child of the first two households is deleted, in one purge.
    let gone: Vec<DeletionRecord> =
        households[..2].iter().map(|(hh, _, kids)| deletion(*hh, kids[0], DeletionScope::Child)).collect();
    store.record_resolved_deletions(&gone).await.unwrap();
    let spawned: Vec<_> = gone
        .iter()
        .map(|d| {
            let (store, id) = (Arc::clone(&store), d.id);
            tokio::spawn(async move {
                store.set_deletion_step(id, DeletionStep::Rotated, t(5)).await?;
                store.purge_deletion(id, t(5)).await
            })
        })
        .collect();
    for s in spawned {
        s.await.unwrap().unwrap();
    }
    for (n, (_, g, kids)) in households.iter().enumerate() {
        let mailbox = store.notices_for(g.guardian.id, 10).await.unwrap();
        let text = format!("{}{}", mailbox[0].subject, mailbox[0].body);
        let [first, second] = kids.map(forms);
        for form in &first {
            assert_eq!(text.contains(form.as_str()), n == 2, "household {n}: {text}");
        }
        for form in &second {
            assert!(text.contains(form.as_str()), "household {n} keeps its other child's marker: {text}");
        }
        if n < 2 {
            let (_, replacement) = forget_child(kids[0])[1].clone();
            assert!(text.contains(&replacement), "{text}");
        }
    }
}

pub async fn a_closing_household_is_purged_once_settled(store: S, _: K, _: B) {
    use kidvault_domain::deletion::{DeletionScope, DeletionStep};
    let (hh, g) = household(&store, "close@example.org").await;
    let c = child(&store, hh, 0).await;
    let (other_hh, _) = household(&store, "stay@example.org").await;
    let closed = entry(EntryKind::HouseholdClosed, c.child.id);
    assert!(!store.purge_household(hh, t(30), &closed).await.unwrap(), "not closing");
    store.begin_household_closure(hh, t(1)).await.unwrap();
    store.begin_household_closure(hh, t(2)).await.unwrap();
    assert_eq!(store.closing_households().await.unwrap(), vec![hh]);
    let mut late = child(&store, other_hh, 1).await;
    late.child.id = ChildId::generate(t(2));
    late.child.household_id = hh;
    assert!(matches!(store.create_child(&late).await, Err(StoreError::Conflict(_))));
    assert!(!store.purge_household(hh, t(30), &closed).await.unwrap(), "a child is left");
    let del = deletion(hh, c.child.id, DeletionScope::Child);
    store.create_deletion(&del).await.unwrap();
    store.resolve_deletion(del.id, t(3)).await.unwrap();
    store.set_deletion_step(del.id, DeletionStep::Rotated, t(3)).await.unwrap();
    store.purge_deletion(del.id, t(3)).await.unwrap();
    assert!(!store.purge_household(hh, t(30), &closed).await.unwrap(), "a deletion is open");
    store.dispatch_deletion(del.id, t(3), &[]).await.unwrap();
    store.set_deletion_step(del.id, DeletionStep::Acknowledged, t(3)).await.unwrap();
    store.complete_deletion(del.id, t(4), "{}", &[], &[]).await.unwrap();
    let size = store.ledger_size().await.unwrap();
    assert!(!store.purge_household(hh, t(4), &closed).await.unwrap(), "within the grace period");
    assert!(store.purge_household(hh, t(5), &closed).await.unwrap());
    assert_eq!(store.ledger_size().await.unwrap(), size + 1);
    assert!(store.guardian(g.guardian.id).await.unwrap().is_none());
    assert!(store.guardian_by_email("close@example.org").await.unwrap().is_none());
    assert!(store.closing_households().await.unwrap().is_empty());
    assert!(store.guardian_by_email("stay@example.org").await.unwrap().is_some());
    assert_eq!(store.deletion(del.id).await.unwrap().unwrap().step, DeletionStep::Completed, "the proof stays");
}

pub async fn notices_are_written_with_their_event_and_leased_until_delivered(store: S, _: K, _: B) {
    use kidvault_domain::deletion::{DeletionScope, DeletionStep};
    use kidvault_domain::notice::{NewNotice, NoticeKind};
    let (hh, g) = household(&store, "notice@example.org").await;
    let (_, other) = household(&store, "quiet@example.org").await;
    let c = child(&store, hh, 0).await;
    let del = deletion(hh, c.child.id, DeletionScope::Child);
    store.create_deletion(&del).await.unwrap();
    store.resolve_deletion(del.id, t(3)).await.unwrap();
    store.set_deletion_step(del.id, DeletionStep::Rotated, t(3)).await.unwrap();
    store.purge_deletion(del.id, t(3)).await.unwrap();
    store.dispatch_deletion(del.id, t(3), &[]).await.unwrap();
    store.set_deletion_step(del.id, DeletionStep::Acknowledged, t(3)).await.unwrap();
    let notice = NewNotice { kind: NoticeKind::DeletionCompleted, subject: "Done".into(), body: "All gone.".into() };
    store.complete_deletion(del.id, t(4), "{}", &[], std::slice::from_ref(&notice)).await.unwrap();

    let mailbox = store.notices_for(g.guardian.id, 10).await.unwrap();
    assert_eq!(mailbox.len(), 1, "one notice per guardian, written with the completion");
    let n = &mailbox[0];
    assert_eq!(
        (n.kind, n.subject.as_str(), n.email.as_str()),
        (NoticeKind::DeletionCompleted, "Done", "notice@example.org")
    );
    assert_eq!((n.delivered_at, n.next_attempt_at, n.attempts), (None, Some(t(4)), 0));
    assert!(store.notices_for(other.guardian.id, 10).await.unwrap().is_empty(), "other households get nothing");

    assert!(store.claim_due_notices(t(3), t(3), 10).await.unwrap().is_empty(), "not due before it was written");
    let lease = t(4) + Duration::minutes(5);
    let claimed = store.claim_due_notices(t(4), lease, 10).await.unwrap();
    assert_eq!((claimed.len(), claimed[0].attempts), (1, 1));
    assert!(store.claim_due_notices(t(4), lease, 10).await.unwrap().is_empty(), "leased: nobody sends it twice");
    let expired = store.claim_due_notices(lease, lease + Duration::minutes(5), 10).await.unwrap();
    assert_eq!(expired.len(), 1, "a lease that runs out (the claimant died) makes the notice due again");
    let failed = NoticeDelivery::Failed { error: "relay down".into(), retry_at: t(5) };
    store.record_notice_delivery(n.id, t(4), &failed).await.unwrap();
    let again = store.claim_due_notices(t(5), t(5) + Duration::minutes(5), 10).await.unwrap();
    assert_eq!((again.len(), again[0].attempts, again[0].last_error.as_deref()), (1, 3, Some("relay down")));
    store.record_notice_delivery(n.id, t(5), &NoticeDelivery::Delivered { via: "smtp".into() }).await.unwrap();
    store.record_notice_delivery(n.id, t(6), &failed).await.unwrap();
    let done = &store.notices_for(g.guardian.id, 10).await.unwrap()[0];
    assert_eq!(
        (done.delivered_at, done.delivered_via.as_deref(), done.next_attempt_at),
        (Some(t(5)), Some("smtp"), None)
    );
    assert!(store.claim_due_notices(t(30), t(31), 10).await.unwrap().is_empty(), "delivered stays delivered");

    store.begin_household_closure(hh, t(7)).await.unwrap();
    assert!(store.purge_household(hh, t(40), &entry(EntryKind::HouseholdClosed, c.child.id)).await.unwrap());
    assert!(store.notices_for(g.guardian.id, 10).await.unwrap().is_empty(), "closing the account removes its mail");
}

pub async fn invites_are_single_use_and_expire(store: S, _: K, _: B) {
    let (hh, g) = household(&store, "first@example.org").await;
    // A guardian's time zone is theirs to set and clear.
    assert_eq!(store.guardian(g.guardian.id).await.unwrap().unwrap().guardian.time_zone, None);
    assert!(store.set_time_zone(g.guardian.id, Some("America/Los_Angeles")).await.unwrap());
    let read = store.guardian_by_email("first@example.org").await.unwrap().unwrap();
    assert_eq!(read.guardian.time_zone.as_deref(), Some("America/Los_Angeles"));
    assert!(!store.set_time_zone(GuardianId::generate(t(0)), Some("UTC")).await.unwrap(), "no such guardian");
    assert_eq!(read.guardian.language, None);
    assert!(store.set_language(g.guardian.id, Some("es")).await.unwrap());
    let read = store.guardian(g.guardian.id).await.unwrap().unwrap();
    assert_eq!(read.guardian.language.as_deref(), Some("es"));
    assert_eq!(read.guardian.time_zone.as_deref(), Some("America/Los_Angeles"), "the zone is untouched");
    assert!(!store.set_language(GuardianId::generate(t(0)), Some("es")).await.unwrap(), "no such guardian");
    let invite = |tag: u8, expires: i64| InviteRecord {
        token_hash: [tag; 32],
        household_id: hh,
        invited_by: g.guardian.id,
        created_at: t(1),
        expires_at: t(expires),
    };
    store.create_invite(&invite(1, 8)).await.unwrap();
    store.create_invite(&invite(2, 3)).await.unwrap();
    let joiner = |email: &str| GuardianRecord {
        guardian: Guardian {
            id: GuardianId::generate(t(2)),
            household_id: HouseholdId::generate(t(2)), // replaced by the invitation's
            email: email.into(),
            display_name: "Bo".into(),
            created_at: t(2),
            time_zone: None,
            language: None,
        },
        password_hash: "$argon2id$fake".into(),
    };
    assert_eq!(store.accept_invite(&[9; 32], &joiner("x@example.org"), t(2)).await.unwrap(), InviteOutcome::Unknown);
    assert_eq!(store.accept_invite(&[2; 32], &joiner("x@example.org"), t(3)).await.unwrap(), InviteOutcome::Expired);
    // A taken e-mail is refused and leaves the invitation usable.
    assert!(matches!(
        store.accept_invite(&[1; 32], &joiner("first@example.org"), t(2)).await,
        Err(StoreError::Conflict(_))
    ));
    let bo = joiner("bo@example.org");
    assert_eq!(store.accept_invite(&[1; 32], &bo, t(2)).await.unwrap(), InviteOutcome::Accepted { household: hh });
    let stored = store.guardian_by_email("bo@example.org").await.unwrap().unwrap();
    assert_eq!(stored.guardian.household_id, hh, "joins the inviting household");
    assert_eq!(store.guardian_ids(hh).await.unwrap().len(), 2);
    assert_eq!(store.accept_invite(&[1; 32], &joiner("y@example.org"), t(2)).await.unwrap(), InviteOutcome::Used);
    assert!(store.guardian_by_email("y@example.org").await.unwrap().is_none());
    store.create_invite(&invite(3, 30)).await.unwrap();
    store.begin_household_closure(hh, t(4)).await.unwrap();
    assert_eq!(
        store.accept_invite(&[3; 32], &joiner("z@example.org"), t(5)).await.unwrap(),
        InviteOutcome::HouseholdClosing
    );
}

pub async fn email_plus_consent_counts_once_confirmed_by_its_guardian(store: S, _: K, _: B) {
    use kidvault_domain::notice::{NewNotice, NoticeKind};
    let (hh, g) = household(&store, "plus@example.org").await;
    let (_, stranger) = household(&store, "stranger@example.org").await;
    let c = child(&store, hh, 0).await;
    let mut k = consent(c.child.id, g.guardian.id, &[ConsentScope::Voice], 1);
    k.method = ConsentMethod::EmailPlus;
    let pending = |tag: u8, expires: i64| PendingConsent {
        token_hash: [tag; 32],
        household_id: hh,
        consent: k.clone(),
        created_at: t(1),
        expires_at: t(expires),
    };
    let notice = NewNotice { kind: NoticeKind::ConsentConfirmation, subject: "Confirm".into(), body: "link".into() };
    store.request_consent_confirmation(&pending(1, 3), &notice).await.unwrap();
    store.request_consent_confirmation(&pending(2, 2), &notice).await.unwrap();
    // Nothing counts yet; the link went to this guardian only.
    assert!(store.consents_of(c.child.id).await.unwrap().is_empty());
    assert_eq!(store.child(c.child.id).await.unwrap().unwrap().child.status, ChildStatus::PendingConsent);
    assert_eq!(store.notices_for(g.guardian.id, 10).await.unwrap().len(), 2);
    assert_eq!(store.pending_consent(&[1; 32]).await.unwrap().map(|p| p.id), Some(k.id));

    let e = entry(EntryKind::ConsentGranted, c.child.id);
    let size = store.ledger_size().await.unwrap();
    assert_eq!(store.confirm_consent(&[9; 32], g.guardian.id, t(2), &e).await.unwrap(), ConfirmOutcome::Unknown);
    assert_eq!(
        store.confirm_consent(&[1; 32], stranger.guardian.id, t(2), &e).await.unwrap(),
        ConfirmOutcome::Unknown,
        "another guardian cannot confirm it"
    );
    assert_eq!(store.confirm_consent(&[2; 32], g.guardian.id, t(2), &e).await.unwrap(), ConfirmOutcome::Expired);
    assert_eq!(store.ledger_size().await.unwrap(), size, "refusals change nothing");
    let ConfirmOutcome::Confirmed(recorded) = store.confirm_consent(&[1; 32], g.guardian.id, t(2), &e).await.unwrap()
    else {
        panic!("confirmed")
    };
    assert_eq!(recorded.granted_at, t(2), "granted when confirmed");
    assert_eq!(store.consents_of(c.child.id).await.unwrap(), vec![recorded]);
    assert_eq!(store.child(c.child.id).await.unwrap().unwrap().child.status, ChildStatus::Active);
    assert_eq!(store.ledger_size().await.unwrap(), size + 1);
    assert_eq!(store.confirm_consent(&[1; 32], g.guardian.id, t(2), &e).await.unwrap(), ConfirmOutcome::Used);
}

pub async fn totp_steps_and_recovery_codes_work_once(store: S, _: K, _: B) {
    let (_, g) = household(&store, "totp@example.org").await;
    let id = g.guardian.id;
    assert_eq!(store.totp(id).await.unwrap(), None);
    assert!(matches!(store.enable_totp(id, t(1), 5, &[]).await, Err(StoreError::Conflict(_))), "nothing to enable");
    store.begin_totp(id, b"first").await.unwrap();
    store.begin_totp(id, b"second").await.unwrap();
    let pending = store.totp(id).await.unwrap().unwrap();
    assert_eq!((pending.secret_wrapped.as_slice(), pending.enabled_at), (b"second".as_slice(), None));
    store.enable_totp(id, t(1), 10, &[[1; 32], [2; 32]]).await.unwrap();
    assert!(matches!(store.begin_totp(id, b"third").await, Err(StoreError::Conflict(_))), "on: no silent re-enrolment");
    assert_eq!(store.totp(id).await.unwrap().unwrap().enabled_at, Some(t(1)));
    assert!(!store.use_totp_step(id, 10).await.unwrap(), "the enrolment code's step is used");
    assert!(store.use_totp_step(id, 11).await.unwrap());
    assert!(!store.use_totp_step(id, 11).await.unwrap(), "no replay");
    assert!(!store.use_totp_step(id, 9).await.unwrap());
    assert!(store.use_recovery_code(id, &[1; 32], t(2)).await.unwrap());
    assert!(!store.use_recovery_code(id, &[1; 32], t(2)).await.unwrap(), "single use");
    assert!(!store.use_recovery_code(id, &[3; 32], t(2)).await.unwrap());
    store.disable_totp(id).await.unwrap();
    assert_eq!(store.totp(id).await.unwrap(), None);
    assert!(!store.use_recovery_code(id, &[2; 32], t(2)).await.unwrap(), "codes go with it");
}

pub async fn sweeps_read_only_what_is_due_and_activity_ends_dormancy(store: S, _: K, _: B) {
    use kidvault_domain::notice::{NewNotice, NoticeKind};
    let (hh, g) = household(&store, "sweep@example.org").await;
    // `child` makes children created on day `day` (t(day)); status as given.
    let make = async |day: i64, status: ChildStatus| {
        let mut r = child(&store, hh, day).await;
        r.child.id = ChildId::generate(t(day));
        r.child.status = status;
        store.create_child(&r).await.unwrap();
        r.child.id
    };
    let pending = make(0, ChildStatus::PendingConsent).await;
    let idle = make(0, ChildStatus::Active).await;
    let busy = make(0, ChildStatus::Active).await;
    store.insert_item(&item(busy, ItemKind::VoiceRecording, &[], 100)).await.unwrap(); // activity on day 100
    let (ids, _): (Vec<ChildId>, Vec<HouseholdId>) =
        store.abandoned_children(t(15), 10).await.unwrap().into_iter().unzip();
    assert!(ids.contains(&pending) && !ids.contains(&idle));
    assert!(store.abandoned_children(t(0), 10).await.unwrap().is_empty(), "only those created before");
    let mut expired = store.expired_items(ItemKind::VoiceRecording, t(101), 10).await.unwrap();
    expired.retain(|(c, _)| *c == busy);
    assert_eq!(expired, vec![(busy, hh)]);
    assert!(store.expired_items(ItemKind::VoiceRecording, t(100), 10).await.unwrap().iter().all(|(c, _)| *c != busy));

    let due = store.inactive_children(t(50), 10).await.unwrap();
    let inactive: Vec<ChildId> = due.iter().map(|d| d.child).collect();
    assert!(inactive.contains(&idle) && !inactive.contains(&busy) && !inactive.contains(&pending));
    let idle_due = due.iter().find(|d| d.child == idle).unwrap();
    assert_eq!(idle_due.household, hh);
    let idle_read = store.child_retention(idle).await.unwrap().unwrap();
    assert_eq!(idle_due.last_active_at, idle_read.last_active_at, "with when it was last active");
    let notice = NewNotice { kind: NoticeKind::DormancyNotice, subject: "Dormant".into(), body: "b".into() };
    let mark = |child| DormancyMark {
        child,
        household: hh,
        entry: entry(EntryKind::DormancyNotice, child),
        notice: notice.clone(),
    };
    let ledger = store.ledger_size().await.unwrap();
    // One batch: the idle child is marked; the busy one (active since) is left
    // alone, and so is the idle one named again in the same batch.
    let marked = store.mark_dormant(&[mark(idle), mark(busy), mark(idle)], t(50), t(50), t(110)).await.unwrap();
    assert_eq!(marked, vec![idle]);
    assert!(store.mark_dormant(&[mark(idle)], t(50), t(50), t(110)).await.unwrap().is_empty(), "once");
    assert_eq!(store.notices_for(g.guardian.id, 10).await.unwrap().len(), 1, "one notice");
    assert_eq!(store.ledger_size().await.unwrap(), ledger + 1, "one entry");
    let r = store.child_retention(idle).await.unwrap().unwrap();
    assert_eq!((r.dormant_at, r.deletion_at), (Some(t(50)), Some(t(110))));
    assert!(store.dormant_to_remind(t(100), 10).await.unwrap().is_empty());
    assert_eq!(
        store.dormant_to_remind(t(110), 10).await.unwrap(),
        vec![DormantChild { child: idle, household: hh, deletion_at: t(110) }]
    );
    let reminder = NewNotice { kind: NoticeKind::DormancyReminder, subject: "Soon".into(), body: "b".into() };
    let both = [(idle, reminder.clone()), (idle, reminder.clone())];
    assert_eq!(store.mark_reminded(&both, t(100)).await.unwrap(), vec![idle], "named twice, reminded once");
    assert!(store.mark_reminded(&[(idle, reminder.clone())], t(101)).await.unwrap().is_empty(), "reminded once");
    let reminders = store.notices_for(g.guardian.id, 10).await.unwrap();
    assert_eq!(reminders.iter().filter(|n| n.kind == NoticeKind::DormancyReminder).count(), 1, "one reminder notice");
    assert!(store.dormant_due(t(109), 10).await.unwrap().is_empty());
    assert_eq!(store.dormant_due(t(110), 10).await.unwrap(), vec![(idle, hh)]);
    // Activity ends dormancy; keeping ends it too and is undoable.
    let mut again = item(idle, ItemKind::VoiceRecording, &[], 105);
    again.meta.received_at = t(105);
    store.insert_item(&again).await.unwrap();
    let r = store.child_retention(idle).await.unwrap().unwrap();
    assert_eq!((r.dormant_at, r.deletion_at, r.last_active_at), (None, None, Some(t(105))));
    assert!(store.dormant_due(t(200), 10).await.unwrap().is_empty());
    let choice = entry(EntryKind::RetentionChoice, idle);
    store.set_keep_when_dormant(idle, true, t(106), &choice).await.unwrap();
    assert_eq!(store.child_retention(idle).await.unwrap().unwrap().kept_at, Some(t(106)));
    assert!(store.inactive_children(t(900), 10).await.unwrap().iter().all(|d| d.child != idle), "kept");
    store.set_keep_when_dormant(idle, false, t(107), &choice).await.unwrap();
    assert!(store.inactive_children(t(900), 10).await.unwrap().iter().any(|d| d.child == idle));
}

pub async fn leases_have_one_holder_until_they_expire(store: S, _: K, _: B) {
    let (a, b) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let until = |day| t(day) + Duration::seconds(30);
    // Many claimants at once: exactly one wins.
    let claims: Vec<_> = (0..8)
        .map(|i| {
            let store = Arc::clone(&store);
            let who = if i % 2 == 0 { a } else { b };
            tokio::spawn(async move { (who, store.acquire_lease("deletions", who, t(0), until(0)).await.unwrap()) })
        })
        .collect();
    let mut winners = Vec::new();
    for c in claims {
        let (who, won) = c.await.unwrap();
        if won {
            winners.push(who);
        }
    }
    winners.dedup();
    assert_eq!(winners.len(), 1, "one holder: {winners:?}");
    let (holder, other) = if winners[0] == a { (a, b) } else { (b, a) };
    // The holder renews; the other is refused until the lease expires, then takes over.
    assert!(store.acquire_lease("deletions", holder, t(0), until(0)).await.unwrap());
    assert!(!store.acquire_lease("deletions", other, t(0) + Duration::seconds(29), until(0)).await.unwrap());
    assert!(store.acquire_lease("sweeps", other, t(0), until(0)).await.unwrap(), "leases are per name");
    assert!(store.acquire_lease("deletions", other, until(0), until(1)).await.unwrap(), "expired: taken over");
    assert!(!store.acquire_lease("deletions", holder, until(0), until(1)).await.unwrap());
    // Released, it is free at once.
    store.release_lease("deletions", holder).await.unwrap();
    assert!(!store.acquire_lease("deletions", holder, until(0), until(1)).await.unwrap(), "only the holder releases");
    store.release_lease("deletions", other).await.unwrap();
    assert!(store.acquire_lease("deletions", holder, until(0), until(1)).await.unwrap());
}

pub async fn sign_in_failures_are_kept_per_key_for_their_window(store: S, _: K, _: B) {
    let (ana, bob, addr) = ([1u8; 32], [2u8; 32], [3u8; 32]);
    let at = |s: i64| t(0) + Duration::seconds(s);
    let window = Duration::minutes(15);
    for s in 0..7 {
        store.record_sign_in_failure(&[ana, addr], at(s), at(s) - window).await.unwrap();
    }
    store.record_sign_in_failure(&[bob], at(10), at(10) - window).await.unwrap();
    // The latest `limit`, oldest first, per key; none for a key never seen.
    let got = store.sign_in_failures(&[ana, bob, addr, [9u8; 32]], at(10) - window, 5).await.unwrap();
    assert_eq!(got[0], (2..7).map(at).collect::<Vec<_>>());
    assert_eq!(got[1], vec![at(10)]);
    assert_eq!(got[2].len(), 5);
    assert!(got[3].is_empty());
    // Only failures after `since` count.
    let later = store.sign_in_failures(&[ana], at(4), 64).await.unwrap();
    assert_eq!(later[0], vec![at(5), at(6)]);
    // A success clears its key only.
    store.clear_sign_in_failures(&ana).await.unwrap();
    let got = store.sign_in_failures(&[ana, addr], at(10) - window, 64).await.unwrap();
    assert!(got[0].is_empty());
    assert_eq!(got[1].len(), 7);
    // A new failure forgets its key's old ones; pruning forgets everyone's.
    store.record_sign_in_failure(&[addr], at(2000), at(2000) - window).await.unwrap();
    assert_eq!(store.sign_in_failures(&[addr], t(0) - window, 64).await.unwrap()[0], vec![at(2000)]);
    assert_eq!(store.prune_sign_in_failures(at(1999)).await.unwrap(), 1, "bob's one old failure");
    assert!(store.sign_in_failures(&[bob], t(0) - window, 64).await.unwrap()[0].is_empty());
}

pub async fn blob_items_are_listed_and_relocated(store: S, _: K, _: B) {
    let (hh, _) = household(&store, "blobs@example.org").await;
    let c = child(&store, hh, 0).await;
    let mut blobbed = Vec::new();
    for i in 0..5 {
        let mut rec = item(c.child.id, ItemKind::VoiceRecording, &[], i);
        rec.content = StoredContent::Blob(BlobLocator(format!("local:1:{}:100", i * 100)));
        store.insert_item(&rec).await.unwrap();
        blobbed.push((rec.meta.id, BlobLocator(format!("local:1:{}:100", i * 100))));
        store.insert_item(&item(c.child.id, ItemKind::Transcript, &[rec.meta.id], i)).await.unwrap();
        // inline
    }
    blobbed.sort_by_key(|(id, _)| id.0);
    // Only blob items, in id order, page by page.
    let first = store.blob_items(None, 3).await.unwrap();
    assert_eq!(first, blobbed[..3]);
    let rest = store.blob_items(Some(first[2].0), 3).await.unwrap();
    assert_eq!(rest, blobbed[3..]);
    // Moved only from where it still is.
    let (id, at) = blobbed[1].clone();
    let to = BlobLocator("s3:blobs/x".into());
    assert!(!store.relocate_blob(id, &BlobLocator("local:9:9:9".into()), &to).await.unwrap());
    assert!(store.relocate_blob(id, &at, &to).await.unwrap());
    assert_eq!(store.item(id).await.unwrap().unwrap().content, StoredContent::Blob(to.clone()));
    assert!(!store.relocate_blob(id, &at, &to).await.unwrap(), "already moved");
}

pub async fn disclosures_follow_consent_and_withdrawals_are_recalled(store: S, _: K, _: B) {
    use kidvault_domain::disclosure::Purpose;
    use kidvault_domain::downstream::TaskState;
    use kidvault_domain::item::DataCategory;
    let (hh, g) = household(&store, "use@example.org").await;
    let (trains, voice_only, waiting) =
        (child(&store, hh, 1).await, child(&store, hh, 1).await, child(&store, hh, 1).await);
    let both = consent(trains.child.id, g.guardian.id, &[ConsentScope::Voice, ConsentScope::Training], 2);
    store.record_consent(&both, &entry(EntryKind::ConsentGranted, trains.child.id)).await.unwrap();
    let voice = consent(voice_only.child.id, g.guardian.id, &[ConsentScope::Voice], 2);
    store.record_consent(&voice, &entry(EntryKind::ConsentGranted, voice_only.child.id)).await.unwrap();
    let rec = item(trains.child.id, ItemKind::VoiceRecording, &[], 3);
    let mut words = item(trains.child.id, ItemKind::Transcript, &[rec.meta.id], 3);
    words.meta.received_at += Duration::seconds(1);
    let other = item(voice_only.child.id, ItemKind::VoiceRecording, &[], 4);
    let unconsented = item(waiting.child.id, ItemKind::VoiceRecording, &[], 4);
    for i in [&rec, &words, &other, &unconsented] {
        store.insert_item(i).await.unwrap();
    }
    let with = |name: &str, purpose, day| ProcessorRecord { purpose, ..processor(name, day) };
    let (stt, trainer, late) =
        (with("stt", Purpose::Integral, 0), with("trainer", Purpose::Training, 1), with("late", Purpose::Training, 3));
    for p in [&stt, &trainer, &late] {
        store.create_processor(p).await.unwrap();
    }
    let ids = |items: Vec<ItemRecord>| items.into_iter().map(|i| i.meta.id).collect::<Vec<_>>();
    // Integral: whatever is collected under consent in force; not a child
    // without consent, nothing under a notice nobody agreed to.
    assert_eq!(
        ids(store.disclosable_items(stt.id, "v1", 10).await.unwrap()),
        vec![rec.meta.id, words.meta.id, other.meta.id]
    );
    assert!(store.disclosable_items(stt.id, "v2", 10).await.unwrap().is_empty());
    assert_eq!(ids(store.disclosable_items(stt.id, "v1", 1).await.unwrap()), vec![rec.meta.id]);
    // Training: only the child whose parents allowed it, and not for a
    // processor registered after they agreed.
    assert_eq!(ids(store.disclosable_items(trainer.id, "v1", 10).await.unwrap()), vec![rec.meta.id, words.meta.id]);
    assert!(store.disclosable_items(late.id, "v1", 10).await.unwrap().is_empty());
    assert!(matches!(store.disclosable_items(ProcessorId::generate(t(0)), "v1", 10).await, Err(StoreError::NotFound)));

    let sent = |i: &ItemRecord, to: &ProcessorRecord| Disclosure {
        processor_id: to.id,
        item_id: i.meta.id,
        child_id: i.meta.child_id,
        category: i.meta.category,
        consent_id: both.id,
        disclosed_at: t(5),
    };
    let rows = [sent(&rec, &trainer), sent(&words, &trainer)];
    let disclosed = entry(EntryKind::DataDisclosed, trains.child.id);
    assert_eq!(store.record_disclosures(&rows, std::slice::from_ref(&disclosed)).await.unwrap(), 2);
    assert_eq!(store.record_disclosures(&rows[..1], &[]).await.unwrap(), 0, "recorded once");
    assert!(store.disclosable_items(trainer.id, "v1", 10).await.unwrap().is_empty(), "not sent twice");
    assert_eq!(store.disclosable_items(stt.id, "v1", 10).await.unwrap().len(), 3, "per processor");
    let kinds: Vec<EntryKind> =
        store.child_entries(trains.child.id, None).await.unwrap().iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vec![EntryKind::ConsentGranted, EntryKind::DataDisclosed]);
    let summary = store.child_disclosures(trains.child.id).await.unwrap();
    assert_eq!(
        summary.iter().map(|s| (s.processor_name.as_str(), s.category, s.items, s.recalled)).collect::<Vec<_>>(),
        vec![("trainer", DataCategory::BiometricVoice, 1, 0), ("trainer", DataCategory::Content, 1, 0)]
    );
    assert!(store.child_disclosures(voice_only.child.id).await.unwrap().is_empty());

    // Nothing to recall while training is allowed; withdrawn, everything sent is.
    assert!(store.recalls_due(100).await.unwrap().is_empty());
    let withdrawn = entry(EntryKind::ConsentWithdrawn, trains.child.id);
    store.withdraw_scope(trains.child.id, ConsentScope::Training, t(6), &withdrawn).await.unwrap();
    assert!(store.disclosable_items(trainer.id, "v1", 10).await.unwrap().is_empty());
    let due = store.recalls_due(100).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!((due[0].processor_id, due[0].child_id), (trainer.id, trains.child.id));
    let mut want = vec![rec.meta.id, words.meta.id];
    want.sort();
    assert_eq!(due[0].items, want);
    let task = pending_task(None, trains.child.id, trainer.id, "{}".into(), (t(6), t(9)));
    let again = TaskRecord { id: TaskId::generate(t(6)), ..task.clone() };
    assert_eq!(store.create_recalls(&[(task.clone(), due[0].items.clone())]).await.unwrap(), 1);
    assert_eq!(store.create_recalls(&[(again, due[0].items.clone())]).await.unwrap(), 0, "recalled once");
    assert!(store.recalls_due(100).await.unwrap().is_empty());
    let tasks = store.child_tasks(trains.child.id).await.unwrap();
    assert_eq!(
        tasks.iter().map(|t| (t.id, t.deletion_id, t.state)).collect::<Vec<_>>(),
        vec![(task.id, None, TaskState::Pending)]
    );
    assert_eq!(store.claim_due_tasks(t(6), t(7), 10).await.unwrap().len(), 1, "delivered like any task");
    assert!(store.child_disclosures(trains.child.id).await.unwrap().iter().all(|s| s.recalled == 1));
}

/// Random histories of consents, withdrawals, items and processors: what the
/// store offers each processor is exactly what the consent rule of
/// `kidvault_domain::disclosure` allows (the store spells it in SQL).
pub async fn disclosable_items_follow_the_consent_rule(store: S, _: K, _: B) {
    use kidvault_domain::disclosure::{disclosure_basis, Purpose};
    use kidvault_domain::item::DataCategory;
    use std::collections::BTreeSet;
    // Every seed's items stay in the store: later processors see them all.
    let mut items: Vec<ItemMeta> = Vec::new();
    for seed in 1..=4u64 {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut rnd = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let (hh, g) = household(&store, &format!("prop{seed}@example.org")).await;
        let mut kids = Vec::new();
        for _ in 0..3 {
            kids.push(child(&store, hh, 0).await.child.id);
        }
        let mut processors: Vec<ProcessorRecord> = Vec::new();
        for step in 0..80i64 {
            let day = step / 4 + 1;
            let c = kids[rnd(3) as usize];
            match rnd(6) {
                0 | 1 => {
                    let scopes: Vec<ConsentScope> = ConsentScope::ALL.into_iter().filter(|_| rnd(2) == 0).collect();
                    if scopes.is_empty() {
                        continue;
                    }
                    let mut k = consent(c, g.guardian.id, &scopes, day);
                    if rnd(4) == 0 {
                        k.notice_version = "v2".into();
                    }
                    store.record_consent(&k, &entry(EntryKind::ConsentGranted, c)).await.unwrap();
                }
                2 => {
                    let scope = ConsentScope::ALL[rnd(5) as usize];
                    let e = entry(EntryKind::ConsentWithdrawn, c);
                    store.withdraw_scope(c, scope, t(day), &e).await.unwrap();
                }
                3 | 4 => {
                    let kind = [ItemKind::VoiceRecording, ItemKind::Location][rnd(2) as usize];
                    let mut i = item(c, kind, &[], day);
                    if kind == ItemKind::Location && rnd(2) == 0 {
                        i.meta.category = DataCategory::LocationImprecise;
                    }
                    if kind == ItemKind::VoiceRecording && rnd(2) == 0 {
                        store.insert_item(&i).await.unwrap();
                        items.push(i.meta.clone());
                        i = item(c, ItemKind::Transcript, &[i.meta.id], day);
                    }
                    store.insert_item(&i).await.unwrap();
                    items.push(i.meta);
                }
                _ => {
                    let categories: Vec<DataCategory> = DataCategory::ALL.into_iter().filter(|_| rnd(2) == 0).collect();
                    if categories.is_empty() {
                        continue;
                    }
                    let p = ProcessorRecord {
                        purpose: Purpose::ALL[rnd(3) as usize],
                        categories,
                        ..processor(&format!("p{seed}-{step}"), day)
                    };
                    store.create_processor(&p).await.unwrap();
                    processors.push(p);
                }
            }
        }
        for p in &processors {
            let got: BTreeSet<ItemId> =
                store.disclosable_items(p.id, "v1", 10_000).await.unwrap().iter().map(|i| i.meta.id).collect();
            let mut want = BTreeSet::new();
            for i in items.iter().filter(|i| p.categories.contains(&i.category)) {
                let active = store.child(i.child_id).await.unwrap().unwrap().child.status == ChildStatus::Active;
                let consents = store.consents_of(i.child_id).await.unwrap();
                if active && disclosure_basis(p.purpose, i.category, p.created_at, &consents, "v1").is_some() {
                    want.insert(i.id);
                }
            }
            assert_eq!(got, want, "seed {seed}, processor {} ({:?}, {:?})", p.name, p.purpose, p.categories);
            // A training snapshot holds exactly the same items (of its kinds).
            if p.purpose == Purpose::Training {
                let kinds = vec![ItemKind::VoiceRecording, ItemKind::Transcript];
                let d = NewDataset {
                    id: DatasetId::generate(t(30)),
                    processor_id: p.id,
                    kinds: kinds.clone(),
                    from: None,
                    to: None,
                    shards: 3,
                    criteria: "{}".into(),
                    created_at: t(30),
                };
                let note = DisclosureNote {
                    actor: "processor:p".into(),
                    purpose: "training".into(),
                    processor_name: p.name.clone(),
                    at: "2026-07-01T12:00:00.000000Z".into(),
                };
                store.create_dataset(&d, "v1", &note).await.unwrap();
                let held: BTreeSet<ItemId> =
                    store.dataset_items(d.id, None).await.unwrap().iter().map(|i| i.item_id).collect();
                let eligible: BTreeSet<ItemId> =
                    items.iter().filter(|i| want.contains(&i.id) && kinds.contains(&i.kind)).map(|i| i.id).collect();
                assert_eq!(held, eligible, "seed {seed}: snapshot of {}", p.name);
            }
        }
    }
}

pub async fn datasets_hold_only_eligible_items_and_removals_flag_the_models_built_on_them(store: S, _: K, _: B) {
    use kidvault_domain::deletion::{DeletionScope, DeletionStep};
    use kidvault_domain::disclosure::Purpose;
    let (hh, g) = household(&store, "ml@example.org").await;
    let (a, b) = (child(&store, hh, 1).await.child.id, child(&store, hh, 1).await.child.id);
    let both = consent(a, g.guardian.id, &[ConsentScope::Voice, ConsentScope::Training], 2);
    store.record_consent(&both, &entry(EntryKind::ConsentGranted, a)).await.unwrap();
    let voice = consent(b, g.guardian.id, &[ConsentScope::Voice], 2);
    store.record_consent(&voice, &entry(EntryKind::ConsentGranted, b)).await.unwrap();
    let rec = item(a, ItemKind::VoiceRecording, &[], 3);
    let tr = item(a, ItemKind::Transcript, &[rec.meta.id], 3);
    let later = item(a, ItemKind::VoiceRecording, &[], 9);
    let not_allowed = item(b, ItemKind::VoiceRecording, &[], 3);
    for i in [&rec, &tr, &later, &not_allowed] {
        store.insert_item(i).await.unwrap();
    }
    let trainer = ProcessorRecord { purpose: Purpose::Training, ..processor("trainer", 1) };
    let stt = processor("stt", 0);
    store.create_processor(&trainer).await.unwrap();
    store.create_processor(&stt).await.unwrap();
    let note = DisclosureNote {
        actor: format!("processor:{}", trainer.id),
        purpose: "training".into(),
        processor_name: "trainer".into(),
        at: "2026-06-06T12:00:00.000000Z".into(),
    };
    let new = |shards, to: Option<Timestamp>, processor: ProcessorId| NewDataset {
        id: DatasetId::generate(t(6)),
        processor_id: processor,
        kinds: vec![ItemKind::VoiceRecording, ItemKind::Transcript],
        from: None,
        to,
        shards,
        criteria: "{}".into(),
        created_at: t(6),
    };
    assert!(matches!(store.create_dataset(&new(4, None, stt.id), "v1", &note).await, Err(StoreError::Conflict(_))));
    // Only the child whose parents allowed training; only what the criteria name.
    let ds = store.create_dataset(&new(4, Some(t(8)), trainer.id), "v1", &note).await.unwrap();
    assert_eq!(ds.items, 2);
    let items = store.dataset_items(ds.id, None).await.unwrap();
    let shard = crate::sql::datasets::shard_of(a, 4);
    let mut got: Vec<(ItemId, Option<ItemId>, u32, bool)> =
        items.iter().map(|i| (i.item_id, i.source_id, i.shard, i.removed)).collect();
    got.sort();
    let mut want = vec![(rec.meta.id, None, shard, false), (tr.meta.id, Some(rec.meta.id), shard, false)];
    want.sort();
    assert_eq!(got, want);
    assert_eq!(store.dataset_items(ds.id, Some((shard + 1) % 4)).await.unwrap(), vec![]);
    assert_eq!(store.child_disclosures(a).await.unwrap().iter().map(|s| s.items).sum::<u64>(), 2, "registered");
    let kinds: Vec<EntryKind> = store.child_entries(a, None).await.unwrap().iter().map(|e| e.kind).collect();
    assert!(kinds.contains(&EntryKind::DataDisclosed));
    assert!(store.child_entries(b, None).await.unwrap().iter().all(|e| e.kind != EntryKind::DataDisclosed));

    // Models name the shards they were trained on; nothing foreign or missing.
    let model = |name: &str, version: &str| ModelRecord {
        id: ModelId::generate(t(7)),
        processor_id: trainer.id,
        name: name.into(),
        version: version.into(),
        created_at: t(7),
        outcome: None,
        replaced_by: None,
        evidence: None,
        resolved_at: None,
    };
    let registered = entry(EntryKind::ModelRegistered, a);
    let m1 = model("asr", "1");
    assert_eq!(store.register_model(&m1, &[(ds.id, shard)], &registered).await.unwrap(), 0);
    let unrelated = model("asr-other-shard", "1");
    store.register_model(&unrelated, &[(ds.id, (shard + 1) % 4)], &registered).await.unwrap();
    assert!(matches!(
        store.register_model(&model("asr", "1"), &[(ds.id, shard)], &registered).await,
        Err(StoreError::Conflict(_))
    ));
    for bad in [(ds.id, 4), (DatasetId::generate(t(6)), 0)] {
        assert!(matches!(store.register_model(&model("x", "1"), &[bad], &registered).await, Err(StoreError::NotFound)));
    }
    assert!(store.flagged_models(None).await.unwrap().is_empty());

    // Deleting the recording flags exactly the model trained on its shard.
    let del = deletion(hh, a, DeletionScope::Item { item: rec.meta.id });
    store.create_deletion(&del).await.unwrap();
    store.resolve_deletion(del.id, t(10)).await.unwrap();
    store.shred_deletion_items(del.id, t(10)).await.unwrap();
    store.set_deletion_step(del.id, DeletionStep::Rotated, t(10)).await.unwrap();
    store.purge_deletion(del.id, t(10)).await.unwrap();
    let flagged = store.flagged_models(None).await.unwrap();
    assert_eq!(flagged.iter().map(|(m, n, at)| (m.id, *n, *at)).collect::<Vec<_>>(), vec![(m1.id, 2, t(10))]);
    assert_eq!(store.flagged_models(Some(del.id)).await.unwrap().len(), 1);
    // The runner's set read: each deletion with the models it flagged.
    let by = store.models_flagged_by(&[del.id, DeletionId::generate(t(10))]).await.unwrap();
    assert_eq!(by.iter().map(|(d, m, n, at)| (*d, m.id, *n, *at)).collect::<Vec<_>>(), vec![(del.id, m1.id, 2, t(10))]);
    let flags = store.model_flags(m1.id).await.unwrap();
    assert!(flags.iter().all(|f| f.cause == "deletion" && f.deletion_id == Some(del.id) && f.shard == shard));
    assert!(store.dataset_items(ds.id, None).await.unwrap().iter().all(|i| i.removed), "no longer served");
    // A model registered later from the tainted shard is flagged at once.
    let m2 = model("asr", "2-from-old-data");
    assert_eq!(store.register_model(&m2, &[(ds.id, shard)], &registered).await.unwrap(), 2);

    // Retrained: resolved once, the second acknowledgement changes nothing.
    let resolved = entry(EntryKind::ModelResolved, a);
    let resolution = |outcome: &str, replaced_by, evidence: &str, at| ModelResolution {
        outcome: outcome.into(),
        replaced_by,
        evidence: evidence.into(),
        at,
    };
    assert!(matches!(
        store.resolve_model(m1.id, trainer.id, &resolution("retrained", Some(m1.id), "x", t(11)), &resolved).await,
        Err(StoreError::NotFound)
    ));
    let m3 = model("asr", "3");
    store.register_model(&m3, &[], &registered).await.unwrap();
    let done = store
        .resolve_model(m1.id, trainer.id, &resolution("retrained", Some(m3.id), "run 42", t(11)), &resolved)
        .await
        .unwrap();
    assert_eq!(
        (done.outcome.as_deref(), done.replaced_by, done.resolved_at),
        (Some("retrained"), Some(m3.id), Some(t(11)))
    );
    let again =
        store.resolve_model(m1.id, trainer.id, &resolution("destroyed", None, "y", t(12)), &resolved).await.unwrap();
    assert_eq!(again, done);
    assert!(matches!(
        store.resolve_model(m2.id, stt.id, &resolution("destroyed", None, "y", t(12)), &resolved).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.flagged_models(None).await.unwrap().iter().map(|(m, ..)| m.id).collect::<Vec<_>>(), vec![m2.id]);

    // Withdrawing training recalls the child's data and flags its models.
    let ds2 = store.create_dataset(&new(2, None, trainer.id), "v1", &note).await.unwrap();
    assert_eq!(ds2.items, 1, "only the recording not deleted");
    let m4 = model("asr", "4");
    store.register_model(&m4, &[(ds2.id, crate::sql::datasets::shard_of(a, 2))], &registered).await.unwrap();
    store.withdraw_scope(a, ConsentScope::Training, t(13), &entry(EntryKind::ConsentWithdrawn, a)).await.unwrap();
    let due = store.recalls_due(100).await.unwrap();
    let task = TaskRecord {
        id: TaskId::generate(t(13)),
        deletion_id: None,
        child_id: a,
        processor_id: trainer.id,
        processor_name: String::new(),
        state: kidvault_domain::downstream::TaskState::Pending,
        payload: "{}".into(),
        attempts: 0,
        next_attempt_at: None,
        deadline: t(16),
        created_at: t(13),
        delivered_at: None,
        acknowledged_at: None,
        acknowledged_via: None,
        last_error: None,
    };
    store.create_recalls(&[(task, due[0].items.clone())]).await.unwrap();
    let flags = store.model_flags(m4.id).await.unwrap();
    assert_eq!(
        flags.iter().map(|f| (f.item_id, f.cause.as_str())).collect::<Vec<_>>(),
        vec![(later.meta.id, "withdrawal")]
    );
    assert!(store.dataset_items(ds2.id, None).await.unwrap()[0].removed, "recalled: no longer served");

    // Every dataset and model waits for its lineage event until delivered.
    let backlog = store.lineage_backlog(100).await.unwrap();
    assert!(backlog.datasets.iter().any(|x| x.id == ds.id));
    assert!(backlog.models.iter().any(|(m, inputs)| m.id == m1.id && inputs == &vec![(ds.id, shard)]));
    store.lineage_sent(&[ds.id], &[m1.id], t(20)).await.unwrap();
    let backlog = store.lineage_backlog(100).await.unwrap();
    assert!(backlog.datasets.iter().all(|x| x.id != ds.id) && backlog.models.iter().all(|(m, _)| m.id != m1.id));
    assert!(backlog.datasets.iter().any(|x| x.id == ds2.id));
}

fn staff_record(role: kidvault_domain::staff::StaffRole, key: u8) -> StaffRecord {
    StaffRecord {
        id: StaffId::generate(t(0)),
        role,
        name: "Ines".into(),
        token_hash: [key; 32],
        totp_wrapped: vec![key; 60],
        last_step: None,
        created_at: t(0),
        disabled_at: None,
    }
}

pub async fn staff_sign_in_once_per_step_and_sessions_end_with_the_account(store: S, _: K, _: B) {
    use kidvault_domain::staff::StaffRole;
    let staff = staff_record(StaffRole::Support, 5);
    store.create_staff(&staff).await.unwrap();
    let dup = StaffRecord { id: StaffId::generate(t(0)), ..staff.clone() };
    assert!(matches!(store.create_staff(&dup).await, Err(StoreError::Conflict(_))), "one key, one account");
    let found = store.staff_by_key(&[5; 32]).await.unwrap().unwrap();
    assert_eq!((found.id, found.role, found.totp_wrapped.len()), (staff.id, StaffRole::Support, 60));
    assert!(store.staff_by_key(&[6; 32]).await.unwrap().is_none());

    let session = |tag: u8, day: i64| StaffSessionRecord {
        token_hash: [tag; 32],
        staff_id: staff.id,
        created_at: t(day),
        expires_at: t(day) + Duration::hours(1),
    };
    assert!(store.staff_sign_in(100, &session(1, 1)).await.unwrap());
    assert!(!store.staff_sign_in(100, &session(2, 1)).await.unwrap(), "a TOTP step works once");
    assert!(!store.staff_sign_in(99, &session(2, 1)).await.unwrap(), "nor an earlier one");
    assert!(store.staff_session(&[2; 32], t(1)).await.unwrap().is_none(), "a refused sign-in opens no session");
    assert_eq!(store.staff_session(&[1; 32], t(1)).await.unwrap().map(|s| s.id), Some(staff.id));
    assert!(store.staff_session(&[1; 32], t(1) + Duration::hours(2)).await.unwrap().is_none(), "sessions expire");

    assert!(store.staff_sign_in(101, &session(3, 1)).await.unwrap());
    assert_eq!(store.end_staff_sessions(staff.id, Some(t(2))).await.unwrap(), 2);
    assert!(store.staff_session(&[3; 32], t(1)).await.unwrap().is_none());
    assert!(store.staff_by_key(&[5; 32]).await.unwrap().is_none(), "a disabled account cannot sign in");
    assert!(!store.staff_sign_in(102, &session(4, 2)).await.unwrap());
    assert_eq!(store.staff(staff.id).await.unwrap().unwrap().disabled_at, Some(t(2)));
    assert!(matches!(store.end_staff_sessions(StaffId::generate(t(0)), None).await, Err(StoreError::NotFound)));
    assert_eq!(store.list_staff().await.unwrap().len(), 1);
}

pub async fn support_grants_one_at_a_time_break_glass_and_reviews_commit_with_their_entries(store: S, _: K, _: B) {
    use kidvault_domain::deletion::{DeletionScope, DeletionStep};
    use kidvault_domain::ids::{DenialId, ReviewId, SupportGrantId};
    use kidvault_domain::notice::{NewNotice, NoticeKind};
    use kidvault_domain::staff::StaffRole;
    let (hh, g) = household(&store, "grant@example.org").await;
    let c = child(&store, hh, 0).await;
    let grant = |day: i64, hours: i64| SupportGrant {
        id: SupportGrantId::generate(t(day)),
        child_id: c.child.id,
        guardian_id: g.guardian.id,
        created_at: t(day),
        expires_at: t(day) + Duration::hours(hours),
        revoked_at: None,
    };
    let size = store.ledger_size().await.unwrap();
    let first = grant(1, 48);
    let index = store.grant_support(&first, &entry(EntryKind::SupportGranted, c.child.id)).await.unwrap();
    assert_eq!(index, size, "the grant's entry commits with it");
    let active = |at: Timestamp| {
        let store = Arc::clone(&store);
        async move { store.support_grants(c.child.id, 1).await.unwrap().iter().any(|g| g.active(at)) }
    };
    assert!(active(t(1) + Duration::hours(1)).await);
    assert!(!active(t(3) + Duration::hours(1)).await, "grants expire");
    let second = grant(2, 24);
    store.grant_support(&second, &entry(EntryKind::SupportGranted, c.child.id)).await.unwrap();
    let grants = store.support_grants(c.child.id, 10).await.unwrap();
    assert_eq!(grants.iter().map(|g| g.id).collect::<Vec<_>>(), vec![second.id, first.id]);
    assert_eq!(grants[1].revoked_at, Some(t(2)), "a new grant ends the one before");
    let revoke = entry(EntryKind::SupportRevoked, c.child.id);
    assert!(store.revoke_support(c.child.id, t(2) + Duration::hours(1), &revoke).await.unwrap().is_some());
    assert!(!active(t(2) + Duration::hours(2)).await);
    let again = store.revoke_support(c.child.id, t(2) + Duration::hours(3), &revoke).await.unwrap();
    assert_eq!(again, None, "nothing to revoke, no entry");

    let staff = staff_record(StaffRole::TrustAndSafety, 9);
    store.create_staff(&staff).await.unwrap();
    let review = AccessReview {
        id: ReviewId::generate(t(3)),
        staff_id: staff.id,
        role: staff.role,
        child_id: c.child.id,
        action: "read_content".into(),
        purpose: "safety_report".into(),
        ticket: "SR-1".into(),
        justification: Some(sealed(7)),
        ledger_index: 0,
        created_at: t(3),
        decided_at: None,
        decided_by: None,
        decision: None,
        note: None,
    };
    let notice = NewNotice { kind: NoticeKind::StaffAccess, subject: "Someone looked".into(), body: "Why".into() };
    let index = store.break_glass(&review, &entry(EntryKind::AccessRead, c.child.id), hh, &[notice]).await.unwrap();
    let open = store.access_reviews(true, 10).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!((open[0].ledger_index, open[0].ticket.as_str()), (index, "SR-1"));
    assert_eq!(open[0].justification, review.justification, "the sealed justification is kept as given");
    assert!(store.plain_justifications(10).await.unwrap().is_empty(), "nothing is stored in plaintext");
    assert_eq!(store.notices_for(g.guardian.id, 10).await.unwrap()[0].kind, NoticeKind::StaffAccess);
    assert_eq!(store.staff_access_counts().await.unwrap(), (0, 1));
    let decided = AccessReview {
        decided_at: Some(t(4)),
        decided_by: Some(staff.id),
        decision: Some("justified".into()),
        note: Some("ok".into()),
        ..open[0].clone()
    };
    assert!(store.decide_review(&decided, Some(&entry(EntryKind::AccessReviewed, c.child.id))).await.unwrap());
    assert!(!store.decide_review(&decided, None).await.unwrap(), "a review is closed once");
    assert!(store.access_reviews(true, 10).await.unwrap().is_empty());
    assert_eq!(store.staff_access_counts().await.unwrap(), (0, 0));
    assert_eq!(store.access_review(review.id).await.unwrap().unwrap().decision.as_deref(), Some("justified"));

    let denial = AccessDenial {
        id: DenialId::generate(t(5)),
        staff_id: staff.id,
        role: staff.role,
        child_id: Some(c.child.id),
        action: "read_content".into(),
        purpose: None,
        ticket: String::new(),
        code: "purpose_required".into(),
        at: t(5),
    };
    store.record_denial(&denial).await.unwrap();
    let (denials, total) = store.access_denials(10).await.unwrap();
    assert_eq!((denials, total), (vec![denial], 1));
    assert_eq!(store.staff_access_counts().await.unwrap(), (1, 0));

    // Deleting the child removes its grants and what staff wrote about it.
    let del = deletion(hh, c.child.id, DeletionScope::Child);
    store.create_deletion(&del).await.unwrap();
    store.resolve_deletion(del.id, t(6)).await.unwrap();
    store.set_deletion_step(del.id, DeletionStep::Rotated, t(6)).await.unwrap();
    store.purge_deletion(del.id, t(6)).await.unwrap();
    assert!(store.support_grants(c.child.id, 10).await.unwrap().is_empty());
    assert_eq!(store.access_review(review.id).await.unwrap().unwrap().justification, None);
}

/// A sign-up waiting for its e-mailed link creates its household and guardian
/// when the link is followed, once, and not after the link's expiry; an
/// address taken in the meantime is a conflict that creates nothing.
pub async fn sign_ups_by_e_mail_create_their_account_once_while_their_link_lives(store: S, _: K, _: B) {
    let pending = |tag: u8, email: &str, expires: i64| PendingSignUp {
        token_hash: [tag; 32],
        household_id: HouseholdId::generate(t(1)),
        record: GuardianRecord {
            guardian: Guardian {
                id: GuardianId::generate(t(1)),
                household_id: HouseholdId::generate(t(1)),
                email: email.into(),
                display_name: "Rosa".into(),
                created_at: t(1),
                time_zone: Some("Europe/Madrid".into()),
                language: Some("es".into()),
            },
            password_hash: "$argon2id$fake".into(),
        },
        expires_at: t(expires),
    };
    let rosa = pending(1, "rosa@example.org", 10);
    store.create_sign_up(&rosa).await.unwrap();
    store.create_sign_up(&pending(2, "late@example.org", 3)).await.unwrap();
    store.create_sign_up(&pending(3, "twice@example.org", 10)).await.unwrap();
    store.create_sign_up(&pending(4, "twice@example.org", 10)).await.unwrap();
    assert_eq!(store.guardian_by_email("rosa@example.org").await.unwrap(), None, "nothing until the link");

    let made = store.finish_sign_up(&[1; 32], t(2)).await.unwrap().expect("the link creates the account");
    assert_eq!(made.guardian.household_id, rosa.household_id, "in the household the sign-up named");
    let read = store.guardian_by_email("rosa@example.org").await.unwrap().unwrap();
    assert_eq!(read.guardian.id, rosa.record.guardian.id);
    assert_eq!(
        (read.guardian.time_zone.as_deref(), read.guardian.language.as_deref()),
        (Some("Europe/Madrid"), Some("es"))
    );
    assert_eq!(store.finish_sign_up(&[1; 32], t(2)).await.unwrap(), None, "once");
    assert_eq!(store.finish_sign_up(&[9; 32], t(2)).await.unwrap(), None, "unknown");
    assert_eq!(store.finish_sign_up(&[2; 32], t(4)).await.unwrap(), None, "expired");
    assert_eq!(store.guardian_by_email("late@example.org").await.unwrap(), None);

    // Two sign-ups of one address: the first link followed wins.
    assert!(store.finish_sign_up(&[3; 32], t(2)).await.unwrap().is_some());
    assert!(matches!(store.finish_sign_up(&[4; 32], t(2)).await, Err(StoreError::Conflict(_))));
    assert_eq!(store.prune_sign_ups(t(100)).await.unwrap(), 1, "the one still waiting (late's went at its use)");
}

pub async fn device_codes_pair_once_and_give_their_token_once(store: S, _: K, _: B) {
    let (hh, _) = household(&store, "pair@example.org").await;
    let c = child(&store, hh, 0).await;
    let code = |tag: u8, user: &str| DeviceCodeRecord {
        code_hash: [tag; 32],
        user_code: user.into(),
        token_hash: [tag + 100; 32],
        created_at: t(0),
        expires_at: t(0) + Duration::minutes(10),
    };
    store.create_device_code(&code(1, "BCDFGHJK")).await.unwrap();
    store.create_device_code(&code(2, "LMNPQRST")).await.unwrap();
    let taken = store.create_device_code(&code(3, "BCDFGHJK")).await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "a user code waiting already is refused: {taken:?}");

    let at = |s: i64| t(0) + Duration::seconds(s);
    assert_eq!(store.poll_device_code(&[1; 32], at(1), 5).await.unwrap(), DevicePoll::Pending);
    assert_eq!(store.poll_device_code(&[1; 32], at(3), 5).await.unwrap(), DevicePoll::SlowDown);
    assert_eq!(store.poll_device_code(&[1; 32], at(9), 5).await.unwrap(), DevicePoll::Pending);
    assert_eq!(store.poll_device_code(&[9; 32], at(9), 5).await.unwrap(), DevicePoll::Unknown);

    // Approval creates the device with the code's token hash, once.
    let mut d = DeviceRecord {
        device: Device {
            id: DeviceId::generate(t(0)),
            household_id: hh,
            child_id: c.child.id,
            created_at: at(10),
            revoked_at: None,
        },
        name: sealed(3),
        token_hash: [0; 32],
    };
    assert_eq!(store.approve_device_code("ZZZZZZZZ", &d, at(10)).await.unwrap(), DeviceApproval::Unknown);
    assert_eq!(store.approve_device_code("BCDFGHJK", &d, at(10)).await.unwrap(), DeviceApproval::Approved);
    let paired = store.device(d.device.id).await.unwrap().unwrap();
    assert_eq!(paired.token_hash, [101; 32], "the token the device will compute from its code");
    d.device.id = DeviceId::generate(t(0));
    assert_eq!(store.approve_device_code("BCDFGHJK", &d, at(11)).await.unwrap(), DeviceApproval::AlreadyApproved);
    assert!(store.device(d.device.id).await.unwrap().is_none(), "a second approval creates nothing");
    assert_eq!(store.devices_of(c.child.id).await.unwrap().len(), 1);

    // The device collects once.
    let first = store.poll_device_code(&[1; 32], at(12), 5).await.unwrap();
    assert_eq!(first, DevicePoll::Approved { device: paired.device.id });
    assert_eq!(store.poll_device_code(&[1; 32], at(20), 5).await.unwrap(), DevicePoll::Claimed);

    // An expired code pairs nothing; pruning forgets it.
    let late = at(11 * 60);
    assert_eq!(store.approve_device_code("LMNPQRST", &d, late).await.unwrap(), DeviceApproval::Expired);
    assert_eq!(store.poll_device_code(&[2; 32], late, 5).await.unwrap(), DevicePoll::Expired);
    assert_eq!(store.prune_device_codes(late).await.unwrap(), 2);
    assert_eq!(store.poll_device_code(&[2; 32], late, 5).await.unwrap(), DevicePoll::Unknown);
}
