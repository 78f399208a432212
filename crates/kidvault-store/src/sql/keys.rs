//! The keystore's tables: wrapped child keys per epoch and wrapped item keys.
//! Deleting a row crypto-shreds whatever was sealed under that key, in every
//! copy of the data. (On PostgreSQL these tables live in their own schema,
//! which the keystore's connections search.)

use kidvault_domain::ids::{ChildId, ItemId};
use kidvault_domain::Timestamp;

use super::{bind, conflict_if_unique, values_sql, Param, Tx, R};
use crate::model::ItemKey;
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
