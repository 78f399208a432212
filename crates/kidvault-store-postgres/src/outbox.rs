//! The notice outbox on PostgreSQL: fan-out to a household's guardians inside the
//! caller's transaction, claims with `FOR UPDATE SKIP LOCKED` and a lease,
//! delivery records, the mailbox view.

use kidvault_domain::ids::{GuardianId, HouseholdId, NoticeId};
use kidvault_domain::notice::{NewNotice, NoticeKind};
use kidvault_domain::Timestamp;
use kidvault_store::model::{NoticeDelivery, NoticeRecord};
use postgres::types::ToSql;
use postgres::Row;

use crate::db::{Tx, R};
use crate::rows::{limit, ts_to_sql, Get};
use crate::store::map;

/// Writes each notice once per guardian of `household`, due at once.
pub(crate) fn enqueue(tx: &mut Tx<'_>, household: HouseholdId, notices: &[NewNotice], at: Timestamp) -> R<()> {
    enqueue_to(tx, household, None, notices, at)
}

/// As [`enqueue`], to one guardian of the household only (`Some`), or to all.
pub(crate) fn enqueue_to(
    tx: &mut Tx<'_>,
    household: HouseholdId,
    only: Option<GuardianId>,
    notices: &[NewNotice],
    at: Timestamp,
) -> R<()> {
    if notices.is_empty() {
        return Ok(());
    }
    let guardians = tx.rows(
        "SELECT id, email FROM guardians WHERE household_id = $1 AND ($2::UUID IS NULL OR id = $2) ORDER BY id",
        &[&household.0, &only.map(|g| g.0)],
    )?;
    let guardians = map(&guardians, |r| Ok((r.val::<uuid::Uuid>("id")?, r.val::<String>("email")?)))?;
    for n in notices {
        for (guardian, email) in &guardians {
            tx.exec(
                "INSERT INTO notices (id, household_id, guardian_id, email, kind, subject, body, created_at,
                     next_attempt_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
                &[
                    &NoticeId::generate(at).0,
                    &household.0,
                    guardian,
                    email,
                    &n.kind.as_str(),
                    &n.subject,
                    &n.body,
                    &ts_to_sql(at),
                ],
            )?;
        }
    }
    Ok(())
}

const COLS: &str = "id, household_id, guardian_id, email, kind, subject, body, created_at, attempts, \
                    next_attempt_at, delivered_at, delivered_via, last_error";

fn row(r: &Row) -> R<NoticeRecord> {
    Ok(NoticeRecord {
        id: r.id("id")?,
        household_id: r.id("household_id")?,
        guardian_id: r.id("guardian_id")?,
        email: r.val("email")?,
        kind: r.parsed("kind", NoticeKind::parse)?,
        subject: r.val("subject")?,
        body: r.val("body")?,
        created_at: r.ts("created_at")?,
        attempts: r.count("attempts")?,
        next_attempt_at: r.opt_ts("next_attempt_at")?,
        delivered_at: r.opt_ts("delivered_at")?,
        delivered_via: r.val("delivered_via")?,
        last_error: r.val("last_error")?,
    })
}

fn select(tx: &mut Tx<'_>, clause: &str, params: &[&(dyn ToSql + Sync)]) -> R<Vec<NoticeRecord>> {
    let rows = tx.rows(&format!("SELECT {COLS} FROM notices {clause}"), params)?;
    map(&rows, row)
}

/// Claims up to `n` due notices, each leased until `lease_until`.
pub(crate) fn claim_due(tx: &mut Tx<'_>, now: Timestamp, lease_until: Timestamp, n: u32) -> R<Vec<NoticeRecord>> {
    let claimed = tx.rows(
        "UPDATE notices SET attempts = attempts + 1, next_attempt_at = $2
         WHERE id IN (SELECT id FROM notices
                      WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= $1
                      ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
         RETURNING id",
        &[&ts_to_sql(now), &ts_to_sql(lease_until), &limit(n)],
    )?;
    let ids = map(&claimed, |r| r.val::<uuid::Uuid>("id"))?;
    select(tx, "WHERE id = ANY($1) ORDER BY created_at, id", &[&ids])
}

pub(crate) fn record_delivery(tx: &mut Tx<'_>, id: NoticeId, at: Timestamp, outcome: &NoticeDelivery) -> R<()> {
    match outcome {
        NoticeDelivery::Delivered { via } => tx.exec(
            "UPDATE notices SET delivered_at = $2, delivered_via = $3, next_attempt_at = NULL, last_error = NULL
             WHERE id = $1 AND delivered_at IS NULL",
            &[&id.0, &ts_to_sql(at), via],
        )?,
        NoticeDelivery::Failed { error, retry_at } => tx.exec(
            "UPDATE notices SET next_attempt_at = $2, last_error = $3 WHERE id = $1 AND delivered_at IS NULL",
            &[&id.0, &ts_to_sql(*retry_at), error],
        )?,
    };
    Ok(())
}

/// A guardian's notices, newest first.
pub(crate) fn for_guardian(tx: &mut Tx<'_>, guardian: GuardianId, n: u32) -> R<Vec<NoticeRecord>> {
    select(tx, "WHERE guardian_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2", &[&guardian.0, &limit(n)])
}
