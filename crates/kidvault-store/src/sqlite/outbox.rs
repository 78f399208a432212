//! The notice outbox on SQLite: fan-out to a household's guardians inside the
//! caller's transaction, leased claiming, delivery records, the mailbox view.

use kidvault_domain::ids::{GuardianId, HouseholdId, NoticeId};
use kidvault_domain::notice::{NewNotice, NoticeKind};
use kidvault_domain::Timestamp;
use rusqlite::{params, Connection, Row};

use super::{ts_from_sql, ts_to_sql, uuid_from_sql};
use crate::model::{NoticeDelivery, NoticeRecord};
use crate::{Result, StoreError};

/// Writes each notice once per guardian of `household`, due at once. Call inside
/// the transaction of the event the notices are about.
pub(crate) fn enqueue(c: &Connection, household: HouseholdId, notices: &[NewNotice], at: Timestamp) -> Result<()> {
    enqueue_to(c, household, None, notices, at)
}

/// As [`enqueue`], to one guardian of the household only (`Some`), or to all.
pub(crate) fn enqueue_to(
    c: &Connection,
    household: HouseholdId,
    only: Option<GuardianId>,
    notices: &[NewNotice],
    at: Timestamp,
) -> Result<()> {
    if notices.is_empty() {
        return Ok(());
    }
    let mut guardians = Vec::new();
    {
        let mut stmt = c.prepare_cached(
            "SELECT id, email FROM guardians WHERE household_id = ?1 AND (?2 IS NULL OR id = ?2) ORDER BY id",
        )?;
        let mut rows = stmt.query(params![household.as_bytes(), only.map(|g| g.as_bytes().to_vec())])?;
        while let Some(r) = rows.next()? {
            guardians.push((uuid_from_sql(&r.get::<_, Vec<u8>>(0)?)?, r.get::<_, String>(1)?));
        }
    }
    let mut insert = c.prepare_cached(
        "INSERT INTO notices (id, household_id, guardian_id, email, kind, subject, body, created_at, next_attempt_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
    )?;
    for n in notices {
        for (guardian, email) in &guardians {
            insert.execute(params![
                NoticeId::generate(at).as_bytes(),
                household.as_bytes(),
                guardian.as_bytes(),
                email,
                n.kind.as_str(),
                n.subject,
                n.body,
                ts_to_sql(at),
            ])?;
        }
    }
    Ok(())
}

const COLS: &str = "id, household_id, guardian_id, email, kind, subject, body, created_at, attempts, \
                    next_attempt_at, delivered_at, delivered_via, last_error";

fn row(r: &Row<'_>) -> Result<NoticeRecord> {
    let uuid = |col: &str| -> Result<uuid::Uuid> { uuid_from_sql(&r.get::<_, Vec<u8>>(col)?) };
    let opt_ts =
        |col: &str| -> Result<Option<Timestamp>> { r.get::<_, Option<i64>>(col)?.map(ts_from_sql).transpose() };
    let kind: String = r.get("kind")?;
    Ok(NoticeRecord {
        id: NoticeId(uuid("id")?),
        household_id: HouseholdId(uuid("household_id")?),
        guardian_id: GuardianId(uuid("guardian_id")?),
        email: r.get("email")?,
        kind: NoticeKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("notice kind {kind:?}")))?,
        subject: r.get("subject")?,
        body: r.get("body")?,
        created_at: ts_from_sql(r.get("created_at")?)?,
        attempts: r.get("attempts")?,
        next_attempt_at: opt_ts("next_attempt_at")?,
        delivered_at: opt_ts("delivered_at")?,
        delivered_via: r.get("delivered_via")?,
        last_error: r.get("last_error")?,
    })
}

fn select(c: &Connection, clause: &str, params: impl rusqlite::Params) -> Result<Vec<NoticeRecord>> {
    let mut stmt = c.prepare_cached(&format!("SELECT {COLS} FROM notices {clause}"))?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(row(r)?);
    }
    Ok(out)
}

/// Claims up to `limit` due notices: each attempt is counted and the notice is
/// not due again before `lease_until` unless its delivery is recorded first.
pub(crate) fn claim_due(
    c: &Connection,
    now: Timestamp,
    lease_until: Timestamp,
    limit: u32,
) -> Result<Vec<NoticeRecord>> {
    let due = select(
        c,
        "WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= ?1 ORDER BY next_attempt_at, id LIMIT ?2",
        params![ts_to_sql(now), limit],
    )?;
    let mut claim = c.prepare_cached(
        "UPDATE notices SET attempts = attempts + 1, next_attempt_at = ?2 WHERE id = ?1 AND delivered_at IS NULL",
    )?;
    let mut claimed = Vec::with_capacity(due.len());
    for mut n in due {
        claim.execute(params![n.id.as_bytes(), ts_to_sql(lease_until)])?;
        n.attempts += 1;
        n.next_attempt_at = Some(lease_until);
        claimed.push(n);
    }
    Ok(claimed)
}

pub(crate) fn record_delivery(c: &Connection, id: NoticeId, at: Timestamp, outcome: &NoticeDelivery) -> Result<()> {
    match outcome {
        NoticeDelivery::Delivered { via } => c.execute(
            "UPDATE notices SET delivered_at = ?2, delivered_via = ?3, next_attempt_at = NULL, last_error = NULL
             WHERE id = ?1 AND delivered_at IS NULL",
            params![id.as_bytes(), ts_to_sql(at), via],
        )?,
        NoticeDelivery::Failed { error, retry_at } => c.execute(
            "UPDATE notices SET next_attempt_at = ?2, last_error = ?3 WHERE id = ?1 AND delivered_at IS NULL",
            params![id.as_bytes(), ts_to_sql(*retry_at), error],
        )?,
    };
    Ok(())
}

/// A guardian's notices, newest first.
pub(crate) fn for_guardian(c: &Connection, guardian: GuardianId, limit: u32) -> Result<Vec<NoticeRecord>> {
    select(c, "WHERE guardian_id = ?1 ORDER BY created_at DESC, id DESC LIMIT ?2", params![guardian.as_bytes(), limit])
}
