//! Use controls: what a processor may receive, what it received, and the recall
//! of what a parent withdrew.
//!
//! The eligibility rule is `kidvault_domain::disclosure`'s, spelled in SQL from
//! the same tables of scopes ([`collection_scopes`], [`Purpose::consent_scope`]),
//! so the store hands out only candidates the rule allows; the service checks
//! each one again before anything is sent.

use kidvault_domain::disclosure::{collection_scopes, Purpose};
use kidvault_domain::ids::{ChildId, ItemId, ProcessorId};
use kidvault_domain::item::DataCategory;
use kidvault_ledger::entry::NewEntry;

use super::{bind, downstream, items, Param, Tx, R};
use crate::model::{Disclosure, DisclosureSummary, ProcessorRecord, Recall, TaskRecord};
use crate::{p, StoreError};

/// `EXISTS` a grant in force (not withdrawn, under `notice`) for the row's child
/// of one of `scopes` (placeholders), with `extra` conditions on the consent `k`.
fn granted(child: &str, notice: &str, scopes: &str, extra: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM consent_scopes s JOIN consents k ON k.id = s.consent_id
                 WHERE s.child_id = {child} AND s.withdrawn_at IS NULL AND k.notice_version = {notice}
                   AND s.scope IN ({scopes}){extra})"
    )
}

/// The conditions under which item `i` (joined to its child `c`) may go to
/// processor `p` now: a live item of an active, not dormant child, in a category
/// it holds, while a scope collecting that category is in force under `notice`,
/// and — for `third_party` and `training` — the purpose's scope too, granted
/// after the processor was registered. Binds its parameters into `params`.
pub(super) fn eligible<'a>(params: &mut Vec<Param<'a>>, p: &ProcessorRecord, notice: &'a str) -> String {
    let notice = bind(params, Param::Text(notice));
    let mut by_category = Vec::new();
    for c in &p.categories {
        let cat = bind(params, Param::Text(c.as_str()));
        let scopes: Vec<String> = collection_scopes(*c).iter().map(|s| bind(params, Param::Text(s.as_str()))).collect();
        by_category
            .push(format!("(i.category = {cat} AND {})", granted("i.child_id", &notice, &scopes.join(", "), "")));
    }
    let purpose = match purpose_grant(params, p) {
        Some((scope, extra)) => format!(" AND {}", granted("i.child_id", &notice, &scope, &extra)),
        None => String::new(),
    };
    format!(
        "i.state = 'live' AND c.status = 'active' AND c.dormant_at IS NULL AND ({}){purpose}",
        by_category.join(" OR ")
    )
}

/// The purpose's own scope (a placeholder) and the condition that its consent
/// was given after the processor was registered; none for `integral`.
fn purpose_grant(params: &mut Vec<Param<'_>>, p: &ProcessorRecord) -> Option<(String, String)> {
    let scope = p.purpose.consent_scope()?;
    let scope = bind(params, Param::Text(scope.as_str()));
    let registered = bind(params, Param::from(p.created_at));
    Some((scope, format!(" AND k.granted_at >= {registered}")))
}

/// The newest consent under which item `i` goes to `p` (the disclosure's
/// basis, as `kidvault_domain::disclosure::disclosure_basis` names it), as a
/// scalar subquery. For `integral`, the newest granting a collection scope of
/// its category is the caller's to find; this covers the purposes with a scope.
pub(super) fn basis<'a>(params: &mut Vec<Param<'a>>, p: &ProcessorRecord, notice: &'a str) -> Option<String> {
    let notice = bind(params, Param::Text(notice));
    let (scope, extra) = purpose_grant(params, p)?;
    Some(format!(
        "(SELECT k.id FROM consent_scopes s JOIN consents k ON k.id = s.consent_id
          WHERE s.child_id = i.child_id AND s.withdrawn_at IS NULL AND k.notice_version = {notice}
            AND s.scope = {scope}{extra}
          ORDER BY k.granted_at DESC, k.id DESC LIMIT 1)"
    ))
}

/// Up to `limit` items the processor may receive now ([`eligible`]) and has not
/// received, oldest received first. Not found: an unknown processor; none for a
/// disabled one.
pub fn disclosable(
    tx: &mut dyn Tx,
    processor: ProcessorId,
    notice: &str,
    limit: u32,
) -> R<Vec<crate::model::ItemRecord>> {
    let p = downstream::processor(tx, processor)?.ok_or(StoreError::NotFound)?;
    if p.disabled_at.is_some() {
        return Ok(Vec::new());
    }
    let mut params: Vec<Param<'_>> = Vec::new();
    let pid = bind(&mut params, Param::from(p.id));
    let conditions = eligible(&mut params, &p, notice);
    let limit = bind(&mut params, Param::from(limit));
    let sql = format!(
        "SELECT {cols} FROM items WHERE id IN (
             SELECT i.id FROM items i JOIN children c ON c.id = i.child_id
             WHERE {conditions}
               AND NOT EXISTS (SELECT 1 FROM disclosures d WHERE d.processor_id = {pid} AND d.item_id = i.id)
             ORDER BY i.received_at, i.id LIMIT {limit})
         ORDER BY received_at, id",
        cols = items::ITEM_COLS,
    );
    items::items_where(tx, &sql, &params)
}

/// Records what was sent, with its ledger entries, in one transaction. A row
/// already recorded (the same item sent to the same processor by a concurrent
/// request) is kept as it was. Returns the rows added.
pub fn record(tx: &mut dyn Tx, rows: &[Disclosure], entries: &[NewEntry]) -> R<u64> {
    let mut added = 0;
    for d in rows {
        added += tx.exec(
            "INSERT INTO disclosures (processor_id, item_id, child_id, category, consent_id, disclosed_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
            p![d.processor_id, d.item_id, d.child_id, d.category.as_str(), d.consent_id, d.disclosed_at],
        )?;
    }
    tx.append_ledger(entries)?;
    Ok(added)
}

/// What each processor received of a child, per category.
pub fn child_summary(tx: &mut dyn Tx, child: ChildId) -> R<Vec<DisclosureSummary>> {
    tx.rows(
        "SELECT d.processor_id, p.name, p.purpose, d.category, COUNT(*) AS items,
                MIN(d.disclosed_at) AS first_at, MAX(d.disclosed_at) AS last_at,
                SUM(CASE WHEN d.recall_task_id IS NULL THEN 0 ELSE 1 END) AS recalled
         FROM disclosures d JOIN processors p ON p.id = d.processor_id
         WHERE d.child_id = ?1
         GROUP BY d.processor_id, p.name, p.purpose, d.category
         ORDER BY p.name, d.category",
        p![child],
        |r| {
            Ok(DisclosureSummary {
                processor_id: r.id("processor_id")?,
                processor_name: r.string("name")?,
                purpose: r.parsed("purpose", Purpose::parse)?,
                category: r.parsed("category", DataCategory::parse)?,
                items: r.i64("items")? as u64,
                first_at: r.ts("first_at")?,
                last_at: r.ts("last_at")?,
                recalled: r.i64("recalled")? as u64,
            })
        },
    )
}

/// Disclosures that must be recalled and are not yet: made for a purpose whose
/// scope the child's parents have withdrawn (no grant of it left unwithdrawn),
/// grouped per processor and child.
pub fn recalls_due(tx: &mut dyn Tx, limit: u32) -> R<Vec<Recall>> {
    let mut params: Vec<Param<'_>> = Vec::new();
    let mut cases = Vec::new();
    for purpose in Purpose::ALL {
        if let Some(scope) = purpose.consent_scope() {
            let (p, s) =
                (bind(&mut params, Param::Text(purpose.as_str())), bind(&mut params, Param::Text(scope.as_str())));
            cases.push(format!("WHEN {p} THEN {s}"));
        }
    }
    let limit = bind(&mut params, Param::from(limit));
    let sql = format!(
        "SELECT d.processor_id, d.child_id, d.item_id, d.category FROM disclosures d
         JOIN processors p ON p.id = d.processor_id
         WHERE d.recall_task_id IS NULL AND p.purpose <> 'integral'
           AND NOT EXISTS (SELECT 1 FROM consent_scopes s
                           WHERE s.child_id = d.child_id AND s.withdrawn_at IS NULL
                             AND s.scope = CASE p.purpose {cases} END)
         ORDER BY d.processor_id, d.child_id, d.item_id LIMIT {limit}",
        cases = cases.join(" "),
    );
    let rows = tx.rows(&sql, &params, |r| {
        Ok((
            r.id::<ProcessorId>("processor_id")?,
            r.id::<ChildId>("child_id")?,
            r.id::<ItemId>("item_id")?,
            r.parsed("category", DataCategory::parse)?,
        ))
    })?;
    let mut out: Vec<Recall> = Vec::new();
    for (processor_id, child_id, item, category) in rows {
        match out.last_mut() {
            Some(r) if r.processor_id == processor_id && r.child_id == child_id => {
                r.items.push(item);
                if !r.categories.contains(&category) {
                    r.categories.push(category);
                }
            }
            _ => out.push(Recall { processor_id, child_id, items: vec![item], categories: vec![category] }),
        }
    }
    Ok(out)
}

/// Stores recall tasks, each marking the disclosures it recalls. A task whose
/// disclosures another worker already recalled is not stored. Returns the tasks
/// stored.
pub fn create_recalls(tx: &mut dyn Tx, tasks: &[(TaskRecord, Vec<ItemId>)]) -> R<u32> {
    let mut stored = 0;
    for (t, items) in tasks {
        let mut marked = 0;
        for chunk in items.chunks(500) {
            let mut params: Vec<Param<'_>> =
                vec![Param::from(t.id), Param::from(t.processor_id), Param::from(t.child_id)];
            let slots: Vec<String> = chunk.iter().map(|i| bind(&mut params, Param::from(*i))).collect();
            marked += tx.exec(
                &format!(
                    "UPDATE disclosures SET recall_task_id = ?1
                     WHERE processor_id = ?2 AND child_id = ?3 AND recall_task_id IS NULL AND item_id IN ({})",
                    slots.join(", ")
                ),
                &params,
            )?;
        }
        if marked == 0 {
            continue;
        }
        super::datasets::flag_withdrawal(tx, t.processor_id, t.child_id, t.created_at)?;
        downstream::insert_task(tx, t)?;
        stored += 1;
    }
    Ok(stored)
}

/// The tasks (deletions and recalls) that concern a child, oldest first.
pub fn child_tasks(tx: &mut dyn Tx, child: ChildId) -> R<Vec<TaskRecord>> {
    downstream::tasks_where(tx, "WHERE t.child_id = ?1 ORDER BY t.created_at, t.id", p![child])
}
