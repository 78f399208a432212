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

/// Which items may go to a processor now, in two parts: `cte`, a common table
/// `allowed` of the children whose data may (`child_id`, `household_id`,
/// `basis`: the consent it goes under, for purposes with a scope of their own,
/// and `cat_N` = 1 while a scope collecting the processor's N-th category is in
/// force), and `items`, the condition on an item `i` joined to `allowed a`.
/// Consents are read once per child, not once per item.
pub(super) struct Eligible {
    pub cte: String,
    pub items: String,
}

/// The rule: a live item of an active, not dormant child, in a category the
/// processor holds, while a scope collecting that category is in force under
/// `notice`, and — for `third_party` and `training` — the purpose's scope too,
/// granted after the processor was registered. Binds its parameters into `params`.
pub(super) fn eligible<'a>(params: &mut Vec<Param<'a>>, p: &ProcessorRecord, notice: &'a str) -> Eligible {
    let notice = bind(params, Param::Text(notice));
    let mut cols = Vec::new();
    let mut by_category = Vec::new();
    for (n, c) in p.categories.iter().enumerate() {
        // A constant of our own (a fideslang key), spelled inline: the item
        // condition binds nothing, so a statement may use the table alone.
        let cat = format!("'{}'", c.as_str());
        let scopes: Vec<String> = collection_scopes(*c).iter().map(|s| bind(params, Param::Text(s.as_str()))).collect();
        cols.push(format!(
            "CASE WHEN {} THEN 1 ELSE 0 END AS cat_{n}",
            granted("c.id", &notice, &scopes.join(", "), "")
        ));
        by_category.push(format!("(i.category = {cat} AND a.cat_{n} = 1)"));
    }
    let (purpose, basis) = match p.purpose.consent_scope() {
        None => (String::new(), "NULL".to_owned()),
        Some(scope) => {
            let scope = bind(params, Param::Text(scope.as_str()));
            let extra = format!(" AND k.granted_at >= {}", bind(params, Param::from(p.created_at)));
            (
                format!(" AND {}", granted("c.id", &notice, &scope, &extra)),
                format!(
                    "(SELECT k.id FROM consent_scopes s JOIN consents k ON k.id = s.consent_id
                      WHERE s.child_id = c.id AND s.withdrawn_at IS NULL AND k.notice_version = {notice}
                        AND s.scope = {scope}{extra}
                      ORDER BY k.granted_at DESC, k.id DESC LIMIT 1)"
                ),
            )
        }
    };
    Eligible {
        cte: format!(
            "allowed AS MATERIALIZED (SELECT c.id AS child_id, c.household_id, {basis} AS basis, {cols}
                         FROM children c WHERE c.status = 'active' AND c.dormant_at IS NULL{purpose})",
            cols = cols.join(", "),
        ),
        items: format!("i.state = 'live' AND ({})", by_category.join(" OR ")),
    }
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
    let Eligible { cte, items: conditions } = eligible(&mut params, &p, notice);
    let limit = bind(&mut params, Param::from(limit));
    let sql = format!(
        "WITH {cte}, picked AS (
             SELECT i.id FROM allowed a JOIN items i ON i.child_id = a.child_id
             WHERE {conditions}
               AND NOT EXISTS (SELECT 1 FROM disclosures d
                               WHERE d.processor_id = {pid} AND d.child_id = i.child_id AND d.item_id = i.id)
             ORDER BY i.received_at, i.id LIMIT {limit})
         SELECT {cols} FROM items WHERE id IN (SELECT id FROM picked)
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
            "INSERT INTO disclosures (processor_id, child_id, item_id, category, consent_id, disclosed_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
            p![d.processor_id, d.child_id, d.item_id, d.category.as_str(), d.consent_id, d.disclosed_at],
        )?;
    }
    tx.append_ledger(entries)?;
    Ok(added)
}

/// Every item of the child each processor received, recalled or not.
pub fn child_items(tx: &mut dyn Tx, child: ChildId) -> R<Vec<(ProcessorId, ItemId)>> {
    tx.rows(
        "SELECT processor_id, item_id FROM disclosures WHERE child_id = ?1 ORDER BY processor_id, item_id",
        p![child],
        |r| Ok((r.id("processor_id")?, r.id("item_id")?)),
    )
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
    let scopes: Vec<String> = Purpose::ALL
        .iter()
        .filter_map(|p| p.consent_scope())
        .map(|s| bind(&mut params, Param::Text(s.as_str())))
        .collect();
    let limit = bind(&mut params, Param::from(limit));
    // Driven by the children with a withdrawal (few, and read through the
    // child index), not by every disclosure: this runs on every delivery tick.
    let sql = format!(
        "SELECT d.processor_id, d.child_id, d.item_id, d.category FROM disclosures d
         JOIN processors p ON p.id = d.processor_id
         WHERE d.child_id IN (SELECT w.child_id FROM consent_scopes w
                              WHERE w.withdrawn_at IS NOT NULL AND w.scope IN ({withdrawable}))
           AND d.recall_task_id IS NULL AND p.purpose <> 'integral'
           AND NOT EXISTS (SELECT 1 FROM consent_scopes s
                           WHERE s.child_id = d.child_id AND s.withdrawn_at IS NULL
                             AND s.scope = CASE p.purpose {cases} END)
         ORDER BY d.processor_id, d.child_id, d.item_id LIMIT {limit}",
        cases = cases.join(" "),
        withdrawable = scopes.join(", "),
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
