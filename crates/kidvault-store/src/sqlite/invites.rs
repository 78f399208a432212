//! Household invitations on SQLite.

use kidvault_domain::Timestamp;
use rusqlite::{params, Connection, OptionalExtension};

use super::store::insert_guardian;
use super::{ts_from_sql, ts_to_sql, uuid_from_sql};
use crate::model::{GuardianRecord, InviteOutcome, InviteRecord};
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
