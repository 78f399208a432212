//! Staff accounts and what bounds their access: two-factor sign-in with
//! short-lived sessions, guardians' support grants, the break-glass review
//! queue and the record of refusals. Every change a parent must be able to see
//! (a grant, a revocation, a break-glass read, its review) appends its ledger
//! entry in the same transaction.

use kidvault_domain::ids::{ChildId, HouseholdId, ReviewId, StaffId};
use kidvault_domain::notice::NewNotice;
use kidvault_domain::staff::StaffRole;
use kidvault_domain::Timestamp;
use kidvault_ledger::entry::NewEntry;

use super::{conflict_if_unique, outbox, Row, Tx, R};
use crate::model::{AccessDenial, AccessReview, Sealed, StaffRecord, StaffSessionRecord, SupportGrant};
use crate::{p, StoreError};

const STAFF_COLS: &str = "id, role, name, token_hash, totp_wrapped, last_step, created_at, disabled_at";

fn staff_row(r: &dyn Row) -> R<StaffRecord> {
    Ok(StaffRecord {
        id: r.id("id")?,
        role: r.parsed("role", StaffRole::parse)?,
        name: r.string("name")?,
        token_hash: r.hash32("token_hash")?,
        totp_wrapped: r.bytes("totp_wrapped")?.unwrap_or_default(),
        last_step: r.int("last_step")?,
        created_at: r.ts("created_at")?,
        disabled_at: r.opt_ts("disabled_at")?,
    })
}

pub fn create_staff(tx: &mut dyn Tx, s: &StaffRecord) -> R<()> {
    let sql =
        "INSERT INTO staff (id, role, name, token_hash, totp_wrapped, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
    let r = tx.exec(sql, p![s.id, s.role.as_str(), &s.name, &s.token_hash, &s.totp_wrapped, s.created_at]);
    conflict_if_unique(r, || "a staff account with that id or key exists".into())?;
    Ok(())
}

/// The enabled account whose sign-in key hashes to `key_hash`.
pub fn staff_by_key(tx: &mut dyn Tx, key_hash: &[u8; 32]) -> R<Option<StaffRecord>> {
    let sql = format!("SELECT {STAFF_COLS} FROM staff WHERE token_hash = ?1 AND disabled_at IS NULL");
    tx.opt(&sql, p![key_hash], staff_row)
}

pub fn staff(tx: &mut dyn Tx, id: StaffId) -> R<Option<StaffRecord>> {
    tx.opt(&format!("SELECT {STAFF_COLS} FROM staff WHERE id = ?1"), p![id], staff_row)
}

pub fn list_staff(tx: &mut dyn Tx) -> R<Vec<StaffRecord>> {
    tx.rows(&format!("SELECT {STAFF_COLS} FROM staff ORDER BY created_at, id"), p![], staff_row)
}

/// Uses TOTP `step` of an enabled account (only if later than the last one
/// used) and opens `session`, together. `false`: the step was used already or
/// the account is disabled.
pub fn sign_in(tx: &mut dyn Tx, step: i64, session: &StaffSessionRecord) -> R<bool> {
    let used = tx.exec(
        "UPDATE staff SET last_step = ?2
         WHERE id = ?1 AND disabled_at IS NULL AND (last_step IS NULL OR last_step < ?2)",
        p![session.staff_id, step],
    )?;
    if used == 0 {
        return Ok(false);
    }
    tx.exec(
        "INSERT INTO staff_sessions (token_hash, staff_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
        p![&session.token_hash, session.staff_id, session.created_at, session.expires_at],
    )?;
    Ok(true)
}

/// The account of an unexpired session of an enabled account.
pub fn session_staff(tx: &mut dyn Tx, token_hash: &[u8; 32], now: Timestamp) -> R<Option<StaffRecord>> {
    let sql = "SELECT s.id, s.role, s.name, s.token_hash, s.totp_wrapped, s.last_step, s.created_at, s.disabled_at
               FROM staff_sessions x JOIN staff s ON s.id = x.staff_id
               WHERE x.token_hash = ?1 AND x.expires_at > ?2 AND s.disabled_at IS NULL";
    tx.opt(sql, p![token_hash, now], staff_row)
}

/// Ends every session of the account, and with `disable` the account too.
/// Returns how many sessions ended; `NotFound` for an unknown account.
pub fn end_sessions(tx: &mut dyn Tx, id: StaffId, disable: Option<Timestamp>) -> R<u64> {
    if staff(tx, id)?.is_none() {
        return Err(StoreError::NotFound.into());
    }
    if let Some(at) = disable {
        tx.exec("UPDATE staff SET disabled_at = ?2 WHERE id = ?1 AND disabled_at IS NULL", p![id, at])?;
    }
    tx.exec("DELETE FROM staff_sessions WHERE staff_id = ?1", p![id])
}

/// Ends one staff session (signing out); `false` if it was not live.
pub fn end_session(tx: &mut dyn Tx, token_hash: &[u8; 32]) -> R<bool> {
    Ok(tx.exec("DELETE FROM staff_sessions WHERE token_hash = ?1", p![token_hash])? == 1)
}

const GRANT_COLS: &str = "id, child_id, guardian_id, created_at, expires_at, revoked_at";

fn grant_row(r: &dyn Row) -> R<SupportGrant> {
    Ok(SupportGrant {
        id: r.id("id")?,
        child_id: r.id("child_id")?,
        guardian_id: r.id("guardian_id")?,
        created_at: r.ts("created_at")?,
        expires_at: r.ts("expires_at")?,
        revoked_at: r.opt_ts("revoked_at")?,
    })
}

/// Records a guardian's grant (ending any grant still active: one at a time)
/// and its ledger entry; returns the entry's index.
pub fn grant_support(tx: &mut dyn Tx, grant: &SupportGrant, entry: &NewEntry) -> R<u64> {
    tx.exec(
        "UPDATE support_grants SET revoked_at = ?2 WHERE child_id = ?1 AND revoked_at IS NULL AND expires_at > ?2",
        p![grant.child_id, grant.created_at],
    )?;
    tx.exec(
        &format!("INSERT INTO support_grants ({GRANT_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, NULL)"),
        p![grant.id, grant.child_id, grant.guardian_id, grant.created_at, grant.expires_at],
    )?;
    Ok(tx.append_ledger(std::slice::from_ref(entry))?[0])
}

/// Ends the child's active grant at `at`, with its ledger entry; `None` if no
/// grant was active.
pub fn revoke_support(tx: &mut dyn Tx, child: ChildId, at: Timestamp, entry: &NewEntry) -> R<Option<u64>> {
    let ended = tx.exec(
        "UPDATE support_grants SET revoked_at = ?2 WHERE child_id = ?1 AND revoked_at IS NULL AND expires_at > ?2",
        p![child, at],
    )?;
    if ended == 0 {
        return Ok(None);
    }
    Ok(Some(tx.append_ledger(std::slice::from_ref(entry))?[0]))
}

/// The child's grants, newest first.
pub fn support_grants(tx: &mut dyn Tx, child: ChildId, limit: u32) -> R<Vec<SupportGrant>> {
    let sql =
        format!("SELECT {GRANT_COLS} FROM support_grants WHERE child_id = ?1 ORDER BY created_at DESC, id LIMIT ?2");
    tx.rows(&sql, p![child, limit], grant_row)
}

const REVIEW_COLS: &str = "id, staff_id, role, child_id, action, purpose, ticket, justification_epoch, \
                           justification_key, justification_sealed, ledger_index, created_at, decided_at, decided_by, \
                           decision, note";

fn review_row(r: &dyn Row) -> R<AccessReview> {
    Ok(AccessReview {
        id: r.id("id")?,
        staff_id: r.id("staff_id")?,
        role: r.parsed("role", StaffRole::parse)?,
        child_id: r.id("child_id")?,
        action: r.string("action")?,
        purpose: r.string("purpose")?,
        ticket: r.string("ticket")?,
        justification: match (r.int("justification_epoch")?, r.bytes("justification_key")?) {
            (Some(_), Some(wrapped_key)) => Some(Sealed {
                epoch: r.epoch("justification_epoch")?,
                wrapped_key,
                ciphertext: r.blob("justification_sealed")?,
            }),
            _ => None,
        },
        ledger_index: u64::try_from(r.i64("ledger_index")?).unwrap_or_default(),
        created_at: r.ts("created_at")?,
        decided_at: r.opt_ts("decided_at")?,
        decided_by: r.opt_id("decided_by")?,
        decision: r.text("decision")?,
        note: r.text("note")?,
    })
}

/// A break-glass access: its ledger entry, the review it waits for, and the
/// notices to the child's guardians, together. Returns the entry's index.
pub fn break_glass(
    tx: &mut dyn Tx,
    review: &AccessReview,
    entry: &NewEntry,
    household: HouseholdId,
    notices: &[NewNotice],
) -> R<u64> {
    let index = tx.append_ledger(std::slice::from_ref(entry))?[0];
    tx.exec(
        &format!(
            "INSERT INTO access_reviews ({REVIEW_COLS}, justification)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, NULL, NULL, NULL, NULL, '')"
        ),
        p![
            review.id,
            review.staff_id,
            review.role.as_str(),
            review.child_id,
            &review.action,
            &review.purpose,
            &review.ticket,
            review.justification.as_ref().map(|s| i64::from(s.epoch)),
            review.justification.as_ref().map(|s| &s.wrapped_key),
            review.justification.as_ref().map(|s| &s.ciphertext),
            i64::try_from(index).unwrap_or(i64::MAX),
            review.created_at
        ],
    )?;
    outbox::enqueue(tx, household, notices, review.created_at)?;
    Ok(index)
}

/// Reviews, oldest first; with `open` only those not yet decided.
pub fn reviews(tx: &mut dyn Tx, open: bool, limit: u32) -> R<Vec<AccessReview>> {
    let filter = if open { "WHERE decided_at IS NULL" } else { "" };
    let sql = format!("SELECT {REVIEW_COLS} FROM access_reviews {filter} ORDER BY created_at, id LIMIT ?1");
    tx.rows(&sql, p![limit], review_row)
}

pub fn review(tx: &mut dyn Tx, id: ReviewId) -> R<Option<AccessReview>> {
    tx.opt(&format!("SELECT {REVIEW_COLS} FROM access_reviews WHERE id = ?1"), p![id], review_row)
}

/// Closes an open review with its ledger entry (when `entry` is given: the
/// child's data may be deleted by now). `false`: already decided.
pub fn decide(tx: &mut dyn Tx, decided: &AccessReview, entry: Option<&NewEntry>) -> R<bool> {
    let changed = tx.exec(
        "UPDATE access_reviews SET decided_at = ?2, decided_by = ?3, decision = ?4, note = ?5
         WHERE id = ?1 AND decided_at IS NULL",
        p![decided.id, decided.decided_at, decided.decided_by, decided.decision.as_deref(), decided.note.as_deref()],
    )?;
    if changed == 0 {
        return Ok(false);
    }
    if let Some(e) = entry {
        tx.append_ledger(std::slice::from_ref(e))?;
    }
    Ok(true)
}

/// Justifications written before they were sealed (oldest first): the id, the
/// child and the text, for [`seal_justification`].
pub fn plain_justifications(tx: &mut dyn Tx, limit: u32) -> R<Vec<(ReviewId, ChildId, String)>> {
    tx.rows(
        "SELECT id, child_id, justification FROM access_reviews WHERE justification <> ''
         ORDER BY created_at, id LIMIT ?1",
        p![limit],
        |r| Ok((r.id("id")?, r.id("child_id")?, r.string("justification")?)),
    )
}

/// Puts a sealed justification in place of its plaintext (`None`: the child's
/// keys are gone, so the text is only dropped).
pub fn seal_justification(tx: &mut dyn Tx, id: ReviewId, sealed: Option<&Sealed>) -> R<()> {
    tx.exec(
        "UPDATE access_reviews SET justification = '', justification_epoch = ?2, justification_key = ?3,
             justification_sealed = ?4
         WHERE id = ?1",
        p![id, sealed.map(|s| i64::from(s.epoch)), sealed.map(|s| &s.wrapped_key), sealed.map(|s| &s.ciphertext)],
    )?;
    Ok(())
}

/// How many staff requests have been refused, ever, and how many break-glass
/// reviews wait for a decision.
pub fn access_counts(tx: &mut dyn Tx) -> R<(u64, u64)> {
    tx.one(
        "SELECT (SELECT COUNT(*) FROM access_denials) AS denied,
                (SELECT COUNT(*) FROM access_reviews WHERE decided_at IS NULL) AS open",
        p![],
        |r| Ok((u64::try_from(r.i64("denied")?).unwrap_or(0), u64::try_from(r.i64("open")?).unwrap_or(0))),
    )
}

pub fn record_denial(tx: &mut dyn Tx, d: &AccessDenial) -> R<()> {
    tx.exec(
        "INSERT INTO access_denials (id, staff_id, role, child_id, action, purpose, ticket, code, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        p![d.id, d.staff_id, d.role.as_str(), d.child_id, &d.action, d.purpose.as_deref(), &d.ticket, &d.code, d.at],
    )?;
    Ok(())
}

/// The latest refusals, newest first, and how many there have been in all.
pub fn denials(tx: &mut dyn Tx, limit: u32) -> R<(Vec<AccessDenial>, u64)> {
    let rows = tx.rows(
        "SELECT id, staff_id, role, child_id, action, purpose, ticket, code, at FROM access_denials
         ORDER BY at DESC, id LIMIT ?1",
        p![limit],
        |r| {
            Ok(AccessDenial {
                id: r.id("id")?,
                staff_id: r.id("staff_id")?,
                role: r.parsed("role", StaffRole::parse)?,
                child_id: r.opt_id("child_id")?,
                action: r.string("action")?,
                purpose: r.text("purpose")?,
                ticket: r.string("ticket")?,
                code: r.string("code")?,
                at: r.ts("at")?,
            })
        },
    )?;
    let total = tx.one("SELECT COUNT(*) AS n FROM access_denials", p![], |r| r.i64("n"))?;
    Ok((rows, u64::try_from(total).unwrap_or(0)))
}
