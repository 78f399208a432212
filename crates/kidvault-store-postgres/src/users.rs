//! Households, guardians, sessions, invitations, e-mail-plus confirmations and
//! the second factor on PostgreSQL.

use kidvault_domain::consent::Consent;
use kidvault_domain::entities::Guardian;
use kidvault_domain::ids::{GuardianId, HouseholdId};
use kidvault_domain::notice::NewNotice;
use kidvault_domain::Timestamp;
use kidvault_ledger::entry::NewEntry;
use kidvault_store::model::*;
use kidvault_store::StoreError;
use postgres::types::ToSql;
use postgres::Row;

use crate::db::{conflict_if_unique, Tx, E, R};
use crate::rows::{ts_to_sql, Get};
use crate::store::{insert_consent, map};
use crate::{ledger, outbox};

const GUARDIAN_COLS: &str = "id, household_id, email, display_name, password_hash, created_at";

fn guardian_row(r: &Row) -> R<GuardianRecord> {
    Ok(GuardianRecord {
        guardian: Guardian {
            id: r.id("id")?,
            household_id: r.id("household_id")?,
            email: r.val("email")?,
            display_name: r.val("display_name")?,
            created_at: r.ts("created_at")?,
        },
        password_hash: r.val("password_hash")?,
    })
}

/// The guardian matching `clause` (one parameter, `$1`).
pub(crate) fn guardian_where(
    tx: &mut Tx<'_>,
    clause: &'static str,
    param: &(dyn ToSql + Sync),
) -> R<Option<GuardianRecord>> {
    tx.opt(&format!("SELECT {GUARDIAN_COLS} FROM guardians WHERE {clause}"), &[param])?
        .as_ref()
        .map(guardian_row)
        .transpose()
}

/// Adds a guardian to a household; a taken e-mail is a conflict.
fn insert_guardian(tx: &mut Tx<'_>, household: HouseholdId, g: &GuardianRecord) -> R<()> {
    let inserted = tx.exec(
        &format!("INSERT INTO guardians ({GUARDIAN_COLS}) VALUES ($1, $2, $3, $4, $5, $6)"),
        &[
            &g.guardian.id.0,
            &household.0,
            &g.guardian.email,
            &g.guardian.display_name,
            &g.password_hash,
            &ts_to_sql(g.guardian.created_at),
        ],
    );
    conflict_if_unique(inserted, || "e-mail already registered".into())?;
    Ok(())
}

pub(crate) fn create_household(tx: &mut Tx<'_>, household: HouseholdId, g: &GuardianRecord) -> R<()> {
    tx.exec(
        "INSERT INTO households (id, created_at) VALUES ($1, $2)",
        &[&household.0, &ts_to_sql(g.guardian.created_at)],
    )?;
    insert_guardian(tx, household, g)
}

const SESSION_COLS: &str = "token_hash, guardian_id, household_id, created_at, expires_at, revoked_at";

fn session_row(r: &Row) -> R<SessionRecord> {
    Ok(SessionRecord {
        token_hash: r.hash32("token_hash")?,
        guardian_id: r.id("guardian_id")?,
        household_id: r.id("household_id")?,
        created_at: r.ts("created_at")?,
        expires_at: r.ts("expires_at")?,
        revoked_at: r.opt_ts("revoked_at")?,
    })
}

pub(crate) fn create_session(tx: &mut Tx<'_>, s: &SessionRecord) -> R<()> {
    tx.exec(
        &format!("INSERT INTO sessions ({SESSION_COLS}) VALUES ($1, $2, $3, $4, $5, $6)"),
        &[
            &&s.token_hash[..],
            &s.guardian_id.0,
            &s.household_id.0,
            &ts_to_sql(s.created_at),
            &ts_to_sql(s.expires_at),
            &s.revoked_at.map(ts_to_sql),
        ],
    )?;
    Ok(())
}

pub(crate) fn session(tx: &mut Tx<'_>, h: &[u8; 32]) -> R<Option<SessionRecord>> {
    tx.opt(&format!("SELECT {SESSION_COLS} FROM sessions WHERE token_hash = $1"), &[&&h[..]])?
        .as_ref()
        .map(session_row)
        .transpose()
}

pub(crate) fn sessions_of(tx: &mut Tx<'_>, guardian: GuardianId, now: Timestamp) -> R<Vec<SessionRecord>> {
    let rows = tx.rows(
        &format!(
            "SELECT {SESSION_COLS} FROM sessions
             WHERE guardian_id = $1 AND revoked_at IS NULL AND expires_at > $2
             ORDER BY created_at DESC"
        ),
        &[&guardian.0, &ts_to_sql(now)],
    )?;
    map(&rows, session_row)
}

pub(crate) fn purge_household(
    tx: &mut Tx<'_>,
    household: HouseholdId,
    settled_before: Timestamp,
    entry: &NewEntry,
) -> R<bool> {
    let hh = &household.0;
    let busy: i64 = tx
        .one(
            "SELECT (SELECT count(*) FROM households WHERE id = $1 AND closing_at IS NULL)
                  + (SELECT count(*) FROM children WHERE household_id = $1)
                  + (SELECT count(*) FROM deletions WHERE household_id = $1
                       AND (step <> 'completed' OR updated_at >= $2))",
            &[hh, &ts_to_sql(settled_before)],
        )?
        .get(0);
    let exists: i64 = tx.one("SELECT count(*) FROM households WHERE id = $1", &[hh])?.get(0);
    if busy > 0 || exists == 0 {
        return Ok(false);
    }
    for sql in [
        "DELETE FROM notices WHERE household_id = $1",
        "DELETE FROM invites WHERE household_id = $1",
        "DELETE FROM sessions WHERE household_id = $1",
        "DELETE FROM recovery_codes WHERE guardian_id IN (SELECT id FROM guardians WHERE household_id = $1)",
        "DELETE FROM guardian_totp WHERE guardian_id IN (SELECT id FROM guardians WHERE household_id = $1)",
        "DELETE FROM guardians WHERE household_id = $1",
        "DELETE FROM households WHERE id = $1",
    ] {
        tx.exec(sql, &[hh])?;
    }
    ledger::append(tx, std::slice::from_ref(entry))?;
    Ok(true)
}

pub(crate) fn create_invite(tx: &mut Tx<'_>, i: &InviteRecord) -> R<()> {
    tx.exec(
        "INSERT INTO invites (token_hash, household_id, invited_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        &[&&i.token_hash[..], &i.household_id.0, &i.invited_by.0, &ts_to_sql(i.created_at), &ts_to_sql(i.expires_at)],
    )?;
    Ok(())
}

pub(crate) fn accept_invite(
    tx: &mut Tx<'_>,
    token_hash: &[u8; 32],
    g: &GuardianRecord,
    at: Timestamp,
) -> R<InviteOutcome> {
    let Some(row) = tx.opt(
        "SELECT i.household_id, i.expires_at, i.accepted_at, h.closing_at
         FROM invites i JOIN households h ON h.id = i.household_id WHERE i.token_hash = $1",
        &[&&token_hash[..]],
    )?
    else {
        return Ok(InviteOutcome::Unknown);
    };
    if row.opt_ts("accepted_at")?.is_some() {
        return Ok(InviteOutcome::Used);
    }
    if row.ts("expires_at")? <= at {
        return Ok(InviteOutcome::Expired);
    }
    if row.opt_ts("closing_at")?.is_some() {
        return Ok(InviteOutcome::HouseholdClosing);
    }
    let household: HouseholdId = row.id("household_id")?;
    let mut guardian = g.clone();
    guardian.guardian.household_id = household;
    insert_guardian(tx, household, &guardian)?;
    tx.exec(
        "UPDATE invites SET accepted_at = $2, accepted_by = $3 WHERE token_hash = $1",
        &[&&token_hash[..], &ts_to_sql(at), &guardian.guardian.id.0],
    )?;
    Ok(InviteOutcome::Accepted { household })
}

fn consent_json(json: &str) -> R<Consent> {
    serde_json::from_str(json).map_err(|e| E::Store(StoreError::Corrupt(format!("pending consent: {e}"))))
}

pub(crate) fn request_consent(tx: &mut Tx<'_>, p: &PendingConsent, notice: &NewNotice) -> R<()> {
    let consent = serde_json::to_string(&p.consent).map_err(|e| E::Store(StoreError::Corrupt(e.to_string())))?;
    tx.exec(
        "INSERT INTO pending_consents (token_hash, child_id, guardian_id, consent, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &&p.token_hash[..],
            &p.consent.child_id.0,
            &p.consent.guardian_id.0,
            &consent,
            &ts_to_sql(p.created_at),
            &ts_to_sql(p.expires_at),
        ],
    )?;
    outbox::enqueue_to(tx, p.household_id, Some(p.consent.guardian_id), std::slice::from_ref(notice), p.created_at)
}

pub(crate) fn confirm_consent(
    tx: &mut Tx<'_>,
    token_hash: &[u8; 32],
    guardian: GuardianId,
    at: Timestamp,
    entry: &NewEntry,
) -> R<ConfirmOutcome> {
    let Some(row) = tx.opt(
        "SELECT guardian_id, consent, expires_at, confirmed_at FROM pending_consents WHERE token_hash = $1",
        &[&&token_hash[..]],
    )?
    else {
        return Ok(ConfirmOutcome::Unknown);
    };
    if row.id::<GuardianId>("guardian_id")? != guardian {
        return Ok(ConfirmOutcome::Unknown);
    }
    if row.opt_ts("confirmed_at")?.is_some() {
        return Ok(ConfirmOutcome::Used);
    }
    if row.ts("expires_at")? <= at {
        return Ok(ConfirmOutcome::Expired);
    }
    let mut consent = consent_json(&row.val::<String>("consent")?)?;
    // The child may have been deleted meanwhile: then there is nothing to consent for.
    let live: i64 =
        tx.one("SELECT count(*) FROM children WHERE id = $1 AND status <> 'deleting'", &[&consent.child_id.0])?.get(0);
    if live == 0 {
        return Ok(ConfirmOutcome::Unknown);
    }
    consent.granted_at = at;
    insert_consent(tx, &consent)?;
    tx.exec(
        "UPDATE pending_consents SET confirmed_at = $2 WHERE token_hash = $1",
        &[&&token_hash[..], &ts_to_sql(at)],
    )?;
    ledger::append(tx, std::slice::from_ref(entry))?;
    Ok(ConfirmOutcome::Confirmed(consent))
}

pub(crate) fn pending_consent(tx: &mut Tx<'_>, token_hash: &[u8; 32]) -> R<Option<Consent>> {
    tx.opt("SELECT consent FROM pending_consents WHERE token_hash = $1", &[&&token_hash[..]])?
        .map(|r| consent_json(&r.val::<String>("consent")?))
        .transpose()
}

pub(crate) fn begin_totp(tx: &mut Tx<'_>, g: GuardianId, wrapped: &[u8]) -> R<()> {
    let n = tx.exec(
        "INSERT INTO guardian_totp (guardian_id, secret_wrapped) VALUES ($1, $2)
         ON CONFLICT (guardian_id) DO UPDATE SET secret_wrapped = excluded.secret_wrapped, last_step = NULL
         WHERE guardian_totp.enabled_at IS NULL",
        &[&g.0, &wrapped],
    )?;
    if n == 0 {
        return Err(E::Store(StoreError::Conflict("two-step sign-in is already on".into())));
    }
    Ok(())
}

pub(crate) fn totp(tx: &mut Tx<'_>, g: GuardianId) -> R<Option<TotpRecord>> {
    tx.opt("SELECT secret_wrapped, enabled_at, last_step FROM guardian_totp WHERE guardian_id = $1", &[&g.0])?
        .map(|r| {
            Ok(TotpRecord {
                secret_wrapped: r.val("secret_wrapped")?,
                enabled_at: r.opt_ts("enabled_at")?,
                last_step: r.val("last_step")?,
            })
        })
        .transpose()
}

pub(crate) fn enable_totp(tx: &mut Tx<'_>, g: GuardianId, at: Timestamp, step: i64, codes: &[[u8; 32]]) -> R<()> {
    let n = tx.exec(
        "UPDATE guardian_totp SET enabled_at = $2, last_step = $3 WHERE guardian_id = $1 AND enabled_at IS NULL",
        &[&g.0, &ts_to_sql(at), &step],
    )?;
    if n == 0 {
        return Err(E::Store(StoreError::Conflict("no two-step sign-in waiting to be turned on".into())));
    }
    tx.exec("DELETE FROM recovery_codes WHERE guardian_id = $1", &[&g.0])?;
    for h in codes {
        tx.exec("INSERT INTO recovery_codes (guardian_id, code_hash) VALUES ($1, $2)", &[&g.0, &&h[..]])?;
    }
    Ok(())
}
