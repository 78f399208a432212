//! Single-use links on SQLite: household invitations and e-mail-plus consent
//! confirmations.

use kidvault_domain::Timestamp;
use rusqlite::{params, Connection, OptionalExtension};

use super::store::{insert_consent, insert_guardian};
use super::{ts_from_sql, ts_to_sql, uuid_from_sql};
use crate::model::{ConfirmOutcome, GuardianRecord, InviteOutcome, InviteRecord, PendingConsent};
use crate::Result;

pub(crate) fn create(c: &Connection, i: &InviteRecord) -> Result<()> {
    c.execute(
        "INSERT INTO invites (token_hash, household_id, invited_by, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![i.token_hash, i.household_id.as_bytes(), i.invited_by.as_bytes(), ts_to_sql(i.created_at), ts_to_sql(i.expires_at)],
    )?;
    Ok(())
}

pub(crate) fn accept(
    c: &Connection,
    token_hash: &[u8; 32],
    g: &GuardianRecord,
    at: Timestamp,
) -> Result<InviteOutcome> {
    let row = c
        .query_row(
            "SELECT i.household_id, i.expires_at, i.accepted_at, h.closing_at
             FROM invites i JOIN households h ON h.id = i.household_id WHERE i.token_hash = ?1",
            [token_hash],
            |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                ))
            },
        )
        .optional()?;
    let Some((household, expires_at, accepted_at, closing_at)) = row else {
        return Ok(InviteOutcome::Unknown);
    };
    if accepted_at.is_some() {
        return Ok(InviteOutcome::Used);
    }
    if ts_from_sql(expires_at)? <= at {
        return Ok(InviteOutcome::Expired);
    }
    if closing_at.is_some() {
        return Ok(InviteOutcome::HouseholdClosing);
    }
    let household = kidvault_domain::ids::HouseholdId(uuid_from_sql(&household)?);
    let mut guardian = g.clone();
    guardian.guardian.household_id = household;
    insert_guardian(c, household, &guardian)?;
    c.execute(
        "UPDATE invites SET accepted_at = ?2, accepted_by = ?3 WHERE token_hash = ?1",
        params![token_hash, ts_to_sql(at), guardian.guardian.id.as_bytes()],
    )?;
    Ok(InviteOutcome::Accepted { household })
}

/// Stores a consent waiting for confirmation and its notice to the guardian
/// who gave it, in one transaction.
pub(crate) fn request_consent(
    c: &Connection,
    p: &PendingConsent,
    notice: &kidvault_domain::notice::NewNotice,
) -> Result<()> {
    let consent = serde_json::to_string(&p.consent).map_err(|e| crate::StoreError::Corrupt(e.to_string()))?;
    c.execute(
        "INSERT INTO pending_consents (token_hash, child_id, guardian_id, consent, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            p.token_hash,
            p.consent.child_id.as_bytes(),
            p.consent.guardian_id.as_bytes(),
            consent,
            ts_to_sql(p.created_at),
            ts_to_sql(p.expires_at)
        ],
    )?;
    super::outbox::enqueue_to(
        c,
        p.household_id,
        Some(p.consent.guardian_id),
        std::slice::from_ref(notice),
        p.created_at,
    )
}

/// Records a waiting consent (granted now) with its ledger entry, once, if the
/// confirming guardian is the one who gave it and it has not expired.
pub(crate) fn confirm_consent(
    c: &Connection,
    token_hash: &[u8; 32],
    guardian: kidvault_domain::ids::GuardianId,
    at: Timestamp,
    entry: &kidvault_ledger::entry::NewEntry,
) -> Result<ConfirmOutcome> {
    let row = c
        .query_row(
            "SELECT guardian_id, consent, expires_at, confirmed_at FROM pending_consents WHERE token_hash = ?1",
            [token_hash],
            |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get::<_, Option<i64>>(3)?)),
        )
        .optional()?;
    let Some((owner, consent, expires_at, confirmed_at)) = row else {
        return Ok(ConfirmOutcome::Unknown);
    };
    if uuid_from_sql(&owner)? != guardian.0 {
        return Ok(ConfirmOutcome::Unknown);
    }
    if confirmed_at.is_some() {
        return Ok(ConfirmOutcome::Used);
    }
    if ts_from_sql(expires_at)? <= at {
        return Ok(ConfirmOutcome::Expired);
    }
    let mut consent: kidvault_domain::consent::Consent =
        serde_json::from_str(&consent).map_err(|e| crate::StoreError::Corrupt(format!("pending consent: {e}")))?;
    // The child may have been deleted meanwhile: then there is nothing to consent for.
    let live: i64 = c.query_row(
        "SELECT count(*) FROM children WHERE id = ?1 AND status <> 'deleting'",
        [consent.child_id.as_bytes()],
        |r| r.get(0),
    )?;
    if live == 0 {
        return Ok(ConfirmOutcome::Unknown);
    }
    consent.granted_at = at;
    insert_consent(c, &consent)?;
    c.execute(
        "UPDATE pending_consents SET confirmed_at = ?2 WHERE token_hash = ?1",
        params![token_hash, ts_to_sql(at)],
    )?;
    super::ledger::append(c, std::slice::from_ref(entry))?;
    Ok(ConfirmOutcome::Confirmed(consent))
}

pub(crate) fn pending_consent(
    c: &Connection,
    token_hash: &[u8; 32],
) -> Result<Option<kidvault_domain::consent::Consent>> {
    let json: Option<String> = c
        .query_row("SELECT consent FROM pending_consents WHERE token_hash = ?1", [token_hash], |r| r.get(0))
        .optional()?;
    json.map(|j| serde_json::from_str(&j).map_err(|e| crate::StoreError::Corrupt(format!("pending consent: {e}"))))
        .transpose()
}
