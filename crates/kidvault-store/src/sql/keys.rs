//! The keystore's tables: wrapped child keys per epoch and wrapped item keys.
//! Deleting a row crypto-shreds whatever was sealed under that key, in every
//! copy of the data. (On PostgreSQL these tables live in their own schema,
//! which the keystore's connections search.)

use kidvault_domain::ids::{ChildId, ItemId};
use kidvault_domain::Timestamp;

use super::{bind, conflict_if_unique, values_sql, Param, Tx, R};
use crate::model::{ItemKey, KeyRow, KeyRowId, Resealed, SealGeneration};
use crate::p;

/// Rows per multi-row statement (PostgreSQL allows 65,535 parameters).
const CHUNK: usize = 500;

pub fn insert_child_key(tx: &mut dyn Tx, child: ChildId, epoch: u32, wrapped: &[u8], at: Timestamp) -> R<()> {
    let inserted = tx.exec(
        "INSERT INTO child_keys (child_id, epoch, wrapped, created_at) VALUES (?1, ?2, ?3, ?4)",
        p![child, epoch, wrapped, at],
    );
    conflict_if_unique(inserted, || format!("child key epoch {epoch} exists"))?;
    Ok(())
}

pub fn child_key(tx: &mut dyn Tx, child: ChildId, epoch: u32) -> R<Option<Vec<u8>>> {
    tx.opt("SELECT wrapped FROM child_keys WHERE child_id = ?1 AND epoch = ?2", p![child, epoch], |r| r.blob("wrapped"))
}

pub fn latest_child_key(tx: &mut dyn Tx, child: ChildId) -> R<Option<(u32, Vec<u8>)>> {
    tx.opt("SELECT epoch, wrapped FROM child_keys WHERE child_id = ?1 ORDER BY epoch DESC LIMIT 1", p![child], |r| {
        Ok((r.epoch("epoch")?, r.blob("wrapped")?))
    })
}

/// Destroys every key of the child (its item keys too); returns how many
/// child-key epochs went.
pub fn destroy_child_keys(tx: &mut dyn Tx, children: &[ChildId]) -> R<u64> {
    let mut n = 0;
    for chunk in children.chunks(CHUNK) {
        let mut params: Vec<Param<'_>> = Vec::with_capacity(chunk.len());
        let slots = chunk.iter().map(|c| bind(&mut params, Param::from(*c))).collect::<Vec<_>>().join(", ");
        tx.exec(&format!("DELETE FROM item_keys WHERE child_id IN ({slots})"), &params)?;
        n += tx.exec(&format!("DELETE FROM child_keys WHERE child_id IN ({slots})"), &params)?;
    }
    Ok(n)
}

/// Stores item keys (replacing an item's earlier key), many rows per statement.
pub fn put_item_keys(tx: &mut dyn Tx, keys: &[ItemKey]) -> R<()> {
    for chunk in keys.chunks(CHUNK) {
        let mut params: Vec<Param<'_>> = Vec::with_capacity(chunk.len() * 4);
        for k in chunk {
            params.extend([Param::from(k.item), Param::from(k.child), Param::from(k.epoch), Param::from(&k.wrapped)]);
        }
        tx.exec(
            &format!(
                "INSERT INTO item_keys (item_id, child_id, epoch, wrapped) VALUES {}
                 ON CONFLICT (item_id) DO UPDATE SET epoch = excluded.epoch, wrapped = excluded.wrapped",
                values_sql(chunk.len(), 4)
            ),
            &params,
        )?;
    }
    Ok(())
}

pub fn item_key(tx: &mut dyn Tx, item: ItemId) -> R<Option<(u32, Vec<u8>)>> {
    tx.opt("SELECT epoch, wrapped FROM item_keys WHERE item_id = ?1", p![item], |r| {
        Ok((r.epoch("epoch")?, r.blob("wrapped")?))
    })
}

/// Destroys the keys of `items`; returns how many existed.
pub fn destroy_item_keys(tx: &mut dyn Tx, items: &[ItemId]) -> R<u64> {
    let mut n = 0;
    for chunk in items.chunks(CHUNK) {
        let mut params: Vec<Param<'_>> = Vec::with_capacity(chunk.len());
        let slots: Vec<String> = chunk.iter().map(|i| bind(&mut params, Param::from(*i))).collect();
        n += tx.exec(&format!("DELETE FROM item_keys WHERE item_id IN ({})", slots.join(", ")), &params)?;
    }
    Ok(n)
}

/// The seal chain's generations in use, oldest first.
pub fn seal_generations(tx: &mut dyn Tx) -> R<Vec<SealGeneration>> {
    tx.rows(
        "SELECT generation, fingerprint, began_at, completed_at FROM seal_generations ORDER BY generation",
        p![],
        |r| {
            Ok(SealGeneration {
                generation: r.epoch("generation")?,
                fingerprint: r.string("fingerprint")?,
                began_at: r.ts("began_at")?,
                completed_at: r.opt_ts("completed_at")?,
            })
        },
    )
}

/// Records a new generation; `false` if it is already recorded.
pub fn begin_seal_generation(tx: &mut dyn Tx, g: &SealGeneration) -> R<bool> {
    let n = tx.exec(
        "INSERT INTO seal_generations (generation, fingerprint, began_at, completed_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (generation) DO NOTHING",
        p![g.generation, g.fingerprint.as_str(), g.began_at, g.completed_at],
    )?;
    Ok(n == 1)
}

pub fn complete_seal_generation(tx: &mut dyn Tx, generation: u32, at: Timestamp) -> R<()> {
    tx.exec(
        "UPDATE seal_generations SET completed_at = ?2 WHERE generation = ?1 AND completed_at IS NULL",
        p![generation, at],
    )?;
    Ok(())
}

pub fn forget_seal_generations_before(tx: &mut dyn Tx, generation: u32) -> R<u64> {
    tx.exec("DELETE FROM seal_generations WHERE generation < ?1", p![generation])
}

/// Rows whose wrapped bytes sort below `prefix` (sealed under an older
/// generation of the seal chain, or before it), in key order after `after`:
/// child keys first, then item keys. The cursor is a row comparison, which
/// both databases answer as a range of the primary key: spelled as
/// `child_id > ?1 OR (child_id = ?1 AND epoch > ?2)`, PostgreSQL walked the
/// index from its start on every page (a reseal of 1M children: quadratic).
pub fn key_rows_below(tx: &mut dyn Tx, prefix: &[u8], after: Option<KeyRowId>, limit: u32) -> R<Vec<KeyRow>> {
    let mut rows = Vec::new();
    if !matches!(after, Some(KeyRowId::Item(_))) {
        let (child, epoch) = match after {
            Some(KeyRowId::Child(c, e)) => (c, e),
            _ => (ChildId(uuid::Uuid::nil()), 0),
        };
        rows = tx.rows(
            "SELECT child_id, epoch, wrapped FROM child_keys
             WHERE (child_id, epoch) > (?1, ?2) AND substr(wrapped, 1, ?4) < ?3
             ORDER BY child_id, epoch LIMIT ?5",
            p![child, epoch, prefix, prefix.len() as u32, limit],
            |r| Ok(KeyRow { id: KeyRowId::Child(r.id("child_id")?, r.epoch("epoch")?), wrapped: r.blob("wrapped")? }),
        )?;
    }
    let left = limit.saturating_sub(rows.len() as u32);
    if left > 0 {
        let after_item = match after {
            Some(KeyRowId::Item(i)) => i,
            _ => ItemId(uuid::Uuid::nil()),
        };
        let items = tx.rows(
            "SELECT item_id, wrapped FROM item_keys
             WHERE item_id > ?1 AND substr(wrapped, 1, ?4) < ?2
             ORDER BY item_id LIMIT ?3",
            p![after_item, prefix, left, prefix.len() as u32],
            |r| Ok(KeyRow { id: KeyRowId::Item(r.id("item_id")?), wrapped: r.blob("wrapped")? }),
        )?;
        rows.extend(items);
    }
    Ok(rows)
}

/// Rows re-sealed per statement.
const RESEAL_CHUNK: usize = 100;

/// Replaces rows' wrapped bytes where they still hold the old ones; returns how
/// many. One statement per hundred rows (a `CASE` sets each, the `WHERE`
/// compares each with what was read): on PostgreSQL, one round trip, not a
/// hundred.
pub fn reseal_key_rows(tx: &mut dyn Tx, rows: &[Resealed]) -> R<u64> {
    let mut n = 0;
    let (children, items): (Vec<&Resealed>, Vec<&Resealed>) =
        rows.iter().partition(|r| matches!(r.id, KeyRowId::Child(..)));
    for (table, group) in [("child_keys", children), ("item_keys", items)] {
        for chunk in group.chunks(RESEAL_CHUNK) {
            let mut params: Vec<Param<'_>> = Vec::with_capacity(chunk.len() * 4);
            let (mut set, mut matched) = (String::new(), Vec::with_capacity(chunk.len()));
            for r in chunk {
                let key = match r.id {
                    KeyRowId::Child(child, epoch) => {
                        let (c, e) = (bind(&mut params, Param::from(child)), bind(&mut params, Param::from(epoch)));
                        format!("child_id = {c} AND epoch = {e}")
                    }
                    KeyRowId::Item(item) => format!("item_id = {}", bind(&mut params, Param::from(item))),
                };
                let (new, old) = (
                    bind(&mut params, Param::from(r.new.as_slice())),
                    bind(&mut params, Param::from(r.old.as_slice())),
                );
                set.push_str(&format!(" WHEN {key} THEN {new}"));
                matched.push(format!("({key} AND wrapped = {old})"));
            }
            // `ELSE wrapped` also types the CASE (PostgreSQL infers its parameters from it).
            let sql = format!("UPDATE {table} SET wrapped = CASE{set} ELSE wrapped END WHERE {}", matched.join(" OR "));
            n += tx.exec(&sql, &params)?;
        }
    }
    Ok(n)
}
