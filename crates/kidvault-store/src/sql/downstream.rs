//! Downstream processors and their deletion tasks. Claims
//! move due tasks past a lease in one statement (on PostgreSQL skipping rows
//! another node is claiming): two workers never take the same task at once.

use kidvault_domain::disclosure::Purpose;
use kidvault_domain::downstream::TaskState;
use kidvault_domain::ids::{DeletionId, ProcessorId, TaskId};
use kidvault_domain::item::DataCategory;
use kidvault_domain::Timestamp;

use super::{conflict_if_unique, corrupt, Dialect, Param, Row, Tx, TxError, R};
use crate::model::{Delivery, ProcessorRecord, TaskRecord};
use crate::{p, StoreError};

const PROCESSOR_COLS: &str = "id, name, url, purpose, categories, secret_wrapped, created_at, disabled_at";

fn processor_row(r: &dyn Row) -> R<ProcessorRecord> {
    Ok(ProcessorRecord {
        id: r.id("id")?,
        name: r.string("name")?,
        url: r.string("url")?,
        purpose: r.parsed("purpose", Purpose::parse)?,
        categories: r
            .string("categories")?
            .split(',')
            .filter(|c| !c.is_empty())
            .map(|c| DataCategory::parse(c).ok_or_else(|| corrupt("processor category")))
            .collect::<R<_>>()?,
        secret_wrapped: r.blob("secret_wrapped")?,
        created_at: r.ts("created_at")?,
        disabled_at: r.opt_ts("disabled_at")?,
    })
}

pub fn create_processor(tx: &mut dyn Tx, p: &ProcessorRecord) -> R<()> {
    let categories: Vec<&str> = p.categories.iter().map(|c| c.as_str()).collect();
    let inserted = tx.exec(
        &format!("INSERT INTO processors ({PROCESSOR_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL)"),
        p![p.id, &p.name, &p.url, p.purpose.as_str(), &categories.join(","), &p.secret_wrapped, p.created_at],
    );
    conflict_if_unique(inserted, || format!("a processor named {:?} exists", p.name))?;
    Ok(())
}

pub fn processor(tx: &mut dyn Tx, id: ProcessorId) -> R<Option<ProcessorRecord>> {
    tx.opt(&format!("SELECT {PROCESSOR_COLS} FROM processors WHERE id = ?1"), p![id], processor_row)
}

pub fn processors(tx: &mut dyn Tx) -> R<Vec<ProcessorRecord>> {
    tx.rows(&format!("SELECT {PROCESSOR_COLS} FROM processors ORDER BY name"), p![], processor_row)
}

pub fn disable_processor(tx: &mut dyn Tx, id: ProcessorId, at: Timestamp) -> R<bool> {
    let n = tx.exec("UPDATE processors SET disabled_at = ?2 WHERE id = ?1 AND disabled_at IS NULL", p![id, at])?;
    Ok(n == 1)
}

const TASK_COLS: &str = "t.id, t.deletion_id, t.child_id, t.processor_id, p.name AS processor_name, t.state, t.payload,
    t.attempts, t.next_attempt_at, t.deadline, t.created_at, t.delivered_at, t.acknowledged_at, t.acknowledged_via,
    t.last_error";

fn task_row(r: &dyn Row) -> R<TaskRecord> {
    Ok(TaskRecord {
        id: r.id("id")?,
        deletion_id: r.opt_id("deletion_id")?,
        child_id: r.id("child_id")?,
        processor_id: r.id("processor_id")?,
        processor_name: r.string("processor_name")?,
        state: r.parsed("state", TaskState::parse)?,
        payload: r.string("payload")?,
        attempts: r.count("attempts")?,
        next_attempt_at: r.opt_ts("next_attempt_at")?,
        deadline: r.ts("deadline")?,
        created_at: r.ts("created_at")?,
        delivered_at: r.opt_ts("delivered_at")?,
        acknowledged_at: r.opt_ts("acknowledged_at")?,
        acknowledged_via: r.text("acknowledged_via")?,
        last_error: r.text("last_error")?,
    })
}

pub(super) fn tasks_where(tx: &mut dyn Tx, clause: &str, params: &[Param<'_>]) -> R<Vec<TaskRecord>> {
    let sql = format!("SELECT {TASK_COLS} FROM processor_tasks t JOIN processors p ON p.id = t.processor_id {clause}");
    tx.rows(&sql, params, task_row)
}

pub fn task(tx: &mut dyn Tx, id: TaskId) -> R<Option<TaskRecord>> {
    Ok(tasks_where(tx, "WHERE t.id = ?1", p![id])?.pop())
}

pub fn deletion_tasks(tx: &mut dyn Tx, id: DeletionId) -> R<Vec<TaskRecord>> {
    tasks_of(tx, &[id])
}

/// The tasks of each of `ids`, by deletion then processor name.
pub fn tasks_of(tx: &mut dyn Tx, ids: &[DeletionId]) -> R<Vec<TaskRecord>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        let mut params = Vec::with_capacity(chunk.len());
        let l = super::list(&mut params, chunk.iter().map(|id| Param::from(*id)));
        out.extend(tasks_where(tx, &format!("WHERE t.deletion_id IN ({l}) ORDER BY t.deletion_id, p.name"), &params)?);
    }
    Ok(out)
}

pub fn open_tasks(tx: &mut dyn Tx, limit: u32) -> R<Vec<TaskRecord>> {
    tasks_where(tx, "WHERE t.state <> 'acknowledged' ORDER BY t.deadline, t.id LIMIT ?1", p![limit])
}

/// Stores new tasks, pending and due at their creation (100 per statement).
pub(super) fn insert_tasks(tx: &mut dyn Tx, tasks: &[&TaskRecord]) -> R<()> {
    for chunk in tasks.chunks(100) {
        let mut params = Vec::with_capacity(chunk.len() * 7);
        for t in chunk {
            params.extend([
                Param::from(t.id),
                Param::from(t.deletion_id),
                Param::from(t.child_id),
                Param::from(t.processor_id),
                Param::from(&t.payload),
                Param::from(t.created_at),
                Param::from(t.deadline),
            ]);
        }
        let rows: Vec<String> = (0..chunk.len())
            .map(|r| {
                let c = |i: usize| r * 7 + i;
                format!(
                    "(?{}, ?{}, ?{}, ?{}, 'pending', ?{}, 0, ?{}, ?{}, ?{})",
                    c(1),
                    c(2),
                    c(3),
                    c(4),
                    c(5),
                    c(6),
                    c(7),
                    c(6)
                )
            })
            .collect();
        tx.exec(
            &format!(
                "INSERT INTO processor_tasks (id, deletion_id, child_id, processor_id, state, payload, attempts,
                     next_attempt_at, deadline, created_at)
                 VALUES {}",
                rows.join(", ")
            ),
            &params,
        )?;
    }
    Ok(())
}

/// Stores a new task, pending and due at its creation.
pub(super) fn insert_task(tx: &mut dyn Tx, t: &TaskRecord) -> R<()> {
    insert_tasks(tx, &[t])
}

/// The claim statement, with the row lock PostgreSQL adds.
macro_rules! claim_sql {
    ($lock:literal) => {
        concat!(
            "UPDATE processor_tasks SET attempts = attempts + 1, next_attempt_at = ?2
             WHERE id IN (SELECT id FROM processor_tasks WHERE state = 'pending' AND next_attempt_at <= ?1
                          ORDER BY next_attempt_at, id LIMIT ?3",
            $lock,
            ") RETURNING id"
        )
    };
}

/// Claims up to `limit` due tasks, each leased until `lease_until`.
pub fn claim_due(tx: &mut dyn Tx, now: Timestamp, lease_until: Timestamp, limit: u32) -> R<Vec<TaskRecord>> {
    let sql = match tx.dialect() {
        Dialect::Sqlite => claim_sql!(""),
        Dialect::Postgres => claim_sql!(" FOR UPDATE SKIP LOCKED"),
    };
    let ids = tx.rows(sql, p![now, lease_until, limit], |r| r.id::<TaskId>("id"))?;
    let mut claimed = Vec::with_capacity(ids.len());
    for id in ids {
        claimed.extend(task(tx, id)?);
    }
    claimed.sort_by_key(|t| (t.created_at, t.id));
    Ok(claimed)
}

pub fn record_delivery(tx: &mut dyn Tx, id: TaskId, at: Timestamp, outcome: &Delivery) -> R<()> {
    match outcome {
        Delivery::Acknowledged => tx.exec(
            "UPDATE processor_tasks SET state = 'acknowledged', delivered_at = COALESCE(delivered_at, ?2),
                 acknowledged_at = ?2, acknowledged_via = 'response', next_attempt_at = NULL, last_error = NULL
             WHERE id = ?1 AND state <> 'acknowledged'",
            p![id, at],
        )?,
        Delivery::Delivered => tx.exec(
            "UPDATE processor_tasks SET state = 'delivered', delivered_at = ?2, next_attempt_at = NULL, last_error = NULL
             WHERE id = ?1 AND state = 'pending'",
            p![id, at],
        )?,
        Delivery::Failed { error, retry_at } => tx.exec(
            "UPDATE processor_tasks SET next_attempt_at = ?2, last_error = ?3 WHERE id = ?1 AND state = 'pending'",
            p![id, *retry_at, error],
        )?,
    };
    Ok(())
}

pub fn acknowledge(tx: &mut dyn Tx, id: TaskId, at: Timestamp, via: &str) -> R<()> {
    let n = tx.exec(
        "UPDATE processor_tasks SET state = 'acknowledged', acknowledged_at = ?2, acknowledged_via = ?3,
             next_attempt_at = NULL
         WHERE id = ?1 AND state <> 'acknowledged'",
        p![id, at, via],
    )?;
    if n == 0 && task(tx, id)?.is_none() {
        return Err(TxError::Store(StoreError::NotFound));
    }
    Ok(())
}
