//! A guardian reviewing a child's items. Every read goes through
//! [`Vault::authorize`] and [`Vault::open`]: one access record per read.

use std::collections::HashMap;

use bytes::Bytes;
use kidvault_domain::ids::ItemId;
use kidvault_domain::item::{ContentShape, ItemMeta, ItemState};
use kidvault_domain::Timestamp;
use kidvault_store::{ItemRecord, Sealed, StoredContent};

use crate::access::{Action, Actor, Grant, GuardianSession};
use crate::{Result, ServiceError, Vault};

/// An item as the guardian sees it.
#[derive(Clone, Debug)]
pub struct ItemView {
    pub meta: ItemMeta,
    /// Items derived directly from this one.
    pub derived: Vec<ItemId>,
    /// Text or JSON content; `None` for audio (fetched from the content endpoint).
    pub content: Option<serde_json::Value>,
    pub media_type: &'static str,
}

/// One page of a child's items.
#[derive(Clone, Debug)]
pub struct ItemPage {
    pub items: Vec<ItemMeta>,
    /// Pass back as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// An item on a review page, with its content where it is shown as text.
#[derive(Clone, Debug)]
pub struct ReviewItem {
    pub meta: ItemMeta,
    /// Text items as text; objects and points as compact JSON; `None` for audio
    /// (played from the content endpoint) and embeddings (numbers only).
    pub text: Option<String>,
}

/// What a review page asks for: kind, time range, cursor and size.
#[derive(Clone, Debug, Default)]
pub struct PageQuery<'a> {
    pub kind: Option<&'a str>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub cursor: Option<&'a str>,
    /// The page just newer than this cursor (a page's first item), instead.
    pub newer: Option<&'a str>,
    /// Only what this device sent.
    pub device: Option<kidvault_domain::ids::DeviceId>,
    pub limit: Option<u32>,
}

pub const MAX_PAGE: u32 = 200;

/// Whether items of this shape are read from a page as text or JSON (audio
/// is played one recording at a time; embeddings are numbers nobody reads).
pub fn reads_inline(shape: ContentShape) -> bool {
    matches!(shape, ContentShape::Text | ContentShape::Object | ContentShape::Point)
}

/// The cursor naming an item's place in a page (pass as `cursor` for what is
/// older, as `newer` for what is newer).
pub fn cursor_of(m: &ItemMeta) -> String {
    format!("{}_{}", m.recorded_at.timestamp_micros(), m.id)
}

fn parse_cursor(raw: &str) -> Result<(Timestamp, ItemId)> {
    let bad = || ServiceError::invalid("invalid_cursor", "cursor is not one this server issued");
    let (t, id) = raw.split_once('_').ok_or_else(bad)?;
    let micros: i64 = t.parse().map_err(|_| bad())?;
    let t = chrono::DateTime::from_timestamp_micros(micros).ok_or_else(bad)?;
    Ok((t, id.parse().map_err(|_| bad())?))
}

pub(crate) fn page_filter(q: &PageQuery<'_>) -> Result<kidvault_store::ItemFilter> {
    let kind = q
        .kind
        .map(|k| {
            kidvault_domain::item::ItemKind::parse(k)
                .ok_or_else(|| ServiceError::invalid("unknown_kind", format!("unknown item kind {k:?}")))
        })
        .transpose()?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ServiceError::invalid("invalid_limit", format!("limit must be 1 to {MAX_PAGE}")));
    }
    let after = q.cursor.map(parse_cursor).transpose()?;
    let before = q.newer.map(parse_cursor).transpose()?;
    Ok(kidvault_store::ItemFilter { kind, from: q.from, to: q.to, after, before, device: q.device, limit })
}

impl Vault {
    /// A page of the child's items (metadata), newest first.
    pub async fn list_items(
        &self,
        g: &GuardianSession,
        child: kidvault_domain::ids::ChildId,
        q: &PageQuery<'_>,
        now: Timestamp,
    ) -> Result<ItemPage> {
        let grant = self.authorize(Actor::Guardian(g), child, Action::ReadItems).await?;
        let filter = page_filter(q)?;
        self.record_access(&grant, None, "items.list", now).await?;
        self.page(&grant, &filter).await
    }

    /// A page of the child's items with their text content, for the portal's
    /// timeline: one authorization and one access record naming every item shown.
    pub async fn review_page(
        &self,
        g: &GuardianSession,
        child: kidvault_domain::ids::ChildId,
        q: &PageQuery<'_>,
        now: Timestamp,
    ) -> Result<(Vec<ReviewItem>, Option<String>)> {
        let grant = self.authorize(Actor::Guardian(g), child, Action::ReadItems).await?;
        let page = self.page(&grant, &page_filter(q)?).await?;
        let mut texts: HashMap<ItemId, String> = self
            .open_page(&grant, &page, "timeline.read", now)
            .await?
            .into_iter()
            .map(|(id, bytes)| (id, String::from_utf8_lossy(&bytes).into_owned()))
            .collect();
        let items = page.items.into_iter().map(|meta| ReviewItem { text: texts.remove(&meta.id), meta }).collect();
        Ok((items, page.next_cursor))
    }

    /// Opens the content of a page's items that read as text or JSON (audio
    /// and embeddings are skipped: they are played or not shown), under one
    /// access record that names every item opened (`what`), or, when there
    /// is none, one for the list itself.
    pub(crate) async fn open_page(
        &self,
        grant: &Grant,
        page: &ItemPage,
        what: &str,
        now: Timestamp,
    ) -> Result<HashMap<ItemId, Vec<u8>>> {
        let mut sealed = Vec::new();
        for meta in &page.items {
            if !reads_inline(meta.kind.spec().shape) {
                continue;
            }
            // Inline content only: derived items and locations are small.
            if let Some(record) = self.store.item(meta.id).await? {
                if let (ItemState::Live, StoredContent::Inline(c)) = (record.meta.state, &record.content) {
                    sealed.push((
                        meta.id,
                        Sealed { epoch: record.key_epoch, wrapped_key: record.wrapped_key, ciphertext: c.clone() },
                    ));
                }
            }
        }
        if sealed.is_empty() {
            self.record_access(grant, None, "items.list", now).await?;
            return Ok(HashMap::new());
        }
        let refs: Vec<(&[u8; 16], &Sealed)> = sealed.iter().map(|(id, s)| (id.as_bytes(), s)).collect();
        let opened = self.open_many(grant, &refs, what, now).await?;
        Ok(sealed.iter().map(|(id, _)| *id).zip(opened).collect())
    }

    pub(crate) async fn page(&self, grant: &Grant, filter: &kidvault_store::ItemFilter) -> Result<ItemPage> {
        let items = self.store.list_items(grant.child_id(), filter).await?;
        let next_cursor = (items.len() == filter.limit as usize).then(|| items.last().map(cursor_of)).flatten();
        Ok(ItemPage { items, next_cursor })
    }

    async fn authorized_item(&self, g: &GuardianSession, id: ItemId) -> Result<(Grant, ItemRecord)> {
        let record = self.store.item(id).await?.ok_or(ServiceError::NotFound)?;
        let grant = self.authorize(Actor::Guardian(g), record.meta.child_id, Action::ReadItems).await?;
        if record.meta.state != ItemState::Live {
            return Err(ServiceError::NotFound);
        }
        Ok((grant, record))
    }

    pub(crate) async fn decrypt(
        &self,
        grant: &Grant,
        record: &ItemRecord,
        what: &str,
        now: Timestamp,
    ) -> Result<Vec<u8>> {
        let ciphertext = match &record.content {
            StoredContent::Inline(c) => c.clone(),
            StoredContent::Blob(loc) => self.blobs.get(loc).await?.to_vec(),
        };
        let sealed = Sealed { epoch: record.key_epoch, wrapped_key: record.wrapped_key.clone(), ciphertext };
        self.open(grant, record.meta.id.as_bytes(), Some(record.meta.id), what, &sealed, now).await
    }

    pub async fn get_item(&self, g: &GuardianSession, id: ItemId, now: Timestamp) -> Result<ItemView> {
        let (grant, record) = self.authorized_item(g, id).await?;
        let spec = record.meta.kind.spec();
        let content = match spec.shape {
            // Metadata only (the audio is read from the content endpoint), but still
            // a read of the child's data: recorded like every other.
            ContentShape::Audio => {
                self.record_access(&grant, Some(id), "item.read", now).await?;
                None
            }
            ContentShape::Text => {
                let bytes = self.decrypt(&grant, &record, "item.read", now).await?;
                Some(serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned()))
            }
            ContentShape::Object | ContentShape::Vector | ContentShape::Point => {
                let bytes = self.decrypt(&grant, &record, "item.read", now).await?;
                Some(serde_json::from_slice(&bytes).map_err(|e| ServiceError::Internal(e.to_string()))?)
            }
        };
        let derived = self.store.derived_from(id).await?;
        Ok(ItemView { meta: record.meta, derived, content, media_type: spec.media_type })
    }

    /// The decrypted content of an item, with its media type. `accept` sees the
    /// content's size first: if it refuses (e.g. an unsatisfiable byte range),
    /// nothing is decrypted or recorded and `None` is returned.
    pub async fn item_content(
        &self,
        g: &GuardianSession,
        id: ItemId,
        accept: impl FnOnce(u64) -> bool,
        now: Timestamp,
    ) -> Result<Option<(&'static str, Bytes)>> {
        let (grant, record) = self.authorized_item(g, id).await?;
        if !accept(record.meta.size) {
            return Ok(None);
        }
        let bytes = self.decrypt(&grant, &record, "content.read", now).await?;
        Ok(Some((record.meta.kind.spec().media_type, Bytes::from(bytes))))
    }
}
