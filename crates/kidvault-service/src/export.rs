//! A guardian takes everything held about a child away: a ZIP archive streamed
//! part by part as it is built (decrypted in memory a page of items at a time,
//! never written to disk on the server), holding a README, a JSON manifest of
//! every item and its lineage both ways, the audio, transcripts as text, other
//! derived items as JSON, locations as GeoJSON and CSV, and the consent history.
//!
//! The export is one read of the child's data: one authorization, one access
//! record with the counts by kind.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use kidvault_domain::consent::Consent;
use kidvault_domain::deletion::DeletionScope;
use kidvault_domain::entities::ChildProfile;
use kidvault_domain::ids::{ChildId, ItemId};
use kidvault_domain::item::{ContentShape, ItemKind, ItemMeta};
use kidvault_domain::Timestamp;
use kidvault_i18n::t;
use kidvault_store::{ItemFilter, Sealed, StoredContent};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::access::{Action, Actor, Grant, GuardianSession, Recorded};
use crate::zipstream::ZipStream;
use crate::{Result, ServiceError, Vault};

/// An authorized, recorded export, ready to stream.
#[derive(Debug)]
pub struct Export {
    grant: Grant,
    recorded: Recorded,
    profile: ChildProfile,
    consents: Vec<Consent>,
    items: u64,
    now: Timestamp,
    /// The guardian's zone and language: `index.html` and `README.txt` are
    /// read in them.
    clock: kidvault_i18n::Clock,
}

impl Export {
    /// A file name for the download: the child's name and the day, in letters
    /// and digits only ("kidvault-Mia-2026-11-30.zip").
    pub fn file_name(&self) -> String {
        let name: String = self
            .profile
            .display_name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect::<String>()
            .split('-')
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join("-");
        let name = if name.is_empty() { "child".to_owned() } else { name };
        format!("kidvault-{name}-{}.zip", self.clock.date(self.now).format("%Y-%m-%d"))
    }
}

/// A recording as `index.html` lists it.
struct Heard {
    id: ItemId,
    at: Timestamp,
    file: String,
    words: Option<String>,
}

/// A page to open from the extracted folder: each day's recordings, newest day
/// first, playable in place, with the words heard beside each. No network.
/// Written with `maud`: every value is escaped.
fn index_html(e: &Export, mut heard: Vec<Heard>) -> String {
    use maud::{html, PreEscaped, DOCTYPE};
    let z = e.clock;
    let l = z.lang;
    heard.sort_by_key(|h| std::cmp::Reverse(h.at));
    let mut days: Vec<(chrono::NaiveDate, Vec<&Heard>)> = Vec::new();
    for h in &heard {
        let day = z.date(h.at);
        match days.last_mut() {
            Some((d, list)) if *d == day => list.push(h),
            _ => days.push((day, vec![h])),
        }
    }
    let name = e.profile.display_name.as_str();
    let style = "body{font-family:system-ui,sans-serif;max-width:46rem;margin:1rem auto;padding:0 1rem;color:#1d2330}\
                 li{margin:1rem 0;list-style:none}blockquote{margin:.3rem 0;padding-left:.8rem;border-left:3px solid \
                 #2450b2}audio{width:100%}time{color:#5b6475}";
    let page = html! {
        (DOCTYPE)
        html lang=(l.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (t!(l, "export-title", name = name)) }
                style { (PreEscaped(style)) }
            }
            body {
                h1 { (t!(l, "export-heading", name = name)) }
                p { (t!(l, "export-intro", when = z.at(e.now))) }
                @for (day, list) in &days {
                    section {
                        h2 { (z.day_title(*day)) }
                        ol {
                            @for h in list {
                                li {
                                    p { time { (z.at(h.at)) } }
                                    audio controls preload="none" src=(h.file) {}
                                    @if let Some(w) = &h.words { blockquote { (w) } }
                                }
                            }
                        }
                    }
                }
                @if heard.is_empty() { p { (t!(l, "export-none")) } }
            }
        }
    };
    page.into_string()
}

#[derive(Serialize)]
struct ManifestItem {
    id: ItemId,
    kind: ItemKind,
    category: &'static str,
    recorded_at: Timestamp,
    received_at: Timestamp,
    device_id: Option<String>,
    derived_from: Vec<ItemId>,
    derived: Vec<ItemId>,
    bytes: u64,
    file: String,
}

#[derive(Serialize)]
struct Manifest<'a> {
    format: &'static str,
    child_id: ChildId,
    display_name: &'a str,
    birth_year: i32,
    exported_at: Timestamp,
    notice_version: &'a str,
    counts: BTreeMap<&'static str, u64>,
    items: Vec<ManifestItem>,
}

#[derive(Clone, Copy)]
struct Fix {
    id: ItemId,
    at: Timestamp,
    lat: f64,
    lon: f64,
    accuracy_m: f64,
}

const PAGE: u32 = 200;

fn json<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(v).map_err(|e| ServiceError::Internal(e.to_string()))
}

/// What each file of the archive holds, in the guardian's language; the
/// data files themselves keep machine formats (ids, UTC times).
fn readme(e: &Export, notice: &str) -> String {
    let l = e.clock.lang;
    let text = t!(
        l,
        "export-readme",
        name = e.profile.display_name.as_str(),
        id = e.grant.child_id().to_string(),
        at = e.clock.at(e.now),
        notice = notice
    );
    format!("{text}\n")
}

impl Vault {
    /// Authorizes and records an export of the child; stream it with
    /// [`Vault::stream_export`].
    pub async fn export_child(&self, g: &GuardianSession, child: ChildId, now: Timestamp) -> Result<Export> {
        let grant = self.authorize(Actor::Guardian(g), child, Action::ReadItems).await?;
        let counts = self.store.preview_deletion(grant.child_id(), &DeletionScope::Child).await?;
        let items = counts.iter().map(|(_, n)| n).sum();
        let named: Vec<(&str, u64)> = counts.iter().map(|(k, n)| (k.as_str(), *n)).collect();
        let recorded = self.record_bulk_read(&grant, "export", &named, now).await?;
        let record = grant.child();
        let profile_bytes = self.open_recorded(&grant, &recorded, record.child.id.as_bytes(), &record.profile).await?;
        let profile: ChildProfile = serde_json::from_slice(&profile_bytes)
            .map_err(|e| ServiceError::Internal(format!("child profile: {e}")))?;
        let consents = self.store.consents_of(grant.child_id()).await?;
        let clock = self
            .store
            .guardian(g.guardian_id)
            .await?
            .map(|r| crate::notices::reader_clock(&r.guardian))
            .unwrap_or_default();
        Ok(Export { grant, recorded, profile, consents, items, now, clock })
    }

    /// Builds the archive and sends it part by part to `out`; stops early if the
    /// receiver goes away. Memory holds one page of items and the manifest.
    pub async fn stream_export(&self, e: Export, out: mpsc::Sender<std::io::Result<Bytes>>) -> Result<()> {
        let mut zip = ZipStream::default();
        let send = |b: Bytes| {
            let out = out.clone();
            async move { out.send(Ok(b)).await.map_err(|_| ServiceError::Internal("export receiver went away".into())) }
        };
        let zipped = |r: std::result::Result<Bytes, crate::zipstream::ZipError>| {
            r.map_err(|err| ServiceError::invalid("export_too_large", err))
        };
        let now = e.now;
        send(zipped(zip.file("README.txt", now, readme(&e, &self.notice_in_force).as_bytes()))?).await?;

        let mut manifest: Vec<ManifestItem> = Vec::with_capacity(e.items as usize);
        let mut fixes: Vec<Fix> = Vec::new();
        let mut heard: Vec<Heard> = Vec::new();
        let mut words: HashMap<ItemId, String> = HashMap::new();
        let mut after: Option<(Timestamp, ItemId)> = None;
        loop {
            let filter =
                ItemFilter { kind: None, from: None, to: None, after, before: None, device: None, limit: PAGE };
            let page = self.store.list_items(e.grant.child_id(), &filter).await?;
            for meta in &page {
                let Some(record) = self.store.item(meta.id).await? else { continue };
                let ciphertext = match &record.content {
                    StoredContent::Inline(c) => c.clone(),
                    StoredContent::Blob(loc) => self.blobs.get(loc).await?.to_vec(),
                };
                let sealed = Sealed { epoch: record.key_epoch, wrapped_key: record.wrapped_key.clone(), ciphertext };
                let plain = match self.open_recorded(&e.grant, &e.recorded, meta.id.as_bytes(), &sealed).await {
                    Ok(p) => p,
                    // Deleted between the page and the read (its key is gone): not exported.
                    Err(ServiceError::NotFound) => continue,
                    Err(err) => return Err(err),
                };
                let file = file_name(meta);
                if meta.kind == ItemKind::Location {
                    if let Ok(p) = serde_json::from_slice::<kidvault_domain::location::Point>(&plain) {
                        fixes.push(Fix {
                            id: meta.id,
                            at: meta.recorded_at,
                            lat: p.lat,
                            lon: p.lon,
                            accuracy_m: p.accuracy_m,
                        });
                    }
                }
                match meta.kind {
                    ItemKind::VoiceRecording => {
                        heard.push(Heard { id: meta.id, at: meta.recorded_at, file: file.clone(), words: None })
                    }
                    ItemKind::Transcript => {
                        if let Some(source) = meta.derived_from.first() {
                            words.insert(*source, String::from_utf8_lossy(&plain).into_owned());
                        }
                    }
                    _ => {}
                }
                send(zipped(zip.file(&file, meta.recorded_at, &plain))?).await?;
                manifest.push(manifest_item(meta, file));
            }
            match page.last() {
                Some(last) if page.len() == PAGE as usize => after = Some((last.recorded_at, last.id)),
                _ => break,
            }
        }

        // Lineage the other way: what was derived from each item.
        let mut derived: HashMap<ItemId, Vec<ItemId>> = HashMap::new();
        for m in &manifest {
            for src in &m.derived_from {
                derived.entry(*src).or_default().push(m.id);
            }
        }
        for m in &mut manifest {
            m.derived = derived.remove(&m.id).unwrap_or_default();
        }
        manifest.reverse(); // oldest first
        fixes.reverse();

        for h in &mut heard {
            h.words = words.remove(&h.id);
        }
        send(zipped(zip.file("index.html", now, index_html(&e, heard).as_bytes()))?).await?;
        send(zipped(zip.file("locations.geojson", now, &json(&geojson(&fixes))?))?).await?;
        send(zipped(zip.file("locations.csv", now, csv(&fixes).as_bytes()))?).await?;
        send(zipped(zip.file("consents.json", now, &json(&e.consents)?))?).await?;
        let register = self.register_of(e.grant.child_id()).await?.to_json();
        send(zipped(zip.file("disclosures.json", now, &json(&register)?))?).await?;
        let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
        for m in &manifest {
            *counts.entry(m.kind.as_str()).or_default() += 1;
        }
        let doc = Manifest {
            format: "kidvault-export/v1",
            child_id: e.grant.child_id(),
            display_name: &e.profile.display_name,
            birth_year: e.profile.birth_year,
            exported_at: now,
            notice_version: &self.notice_in_force,
            counts,
            items: manifest,
        };
        send(zipped(zip.file("manifest.json", now, &json(&doc)?))?).await?;
        send(zipped(zip.finish())?).await?;
        Ok(())
    }
}

fn file_name(meta: &ItemMeta) -> String {
    let stamp = meta.recorded_at.format("%Y%m%dT%H%M%SZ");
    match (meta.kind, meta.kind.spec().shape) {
        (ItemKind::VoiceRecording, _) => format!("audio/{stamp}-{}.wav", meta.id),
        (ItemKind::Transcript, _) => format!("transcripts/{stamp}-{}.txt", meta.id),
        (ItemKind::Location, _) => format!("derived/location/{stamp}-{}.json", meta.id),
        (k, ContentShape::Text) => format!("derived/{}/{stamp}-{}.txt", k.as_str(), meta.id),
        (k, _) => format!("derived/{}/{stamp}-{}.json", k.as_str(), meta.id),
    }
}

fn manifest_item(meta: &ItemMeta, file: String) -> ManifestItem {
    ManifestItem {
        id: meta.id,
        kind: meta.kind,
        category: meta.category.as_str(),
        recorded_at: meta.recorded_at,
        received_at: meta.received_at,
        device_id: meta.device_id.map(|d| d.to_string()),
        derived_from: meta.derived_from.clone(),
        derived: Vec::new(),
        bytes: meta.size,
        file,
    }
}

fn geojson(fixes: &[Fix]) -> serde_json::Value {
    let features: Vec<serde_json::Value> = fixes
        .iter()
        .map(|f| {
            serde_json::json!({
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [f.lon, f.lat]},
                "properties": {"item_id": f.id, "recorded_at": f.at, "accuracy_m": f.accuracy_m},
            })
        })
        .collect();
    serde_json::json!({"type": "FeatureCollection", "features": features})
}

fn csv(fixes: &[Fix]) -> String {
    let mut out = String::from("item_id,recorded_at,lat,lon,accuracy_m\n");
    for f in fixes {
        out.push_str(&format!("{},{},{},{},{}\n", f.id, f.at.to_rfc3339(), f.lat, f.lon, f.accuracy_m));
    }
    out
}
