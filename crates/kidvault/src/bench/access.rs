//! `kidvault bench access`: what purpose-bound staff access costs per content
//! read. On an embedded deployment seeded with the demo household, a support
//! agent whose access a guardian granted reads transcripts through the service
//! (the same call the HTTP handler makes). Measured: the access policy's
//! decision alone (Cedar), a guardian's decision under the built-in family
//! policy (a lookup in the decisions Cedar made when it loaded), then whole
//! reads one at a time (decision, grant lookup, ledger append with its durable
//! commit, decryption), then reads from
//! many tasks at once, where the group commit shares each fsync: the per-read
//! cost there is elapsed time divided by reads. Last, pages of transcripts
//! read at once (one decision and one record for the page), and a page's
//! record alone: per transcript, what access control costs a read that comes
//! in a page.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use kidvault_domain::ids::ItemId;
use kidvault_domain::item::ItemKind;
use kidvault_domain::staff::{AccessPurpose, StaffRole};
use kidvault_service::access_policy::{AccessFacts, StaffAction};
use kidvault_service::principal::StaffRequest;
use kidvault_service::review::PageQuery;
use serde_json::{json, Value};

use super::Hist;

#[derive(Clone, Debug)]
pub struct AccessOpts {
    /// Policy decisions timed alone.
    pub decisions: u64,
    /// Whole content reads, one at a time, then again from `tasks` tasks.
    pub reads: u64,
    pub tasks: u64,
    /// Transcripts per page read (at most what the demo child has).
    pub page: u64,
    pub dir: PathBuf,
}

/// An access record as a staff content read writes it (sizes as in service),
/// naming `items` items (one for a single read, a page's worth for a page).
fn access_entry(child: kidvault_domain::ids::ChildId, n: u64, items: u64) -> kidvault_ledger::entry::NewEntry {
    let mut detail = std::collections::BTreeMap::new();
    for (k, v) in [("what", "transcript.content"), ("role", "support"), ("ticket", "4821"), ("basis", "guardian_grant")]
    {
        detail.insert(k.to_owned(), v.to_owned());
    }
    kidvault_ledger::entry::NewEntry {
        kind: kidvault_ledger::entry::EntryKind::AccessRead,
        at: "2026-11-30T00:00:00.000000Z".into(),
        actor: format!("staff:support:{n:032x}"),
        household: Some(uuid::Uuid::nil().to_string()),
        child: Some(child.to_string()),
        subjects: (0..items).map(|i| uuid::Uuid::from_u128(u128::from(n) << 32 | u128::from(i)).to_string()).collect(),
        purpose: Some("support_ticket".into()),
        detail,
        counts: Default::default(),
        hashes: [("policy".to_owned(), "0".repeat(64))].into_iter().collect(),
    }
}

pub async fn access(opts: AccessOpts) -> anyhow::Result<Value> {
    let (tmp, config) = super::deployment(&opts.dir, "access", None)?;
    let vault = crate::app::open(&config)?;
    let now = Utc::now();
    crate::demo::seed(&vault, now).await?;
    let token = vault.sign_in(crate::demo::DEMO_EMAIL, crate::demo::DEMO_PASSWORD, None, None, now).await?;
    let g = vault.authenticate_guardian(&token, now).await?;
    let child =
        vault.list_children(&g, now).await?.first().map(|c| c.child.id).ok_or_else(|| anyhow::anyhow!("no child"))?;
    let q = PageQuery { kind: Some(ItemKind::Transcript.as_str()), limit: Some(200), ..PageQuery::default() };
    let items: Vec<ItemId> = vault.list_items(&g, child, &q, now).await?.items.into_iter().map(|m| m.id).collect();
    anyhow::ensure!(!items.is_empty(), "the demo child has no transcripts");
    vault.grant_support(&g, child, 168, now).await?;

    let staff = Arc::new(super::staff_session(&vault, StaffRole::Support, "bench").await?);
    let req = StaffRequest { purpose: Some("support_ticket".into()), ticket: "4821".into(), break_glass: None };

    // The decision alone.
    let policy = vault.access_policy();
    let facts = AccessFacts {
        purpose: Some(AccessPurpose::SupportTicket),
        ticket: "4821".into(),
        guardian_grant: true,
        break_glass: false,
    };
    let mut decision = Hist::new();
    let t = Instant::now();
    for _ in 0..opts.decisions {
        let one = Instant::now();
        let allowed = policy.allows(StaffRole::Support, StaffAction::ReadContent, &facts);
        decision.record(one.elapsed());
        anyhow::ensure!(allowed, "the shipped policy refused support with a grant");
    }
    let decision_secs = t.elapsed().as_secs_f64();

    // A guardian's decision (the built-in family policy), on their own child.
    let child_record =
        vault.list_children(&g, now).await?.into_iter().next().ok_or_else(|| anyhow::anyhow!("child"))?;
    let family = kidvault_service::family_policy::family();
    let mut guardian_decision = Hist::new();
    for _ in 0..opts.decisions {
        let one = Instant::now();
        let allowed = family.allows(&g, &child_record.child, kidvault_service::principal::Action::ReadItems);
        guardian_decision.record(one.elapsed());
        anyhow::ensure!(allowed, "the family policy refused a guardian their own child");
    }

    // Whole reads, one at a time: each waits for its own durable commit.
    let mut serial = Hist::new();
    let t = Instant::now();
    for i in 0..opts.reads {
        let item = items[i as usize % items.len()];
        let one = Instant::now();
        vault.staff_item_content(&staff, item, &req, Utc::now()).await?;
        serial.record(one.elapsed());
    }
    let serial_secs = t.elapsed().as_secs_f64();

    // The same reads from many tasks: appends share commits.
    let per_task = opts.reads.div_ceil(opts.tasks.max(1));
    let t = Instant::now();
    let mut handles = Vec::new();
    for k in 0..opts.tasks.max(1) {
        let (vault, staff, req, items) = (Arc::clone(&vault), Arc::clone(&staff), req.clone(), items.clone());
        handles.push(tokio::spawn(async move {
            let mut h = Hist::new();
            for i in 0..per_task {
                let item = items[(k * per_task + i) as usize % items.len()];
                let one = Instant::now();
                vault.staff_item_content(&staff, item, &req, Utc::now()).await?;
                h.record(one.elapsed());
            }
            anyhow::Ok(h)
        }));
    }
    let mut concurrent = Hist::new();
    for h in handles {
        concurrent.merge(&h.await??);
    }
    let concurrent_secs = t.elapsed().as_secs_f64();
    let concurrent_reads = per_task * opts.tasks.max(1);

    // The access record alone: the same entries appended by many tasks to a
    // store of its own (each append is durable before it returns; appends share commits).
    let store = Arc::new(kidvault_store_sqlite::SqliteStore::open(&tmp.path().join("records.db"))?);
    let t = Instant::now();
    let mut handles = Vec::new();
    for k in 0..opts.tasks.max(1) {
        let store = Arc::clone(&store);
        handles.push(tokio::spawn(async move {
            use kidvault_store::Store;
            let mut h = Hist::new();
            for i in 0..per_task {
                let entry = access_entry(child, k * per_task + i, 1);
                let one = Instant::now();
                store.append_entries(std::slice::from_ref(&entry)).await?;
                h.record(one.elapsed());
            }
            anyhow::Ok(h)
        }));
    }
    let mut recorded = Hist::new();
    for h in handles {
        recorded.merge(&h.await??);
    }
    let recorded_secs = t.elapsed().as_secs_f64();

    // Pages of transcripts, one at a time: one decision and one record (with
    // its own durable commit) for the whole page. Then the record of a page
    // alone, one at a time, to the store of its own: decision plus record,
    // divided by the page's reads, is what the access control costs a read.
    let page_q = PageQuery {
        kind: Some(ItemKind::Transcript.as_str()),
        limit: Some(u32::try_from(opts.page.clamp(1, items.len() as u64))?),
        ..PageQuery::default()
    };
    let pages = (opts.reads / 10).max(20);
    let (mut page_read, mut page_items) = (Hist::new(), 0u64);
    for _ in 0..pages {
        let one = Instant::now();
        let got = vault.staff_content_page(&staff, child, &page_q, &req, Utc::now()).await?;
        page_read.record(one.elapsed());
        page_items = got.items.len() as u64;
    }
    anyhow::ensure!(page_items > 0, "a page of transcripts came back empty");
    let mut page_record = Hist::new();
    for n in 0..pages {
        let entry = access_entry(child, 1 << 20 | n, page_items);
        let one = Instant::now();
        kidvault_store::Store::append_entries(&*store, std::slice::from_ref(&entry)).await?;
        page_record.record(one.elapsed());
    }
    let per_read = |h: &Hist| -> Value {
        let s = h.summary_us();
        let div = |k: &str| s[k].as_f64().map(|v| (v / page_items as f64 * 10.0).round() / 10.0);
        json!({"p50": div("p50"), "p99": div("p99"), "p999": div("p999")})
    };
    let decision_and_record_p99 = decision.summary_us()["p99"].as_f64().unwrap_or(f64::NAN)
        + page_record.summary_us()["p99"].as_f64().unwrap_or(f64::NAN);
    Ok(json!({
        "decision_us": decision.summary_us(),
        "decisions_per_sec": (opts.decisions as f64 / decision_secs).round(),
        "guardian_decision_us (family policy)": guardian_decision.summary_us(),
        "read_one_at_a_time_us": serial.summary_us(),
        "reads_one_at_a_time_per_sec": (opts.reads as f64 / serial_secs).round(),
        "read_concurrent_us": concurrent.summary_us(),
        "concurrent_tasks": opts.tasks,
        "reads_concurrent_per_sec": (concurrent_reads as f64 / concurrent_secs).round(),
        "per_read_amortised_us": (concurrent_secs * 1e6 / concurrent_reads as f64 * 10.0).round() / 10.0,
        "record_append_concurrent_us": recorded.summary_us(),
        "record_append_amortised_us": (recorded_secs * 1e6 / concurrent_reads as f64 * 10.0).round() / 10.0,
        "page_reads": pages,
        "transcripts_per_page": page_items,
        "page_read_us": page_read.summary_us(),
        "page_read_per_transcript_us": per_read(&page_read),
        "page_record_alone_us": page_record.summary_us(),
        "page_record_per_transcript_us": per_read(&page_record),
        "decision_p99_plus_page_record_p99_per_transcript_us":
            (decision_and_record_p99 / page_items as f64 * 10.0).round() / 10.0,
        "ledger_entries_written": opts.reads + 2 * concurrent_reads + 2 * pages,
    }))
}
