//! Staff principals, downstream processors and their deletion tasks on PostgreSQL.
//! Claims take due rows with `FOR UPDATE SKIP LOCKED` and move them past a lease:
//! nodes claiming at the same time never take the same task.

use kidvault_domain::deletion::DeletionStep;
use kidvault_domain::downstream::{StaffRole, TaskState};
use kidvault_domain::ids::{DeletionId, ProcessorId, TaskId};
use kidvault_domain::item::DataCategory;
use kidvault_domain::Timestamp;
use kidvault_store::model::{Delivery, ProcessorRecord, StaffRecord, TaskRecord};
use kidvault_store::StoreError;
use postgres::types::ToSql;
use postgres::Row;

use crate::db::{conflict_if_unique, Tx, E, R};
use crate::rows::{corrupt, limit, ts_to_sql, Get};
use crate::store::map;

pub(crate) fn create_staff(tx: &mut Tx<'_>, s: &StaffRecord) -> R<()> {
    tx.exec(
        "INSERT INTO staff (id, role, name, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
        &[&s.id.0, &s.role.as_str(), &s.name, &&s.token_hash[..], &ts_to_sql(s.created_at)],
    )?;
    Ok(())
}

pub(crate) fn staff_by_token(tx: &mut Tx<'_>, token_hash: &[u8; 32]) -> R<Option<StaffRecord>> {
    tx.opt("SELECT id, role, name, created_at FROM staff WHERE token_hash = $1", &[&&token_hash[..]])?
        .map(|r| {
            Ok(StaffRecord {
                id: r.id("id")?,
                role: r.parsed("role", StaffRole::parse)?,
                name: r.val("name")?,
                token_hash: *token_hash,
                created_at: r.ts("created_at")?,
            })
        })
        .transpose()
}

const PROCESSOR_COLS: &str = "id, name, url, categories, secret_wrapped, created_at, disabled_at";

fn processor_row(r: &Row) -> R<ProcessorRecord> {
    let categories: String = r.val("categories")?;
    Ok(ProcessorRecord {
        id: r.id("id")?,
        name: r.val("name")?,
        url: r.val("url")?,
        categories: categories
            .split(',')
            .filter(|c| !c.is_empty())
            .map(|c| DataCategory::parse(c).ok_or_else(|| corrupt("processor category")))
            .collect::<R<_>>()?,
        secret_wrapped: r.val("secret_wrapped")?,
        created_at: r.ts("created_at")?,
        disabled_at: r.opt_ts("disabled_at")?,
    })
}

pub(crate) fn create_processor(tx: &mut Tx<'_>, p: &ProcessorRecord) -> R<()> {
    let categories: Vec<&str> = p.categories.iter().map(|c| c.as_str()).collect();
    let inserted = tx.exec(
        &format!("INSERT INTO processors ({PROCESSOR_COLS}) VALUES ($1, $2, $3, $4, $5, $6, NULL)"),
        &[&p.id.0, &p.name, &p.url, &categories.join(","), &p.secret_wrapped, &ts_to_sql(p.created_at)],
    );
    conflict_if_unique(inserted, || format!("a processor named {:?} exists", p.name))?;
    Ok(())
}

pub(crate) fn processor(tx: &mut Tx<'_>, id: ProcessorId) -> R<Option<ProcessorRecord>> {
    tx.opt(&format!("SELECT {PROCESSOR_COLS} FROM processors WHERE id = $1"), &[&id.0])?
        .as_ref()
        .map(processor_row)
        .transpose()
}

pub(crate) fn processors(tx: &mut Tx<'_>) -> R<Vec<ProcessorRecord>> {
    let rows = tx.rows(&format!("SELECT {PROCESSOR_COLS} FROM processors ORDER BY name"), &[])?;
    map(&rows, processor_row)
}

pub(crate) fn disable_processor(tx: &mut Tx<'_>, id: ProcessorId, at: Timestamp) -> R<bool> {
    let n = tx.exec(
        "UPDATE processors SET disabled_at = $2 WHERE id = $1 AND disabled_at IS NULL",
        &[&id.0, &ts_to_sql(at)],
    )?;
    Ok(n == 1)
}

const TASK_COLS: &str = "t.id, t.deletion_id, t.processor_id, p.name AS processor_name, t.state, t.payload,
    t.attempts, t.next_attempt_at, t.deadline, t.created_at, t.delivered_at, t.acknowledged_at, t.acknowledged_via,
    t.last_error";

fn task_row(r: &Row) -> R<TaskRecord> {
    Ok(TaskRecord {
        id: r.id("id")?,
        deletion_id: r.id("deletion_id")?,
        processor_id: r.id("processor_id")?,
        processor_name: r.val("processor_name")?,
        state: r.parsed("state", TaskState::parse)?,
        payload: r.val("payload")?,
        attempts: r.count("attempts")?,
        next_attempt_at: r.opt_ts("next_attempt_at")?,
        deadline: r.ts("deadline")?,
        created_at: r.ts("created_at")?,
        delivered_at: r.opt_ts("delivered_at")?,
        acknowledged_at: r.opt_ts("acknowledged_at")?,
        acknowledged_via: r.val("acknowledged_via")?,
        last_error: r.val("last_error")?,
    })
}

fn tasks_where(tx: &mut Tx<'_>, clause: &str, params: &[&(dyn ToSql + Sync)]) -> R<Vec<TaskRecord>> {
    let sql = format!("SELECT {TASK_COLS} FROM processor_tasks t JOIN processors p ON p.id = t.processor_id {clause}");
    let rows = tx.rows(&sql, params)?;
    map(&rows, task_row)
}

pub(crate) fn task(tx: &mut Tx<'_>, id: TaskId) -> R<Option<TaskRecord>> {
    Ok(tasks_where(tx, "WHERE t.id = $1", &[&id.0])?.pop())
}

pub(crate) fn deletion_tasks(tx: &mut Tx<'_>, id: DeletionId) -> R<Vec<TaskRecord>> {
    tasks_where(tx, "WHERE t.deletion_id = $1 ORDER BY p.name", &[&id.0])
}

pub(crate) fn open_tasks(tx: &mut Tx<'_>, n: u32) -> R<Vec<TaskRecord>> {
    tasks_where(tx, "WHERE t.state <> 'acknowledged' ORDER BY t.deadline, t.id LIMIT $1", &[&limit(n)])
}

pub(crate) fn dispatch(tx: &mut Tx<'_>, id: DeletionId, at: Timestamp, tasks: &[TaskRecord]) -> R<()> {
    let d = crate::deletions::get(tx, id)?.ok_or(E::Store(StoreError::NotFound))?;
    if d.step != DeletionStep::Purged {
        return Err(E::Store(StoreError::Conflict(format!("deletion {id} is at {}, not purged", d.step.as_str()))));
    }
    for t in tasks {
        tx.exec(
            "INSERT INTO processor_tasks (id, deletion_id, processor_id, state, payload, attempts, next_attempt_at,
                 deadline, created_at)
             VALUES ($1, $2, $3, 'pending', $4, 0, $5, $6, $5)",
            &[&t.id.0, &id.0, &t.processor_id.0, &t.payload, &ts_to_sql(at), &ts_to_sql(t.deadline)],
        )?;
    }
    crate::deletions::set_step(tx, id, DeletionStep::Dispatched, at)
}

pub(crate) fn claim_due(tx: &mut Tx<'_>, now: Timestamp, lease_until: Timestamp, n: u32) -> R<Vec<TaskRecord>> {
    let claimed = tx.rows(
        "UPDATE processor_tasks SET attempts = attempts + 1, next_attempt_at = $2
         WHERE id IN (SELECT id FROM processor_tasks
                      WHERE state = 'pending' AND next_attempt_at <= $1
                      ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
         RETURNING id",
        &[&ts_to_sql(now), &ts_to_sql(lease_until), &limit(n)],
    )?;
    let ids = map(&claimed, |r| r.val::<uuid::Uuid>("id"))?;
    tasks_where(tx, "WHERE t.id = ANY($1) ORDER BY t.created_at, t.id", &[&ids])
}

pub(crate) fn record_delivery(tx: &mut Tx<'_>, id: TaskId, at: Timestamp, outcome: &Delivery) -> R<()> {
    let at = ts_to_sql(at);
    match outcome {
        Delivery::Acknowledged => tx.exec(
            "UPDATE processor_tasks SET state = 'acknowledged', delivered_at = COALESCE(delivered_at, $2),
                 acknowledged_at = $2, acknowledged_via = 'response', next_attempt_at = NULL, last_error = NULL
             WHERE id = $1 AND state <> 'acknowledged'",
            &[&id.0, &at],
        )?,
        Delivery::Delivered => tx.exec(
            "UPDATE processor_tasks SET state = 'delivered', delivered_at = $2, next_attempt_at = NULL, last_error = NULL
             WHERE id = $1 AND state = 'pending'",
            &[&id.0, &at],
        )?,
        Delivery::Failed { error, retry_at } => tx.exec(
            "UPDATE processor_tasks SET next_attempt_at = $2, last_error = $3 WHERE id = $1 AND state = 'pending'",
            &[&id.0, &ts_to_sql(*retry_at), error],
        )?,
    };
    Ok(())
}

pub(crate) fn acknowledge(tx: &mut Tx<'_>, id: TaskId, at: Timestamp, via: &str) -> R<()> {
    let n = tx.exec(
        "UPDATE processor_tasks SET state = 'acknowledged', acknowledged_at = $2, acknowledged_via = $3,
             next_attempt_at = NULL
         WHERE id = $1 AND state <> 'acknowledged'",
        &[&id.0, &ts_to_sql(at), &via],
    )?;
    if n == 0 && task(tx, id)?.is_none() {
        return Err(E::Store(StoreError::NotFound));
    }
    Ok(())
}
