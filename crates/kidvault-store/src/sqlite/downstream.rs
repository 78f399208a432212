//! Staff principals, downstream processors and their deletion tasks on SQLite.

use kidvault_domain::deletion::DeletionStep;
use kidvault_domain::downstream::{StaffRole, TaskState};
use kidvault_domain::ids::{DeletionId, ProcessorId, StaffId, TaskId};
use kidvault_domain::item::DataCategory;
use kidvault_domain::Timestamp;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{deletions, ts_from_sql, ts_to_sql, uuid_from_sql};
use crate::model::{Delivery, ProcessorRecord, StaffRecord, TaskRecord};
use crate::{Result, StoreError};

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("downstream: bad {what}"))
}

fn opt_ts(r: &Row<'_>, col: &str) -> Result<Option<Timestamp>> {
    r.get::<_, Option<i64>>(col)?.map(ts_from_sql).transpose()
}

fn uuid(r: &Row<'_>, col: &str) -> Result<uuid::Uuid> {
    uuid_from_sql(&r.get::<_, Vec<u8>>(col)?)
}

pub(crate) fn create_staff(c: &Connection, s: &StaffRecord) -> Result<()> {
    c.execute(
        "INSERT INTO staff (id, role, name, token_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![s.id.as_bytes(), s.role.as_str(), s.name, s.token_hash, ts_to_sql(s.created_at)],
    )?;
    Ok(())
}

pub(crate) fn staff_by_token(c: &Connection, token_hash: &[u8; 32]) -> Result<Option<StaffRecord>> {
    c.prepare_cached("SELECT id, role, name, token_hash, created_at FROM staff WHERE token_hash = ?1")?
        .query_row([token_hash], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(4)?))
        })
        .optional()?
        .map(|(id, role, name, at)| {
            Ok(StaffRecord {
                id: StaffId(uuid_from_sql(&id)?),
                role: StaffRole::parse(&role).ok_or_else(|| corrupt("staff role"))?,
                name,
                token_hash: *token_hash,
                created_at: ts_from_sql(at)?,
            })
        })
        .transpose()
}

const PROCESSOR_COLS: &str = "id, name, url, categories, secret_wrapped, created_at, disabled_at";

fn processor_row(r: &Row<'_>) -> Result<ProcessorRecord> {
    let categories: String = r.get("categories")?;
    Ok(ProcessorRecord {
        id: ProcessorId(uuid(r, "id")?),
        name: r.get("name")?,
        url: r.get("url")?,
        categories: categories
            .split(',')
            .filter(|c| !c.is_empty())
            .map(|c| DataCategory::parse(c).ok_or_else(|| corrupt("category")))
            .collect::<Result<_>>()?,
        secret_wrapped: r.get("secret_wrapped")?,
        created_at: ts_from_sql(r.get("created_at")?)?,
        disabled_at: opt_ts(r, "disabled_at")?,
    })
}

pub(crate) fn create_processor(c: &Connection, p: &ProcessorRecord) -> Result<()> {
    let categories: Vec<&str> = p.categories.iter().map(|c| c.as_str()).collect();
    c.execute(
        &format!("INSERT INTO processors ({PROCESSOR_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL)"),
        params![p.id.as_bytes(), p.name, p.url, categories.join(","), p.secret_wrapped, ts_to_sql(p.created_at)],
    )
    .map_err(|e| match e {
        rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE => {
            StoreError::Conflict(format!("a processor named {:?} exists", p.name))
        }
        e => e.into(),
    })?;
    Ok(())
}

pub(crate) fn processor(c: &Connection, id: ProcessorId) -> Result<Option<ProcessorRecord>> {
    let mut stmt = c.prepare_cached(&format!("SELECT {PROCESSOR_COLS} FROM processors WHERE id = ?1"))?;
    let mut rows = stmt.query([id.as_bytes()])?;
    rows.next()?.map(processor_row).transpose()
}

pub(crate) fn processors(c: &Connection) -> Result<Vec<ProcessorRecord>> {
    let mut stmt = c.prepare_cached(&format!("SELECT {PROCESSOR_COLS} FROM processors ORDER BY name"))?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(processor_row(r)?);
    }
    Ok(out)
}

pub(crate) fn disable_processor(c: &Connection, id: ProcessorId, at: Timestamp) -> Result<bool> {
    let n = c.execute(
        "UPDATE processors SET disabled_at = ?2 WHERE id = ?1 AND disabled_at IS NULL",
        params![id.as_bytes(), ts_to_sql(at)],
    )?;
    Ok(n == 1)
}

const TASK_COLS: &str = "t.id, t.deletion_id, t.processor_id, p.name AS processor_name, t.state, t.payload,
    t.attempts, t.next_attempt_at, t.deadline, t.created_at, t.delivered_at, t.acknowledged_at, t.acknowledged_via,
    t.last_error";

fn task_row(r: &Row<'_>) -> Result<TaskRecord> {
    let state: String = r.get("state")?;
    Ok(TaskRecord {
        id: TaskId(uuid(r, "id")?),
        deletion_id: DeletionId(uuid(r, "deletion_id")?),
        processor_id: ProcessorId(uuid(r, "processor_id")?),
        processor_name: r.get("processor_name")?,
        state: TaskState::parse(&state).ok_or_else(|| corrupt("task state"))?,
        payload: r.get("payload")?,
        attempts: r.get("attempts")?,
        next_attempt_at: opt_ts(r, "next_attempt_at")?,
        deadline: ts_from_sql(r.get("deadline")?)?,
        created_at: ts_from_sql(r.get("created_at")?)?,
        delivered_at: opt_ts(r, "delivered_at")?,
        acknowledged_at: opt_ts(r, "acknowledged_at")?,
        acknowledged_via: r.get("acknowledged_via")?,
        last_error: r.get("last_error")?,
    })
}

fn tasks_where(c: &Connection, clause: &str, params: impl rusqlite::Params) -> Result<Vec<TaskRecord>> {
    let sql = format!("SELECT {TASK_COLS} FROM processor_tasks t JOIN processors p ON p.id = t.processor_id {clause}");
    let mut stmt = c.prepare_cached(&sql)?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(task_row(r)?);
    }
    Ok(out)
}

pub(crate) fn task(c: &Connection, id: TaskId) -> Result<Option<TaskRecord>> {
    Ok(tasks_where(c, "WHERE t.id = ?1", [id.as_bytes()])?.pop())
}

pub(crate) fn deletion_tasks(c: &Connection, id: DeletionId) -> Result<Vec<TaskRecord>> {
    tasks_where(c, "WHERE t.deletion_id = ?1 ORDER BY p.name", [id.as_bytes()])
}

pub(crate) fn open_tasks(c: &Connection, limit: u32) -> Result<Vec<TaskRecord>> {
    tasks_where(c, "WHERE t.state <> 'acknowledged' ORDER BY t.deadline, t.id LIMIT ?1", [limit])
}

pub(crate) fn dispatch(c: &Connection, id: DeletionId, at: Timestamp, tasks: &[TaskRecord]) -> Result<()> {
    let d = deletions::get(c, id)?.ok_or(StoreError::NotFound)?;
    if d.step != DeletionStep::Purged {
        return Err(StoreError::Conflict(format!("deletion {id} is at {}, not purged", d.step.as_str())));
    }
    let mut insert = c.prepare_cached(
        "INSERT INTO processor_tasks (id, deletion_id, processor_id, state, payload, attempts, next_attempt_at,
             deadline, created_at)
         VALUES (?1, ?2, ?3, 'pending', ?4, 0, ?5, ?6, ?5)",
    )?;
    for t in tasks {
        insert.execute(params![
            t.id.as_bytes(),
            id.as_bytes(),
            t.processor_id.as_bytes(),
            t.payload,
            ts_to_sql(at),
            ts_to_sql(t.deadline)
        ])?;
    }
    deletions::set_step(c, id, DeletionStep::Dispatched, at)
}

pub(crate) fn claim_due(c: &Connection, now: Timestamp, lease_until: Timestamp, limit: u32) -> Result<Vec<TaskRecord>> {
    let due = tasks_where(
        c,
        "WHERE t.state = 'pending' AND t.next_attempt_at <= ?1 ORDER BY t.next_attempt_at, t.id LIMIT ?2",
        params![ts_to_sql(now), limit],
    )?;
    let mut claim = c.prepare_cached(
        "UPDATE processor_tasks SET attempts = attempts + 1, next_attempt_at = ?2 WHERE id = ?1 AND state = 'pending'",
    )?;
    let mut claimed = Vec::with_capacity(due.len());
    for mut t in due {
        claim.execute(params![t.id.as_bytes(), ts_to_sql(lease_until)])?;
        t.attempts += 1;
        t.next_attempt_at = Some(lease_until);
        claimed.push(t);
    }
    Ok(claimed)
}

pub(crate) fn record_delivery(c: &Connection, id: TaskId, at: Timestamp, outcome: &Delivery) -> Result<()> {
    let at = ts_to_sql(at);
    match outcome {
        Delivery::Acknowledged => c.execute(
            "UPDATE processor_tasks SET state = 'acknowledged', delivered_at = COALESCE(delivered_at, ?2),
                 acknowledged_at = ?2, acknowledged_via = 'response', next_attempt_at = NULL, last_error = NULL
             WHERE id = ?1 AND state <> 'acknowledged'",
            params![id.as_bytes(), at],
        )?,
        Delivery::Delivered => c.execute(
            "UPDATE processor_tasks SET state = 'delivered', delivered_at = ?2, next_attempt_at = NULL,
                 last_error = NULL
             WHERE id = ?1 AND state = 'pending'",
            params![id.as_bytes(), at],
        )?,
        Delivery::Failed { error, retry_at } => c.execute(
            "UPDATE processor_tasks SET next_attempt_at = ?2, last_error = ?3 WHERE id = ?1 AND state = 'pending'",
            params![id.as_bytes(), ts_to_sql(*retry_at), error],
        )?,
    };
    Ok(())
}

pub(crate) fn acknowledge(c: &Connection, id: TaskId, at: Timestamp, via: &str) -> Result<()> {
    let n = c.execute(
        "UPDATE processor_tasks SET state = 'acknowledged', acknowledged_at = ?2, acknowledged_via = ?3,
             next_attempt_at = NULL
         WHERE id = ?1 AND state <> 'acknowledged'",
        params![id.as_bytes(), ts_to_sql(at), via],
    )?;
    if n == 0 && task(c, id)?.is_none() {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
