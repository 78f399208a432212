//! Device ingest. Order of every request: authenticate the device (done by the
//! caller), authorize collection for the scope the kind needs (consent re-read on
//! every request), parse the content, seal it under a fresh data key, write the
//! ciphertext (blob first for audio), then the item row with its lineage. A refused
//! request writes nothing; the item row is the acknowledgement, and it commits only
//! after its blob is durable.

use bytes::Bytes;
use kidvault_domain::audio::parse_wav;
use kidvault_domain::consent::ConsentScope;
use kidvault_domain::ids::ItemId;
use kidvault_domain::item::{encode_content, ContentShape, DataCategory, ItemKind, ItemMeta, ItemState};
use kidvault_domain::location::Point;
use kidvault_domain::Timestamp;
use kidvault_store::{ItemRecord, StoredContent};

use crate::access::{Action, Actor, DeviceSession, Grant};
use crate::{Result, ServiceError, Vault};

/// What was stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ingested {
    pub item_id: ItemId,
    pub kind: ItemKind,
    pub category: DataCategory,
    pub recorded_at: Timestamp,
    /// Locations: `precise`, or the approximate cell it was stored as (`geohash5`).
    pub precision: Option<String>,
}

mod erased_json {
    use crate::{Result, ServiceError};

    /// Serializes any of the location shapes (a trait object, so both fit one closure).
    pub trait ToJson {
        fn to_json(&self) -> Result<Vec<u8>>;
    }

    impl<T: serde::Serialize> ToJson for T {
        fn to_json(&self) -> Result<Vec<u8>> {
            serde_json::to_vec(self).map_err(|e| ServiceError::Internal(e.to_string()))
        }
    }
}

/// A derived item as a device submits it (unparsed).
#[derive(Clone, Copy, Debug)]
pub struct NewDerived<'a> {
    pub kind: &'a str,
    /// Ids of the items it was computed from.
    pub derived_from: &'a [String],
    pub content: &'a serde_json::Value,
    pub recorded_at: Option<Timestamp>,
}

/// Earliest acceptable `recorded_at`: anything before is a broken device clock.
const EPOCH_FLOOR: i64 = 946_684_800; // 2000-01-01

impl Vault {
    fn recorded_at(&self, recorded_at: Option<Timestamp>, now: Timestamp) -> Result<Timestamp> {
        let t = recorded_at.unwrap_or(now);
        if t > now + self.config.clock_skew || t.timestamp() < EPOCH_FLOOR {
            return Err(ServiceError::invalid(
                "invalid_recorded_at",
                "recorded_at must not be in the future or before 2000",
            ));
        }
        Ok(t)
    }

    /// A voice recording: `audio/wav`, decoded to prove it is PCM audio.
    pub async fn ingest_recording(
        &self,
        d: &DeviceSession,
        child: kidvault_domain::ids::ChildId,
        wav: Bytes,
        recorded_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<Ingested> {
        let kind = ItemKind::VoiceRecording;
        let grant = self.authorize(Actor::Device(d), child, Action::Collect(kind.spec().scope)).await?;
        if grant.child().child.keep_recordings_days == Some(0) {
            return Err(ServiceError::Conflict {
                code: "recordings_not_kept",
                message: "this child's parent chose not to keep recordings: send the audio to \
                          POST /api/v1/children/{id}/ephemeral, which answers and keeps nothing"
                    .into(),
            });
        }
        let recorded_at = self.recorded_at(recorded_at, now)?;
        parse_wav(&wav, self.config.audio).map_err(|e| {
            use kidvault_domain::audio::AudioError as E;
            match e {
                E::TooLarge { .. } => ServiceError::TooLarge { code: "recording_too_large", message: e.to_string() },
                E::TooLong { .. } => ServiceError::invalid("recording_too_long", e),
                E::Unsupported => ServiceError::invalid("unsupported_audio", e),
                E::NotWav(_) | E::Empty | E::Truncated => ServiceError::invalid("invalid_audio", e),
            }
        })?;
        self.store_item(&grant, d, kind, Vec::new(), &wav, recorded_at, now).await
    }

    /// A derived item (transcript, intent, embedding, memory, action log).
    pub async fn ingest_derived(
        &self,
        d: &DeviceSession,
        child: kidvault_domain::ids::ChildId,
        new: NewDerived<'_>,
        now: Timestamp,
    ) -> Result<Ingested> {
        let NewDerived { kind, derived_from, content, recorded_at } = new;
        let kind = ItemKind::parse(kind)
            .ok_or_else(|| ServiceError::invalid("unknown_kind", format!("unknown item kind {kind:?}")))?;
        if matches!(kind.spec().shape, ContentShape::Audio | ContentShape::Point) {
            return Err(ServiceError::invalid(
                "unknown_kind",
                format!("{} items are sent to their own endpoint", kind.as_str()),
            ));
        }
        let grant = self.authorize(Actor::Device(d), child, Action::Collect(kind.spec().scope)).await?;
        let recorded_at = self.recorded_at(recorded_at, now)?;
        let sources = derived_from
            .iter()
            .map(|s| {
                s.parse::<ItemId>().map_err(|_| {
                    ServiceError::invalid("invalid_derived_from", format!("derived_from item {s:?} is not an item id"))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let bytes = encode_content(kind, content, self.config.max_item_bytes).map_err(|e| match e {
            kidvault_domain::item::ContentError::TooLarge { .. } => {
                ServiceError::TooLarge { code: "content_too_large", message: e.to_string() }
            }
            _ => ServiceError::invalid("invalid_content", e),
        })?;
        self.store_item(&grant, d, kind, sources, &bytes, recorded_at, now).await
    }

    /// A location fix. With the precise-location scope it is stored precisely
    /// (and made approximate after the policy's period by the sweep); with only
    /// the approximate-location scope it is made approximate before it is
    /// stored, so the precise point never reaches disk; with neither, refused.
    pub async fn ingest_location(
        &self,
        d: &DeviceSession,
        child: kidvault_domain::ids::ChildId,
        (lat, lon, accuracy_m): (f64, f64, f64),
        recorded_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<Ingested> {
        let kind = ItemKind::Location;
        let (grant, precise) =
            match self.authorize(Actor::Device(d), child, Action::Collect(ConsentScope::PreciseLocation)).await {
                Ok(g) => (g, true),
                Err(ServiceError::Forbidden { .. }) => (
                    self.authorize(Actor::Device(d), child, Action::Collect(ConsentScope::ApproximateLocation)).await?,
                    false,
                ),
                Err(e) => return Err(e),
            };
        let recorded_at = self.recorded_at(recorded_at, now)?;
        let point = Point::parse(lat, lon, accuracy_m).map_err(|e| ServiceError::invalid("invalid_location", e))?;
        let json = |v: &dyn erased_json::ToJson| v.to_json();
        let (bytes, category, precision) = if precise {
            (json(&point)?, DataCategory::LocationPrecise, "precise".to_owned())
        } else {
            let p = self.config.retention.location.coarse_precision;
            (json(&point.coarsen(p))?, DataCategory::LocationImprecise, format!("geohash{p}"))
        };
        let mut stored = self.store_item_as(&grant, d, kind, category, Vec::new(), &bytes, recorded_at, now).await?;
        stored.precision = Some(precision);
        Ok(stored)
    }

    #[allow(clippy::too_many_arguments)]
    async fn store_item(
        &self,
        grant: &Grant,
        d: &DeviceSession,
        kind: ItemKind,
        derived_from: Vec<ItemId>,
        plaintext: &[u8],
        recorded_at: Timestamp,
        now: Timestamp,
    ) -> Result<Ingested> {
        self.store_item_as(grant, d, kind, kind.spec().category, derived_from, plaintext, recorded_at, now).await
    }

    /// Stores an item under `category` (a kind's own, or, for a location made
    /// approximate, the imprecise one).
    #[allow(clippy::too_many_arguments)]
    async fn store_item_as(
        &self,
        grant: &Grant,
        d: &DeviceSession,
        kind: ItemKind,
        category: DataCategory,
        derived_from: Vec<ItemId>,
        plaintext: &[u8],
        recorded_at: Timestamp,
        now: Timestamp,
    ) -> Result<Ingested> {
        self.admit_collection(now)?;
        let store = || self.try_store_item(grant, d, kind, category, &derived_from, plaintext, recorded_at, now);
        let stored = match store().await {
            // A rotation retired the key this was sealed under: re-seal once under
            // the current key (never keep data under an epoch about to be destroyed).
            Err(ServiceError::Stale) => {
                self.keys.forget(grant.child_id());
                store().await
            }
            other => other,
        };
        if let Err(ServiceError::InsufficientStorage(_)) = stored {
            self.storage_full(now);
        }
        stored
    }

    #[allow(clippy::too_many_arguments)]
    async fn try_store_item(
        &self,
        grant: &Grant,
        d: &DeviceSession,
        kind: ItemKind,
        category: DataCategory,
        derived_from: &[ItemId],
        plaintext: &[u8],
        recorded_at: Timestamp,
        now: Timestamp,
    ) -> Result<Ingested> {
        // The data key is durable in the keystore before the item's row is
        // written: an item never exists without its key.
        let (id, sealed) = self.keys.seal_new_item(grant.child_id(), now, plaintext).await?;
        let content = if kind.spec().shape == ContentShape::Audio {
            StoredContent::Blob(self.blobs.put(id.0, Bytes::from(sealed.ciphertext)).await?)
        } else {
            StoredContent::Inline(sealed.ciphertext)
        };
        let record = ItemRecord {
            meta: ItemMeta {
                id,
                child_id: grant.child_id(),
                kind,
                category,
                state: ItemState::Live,
                recorded_at,
                received_at: now,
                device_id: Some(d.device_id()),
                derived_from: derived_from.to_vec(),
                size: plaintext.len() as u64,
            },
            key_epoch: sealed.epoch,
            wrapped_key: sealed.wrapped_key,
            content,
        };
        if let Err(e) = self.store.insert_item(&record).await {
            // Refused: its data key goes, and with it any copy of the bytes.
            let _ = self.keys.destroy_items(&[id]).await;
            if let StoredContent::Blob(loc) = &record.content {
                let _ = self.blobs.delete(loc).await;
            }
            return Err(match e {
                kidvault_store::StoreError::StaleKeyEpoch => ServiceError::Stale,
                e => e.into(),
            });
        }
        Ok(Ingested { item_id: id, kind, category, recorded_at, precision: None })
    }
}
