//! Item kinds and data categories.
//!
//! Every piece of child data is an item of one kind. The kind decides its data
//! category (a fideslang key), the consent scope that must be in force to collect
//! it, whether it is a source or must be derived from other items, and the shape of
//! its content. Adding a kind is one row in [`ItemKind::spec`].

use serde::{Deserialize, Serialize};

use crate::consent::ConsentScope;
use crate::ids::{ChildId, DeviceId, ItemId};
use crate::Timestamp;

/// Data categories, named by their fideslang keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum DataCategory {
    #[serde(rename = "user.biometric.voice")]
    BiometricVoice,
    #[serde(rename = "user.content")]
    Content,
    #[serde(rename = "user.location.precise")]
    LocationPrecise,
    #[serde(rename = "user.location.imprecise")]
    LocationImprecise,
    #[serde(rename = "user.childrens")]
    Childrens,
}

impl DataCategory {
    pub const ALL: [DataCategory; 5] = [
        DataCategory::BiometricVoice,
        DataCategory::Content,
        DataCategory::LocationPrecise,
        DataCategory::LocationImprecise,
        DataCategory::Childrens,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            DataCategory::BiometricVoice => "user.biometric.voice",
            DataCategory::Content => "user.content",
            DataCategory::LocationPrecise => "user.location.precise",
            DataCategory::LocationImprecise => "user.location.imprecise",
            DataCategory::Childrens => "user.childrens",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// What an item is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    VoiceRecording,
    Transcript,
    Intent,
    Embedding,
    Memory,
    ActionLog,
    Location,
}

/// Whether a kind is collected directly or derived from other items.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Collected from a device; has no sources.
    Collected,
    /// Computed from one or more items of the same child.
    Derived,
}

/// The shape its content must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentShape {
    /// PCM WAV audio (see [`crate::audio`]).
    Audio,
    /// A non-empty JSON string.
    Text,
    /// A JSON object.
    Object,
    /// A non-empty JSON array of finite numbers.
    Vector,
    /// A geolocation point (see [`crate::location`]).
    Point,
}

/// Everything the rules need to know about a kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KindSpec {
    pub category: DataCategory,
    pub scope: ConsentScope,
    pub origin: Origin,
    pub shape: ContentShape,
    pub media_type: &'static str,
}

impl ItemKind {
    pub const ALL: [ItemKind; 7] = [
        ItemKind::VoiceRecording,
        ItemKind::Transcript,
        ItemKind::Intent,
        ItemKind::Embedding,
        ItemKind::Memory,
        ItemKind::ActionLog,
        ItemKind::Location,
    ];

    pub fn spec(self) -> KindSpec {
        use ContentShape::*;
        use Origin::*;
        let (category, scope, origin, shape, media_type) = match self {
            ItemKind::VoiceRecording => {
                (DataCategory::BiometricVoice, ConsentScope::Voice, Collected, Audio, "audio/wav")
            }
            ItemKind::Transcript => {
                (DataCategory::Content, ConsentScope::Voice, Derived, Text, "text/plain; charset=utf-8")
            }
            ItemKind::Intent => (DataCategory::Content, ConsentScope::Voice, Derived, Object, "application/json"),
            ItemKind::Embedding => (DataCategory::Content, ConsentScope::Voice, Derived, Vector, "application/json"),
            ItemKind::Memory => {
                (DataCategory::Content, ConsentScope::Voice, Derived, Text, "text/plain; charset=utf-8")
            }
            ItemKind::ActionLog => (DataCategory::Content, ConsentScope::Voice, Derived, Object, "application/json"),
            ItemKind::Location => {
                (DataCategory::LocationPrecise, ConsentScope::PreciseLocation, Collected, Point, "application/json")
            }
        };
        KindSpec { category, scope, origin, shape, media_type }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::VoiceRecording => "voice_recording",
            ItemKind::Transcript => "transcript",
            ItemKind::Intent => "intent",
            ItemKind::Embedding => "embedding",
            ItemKind::Memory => "memory",
            ItemKind::ActionLog => "action_log",
            ItemKind::Location => "location",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Whether an item can still be served and derived from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemState {
    Live,
    /// A deletion covering it has been requested: not served, not derivable.
    PendingDeletion,
}

impl ItemState {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemState::Live => "live",
            ItemState::PendingDeletion => "pending_deletion",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "live" => Some(ItemState::Live),
            "pending_deletion" => Some(ItemState::PendingDeletion),
            _ => None,
        }
    }
}

/// An item's metadata: everything about it except its (sealed) content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemMeta {
    pub id: ItemId,
    pub child_id: ChildId,
    pub kind: ItemKind,
    pub category: DataCategory,
    pub state: ItemState,
    pub recorded_at: Timestamp,
    pub received_at: Timestamp,
    pub device_id: Option<DeviceId>,
    pub derived_from: Vec<ItemId>,
    /// Plaintext size in bytes.
    pub size: u64,
}

/// Why derived content is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ContentError {
    #[error("{kind} content must be {expected}")]
    Shape { kind: &'static str, expected: &'static str },
    #[error("content is larger than {max} bytes")]
    TooLarge { max: usize },
}

/// Checks JSON content of a non-audio, non-location kind and returns the bytes to
/// seal: the UTF-8 text for text kinds, compact JSON for the others.
pub fn encode_content(kind: ItemKind, content: &serde_json::Value, max_bytes: usize) -> Result<Vec<u8>, ContentError> {
    let shape_err = |expected| ContentError::Shape { kind: kind.as_str(), expected };
    let bytes = match (kind.spec().shape, content) {
        (ContentShape::Text, serde_json::Value::String(s)) if !s.trim().is_empty() => s.as_bytes().to_vec(),
        (ContentShape::Text, _) => return Err(shape_err("a non-empty string")),
        (ContentShape::Object, serde_json::Value::Object(_)) => {
            serde_json::to_vec(content).map_err(|_| shape_err("a JSON object"))?
        }
        (ContentShape::Object, _) => return Err(shape_err("a JSON object")),
        (ContentShape::Vector, serde_json::Value::Array(v))
            if !v.is_empty() && v.iter().all(|x| x.as_f64().is_some_and(f64::is_finite)) =>
        {
            serde_json::to_vec(content).map_err(|_| shape_err("an array of numbers"))?
        }
        (ContentShape::Vector, _) => return Err(shape_err("a non-empty array of numbers")),
        (ContentShape::Audio, _) => return Err(shape_err("sent to the recordings endpoint")),
        (ContentShape::Point, _) => return Err(shape_err("sent to the locations endpoint")),
    };
    if bytes.len() > max_bytes {
        return Err(ContentError::TooLarge { max: max_bytes });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kinds_and_categories_round_trip_by_name() {
        for k in ItemKind::ALL {
            assert_eq!(ItemKind::parse(k.as_str()), Some(k));
        }
        for c in DataCategory::ALL {
            assert_eq!(DataCategory::parse(c.as_str()), Some(c));
            assert_eq!(serde_json::to_value(c).unwrap(), json!(c.as_str()));
        }
        assert_eq!(ItemKind::parse("horoscope"), None);
    }

    #[test]
    fn voice_and_everything_derived_from_it_needs_the_voice_scope() {
        assert_eq!(ItemKind::VoiceRecording.spec().category, DataCategory::BiometricVoice);
        for k in ItemKind::ALL {
            let spec = k.spec();
            if spec.origin == Origin::Derived {
                assert_eq!(spec.scope, ConsentScope::Voice, "{k:?}");
            }
        }
        assert_eq!(ItemKind::Location.spec().scope, ConsentScope::PreciseLocation);
    }

    #[test]
    fn content_is_checked_against_the_kind() {
        assert_eq!(encode_content(ItemKind::Transcript, &json!("hi"), 100).unwrap(), b"hi");
        assert!(encode_content(ItemKind::Transcript, &json!({"a": 1}), 100).is_err());
        assert!(encode_content(ItemKind::Transcript, &json!(" "), 100).is_err());
        assert!(encode_content(ItemKind::Intent, &json!({"name": "play"}), 100).is_ok());
        assert!(encode_content(ItemKind::Embedding, &json!([0.1, 2]), 100).is_ok());
        assert!(encode_content(ItemKind::Embedding, &json!(["x"]), 100).is_err());
        assert_eq!(
            encode_content(ItemKind::Transcript, &json!("x".repeat(101)), 100),
            Err(ContentError::TooLarge { max: 100 })
        );
        assert!(encode_content(ItemKind::VoiceRecording, &json!("x"), 100).is_err());
    }
}
