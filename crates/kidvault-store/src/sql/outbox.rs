//! The notice outbox: fan-out to a household's guardians inside the caller's
//! transaction, leased claiming, delivery records, the mailbox view.

use kidvault_domain::ids::{GuardianId, HouseholdId, NoticeId};
use kidvault_domain::notice::{NewNotice, NoticeKind};
use kidvault_domain::Timestamp;

use super::{Dialect, Row, Tx, R};
use crate::model::{NoticeDelivery, NoticeRecord};
use crate::p;

/// Writes each notice once per guardian of `household`, due at once. Call inside
/// the transaction of the event the notices are about.
pub fn enqueue(tx: &mut dyn Tx, household: HouseholdId, notices: &[NewNotice], at: Timestamp) -> R<()> {
    enqueue_to(tx, household, None, notices, at)
}

/// As [`enqueue`], to one guardian of the household only (`Some`), or to all.
pub fn enqueue_to(
    tx: &mut dyn Tx,
    household: HouseholdId,
    only: Option<GuardianId>,
    notices: &[NewNotice],
    at: Timestamp,
) -> R<()> {
    if notices.is_empty() {
        return Ok(());
    }
    let read = |r: &dyn Row| Ok((r.id::<GuardianId>("id")?, r.string("email")?));
    let guardians = match only {
        None => tx.rows("SELECT id, email FROM guardians WHERE household_id = ?1 ORDER BY id", p![household], read)?,
        Some(g) => {
            tx.rows("SELECT id, email FROM guardians WHERE household_id = ?1 AND id = ?2", p![household, g], read)?
        }
    };
    for n in notices {
        for (guardian, email) in &guardians {
            tx.exec(
                "INSERT INTO notices (id, household_id, guardian_id, email, kind, subject, body, created_at, next_attempt_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
                p![NoticeId::generate(at), household, *guardian, email, n.kind.as_str(), &n.subject, &n.body, at],
            )?;
        }
    }
    Ok(())
}

/// As [`enqueue`] for many households at once (a sweep's batch): one read of
/// their guardians and multi-row inserts.
pub fn enqueue_many(tx: &mut dyn Tx, notices: &[(HouseholdId, &NewNotice)], at: Timestamp) -> R<()> {
    use super::{bind, Param};
    for chunk in notices.chunks(400) {
        let mut params: Vec<Param<'_>> = Vec::with_capacity(chunk.len());
        let households = chunk.iter().map(|(h, _)| bind(&mut params, Param::from(*h))).collect::<Vec<_>>().join(", ");
        let guardians = tx.rows(
            &format!("SELECT household_id, id, email FROM guardians WHERE household_id IN ({households}) ORDER BY id"),
            &params,
            |r| Ok((r.id::<HouseholdId>("household_id")?, r.id::<GuardianId>("id")?, r.string("email")?)),
        )?;
        let mut by_household: std::collections::HashMap<HouseholdId, Vec<(GuardianId, String)>> = Default::default();
        for (h, g, email) in guardians {
            by_household.entry(h).or_default().push((g, email));
        }
        let rows: Vec<(NoticeId, HouseholdId, GuardianId, &str, &NewNotice)> = chunk
            .iter()
            .flat_map(|(h, n)| {
                by_household
                    .get(h)
                    .into_iter()
                    .flatten()
                    .map(move |(g, email)| (NoticeId::generate(at), *h, *g, email.as_str(), *n))
            })
            .collect();
        for rows in rows.chunks(200) {
            let mut params: Vec<Param<'_>> = Vec::with_capacity(rows.len() * 8);
            let values: Vec<String> = rows
                .iter()
                .map(|(id, h, g, email, n)| {
                    let cols = [
                        Param::from(*id),
                        Param::from(*h),
                        Param::from(*g),
                        Param::Text(email),
                        Param::Text(n.kind.as_str()),
                        Param::Text(&n.subject),
                        Param::Text(&n.body),
                        Param::from(at),
                    ];
                    let slots: Vec<String> = cols.into_iter().map(|p| bind(&mut params, p)).collect();
                    format!("({}, {})", slots.join(", "), slots[7])
                })
                .collect();
            tx.exec(
                &format!(
                    "INSERT INTO notices (id, household_id, guardian_id, email, kind, subject, body, created_at,
                                          next_attempt_at) VALUES {}",
                    values.join(", ")
                ),
                &params,
            )?;
        }
    }
    Ok(())
}

const COLS: &str = "id, household_id, guardian_id, email, kind, subject, body, created_at, attempts, \
                    next_attempt_at, delivered_at, delivered_via, last_error";

fn row(r: &dyn Row) -> R<NoticeRecord> {
    Ok(NoticeRecord {
        id: r.id("id")?,
        household_id: r.id("household_id")?,
        guardian_id: r.id("guardian_id")?,
        email: r.string("email")?,
        kind: r.parsed("kind", NoticeKind::parse)?,
        subject: r.string("subject")?,
        body: r.string("body")?,
        created_at: r.ts("created_at")?,
        attempts: r.count("attempts")?,
        next_attempt_at: r.opt_ts("next_attempt_at")?,
        delivered_at: r.opt_ts("delivered_at")?,
        delivered_via: r.text("delivered_via")?,
        last_error: r.text("last_error")?,
    })
}

/// The claim statement, with the row lock PostgreSQL adds.
macro_rules! claim_sql {
    ($lock:literal) => {
        concat!(
            "UPDATE notices SET attempts = attempts + 1, next_attempt_at = ?2
             WHERE id IN (SELECT id FROM notices WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= ?1
                          ORDER BY next_attempt_at, id LIMIT ?3",
            $lock,
            ")
             RETURNING id, household_id, guardian_id, email, kind, subject, body, created_at, attempts,
                       next_attempt_at, delivered_at, delivered_via, last_error"
        )
    };
}

/// Claims up to `limit` due notices: each attempt is counted and the notice is
/// not due again before `lease_until` unless its delivery is recorded first.
/// On PostgreSQL, rows another node is claiming are skipped, not waited for.
pub fn claim_due(tx: &mut dyn Tx, now: Timestamp, lease_until: Timestamp, limit: u32) -> R<Vec<NoticeRecord>> {
    let sql = match tx.dialect() {
        Dialect::Sqlite => claim_sql!(""),
        Dialect::Postgres => claim_sql!(" FOR UPDATE SKIP LOCKED"),
    };
    let mut claimed = tx.rows(sql, p![now, lease_until, limit], row)?;
    claimed.sort_by_key(|n| (n.created_at, n.id));
    Ok(claimed)
}

pub fn record_delivery(tx: &mut dyn Tx, id: NoticeId, at: Timestamp, outcome: &NoticeDelivery) -> R<()> {
    match outcome {
        NoticeDelivery::Delivered { via } => tx.exec(
            "UPDATE notices SET delivered_at = ?2, delivered_via = ?3, next_attempt_at = NULL, last_error = NULL
             WHERE id = ?1 AND delivered_at IS NULL",
            p![id, at, via],
        )?,
        NoticeDelivery::Failed { error, retry_at } => tx.exec(
            "UPDATE notices SET next_attempt_at = ?2, last_error = ?3 WHERE id = ?1 AND delivered_at IS NULL",
            p![id, *retry_at, error],
        )?,
    };
    Ok(())
}

/// A guardian's notices, newest first.
pub fn for_guardian(tx: &mut dyn Tx, guardian: GuardianId, limit: u32) -> R<Vec<NoticeRecord>> {
    tx.rows(
        &format!("SELECT {COLS} FROM notices WHERE guardian_id = ?1 ORDER BY created_at DESC, id DESC LIMIT ?2"),
        p![guardian, limit],
        row,
    )
}
