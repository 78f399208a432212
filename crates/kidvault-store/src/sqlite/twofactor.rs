//! Guardians' second factor on SQLite.

use kidvault_domain::ids::GuardianId;
use kidvault_domain::Timestamp;
use rusqlite::{params, Connection, OptionalExtension};

use super::{ts_from_sql, ts_to_sql};
use crate::model::TotpRecord;
use crate::{Result, StoreError};

pub(crate) fn begin(c: &Connection, g: GuardianId, wrapped: &[u8]) -> Result<()> {
    let n = c.execute(
        "INSERT INTO guardian_totp (guardian_id, secret_wrapped) VALUES (?1, ?2)
         ON CONFLICT (guardian_id) DO UPDATE SET secret_wrapped = excluded.secret_wrapped, last_step = NULL
         WHERE guardian_totp.enabled_at IS NULL",
        params![g.as_bytes(), wrapped],
    )?;
    if n == 0 {
        return Err(StoreError::Conflict("two-step sign-in is already on".into()));
    }
    Ok(())
}

pub(crate) fn get(c: &Connection, g: GuardianId) -> Result<Option<TotpRecord>> {
    c.query_row(
        "SELECT secret_wrapped, enabled_at, last_step FROM guardian_totp WHERE guardian_id = ?1",
        [g.as_bytes()],
        |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Option<i64>>(1)?, r.get::<_, Option<i64>>(2)?)),
    )
    .optional()?
    .map(|(secret_wrapped, enabled, last_step)| {
        Ok(TotpRecord { secret_wrapped, enabled_at: enabled.map(ts_from_sql).transpose()?, last_step })
    })
    .transpose()
}

pub(crate) fn enable(c: &Connection, g: GuardianId, at: Timestamp, step: i64, codes: &[[u8; 32]]) -> Result<()> {
    let n = c.execute(
        "UPDATE guardian_totp SET enabled_at = ?2, last_step = ?3 WHERE guardian_id = ?1 AND enabled_at IS NULL",
        params![g.as_bytes(), ts_to_sql(at), step],
    )?;
    if n == 0 {
        return Err(StoreError::Conflict("no two-step sign-in waiting to be turned on".into()));
    }
    c.execute("DELETE FROM recovery_codes WHERE guardian_id = ?1", [g.as_bytes()])?;
    let mut insert = c.prepare_cached("INSERT INTO recovery_codes (guardian_id, code_hash) VALUES (?1, ?2)")?;
    for h in codes {
        insert.execute(params![g.as_bytes(), h])?;
    }
    Ok(())
}

/// Moves the last used step forward; false if `step` is not after it (a replay).
pub(crate) fn use_step(c: &Connection, g: GuardianId, step: i64) -> Result<bool> {
    let n = c.execute(
        "UPDATE guardian_totp SET last_step = ?2 WHERE guardian_id = ?1 AND (last_step IS NULL OR last_step < ?2)",
        params![g.as_bytes(), step],
    )?;
    Ok(n == 1)
}

pub(crate) fn use_recovery_code(c: &Connection, g: GuardianId, hash: &[u8; 32], at: Timestamp) -> Result<bool> {
    let n = c.execute(
        "UPDATE recovery_codes SET used_at = ?3 WHERE guardian_id = ?1 AND code_hash = ?2 AND used_at IS NULL",
        params![g.as_bytes(), hash, ts_to_sql(at)],
    )?;
    Ok(n == 1)
}

pub(crate) fn disable(c: &Connection, g: GuardianId) -> Result<()> {
    c.execute("DELETE FROM recovery_codes WHERE guardian_id = ?1", [g.as_bytes()])?;
    c.execute("DELETE FROM guardian_totp WHERE guardian_id = ?1", [g.as_bytes()])?;
    Ok(())
}
