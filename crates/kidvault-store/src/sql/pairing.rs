//! Device pairing codes (RFC 8628): a device's request, a guardian's approval
//! (which creates the device row in the same transaction, once), and the
//! device's polls until it collects its token.

use kidvault_domain::Timestamp;

use super::{children, conflict_if_unique, Tx, R};
use crate::model::{DeviceApproval, DeviceCodeRecord, DevicePoll, DeviceRecord};
use crate::p;

pub fn create(tx: &mut dyn Tx, c: &DeviceCodeRecord) -> R<()> {
    let inserted = tx.exec(
        "INSERT INTO device_codes (code_hash, user_code, token_hash, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        p![&c.code_hash, &c.user_code, &c.token_hash, c.created_at, c.expires_at],
    );
    conflict_if_unique(inserted, || "user code taken".into())?;
    Ok(())
}

/// Approves `user_code` for `device` (its token hash is the code's): the
/// device row and the approval commit together, once.
pub fn approve(tx: &mut dyn Tx, user_code: &str, device: &DeviceRecord, now: Timestamp) -> R<DeviceApproval> {
    let row = tx.opt(
        "SELECT token_hash, expires_at, approved_at FROM device_codes WHERE user_code = ?1",
        p![user_code],
        |r| Ok((r.hash32("token_hash")?, r.ts("expires_at")?, r.opt_ts("approved_at")?)),
    )?;
    let Some((token_hash, expires_at, approved_at)) = row else {
        return Ok(DeviceApproval::Unknown);
    };
    if approved_at.is_some() {
        return Ok(DeviceApproval::AlreadyApproved);
    }
    if expires_at <= now {
        return Ok(DeviceApproval::Expired);
    }
    let changed = tx.exec(
        "UPDATE device_codes SET approved_at = ?2, device_id = ?3 WHERE user_code = ?1 AND approved_at IS NULL",
        p![user_code, now, device.device.id],
    )?;
    if changed == 0 {
        return Ok(DeviceApproval::AlreadyApproved);
    }
    children::create_device(tx, &DeviceRecord { token_hash, ..device.clone() })?;
    Ok(DeviceApproval::Approved)
}

/// A device's poll: pending until approved, then its token once.
pub fn poll(tx: &mut dyn Tx, code_hash: &[u8; 32], now: Timestamp, interval_secs: i64) -> R<DevicePoll> {
    let row = tx.opt(
        "SELECT expires_at, last_poll_at, device_id, claimed_at FROM device_codes WHERE code_hash = ?1",
        p![code_hash],
        |r| Ok((r.ts("expires_at")?, r.opt_ts("last_poll_at")?, r.opt_id("device_id")?, r.opt_ts("claimed_at")?)),
    )?;
    let Some((expires_at, last_poll, device, claimed)) = row else {
        return Ok(DevicePoll::Unknown);
    };
    if claimed.is_some() {
        return Ok(DevicePoll::Claimed);
    }
    if let Some(device) = device {
        tx.exec("UPDATE device_codes SET claimed_at = ?2 WHERE code_hash = ?1", p![code_hash, now])?;
        return Ok(DevicePoll::Approved { device });
    }
    if expires_at <= now {
        return Ok(DevicePoll::Expired);
    }
    tx.exec("UPDATE device_codes SET last_poll_at = ?2 WHERE code_hash = ?1", p![code_hash, now])?;
    if last_poll.is_some_and(|t| now - t < chrono::Duration::seconds(interval_secs)) {
        return Ok(DevicePoll::SlowDown);
    }
    Ok(DevicePoll::Pending)
}

/// Forgets codes that expired before `before` and were never approved, and
/// approved ones whose token was collected (or never will be) by then.
pub fn prune(tx: &mut dyn Tx, before: Timestamp) -> R<u64> {
    tx.exec("DELETE FROM device_codes WHERE expires_at < ?1", p![before])
}
