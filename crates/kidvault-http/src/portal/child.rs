//! A child's voice history (a timeline grouped by day, each recording playable
//! with what was derived from it beside it) and the child's activity in the
//! ledger (consents, deletions, every access) with proofs to download.

use std::collections::{BTreeMap, HashMap};

use crate::extract::ApiPath;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use kidvault_domain::ids::{ChildId, DeviceId, ItemId};
use kidvault_domain::item::ItemKind;
use kidvault_service::review::{cursor_of, PageQuery, ReviewItem};
use serde::Deserialize;

use super::html::{self, esc, words, Zone};
use super::session::{urlencode, PageError, PageResult, Portal};
use crate::extract::path_id;
use crate::AppState;

/// A `YYYY-MM-DD` field as that day in the guardian's zone; empty means absent.
pub fn parse_day(field: &str, raw: Option<&str>) -> Result<Option<NaiveDate>, PageError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .filter(|d| (1970..=9999).contains(&d.year()))
            .map(Some)
            .ok_or_else(|| {
                PageError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_date",
                    format!("{field} must be a date (YYYY-MM-DD)"),
                )
            }),
    }
}

#[derive(Deserialize, Default)]
pub struct TimelineQuery {
    kind: Option<String>,
    from: Option<String>,
    to: Option<String>,
    cursor: Option<String>,
    /// The page newer than this one.
    newer: Option<String>,
    /// Only what one device sent.
    device: Option<String>,
    /// Words to look for in what was said.
    q: Option<String>,
}

type Instant = DateTime<Utc>;

/// A date filter as a half-open range of instants: from the start of `from`
/// to the end of `to` (the last day shown), both days in the guardian's zone.
pub fn day_range(
    z: Zone,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(Option<Instant>, Option<Instant>), PageError> {
    let from = parse_day("from", from)?.map(|d| z.start_of(d));
    let to = parse_day("to", to)?.map(|d| z.day_bounds(d).1);
    Ok((from, to))
}

impl TimelineQuery {
    fn days(&self, z: Zone) -> Result<(Option<Instant>, Option<Instant>), PageError> {
        day_range(z, self.from.as_deref(), self.to.as_deref())
    }
}

pub async fn timeline(
    State(state): State<AppState>,
    p: Portal,
    ApiPath(id): ApiPath<String>,
    Query(q): Query<TimelineQuery>,
) -> PageResult {
    let child_id: ChildId = path_id(&id)?;
    let now = Utc::now();
    let child = state.vault.get_child(&p.session, child_id, now).await?;
    let z = p.zone();
    let kind = q.kind.as_deref().filter(|k| !k.is_empty());
    let (from, to) = q.days(z)?;
    let device: Option<DeviceId> = match q.device.as_deref().filter(|d| !d.is_empty()) {
        Some(d) => Some(path_id(d)?),
        None => None,
    };
    let devices = state.vault.list_devices(&p.session, child_id, now).await?;
    let name = esc(&child.profile.display_name);
    let mut body = format!(
        r#"<p><a href="/portal">← Household</a> · <a href="/portal/children/{id}/activity">Activity &amp; access log</a> · <a href="/portal/children/{id}/locations">Locations</a> · <a href="/portal/children/{id}/seen">Who has seen it</a> · <a href="/portal/children/{id}/shared">Who received data</a> · <a href="/portal/children/{id}/consent">Consent</a> · <a href="/api/v1/children/{id}/export" download>Export everything (zip)</a></p>"#
    );
    body.push_str(&filter_form(&id, &q, &devices));
    if let Some(words) = q.q.as_deref().map(str::trim).filter(|w| !w.is_empty()) {
        let range = PageQuery { from, to, device, ..PageQuery::default() };
        body.push_str(&super::search::results(&state, &p, child_id, &range, words, now).await?);
        return Ok(html::page(StatusCode::OK, &format!("{name}'s voice history"), Some(&p.who()), &body));
    }
    let query = PageQuery {
        kind,
        from,
        to,
        cursor: q.cursor.as_deref().filter(|c| !c.is_empty()),
        newer: q.newer.as_deref().filter(|c| !c.is_empty()),
        device,
        limit: Some(60),
    };
    let (items, next) = state.vault.review_page(&p.session, child_id, &query, now).await?;
    let filter_qs = filter_query(&q);
    let mut delete_qs = filter_qs.clone();
    if let Some(d) = device {
        delete_qs.push_str(&format!("{}device={d}", if delete_qs.is_empty() { "" } else { "&" }));
    }
    if !delete_qs.is_empty() {
        let label = match device.and_then(|d| devices.iter().find(|v| v.device.id == d)) {
            Some(v) if filter_qs.is_empty() => format!("Delete everything {} sent…", v.name),
            _ => "Delete everything this filter selects…".to_owned(),
        };
        body.push_str(&format!(
            r#"<p><a class="danger" href="/portal/children/{id}/delete?{delete_qs}">{label}</a></p>"#,
            label = esc(&label)
        ));
    }
    if items.is_empty() {
        body.push_str(r#"<p class="empty">Nothing recorded here.</p>"#);
    }
    let tree = Tree::new(&items, z, state.vault.recording_days(&child.child));
    for (std::cmp::Reverse(day), roots) in group(&items, z) {
        body.push_str(&format!(
            r#"<section class="day" aria-label="{day}"><h2>{pretty}</h2>
<p class="actions"><a class="danger" href="/portal/children/{id}/delete?day={day}">Delete this day…</a></p><ol class="timeline">"#,
            pretty = kidvault_domain::localtime::day_title(day),
        ));
        for i in roots {
            body.push_str(&tree.render(&id, i));
        }
        body.push_str("</ol></section>");
    }
    let mut qs = filter_qs.clone();
    if let Some(d) = device {
        qs.push_str(&format!("{}device={d}", if qs.is_empty() { "" } else { "&" }));
    }
    if !qs.is_empty() {
        qs.push('&');
    }
    let mut pages = Vec::new();
    // A newer page exists unless this one is the newest (no cursor, or a
    // "newer" page that came back short).
    let paged = query.cursor.is_some() || (query.newer.is_some() && items.len() == 60);
    if let (true, Some(first)) = (paged, items.first()) {
        pages.push(format!(
            r#"<a class="button" href="/portal/children/{id}?{qs}newer={c}">← Newer</a>"#,
            c = urlencode(&cursor_of(&first.meta))
        ));
    }
    if let Some(cursor) = next {
        pages.push(format!(
            r#"<a class="button" href="/portal/children/{id}?{qs}cursor={c}">Older →</a>"#,
            c = urlencode(&cursor)
        ));
    }
    if !pages.is_empty() {
        body.push_str(&format!(r#"<nav class="pages" aria-label="Pages">{}</nav>"#, pages.join(" ")));
    }
    body.push_str(&format!(
        r#"<section class="card"><h2>Delete by kind</h2><p>Each also deletes everything that came from what it deletes.</p><p class="actions">{}</p></section>"#,
        ItemKind::ALL
            .iter()
            .map(|k| format!(
                r#"<a class="danger" href="/portal/children/{id}/delete?kind={k}">All {label}…</a>"#,
                k = k.as_str(),
                label = words::kind(*k, 2).trim_start_matches("2 ")
            ))
            .collect::<Vec<_>>()
            .join(" ")
    ));
    Ok(html::page(StatusCode::OK, &format!("{name}'s voice history"), Some(&p.who()), &body))
}

fn filter_query(q: &TimelineQuery) -> String {
    [("kind", &q.kind), ("from", &q.from), ("to", &q.to)]
        .iter()
        .filter_map(|(k, v)| v.as_deref().filter(|v| !v.is_empty()).map(|v| format!("{k}={}", urlencode(v))))
        .collect::<Vec<_>>()
        .join("&")
}

fn filter_form(id: &str, q: &TimelineQuery, devices: &[kidvault_service::devices::DeviceView]) -> String {
    let mut from_devices = String::from(r#"<option value="">All devices</option>"#);
    for d in devices {
        let sel = if q.device.as_deref() == Some(d.device.id.to_string().as_str()) { " selected" } else { "" };
        from_devices.push_str(&format!(r#"<option value="{}"{sel}>{}</option>"#, d.device.id, esc(&d.name)));
    }
    let mut kinds = String::from(r#"<option value="">Everything</option>"#);
    for k in ItemKind::ALL {
        let sel = if q.kind.as_deref() == Some(k.as_str()) { " selected" } else { "" };
        let label = words::kind(k, 2);
        kinds.push_str(&format!(
            r#"<option value="{}"{sel}>{}</option>"#,
            k.as_str(),
            esc(label.trim_start_matches("2 "))
        ));
    }
    format!(
        r#"<form method="get" action="/portal/children/{id}" class="filters">
<label for="kind">Show</label><select id="kind" name="kind">{kinds}</select>
<label for="from">From</label><input id="from" name="from" type="date" value="{from}">
<label for="to">To</label><input id="to" name="to" type="date" value="{to}">
<label for="device">Device</label><select id="device" name="device">{from_devices}</select>
<label for="q">Words said</label><input id="q" name="q" type="search" value="{words}" placeholder="moon song">
<button type="submit">Show</button>
</form>"#,
        from = esc(q.from.as_deref().unwrap_or("")),
        to = esc(q.to.as_deref().unwrap_or("")),
        words = esc(q.q.as_deref().unwrap_or("")),
    )
}

/// The page's items by day (newest first); in each day, the items whose sources
/// are not on the page (recordings, locations, orphans), newest first.
fn group(items: &[ReviewItem], z: Zone) -> BTreeMap<std::cmp::Reverse<NaiveDate>, Vec<usize>> {
    let on_page: HashMap<ItemId, usize> = items.iter().enumerate().map(|(i, it)| (it.meta.id, i)).collect();
    let mut days: BTreeMap<std::cmp::Reverse<NaiveDate>, Vec<usize>> = BTreeMap::new();
    for (i, it) in items.iter().enumerate() {
        if !it.meta.derived_from.iter().any(|s| on_page.contains_key(s)) {
            days.entry(std::cmp::Reverse(z.date(it.meta.recorded_at))).or_default().push(i);
        }
    }
    days
}

/// Lineage on one page: what each item has derived from it.
struct Tree<'a> {
    items: &'a [ReviewItem],
    derived: HashMap<ItemId, Vec<usize>>,
    z: Zone,
    /// How long this child's recordings are kept (the parent's choice or the policy's).
    keep_days: u32,
}

impl<'a> Tree<'a> {
    fn new(items: &'a [ReviewItem], z: Zone, keep_days: u32) -> Self {
        let mut derived: HashMap<ItemId, Vec<usize>> = HashMap::new();
        for (i, it) in items.iter().enumerate() {
            if let Some(src) = it.meta.derived_from.first() {
                derived.entry(*src).or_default().push(i);
            }
        }
        for v in derived.values_mut() {
            v.sort_by_key(|i| items[*i].meta.recorded_at);
        }
        Self { items, derived, z, keep_days }
    }

    fn render(&self, child: &str, i: usize) -> String {
        let it = &self.items[i];
        let id = it.meta.id;
        let z = self.z;
        let content = match (it.meta.kind, &it.text) {
            (ItemKind::VoiceRecording, _) => format!(
                r#"<audio controls preload="none" src="/api/v1/items/{id}/content" data-item="{id}" aria-label="Recording of {t}"></audio>
<p class="meta auto-delete">Deleted automatically on {gone}, with the words and everything that came from it.
<a href="/api/v1/items/{id}/content" download="recording-{file}.wav">Download the recording</a></p>"#,
                t = z.at(it.meta.recorded_at),
                file = z.file_stamp(it.meta.recorded_at),
                gone = z.on(it.meta.recorded_at + chrono::Duration::days(i64::from(self.keep_days))),
            ),
            (ItemKind::Transcript, Some(t)) => format!(r#"<blockquote class="transcript">{}</blockquote>"#, esc(t)),
            (ItemKind::Location, Some(t)) => location(t),
            (ItemKind::Embedding, _) => {
                "<p class=\"meta\">Numbers computed from the recording, to match requests (no words).</p>".to_owned()
            }
            (ItemKind::Intent, Some(t)) => format!(r#"<p class="understood">{}</p>"#, esc(&words::understood(t))),
            (ItemKind::Memory, Some(t)) => format!(r#"<p class="remembered">{}</p>"#, esc(&words::remembered(t))),
            (ItemKind::ActionLog, Some(t)) => format!(r#"<p class="did">{}</p>"#, esc(&words::action(t))),
            (_, None) => String::new(),
        };
        let mut html = format!(
            r#"<li class="item kind-{kind}" id="item-{id}"><div class="head"><span class="label">{label}</span> <time datetime="{iso}">{t}</time>
<a class="danger small" href="/portal/children/{child}/delete?item={id}" aria-label="Delete this {label} and what was derived from it">Delete…</a></div>{content}"#,
            kind = it.meta.kind.as_str(),
            label = words::kind(it.meta.kind, 1).trim_start_matches("1 "),
            iso = it.meta.recorded_at.to_rfc3339(),
            t = z.time(it.meta.recorded_at),
        );
        if let Some(children) = self.derived.get(&id) {
            html.push_str(r#"<ol class="derived">"#);
            for c in children {
                html.push_str(&self.render(child, *c));
            }
            html.push_str("</ol>");
        }
        html.push_str("</li>");
        html
    }
}

fn location(json: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    match (v["lat"].as_f64(), v["lon"].as_f64()) {
        (Some(lat), Some(lon)) => format!(r#"<p class="location">{lat:.5}, {lon:.5}</p>"#),
        _ => format!(r#"<code class="json">{}</code>"#, esc(json)),
    }
}
