//! A child's voice history (a timeline grouped by day, each recording playable
//! with what was derived from it beside it) and the child's activity in the
//! ledger (consents, deletions, every access) with proofs to download.

use std::collections::{BTreeMap, HashMap};

use crate::extract::ApiPath;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use kidvault_domain::ids::{ChildId, ItemId};
use kidvault_domain::item::ItemKind;
use kidvault_service::review::{PageQuery, ReviewItem};
use serde::Deserialize;

use super::html::{self, esc, when, words, Zone};
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
    let query = PageQuery { kind, from, to, cursor: q.cursor.as_deref().filter(|c| !c.is_empty()), limit: Some(60) };
    let (items, next) = state.vault.review_page(&p.session, child_id, &query, now).await?;

    let name = esc(&child.profile.display_name);
    let mut body = format!(
        r#"<p><a href="/portal">← Household</a> · <a href="/portal/children/{id}/activity">Activity &amp; access log</a> · <a href="/portal/children/{id}/locations">Locations</a> · <a href="/portal/children/{id}/seen">Who has seen it</a> · <a href="/portal/children/{id}/shared">Who received data</a> · <a href="/portal/children/{id}/consent">Consent</a> · <a href="/api/v1/children/{id}/export" download>Export everything (zip)</a></p>"#
    );
    body.push_str(&filter_form(&id, &q));
    let filter_qs = filter_query(&q);
    if !filter_qs.is_empty() {
        body.push_str(&format!(
            r#"<p><a class="danger" href="/portal/children/{id}/delete?{filter_qs}">Delete everything this filter selects…</a></p>"#
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
    if let Some(cursor) = next {
        let mut qs = filter_qs.clone();
        if !qs.is_empty() {
            qs.push('&');
        }
        body.push_str(&format!(
            r#"<p><a class="button" href="/portal/children/{id}?{qs}cursor={c}">Older →</a></p>"#,
            c = urlencode(&cursor)
        ));
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

fn filter_form(id: &str, q: &TimelineQuery) -> String {
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
<button type="submit">Show</button>
</form>"#,
        from = esc(q.from.as_deref().unwrap_or("")),
        to = esc(q.to.as_deref().unwrap_or("")),
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
<p class="meta auto-delete">Deleted automatically on {gone}, with the words and everything that came from it.</p>"#,
                t = when(z, it.meta.recorded_at),
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

/// Drawn from the points alone: no map tiles, nothing fetched from elsewhere.
fn location_plot(z: Zone, points: &[(DateTime<Utc>, f64, f64)]) -> String {
    const W: f64 = 640.0;
    const H: f64 = 400.0;
    const PAD: f64 = 24.0;
    let (mut lat0, mut lat1, mut lon0, mut lon1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (_, lat, lon) in points {
        lat0 = lat0.min(*lat);
        lat1 = lat1.max(*lat);
        lon0 = lon0.min(*lon);
        lon1 = lon1.max(*lon);
    }
    // Equirectangular, corrected for latitude, same scale on both axes.
    let k = ((lat0 + lat1) / 2.0).to_radians().cos().max(0.01);
    let (dx, dy) = (((lon1 - lon0) * k).max(1e-6), (lat1 - lat0).max(1e-6));
    let scale = ((W - 2.0 * PAD) / dx).min((H - 2.0 * PAD) / dy);
    let xy = |lat: f64, lon: f64| (PAD + (lon - lon0) * k * scale, H - PAD - (lat - lat0) * scale);
    let mut path = String::new();
    let mut dots = String::new();
    for (i, (t, lat, lon)) in points.iter().enumerate() {
        let (x, y) = xy(*lat, *lon);
        path.push_str(&format!("{}{x:.1},{y:.1}", if i == 0 { "M" } else { " L" }));
        dots.push_str(&format!(
            r##"<circle cx="{x:.1}" cy="{y:.1}" r="5" fill="#2450b2"><title>{} · {lat:.5}, {lon:.5}</title></circle>"##,
            when(z, *t)
        ));
    }
    let km = |deg: f64| deg * 111.32;
    format!(
        r##"<svg class="plot" viewBox="0 0 {W} {H}" role="img" aria-label="Plot of {n} locations, about {wkm:.1} by {hkm:.1} km" xmlns="http://www.w3.org/2000/svg">
<rect x="0" y="0" width="{W}" height="{H}" fill="#f2f4f8" stroke="#dde1ea"/>
<path d="{path}" fill="none" stroke="#8a9bbd" stroke-width="2"/>{dots}
<text x="{PAD}" y="16" font-size="12" fill="#5b6475">about {wkm:.1} km × {hkm:.1} km, north up, oldest to newest</text>
</svg>"##,
        n = points.len(),
        wkm = km(dx),
        hkm = km(dy),
    )
}

pub async fn locations(
    State(state): State<AppState>,
    p: Portal,
    ApiPath(id): ApiPath<String>,
    Query(q): Query<TimelineQuery>,
) -> PageResult {
    let child_id: ChildId = path_id(&id)?;
    let now = Utc::now();
    let child = state.vault.get_child(&p.session, child_id, now).await?;
    let z = p.zone();
    let (from, to) = q.days(z)?;
    let query = PageQuery {
        kind: Some("location"),
        from,
        to,
        cursor: q.cursor.as_deref().filter(|c| !c.is_empty()),
        limit: Some(200),
    };
    let (items, next) = state.vault.review_page(&p.session, child_id, &query, now).await?;
    let mut points: Vec<(DateTime<Utc>, f64, f64, ItemId)> = items
        .iter()
        .filter_map(|it| {
            let v: serde_json::Value = serde_json::from_str(it.text.as_deref()?).ok()?;
            Some((it.meta.recorded_at, v["lat"].as_f64()?, v["lon"].as_f64()?, it.meta.id))
        })
        .collect();
    points.reverse(); // oldest first
    let mut body = format!(
        r#"<p><a href="/portal">← Household</a> · <a href="/portal/children/{id}">Voice history</a></p>
<form method="get" action="/portal/children/{id}/locations" class="filters">
<label for="from">From</label><input id="from" name="from" type="date" value="{from}">
<label for="to">To</label><input id="to" name="to" type="date" value="{to}">
<button type="submit">Show</button></form>"#,
        from = esc(q.from.as_deref().unwrap_or("")),
        to = esc(q.to.as_deref().unwrap_or("")),
    );
    if points.is_empty() {
        body.push_str(r#"<p class="empty">No locations recorded here.</p>"#);
    } else {
        let plot: Vec<(DateTime<Utc>, f64, f64)> = points.iter().map(|(t, a, b, _)| (*t, *a, *b)).collect();
        body.push_str(&location_plot(z, &plot));
        body.push_str(&format!(
            r#"<p class="actions"><a class="danger" href="/portal/children/{id}/delete?kind=location">Delete all locations…</a></p>
<table class="locations"><thead><tr><th>When</th><th>Latitude</th><th>Longitude</th><th></th></tr></thead><tbody>"#
        ));
        for (t, lat, lon, item) in points.iter().rev() {
            body.push_str(&format!(
                r#"<tr><td>{}</td><td>{lat:.5}</td><td>{lon:.5}</td><td><a class="danger small" href="/portal/children/{id}/delete?item={item}">Delete…</a></td></tr>"#,
                when(z, *t)
            ));
        }
        body.push_str("</tbody></table>");
    }
    if let Some(cursor) = next {
        body.push_str(&format!(
            r#"<p><a class="button" href="/portal/children/{id}/locations?cursor={}">Older →</a></p>"#,
            urlencode(&cursor)
        ));
    }
    let title = format!("{}'s locations", child.profile.display_name);
    Ok(html::page(StatusCode::OK, &title, Some(&p.who()), &body))
}
