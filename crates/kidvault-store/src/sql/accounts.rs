//! Households, guardians, sessions, invitations, e-mail-plus confirmations,
//! consents as recorded, and the second factor.

use kidvault_domain::consent::Consent;
use kidvault_domain::entities::Guardian;
use kidvault_domain::ids::{GuardianId, HouseholdId};
use kidvault_domain::notice::NewNotice;
use kidvault_domain::Timestamp;
use kidvault_ledger::entry::NewEntry;

use super::{conflict_if_unique, outbox, Row, Tx, TxError, R};
use crate::model::*;
use crate::{p, StoreError};

fn guardian_row(r: &dyn Row) -> R<GuardianRecord> {
    Ok(GuardianRecord {
        guardian: Guardian {
            id: r.id("id")?,
            household_id: r.id("household_id")?,
            email: r.string("email")?,
            display_name: r.string("display_name")?,
            created_at: r.ts("created_at")?,
            time_zone: r.text("time_zone")?,
            language: r.text("language")?,
        },
        password_hash: r.string("password_hash")?,
    })
}

pub fn guardian(tx: &mut dyn Tx, id: GuardianId) -> R<Option<GuardianRecord>> {
    tx.opt(
        "SELECT id, household_id, email, display_name, password_hash, created_at, time_zone, language
         FROM guardians WHERE id = ?1",
        p![id],
        guardian_row,
    )
}

pub fn guardian_by_email(tx: &mut dyn Tx, email: &str) -> R<Option<GuardianRecord>> {
    tx.opt(
        "SELECT id, household_id, email, display_name, password_hash, created_at, time_zone, language
         FROM guardians WHERE email = ?1",
        p![email],
        guardian_row,
    )
}

/// Sets (or clears) the time zone a guardian reads times in.
pub fn set_time_zone(tx: &mut dyn Tx, id: GuardianId, zone: Option<&str>) -> R<bool> {
    Ok(tx.exec("UPDATE guardians SET time_zone = ?2 WHERE id = ?1", p![id, zone])? == 1)
}

/// Sets (or clears) the language a guardian reads kidvault in.
pub fn set_language(tx: &mut dyn Tx, id: GuardianId, language: Option<&str>) -> R<bool> {
    Ok(tx.exec("UPDATE guardians SET language = ?2 WHERE id = ?1", p![id, language])? == 1)
}

/// Adds a guardian to a household; a taken e-mail is a conflict.
pub fn insert_guardian(tx: &mut dyn Tx, household: HouseholdId, g: &GuardianRecord) -> R<()> {
    let inserted = tx.exec(
        "INSERT INTO guardians (id, household_id, email, display_name, password_hash, created_at, time_zone, language)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        p![
            g.guardian.id,
            household,
            &g.guardian.email,
            &g.guardian.display_name,
            &g.password_hash,
            g.guardian.created_at,
            g.guardian.time_zone.as_deref(),
            g.guardian.language.as_deref()
        ],
    );
    conflict_if_unique(inserted, || "e-mail already registered".into())?;
    Ok(())
}

pub fn create_household(tx: &mut dyn Tx, household: HouseholdId, g: &GuardianRecord) -> R<()> {
    tx.exec("INSERT INTO households (id, created_at) VALUES (?1, ?2)", p![household, g.guardian.created_at])?;
    insert_guardian(tx, household, g)
}

/// Records a consent and makes its child active (inside the caller's transaction).
pub fn insert_consent(tx: &mut dyn Tx, k: &Consent) -> R<()> {
    tx.exec(
        "INSERT INTO consents (id, child_id, guardian_id, method, evidence_ref, notice_version, granted_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        p![k.id, k.child_id, k.guardian_id, k.method.as_str(), &k.evidence_ref, &k.notice_version, k.granted_at],
    )?;
    for g in &k.scopes {
        tx.exec(
            "INSERT INTO consent_scopes (consent_id, child_id, scope, withdrawn_at) VALUES (?1, ?2, ?3, ?4)",
            p![k.id, k.child_id, g.scope.as_str(), g.withdrawn_at],
        )?;
    }
    tx.exec("UPDATE children SET status = 'active' WHERE id = ?1 AND status = 'pending_consent'", p![k.child_id])?;
    Ok(())
}

fn session_row(r: &dyn Row) -> R<SessionRecord> {
    Ok(SessionRecord {
        token_hash: r.hash32("token_hash")?,
        guardian_id: r.id("guardian_id")?,
        household_id: r.id("household_id")?,
        created_at: r.ts("created_at")?,
        expires_at: r.ts("expires_at")?,
        revoked_at: r.opt_ts("revoked_at")?,
        label: r.text("label")?,
    })
}

/// Names a session by its browser or app.
pub fn label_session(tx: &mut dyn Tx, h: &[u8; 32], label: &str) -> R<()> {
    tx.exec("UPDATE sessions SET label = ?2 WHERE token_hash = ?1", p![h, label])?;
    Ok(())
}

pub fn create_session(tx: &mut dyn Tx, s: &SessionRecord) -> R<()> {
    tx.exec(
        "INSERT INTO sessions (token_hash, guardian_id, household_id, created_at, expires_at, revoked_at, label)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        p![&s.token_hash, s.guardian_id, s.household_id, s.created_at, s.expires_at, s.revoked_at, s.label.as_deref()],
    )?;
    Ok(())
}

pub fn session(tx: &mut dyn Tx, h: &[u8; 32]) -> R<Option<SessionRecord>> {
    tx.opt(
        "SELECT token_hash, guardian_id, household_id, created_at, expires_at, revoked_at, label
         FROM sessions WHERE token_hash = ?1",
        p![h],
        session_row,
    )
}

pub fn sessions_of(tx: &mut dyn Tx, guardian: GuardianId, now: Timestamp) -> R<Vec<SessionRecord>> {
    tx.rows(
        "SELECT token_hash, guardian_id, household_id, created_at, expires_at, revoked_at, label FROM sessions
         WHERE guardian_id = ?1 AND revoked_at IS NULL AND expires_at > ?2
         ORDER BY created_at DESC",
        p![guardian, now],
        session_row,
    )
}

/// Removes a closed household's last rows once nothing of it is left to settle
/// (no child, no deletion unfinished or finished since `settled_before`).
pub fn purge_household(
    tx: &mut dyn Tx,
    household: HouseholdId,
    settled_before: Timestamp,
    entry: &NewEntry,
) -> R<bool> {
    let busy = tx.one(
        "SELECT (SELECT count(*) FROM households WHERE id = ?1 AND closing_at IS NULL)
              + (SELECT count(*) FROM children WHERE household_id = ?1)
              + (SELECT count(*) FROM deletions WHERE household_id = ?1
                   AND (step <> 'completed' OR updated_at >= ?2)) AS n",
        p![household, settled_before],
        |r| r.i64("n"),
    )?;
    let exists = tx.one("SELECT count(*) AS n FROM households WHERE id = ?1", p![household], |r| r.i64("n"))?;
    if busy > 0 || exists == 0 {
        return Ok(false);
    }
    for sql in [
        "DELETE FROM notices WHERE household_id = ?1",
        "DELETE FROM invites WHERE household_id = ?1",
        "DELETE FROM sessions WHERE household_id = ?1",
        "DELETE FROM recovery_codes WHERE guardian_id IN (SELECT id FROM guardians WHERE household_id = ?1)",
        "DELETE FROM guardian_totp WHERE guardian_id IN (SELECT id FROM guardians WHERE household_id = ?1)",
        "DELETE FROM guardians WHERE household_id = ?1",
        "DELETE FROM households WHERE id = ?1",
    ] {
        tx.exec(sql, p![household])?;
    }
    tx.append_ledger(std::slice::from_ref(entry))?;
    Ok(true)
}

pub fn create_invite(tx: &mut dyn Tx, i: &InviteRecord) -> R<()> {
    tx.exec(
        "INSERT INTO invites (token_hash, household_id, invited_by, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        p![&i.token_hash, i.household_id, i.invited_by, i.created_at, i.expires_at],
    )?;
    Ok(())
}

pub fn accept_invite(tx: &mut dyn Tx, token_hash: &[u8; 32], g: &GuardianRecord, at: Timestamp) -> R<InviteOutcome> {
    let found = tx.opt(
        "SELECT i.household_id, i.expires_at, i.accepted_at, h.closing_at
         FROM invites i JOIN households h ON h.id = i.household_id WHERE i.token_hash = ?1",
        p![token_hash],
        |r| {
            Ok((
                r.id::<HouseholdId>("household_id")?,
                r.ts("expires_at")?,
                r.opt_ts("accepted_at")?,
                r.opt_ts("closing_at")?,
            ))
        },
    )?;
    let Some((household, expires_at, accepted_at, closing_at)) = found else {
        return Ok(InviteOutcome::Unknown);
    };
    if accepted_at.is_some() {
        return Ok(InviteOutcome::Used);
    }
    if expires_at <= at {
        return Ok(InviteOutcome::Expired);
    }
    if closing_at.is_some() {
        return Ok(InviteOutcome::HouseholdClosing);
    }
    let mut guardian = g.clone();
    guardian.guardian.household_id = household;
    insert_guardian(tx, household, &guardian)?;
    tx.exec(
        "UPDATE invites SET accepted_at = ?2, accepted_by = ?3 WHERE token_hash = ?1",
        p![token_hash, at, guardian.guardian.id],
    )?;
    Ok(InviteOutcome::Accepted { household })
}

fn consent_json(json: &str) -> R<Consent> {
    serde_json::from_str(json).map_err(|e| TxError::Store(StoreError::Corrupt(format!("pending consent: {e}"))))
}

/// Stores a consent waiting for confirmation and its notice to the guardian
/// who gave it, in one transaction.
pub fn request_consent(tx: &mut dyn Tx, p: &PendingConsent, notice: &NewNotice) -> R<()> {
    let consent = serde_json::to_string(&p.consent).map_err(|e| TxError::Store(StoreError::Corrupt(e.to_string())))?;
    tx.exec(
        "INSERT INTO pending_consents (token_hash, child_id, guardian_id, consent, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        p![&p.token_hash, p.consent.child_id, p.consent.guardian_id, &consent, p.created_at, p.expires_at],
    )?;
    outbox::enqueue_to(tx, p.household_id, Some(p.consent.guardian_id), std::slice::from_ref(notice), p.created_at)
}

/// Records a waiting consent (granted now) with its ledger entry, once, if the
/// confirming guardian is the one who gave it and it has not expired.
pub fn confirm_consent(
    tx: &mut dyn Tx,
    token_hash: &[u8; 32],
    guardian: GuardianId,
    at: Timestamp,
    entry: &NewEntry,
) -> R<ConfirmOutcome> {
    let found = tx.opt(
        "SELECT guardian_id, consent, expires_at, confirmed_at FROM pending_consents WHERE token_hash = ?1",
        p![token_hash],
        |r| {
            Ok((
                r.id::<GuardianId>("guardian_id")?,
                r.string("consent")?,
                r.ts("expires_at")?,
                r.opt_ts("confirmed_at")?,
            ))
        },
    )?;
    let Some((owner, consent, expires_at, confirmed_at)) = found else {
        return Ok(ConfirmOutcome::Unknown);
    };
    if owner != guardian {
        return Ok(ConfirmOutcome::Unknown);
    }
    if confirmed_at.is_some() {
        return Ok(ConfirmOutcome::Used);
    }
    if expires_at <= at {
        return Ok(ConfirmOutcome::Expired);
    }
    let mut consent = consent_json(&consent)?;
    // The child may have been deleted meanwhile: then there is nothing to consent for.
    let live = tx.one(
        "SELECT count(*) AS n FROM children WHERE id = ?1 AND status <> 'deleting'",
        p![consent.child_id],
        |r| r.i64("n"),
    )?;
    if live == 0 {
        return Ok(ConfirmOutcome::Unknown);
    }
    consent.granted_at = at;
    insert_consent(tx, &consent)?;
    tx.exec("UPDATE pending_consents SET confirmed_at = ?2 WHERE token_hash = ?1", p![token_hash, at])?;
    tx.append_ledger(std::slice::from_ref(entry))?;
    Ok(ConfirmOutcome::Confirmed(consent))
}

pub fn pending_consent(tx: &mut dyn Tx, token_hash: &[u8; 32]) -> R<Option<Consent>> {
    tx.opt("SELECT consent FROM pending_consents WHERE token_hash = ?1", p![token_hash], |r| r.string("consent"))?
        .map(|j| consent_json(&j))
        .transpose()
}

/// Stores a second-factor secret waiting to be confirmed (replacing one not yet
/// confirmed); refused while two-step sign-in is on.
pub fn begin_totp(tx: &mut dyn Tx, g: GuardianId, wrapped: &[u8]) -> R<()> {
    let n = tx.exec(
        "INSERT INTO guardian_totp (guardian_id, secret_wrapped) VALUES (?1, ?2)
         ON CONFLICT (guardian_id) DO UPDATE SET secret_wrapped = excluded.secret_wrapped, last_step = NULL
         WHERE guardian_totp.enabled_at IS NULL",
        p![g, wrapped],
    )?;
    if n == 0 {
        return Err(TxError::Store(StoreError::Conflict("two-step sign-in is already on".into())));
    }
    Ok(())
}

pub fn totp(tx: &mut dyn Tx, g: GuardianId) -> R<Option<TotpRecord>> {
    tx.opt("SELECT secret_wrapped, enabled_at, last_step FROM guardian_totp WHERE guardian_id = ?1", p![g], |r| {
        Ok(TotpRecord {
            secret_wrapped: r.blob("secret_wrapped")?,
            enabled_at: r.opt_ts("enabled_at")?,
            last_step: r.int("last_step")?,
        })
    })
}

/// Turns two-step sign-in on with the step that confirmed it; the recovery
/// codes replace any earlier ones.
pub fn enable_totp(tx: &mut dyn Tx, g: GuardianId, at: Timestamp, step: i64, codes: &[[u8; 32]]) -> R<()> {
    let n = tx.exec(
        "UPDATE guardian_totp SET enabled_at = ?2, last_step = ?3 WHERE guardian_id = ?1 AND enabled_at IS NULL",
        p![g, at, step],
    )?;
    if n == 0 {
        return Err(TxError::Store(StoreError::Conflict("no two-step sign-in waiting to be turned on".into())));
    }
    tx.exec("DELETE FROM recovery_codes WHERE guardian_id = ?1", p![g])?;
    for h in codes {
        tx.exec("INSERT INTO recovery_codes (guardian_id, code_hash) VALUES (?1, ?2)", p![g, h])?;
    }
    Ok(())
}

/// Accepts a time step once: only a step later than the last one used.
pub fn use_totp_step(tx: &mut dyn Tx, g: GuardianId, step: i64) -> R<bool> {
    let n = tx.exec(
        "UPDATE guardian_totp SET last_step = ?2 WHERE guardian_id = ?1 AND (last_step IS NULL OR last_step < ?2)",
        p![g, step],
    )?;
    Ok(n == 1)
}

/// Spends a recovery code once.
pub fn use_recovery_code(tx: &mut dyn Tx, g: GuardianId, hash: &[u8; 32], at: Timestamp) -> R<bool> {
    let n = tx.exec(
        "UPDATE recovery_codes SET used_at = ?3 WHERE guardian_id = ?1 AND code_hash = ?2 AND used_at IS NULL",
        p![g, hash, at],
    )?;
    Ok(n == 1)
}

pub fn disable_totp(tx: &mut dyn Tx, g: GuardianId) -> R<()> {
    tx.exec("DELETE FROM recovery_codes WHERE guardian_id = ?1", p![g])?;
    tx.exec("DELETE FROM guardian_totp WHERE guardian_id = ?1", p![g])?;
    Ok(())
}

/// Keeps a sign-up until its e-mailed link is followed (or it expires).
pub fn create_sign_up(tx: &mut dyn Tx, s: &crate::model::PendingSignUp) -> R<()> {
    let g = &s.record.guardian;
    tx.exec(
        "INSERT INTO pending_sign_ups (token_hash, guardian_id, household_id, email, display_name, password_hash,
                                       time_zone, language, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        p![
            &s.token_hash,
            g.id,
            s.household_id,
            &g.email,
            &g.display_name,
            &s.record.password_hash,
            g.time_zone.as_deref(),
            g.language.as_deref(),
            g.created_at,
            s.expires_at
        ],
    )?;
    Ok(())
}

/// Follows a sign-up's link: the pending row goes and the household and its
/// guardian are created, in one transaction, once. `None` for a link that is
/// unknown, used, or expired at `now`.
pub fn finish_sign_up(tx: &mut dyn Tx, token_hash: &[u8; 32], now: Timestamp) -> R<Option<GuardianRecord>> {
    let row = tx.opt(
        "SELECT guardian_id, household_id, email, display_name, password_hash, time_zone, language, created_at,
                expires_at
         FROM pending_sign_ups WHERE token_hash = ?1",
        p![token_hash],
        |r| {
            let record = GuardianRecord {
                guardian: Guardian {
                    id: r.id("guardian_id")?,
                    household_id: r.id("household_id")?,
                    email: r.string("email")?,
                    display_name: r.string("display_name")?,
                    created_at: now,
                    time_zone: r.text("time_zone")?,
                    language: r.text("language")?,
                },
                password_hash: r.string("password_hash")?,
            };
            Ok((record, r.ts("expires_at")?))
        },
    )?;
    let Some((record, expires_at)) = row else { return Ok(None) };
    if tx.exec("DELETE FROM pending_sign_ups WHERE token_hash = ?1", p![token_hash])? != 1 || expires_at <= now {
        return Ok(None);
    }
    create_household(tx, record.guardian.household_id, &record)?;
    Ok(Some(record))
}

/// Forgets sign-ups whose links expired before `before`.
pub fn prune_sign_ups(tx: &mut dyn Tx, before: Timestamp) -> R<u64> {
    tx.exec("DELETE FROM pending_sign_ups WHERE expires_at < ?1", p![before])
}
