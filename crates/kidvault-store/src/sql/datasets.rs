//! Training datasets and model lineage.
//!
//! A snapshot is taken in one write transaction: the eligible items are
//! selected by the same rule as every disclosure ([`disclosures::eligible`]),
//! each is assigned to a shard by its child, and the dataset's rows, the
//! disclosure register's rows and one `data.disclosed` ledger entry per child
//! commit together. A model names the (dataset, shard) pairs it was trained on;
//! an item of such a shard that is deleted (at the deletion's purge step) or
//! recalled after a withdrawal (with the recall task) flags the model in the
//! same transaction, and a model registered later from a shard already tainted
//! is flagged at registration.

use std::collections::BTreeMap;

use kidvault_domain::disclosure::Purpose;
use kidvault_domain::ids::{ChildId, ConsentId, DatasetId, DeletionId, HouseholdId, ModelId, ProcessorId};
use kidvault_domain::item::{DataCategory, ItemKind};
use kidvault_domain::Timestamp;
use kidvault_ledger::entry::{EntryKind, NewEntry};

use super::{bind, conflict_if_unique, disclosures, downstream, values_sql, Dialect, Param, Row, Tx, TxError, R};
use crate::model::{
    DatasetItem, DatasetRecord, DisclosureNote, LineageBacklog, ModelFlag, ModelRecord, ModelResolution, NewDataset,
};
use crate::{p, StoreError};

/// The SISA shard of a child: stable for the child, spread evenly (the random
/// half of its UUIDv7), so one child's data lies in exactly one shard.
pub fn shard_of(child: ChildId, shards: u32) -> u32 {
    let b = child.as_bytes();
    let mut tail = [0u8; 8];
    tail.copy_from_slice(&b[8..16]);
    (u64::from_le_bytes(tail) % u64::from(shards.max(1))) as u32
}

/// One child of a snapshot: its shard and the consent its items went under.
struct Member {
    child: ChildId,
    household: HouseholdId,
    consent: ConsentId,
}

/// Takes a snapshot (see the module). Set-based: the children allowed are read
/// once (with the consent their items go under) and given their shard; the
/// items, the register's rows and the counts for the ledger entries are then
/// `INSERT … SELECT`s over them, never a row at a time through the executor.
/// `Conflict` unless the processor is an enabled `training` processor.
pub fn create(tx: &mut dyn Tx, d: &NewDataset, notice: &str, note: &DisclosureNote) -> R<DatasetRecord> {
    let p = downstream::processor(tx, d.processor_id)?.ok_or(StoreError::NotFound)?;
    if p.purpose != Purpose::Training || p.disabled_at.is_some() {
        return Err(TxError::Store(StoreError::Conflict("datasets are for enabled training processors".into())));
    }
    let started = std::time::Instant::now();
    tx.exec(
        "INSERT INTO datasets (id, processor_id, criteria, shards, items, created_at) VALUES (?1, ?2, ?3, ?4, 0, ?5)",
        p![d.id, d.processor_id, &d.criteria, d.shards, d.created_at],
    )?;
    // The children allowed, each with its shard.
    let mut params: Vec<Param<'_>> = Vec::new();
    let eligible = disclosures::eligible(&mut params, &p, notice);
    let members = tx.rows(
        &format!("WITH {} SELECT child_id, household_id, basis FROM allowed WHERE basis IS NOT NULL", eligible.cte),
        &params,
        |r| Ok(Member { child: r.id("child_id")?, household: r.id("household_id")?, consent: r.id("basis")? }),
    )?;
    for chunk in members.chunks(200) {
        let mut params: Vec<Param<'_>> = Vec::with_capacity(chunk.len() * 4);
        for m in chunk {
            params.push(Param::from(d.id));
            params.push(Param::from(m.child));
            params.push(Param::from(shard_of(m.child, d.shards)));
            params.push(Param::from(m.consent));
        }
        tx.exec(
            &format!(
                "INSERT INTO dataset_children (dataset_id, child_id, shard, consent_id) VALUES {}",
                values_sql(chunk.len(), 4)
            ),
            &params,
        )?;
    }
    // Their items that match, in one statement, in key order (child, item): the
    // rows append to dataset_items and then to disclosures (see migration 19).
    let mut params: Vec<Param<'_>> = Vec::new();
    let eligible = disclosures::eligible(&mut params, &p, notice);
    let dataset = bind(&mut params, Param::from(d.id));
    let sql = format!(
        "WITH {cte}
         INSERT INTO dataset_items (dataset_id, child_id, item_id, kind, category, source_id, recorded_at, shard)
         SELECT dc.dataset_id, i.child_id, i.id, i.kind, i.category,
                (SELECT e.source_id FROM item_edges e WHERE e.item_id = i.id ORDER BY e.source_id LIMIT 1),
                i.recorded_at, dc.shard
         FROM allowed a JOIN dataset_children dc ON dc.dataset_id = {dataset} AND dc.child_id = a.child_id
         CROSS JOIN items i
         WHERE i.child_id = a.child_id AND {matching}
         ORDER BY i.child_id, i.id",
        cte = eligible.cte,
        matching = matching(&mut params, d, &eligible),
    );
    let items = tx.exec(&sql, &params)?;
    let selected_ms = started.elapsed().as_millis();
    // A source outside the snapshot is not named (a source is of the same child).
    tx.exec(
        "UPDATE dataset_items SET source_id = NULL
         WHERE dataset_id = ?1 AND source_id IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM dataset_items s WHERE s.dataset_id = ?1
                           AND s.child_id = dataset_items.child_id AND s.item_id = dataset_items.source_id)",
        p![d.id],
    )?;
    let sql = format!(
        "INSERT INTO disclosures (processor_id, child_id, item_id, category, consent_id, disclosed_at)
         SELECT CAST(?2 AS {id}), di.child_id, di.item_id, di.category, dc.consent_id, CAST(?3 AS BIGINT)
         FROM dataset_children dc JOIN dataset_items di ON di.dataset_id = dc.dataset_id AND di.child_id = dc.child_id
         WHERE dc.dataset_id = ?1
         ORDER BY di.child_id, di.item_id
         ON CONFLICT DO NOTHING",
        id = id_type(tx),
    );
    tx.exec(&sql, p![d.id, d.processor_id, d.created_at])?;
    tx.exec("UPDATE datasets SET items = ?2 WHERE id = ?1", p![d.id, items as i64])?;
    let counts = tx.rows(
        "SELECT child_id, category, COUNT(*) AS n FROM dataset_items
         WHERE dataset_id = ?1 GROUP BY child_id, category",
        p![d.id],
        |r| Ok((r.id::<ChildId>("child_id")?, r.parsed("category", DataCategory::parse)?, r.i64("n")? as u64)),
    )?;
    tx.append_ledger(&entries(d, note, &members, &counts, items))?;
    tracing::info!(
        items,
        selected_ms,
        recorded_ms = started.elapsed().as_millis() - selected_ms,
        "dataset snapshot taken"
    );
    Ok(DatasetRecord {
        id: d.id,
        processor_id: d.processor_id,
        criteria: d.criteria.clone(),
        shards: d.shards,
        items,
        created_at: d.created_at,
    })
}

/// The condition on an item `i` of an allowed child `a` that a snapshot with
/// these criteria takes: eligible now, of the kinds, within the dates.
///
/// The statements using it write `allowed a CROSS JOIN items i`: SQLite then
/// walks the allowed children and each one's items through `items_child_time`
/// (reading each child's rows together), instead of walking every item of a
/// kind through `items_kind_time` and looking up its row at random (3-4x
/// slower over 1M items). PostgreSQL plans a CROSS JOIN like any other join.
fn matching<'a>(params: &mut Vec<Param<'a>>, d: &'a NewDataset, eligible: &disclosures::Eligible) -> String {
    let kinds: Vec<String> = d.kinds.iter().map(|k| bind(params, Param::Text(k.as_str()))).collect();
    let mut sql = format!("{} AND i.kind IN ({})", eligible.items, kinds.join(", "));
    if let Some(from) = d.from {
        sql += &format!(" AND i.recorded_at >= {}", bind(params, Param::from(from)));
    }
    if let Some(to) = d.to {
        sql += &format!(" AND i.recorded_at < {}", bind(params, Param::from(to)));
    }
    sql
}

/// What a snapshot with these criteria would take now, by [`create`]'s rule:
/// (children with items, items). Reads only: nothing is disclosed or written.
pub fn preview(tx: &mut dyn Tx, d: &NewDataset, notice: &str) -> R<(u64, u64)> {
    let p = downstream::processor(tx, d.processor_id)?.ok_or(StoreError::NotFound)?;
    if p.purpose != Purpose::Training || p.disabled_at.is_some() {
        return Err(TxError::Store(StoreError::Conflict("datasets are for enabled training processors".into())));
    }
    let mut params: Vec<Param<'_>> = Vec::new();
    let eligible = disclosures::eligible(&mut params, &p, notice);
    let sql = format!(
        "WITH {cte}
         SELECT COUNT(DISTINCT i.child_id) AS children, COUNT(*) AS items
         FROM allowed a CROSS JOIN items i
         WHERE i.child_id = a.child_id AND a.basis IS NOT NULL AND {matching}",
        cte = eligible.cte,
        matching = matching(&mut params, d, &eligible),
    );
    let counts = tx.rows(&sql, &params, |r| Ok((r.i64("children")? as u64, r.i64("items")? as u64)))?;
    Ok(counts.into_iter().next().unwrap_or((0, 0)))
}

/// One `data.disclosed` entry per child with items in the snapshot (the
/// dataset, the consent, counts per category), then one `dataset.created`
/// entry with the totals.
fn entries(
    d: &NewDataset,
    note: &DisclosureNote,
    members: &[Member],
    counts: &[(ChildId, DataCategory, u64)],
    items: u64,
) -> Vec<NewEntry> {
    let mut per_child: BTreeMap<ChildId, Vec<(DataCategory, u64)>> = BTreeMap::new();
    for (child, category, n) in counts {
        per_child.entry(*child).or_default().push((*category, *n));
    }
    let member: std::collections::HashMap<ChildId, &Member> = members.iter().map(|m| (m.child, m)).collect();
    let entry = |kind, child: Option<(ChildId, HouseholdId)>| NewEntry {
        kind,
        at: note.at.clone(),
        actor: note.actor.clone(),
        household: child.map(|(_, h)| h.to_string()),
        child: child.map(|(c, _)| c.to_string()),
        subjects: vec![d.id.to_string()],
        purpose: Some(note.purpose.clone()),
        detail: BTreeMap::from([("processor".to_owned(), note.processor_name.clone())]),
        counts: BTreeMap::new(),
        hashes: BTreeMap::new(),
    };
    let mut out = Vec::with_capacity(per_child.len() + 1);
    for (child, by_category) in &per_child {
        let Some(m) = member.get(child) else { continue };
        let mut e = entry(EntryKind::DataDisclosed, Some((*child, m.household)));
        e.detail.insert("consents".into(), m.consent.to_string());
        e.detail.insert("dataset".into(), d.id.to_string());
        for (category, n) in by_category {
            e.counts.insert(category.as_str().to_owned(), *n);
        }
        out.push(e);
    }
    let mut total = entry(EntryKind::DatasetCreated, None);
    total.counts.insert("items".into(), items);
    total.counts.insert("children".into(), per_child.len() as u64);
    total.counts.insert("shards".into(), u64::from(d.shards));
    out.push(total);
    out
}

fn dataset_row(r: &dyn Row) -> R<DatasetRecord> {
    Ok(DatasetRecord {
        id: r.id("id")?,
        processor_id: r.id("processor_id")?,
        criteria: r.string("criteria")?,
        shards: r.count("shards")?,
        items: r.i64("items")? as u64,
        created_at: r.ts("created_at")?,
    })
}

pub fn get(tx: &mut dyn Tx, id: DatasetId) -> R<Option<DatasetRecord>> {
    tx.opt(
        "SELECT id, processor_id, criteria, shards, items, created_at FROM datasets WHERE id = ?1",
        p![id],
        dataset_row,
    )
}

/// A snapshot's items (one shard, or all), by shard and recording time, each
/// marked removed if deleted or recalled since.
pub fn items_of(tx: &mut dyn Tx, id: DatasetId, shard: Option<u32>) -> R<Vec<DatasetItem>> {
    let mut params = vec![Param::from(id)];
    let only = match shard {
        Some(s) => format!(" AND dc.shard = {}", bind(&mut params, Param::from(s))),
        None => String::new(),
    };
    // A shard's rows are its children's (dataset_items is keyed child-major).
    let sql = format!(
        "SELECT d.item_id, d.child_id, d.kind, d.source_id, d.recorded_at, d.shard,
                CASE WHEN i.id IS NULL OR i.state <> 'live' OR EXISTS (
                    SELECT 1 FROM disclosures x
                    WHERE x.processor_id = ds.processor_id AND x.child_id = d.child_id AND x.item_id = d.item_id
                      AND x.recall_task_id IS NOT NULL)
                THEN 1 ELSE 0 END AS removed
         FROM datasets ds JOIN dataset_children dc ON dc.dataset_id = ds.id
         JOIN dataset_items d ON d.dataset_id = dc.dataset_id AND d.child_id = dc.child_id
         LEFT JOIN items i ON i.id = d.item_id
         WHERE ds.id = ?1{only}
         ORDER BY d.shard, d.recorded_at, d.item_id"
    );
    tx.rows(&sql, &params, |r| {
        Ok(DatasetItem {
            item_id: r.id("item_id")?,
            child_id: r.id("child_id")?,
            kind: r.parsed("kind", ItemKind::parse)?,
            source_id: r.opt_id("source_id")?,
            recorded_at: r.ts("recorded_at")?,
            shard: r.count("shard")?,
            removed: r.i64("removed")? != 0,
        })
    })
}

const MODEL_COLS: &str = "id, processor_id, name, version, created_at, outcome, replaced_by, evidence, resolved_at";

fn model_row(r: &dyn Row) -> R<ModelRecord> {
    Ok(ModelRecord {
        id: r.id("id")?,
        processor_id: r.id("processor_id")?,
        name: r.string("name")?,
        version: r.string("version")?,
        created_at: r.ts("created_at")?,
        outcome: r.text("outcome")?,
        replaced_by: r.opt_id("replaced_by")?,
        evidence: r.text("evidence")?,
        resolved_at: r.opt_ts("resolved_at")?,
    })
}

pub fn model(tx: &mut dyn Tx, id: ModelId) -> R<Option<ModelRecord>> {
    tx.opt(&format!("SELECT {MODEL_COLS} FROM models WHERE id = ?1"), p![id], model_row)
}

/// How an id is cast where PostgreSQL cannot infer a parameter's type (a
/// select list feeding an `INSERT`).
fn id_type(tx: &dyn Tx) -> &'static str {
    match tx.dialect() {
        Dialect::Sqlite => "BLOB",
        Dialect::Postgres => "UUID",
    }
}

/// Flags raised by a removal, for every unresolved model trained on a shard
/// holding the item (`rows` selects `item_id, dataset_id, shard`). `deletion`
/// and `at` are the placeholders of the deletion id (or `NULL`) and the time,
/// cast so that PostgreSQL knows their types in a select list.
fn flag_sql(tx: &dyn Tx, rows: &str, cause: &str, deletion: Option<&str>, at: &str) -> String {
    let deletion = deletion.map_or("NULL".to_owned(), |d| format!("CAST({d} AS {})", id_type(tx)));
    format!(
        "INSERT INTO model_flags (model_id, item_id, dataset_id, shard, cause, deletion_id, raised_at)
         SELECT mi.model_id, d.item_id, d.dataset_id, d.shard, '{cause}', {deletion}, CAST({at} AS BIGINT)
         FROM ({rows}) d
         JOIN model_inputs mi ON mi.dataset_id = d.dataset_id AND mi.shard = d.shard
         JOIN models m ON m.id = mi.model_id
         WHERE m.outcome IS NULL
         ON CONFLICT DO NOTHING"
    )
}

/// Flags the models trained on the items the deletions remove (their purge step).
pub fn flag_deletions(tx: &mut dyn Tx, deletions: &[DeletionId], at: Timestamp) -> R<u64> {
    let mut params = vec![Param::from(at)];
    let l = super::list(&mut params, deletions.iter().map(|d| Param::from(*d)));
    let rows = format!(
        "SELECT di.item_id, di.dataset_id, di.shard, dl.id AS deletion_id FROM deletions dl
         JOIN dataset_children dc ON dc.child_id = dl.child_id
         JOIN deletion_items x ON x.deletion_id = dl.id
         JOIN dataset_items di ON di.dataset_id = dc.dataset_id AND di.child_id = dc.child_id
                              AND di.item_id = x.item_id
         WHERE dl.id IN ({l})"
    );
    let sql = flag_sql(tx, &rows, "deletion", Some("d.deletion_id"), "?1");
    tx.exec(&sql, &params)
}

/// Flags the models trained on a child's items in the processor's datasets
/// after the parent withdrew the consent (with the recall task).
pub fn flag_withdrawal(tx: &mut dyn Tx, processor: ProcessorId, child: ChildId, at: Timestamp) -> R<u64> {
    let rows = "SELECT di.item_id, di.dataset_id, di.shard FROM datasets ds
                JOIN dataset_items di ON di.dataset_id = ds.id AND di.child_id = ?3
                WHERE ds.processor_id = ?2";
    let sql = flag_sql(tx, rows, "withdrawal", None, "?1");
    tx.exec(&sql, p![at, processor, child])
}

/// Registers a model trained on the given (dataset, shard) pairs, each a
/// snapshot of the same processor. A shard already holding a removed item flags
/// the model at once. `NotFound` for an unknown dataset or one of another
/// processor, or a shard it does not have; `Conflict` for a name and version
/// already registered.
pub fn register_model(tx: &mut dyn Tx, m: &ModelRecord, inputs: &[(DatasetId, u32)], entry: &NewEntry) -> R<u64> {
    for (dataset, shard) in inputs {
        match get(tx, *dataset)? {
            Some(d) if d.processor_id == m.processor_id && *shard < d.shards => {}
            _ => return Err(TxError::Store(StoreError::NotFound)),
        }
    }
    let inserted = tx.exec(
        &format!("INSERT INTO models ({MODEL_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, NULL, NULL, NULL, NULL)"),
        p![m.id, m.processor_id, &m.name, &m.version, m.created_at],
    );
    conflict_if_unique(inserted, || format!("model {} version {} is registered", m.name, m.version))?;
    for (dataset, shard) in inputs {
        tx.exec(
            "INSERT INTO model_inputs (model_id, dataset_id, shard) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            p![m.id, *dataset, *shard],
        )?;
    }
    let removed = "SELECT di.item_id, di.dataset_id, di.shard FROM model_inputs mi
                   JOIN dataset_children dc ON dc.dataset_id = mi.dataset_id AND dc.shard = mi.shard
                   JOIN dataset_items di ON di.dataset_id = dc.dataset_id AND di.child_id = dc.child_id
                   LEFT JOIN items i ON i.id = di.item_id
                   WHERE mi.model_id = ?2 AND (i.id IS NULL OR i.state <> 'live' OR EXISTS (
                       SELECT 1 FROM disclosures x WHERE x.processor_id = ?3 AND x.child_id = di.child_id
                         AND x.item_id = di.item_id AND x.recall_task_id IS NOT NULL))";
    let sql = flag_sql(tx, removed, "removed_before_registration", None, "?1");
    let flagged = tx.exec(&sql, p![m.created_at, m.id, m.processor_id])?;
    tx.append_ledger(std::slice::from_ref(entry))?;
    Ok(flagged)
}

/// The processor's acknowledgement of a flagged model: retrained (as the
/// registered model `replaced_by`) or destroyed. Idempotent: a model already
/// resolved keeps its first outcome.
pub fn resolve_model(
    tx: &mut dyn Tx,
    id: ModelId,
    processor: ProcessorId,
    r: &ModelResolution,
    entry: &NewEntry,
) -> R<ModelRecord> {
    let current = model(tx, id)?.filter(|m| m.processor_id == processor).ok_or(StoreError::NotFound)?;
    if current.outcome.is_some() {
        return Ok(current);
    }
    if let Some(new) = r.replaced_by {
        if new == id || model(tx, new)?.is_none_or(|n| n.processor_id != processor) {
            return Err(TxError::Store(StoreError::NotFound));
        }
    }
    tx.exec(
        "UPDATE models SET outcome = ?2, replaced_by = ?3, evidence = ?4, resolved_at = ?5
         WHERE id = ?1 AND outcome IS NULL",
        p![id, &r.outcome, r.replaced_by, &r.evidence, r.at],
    )?;
    tx.append_ledger(std::slice::from_ref(entry))?;
    model(tx, id)?.ok_or(TxError::Store(StoreError::NotFound))
}

fn flag_row(r: &dyn Row) -> R<ModelFlag> {
    Ok(ModelFlag {
        model_id: r.id("model_id")?,
        item_id: r.id("item_id")?,
        dataset_id: r.id("dataset_id")?,
        shard: r.count("shard")?,
        cause: r.string("cause")?,
        deletion_id: r.opt_id("deletion_id")?,
        raised_at: r.ts("raised_at")?,
    })
}

const FLAG_COLS: &str = "f.model_id, f.item_id, f.dataset_id, f.shard, f.cause, f.deletion_id, f.raised_at";

/// A model's flags, oldest first.
pub fn flags_of(tx: &mut dyn Tx, id: ModelId) -> R<Vec<ModelFlag>> {
    tx.rows(
        &format!("SELECT {FLAG_COLS} FROM model_flags f WHERE f.model_id = ?1 ORDER BY f.raised_at, f.item_id"),
        p![id],
        flag_row,
    )
}

/// Models with flags: unresolved ones (oldest flag first), or, with
/// `deletion`, those a deletion flagged (resolved or not).
pub fn flagged_models(tx: &mut dyn Tx, deletion: Option<DeletionId>) -> R<Vec<(ModelRecord, u64, Timestamp)>> {
    match deletion {
        Some(d) => Ok(models_flagged_by(tx, &[d])?.into_iter().map(|(_, m, n, at)| (m, n, at)).collect()),
        None => flagged_where(tx, "", "m.outcome IS NULL", Vec::new(), flagged_row),
    }
}

/// The models each of `ids` flagged: (deletion, model, flags, first raised),
/// by deletion then first raised.
pub fn models_flagged_by(tx: &mut dyn Tx, ids: &[DeletionId]) -> R<Vec<(DeletionId, ModelRecord, u64, Timestamp)>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        let mut params = Vec::with_capacity(chunk.len());
        let l = super::list(&mut params, chunk.iter().map(|id| Param::from(*id)));
        out.extend(flagged_where(tx, "f.deletion_id", &format!("f.deletion_id IN ({l})"), params, |r| {
            let (m, n, at) = flagged_row(r)?;
            Ok((r.id("deletion_id")?, m, n, at))
        })?);
    }
    Ok(out)
}

/// Flagged models matching `filter`, grouped by `by` (if any) and model.
fn flagged_where<T>(
    tx: &mut dyn Tx,
    by: &str,
    filter: &str,
    params: Vec<Param<'_>>,
    f: impl Fn(&dyn Row) -> R<T>,
) -> R<Vec<T>> {
    let cols = MODEL_COLS.split(", ").map(|c| format!("m.{c}")).collect::<Vec<_>>().join(", ");
    let group = if by.is_empty() { cols.clone() } else { format!("{by}, {cols}") };
    let order = if by.is_empty() { String::new() } else { format!("{by}, ") };
    let sql = format!(
        "SELECT {group}, COUNT(*) AS flags, MIN(f.raised_at) AS first_raised
         FROM models m JOIN model_flags f ON f.model_id = m.id
         WHERE {filter}
         GROUP BY {group} ORDER BY {order}first_raised, m.id"
    );
    tx.rows(&sql, &params, f)
}

fn flagged_row(r: &dyn Row) -> R<(ModelRecord, u64, Timestamp)> {
    Ok((model_row(r)?, r.i64("flags")? as u64, r.ts("first_raised")?))
}

/// Datasets and models whose OpenLineage event is not yet delivered, oldest
/// first (each model with the shards it was trained on).
pub fn lineage_backlog(tx: &mut dyn Tx, limit: u32) -> R<LineageBacklog> {
    let datasets = tx.rows(
        "SELECT id, processor_id, criteria, shards, items, created_at FROM datasets
         WHERE lineage_sent_at IS NULL ORDER BY created_at, id LIMIT ?1",
        p![limit],
        dataset_row,
    )?;
    let models = tx.rows(
        &format!("SELECT {MODEL_COLS} FROM models WHERE lineage_sent_at IS NULL ORDER BY created_at, id LIMIT ?1"),
        p![limit],
        model_row,
    )?;
    let mut with_inputs = Vec::with_capacity(models.len());
    for m in models {
        let inputs = tx.rows(
            "SELECT dataset_id, shard FROM model_inputs WHERE model_id = ?1 ORDER BY dataset_id, shard",
            p![m.id],
            |r| Ok((r.id::<DatasetId>("dataset_id")?, r.count("shard")?)),
        )?;
        with_inputs.push((m, inputs));
    }
    Ok(LineageBacklog { datasets, models: with_inputs })
}

/// Marks lineage events delivered.
pub fn lineage_sent(tx: &mut dyn Tx, datasets: &[DatasetId], models: &[ModelId], at: Timestamp) -> R<()> {
    for d in datasets {
        tx.exec("UPDATE datasets SET lineage_sent_at = ?2 WHERE id = ?1", p![*d, at])?;
    }
    for m in models {
        tx.exec("UPDATE models SET lineage_sent_at = ?2 WHERE id = ?1", p![*m, at])?;
    }
    Ok(())
}
