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

use super::html::{self, html, t, words, Clock, Lang, Markup};
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
    z: Clock,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(Option<Instant>, Option<Instant>), PageError> {
    let from = parse_day("from", from)?.map(|d| z.start_of(d));
    let to = parse_day("to", to)?.map(|d| z.day_bounds(d).1);
    Ok((from, to))
}

impl TimelineQuery {
    fn days(&self, z: Clock) -> Result<(Option<Instant>, Option<Instant>), PageError> {
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
    let z = p.clock();
    let l = p.lang;
    let kind = q.kind.as_deref().filter(|k| !k.is_empty());
    let (from, to) = q.days(z)?;
    let device: Option<DeviceId> = match q.device.as_deref().filter(|d| !d.is_empty()) {
        Some(d) => Some(path_id(d)?),
        None => None,
    };
    let devices = state.vault.list_devices(&p.session, child_id, now).await?;
    let name = child.profile.display_name.as_str();
    let title = t!(l, "timeline-title", name = name);
    let links = html! {
        p {
            a href="/portal" { (t!(l, "back-household")) } " · "
            a href={ "/portal/children/" (id) "/activity" } { (t!(l, "link-activity")) } " · "
            a href={ "/portal/children/" (id) "/locations" } { (t!(l, "link-locations")) } " · "
            a href={ "/portal/children/" (id) "/seen" } { (t!(l, "link-seen")) } " · "
            a href={ "/portal/children/" (id) "/shared" } { (t!(l, "link-shared")) } " · "
            a href={ "/portal/children/" (id) "/consent" } { (t!(l, "link-consent")) } " · "
            a href={ "/api/v1/children/" (id) "/export" } download { (t!(l, "link-export-everything")) }
        }
        (filter_form(l, &id, &q, &devices))
    };
    if let Some(words) = q.q.as_deref().map(str::trim).filter(|w| !w.is_empty()) {
        let range = PageQuery { from, to, device, ..PageQuery::default() };
        let found = super::search::results(&state, &p, child_id, &range, words, now).await?;
        return Ok(html::page(l, StatusCode::OK, &title, Some(&p.who()), html! { (links) (found) }));
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
    let delete_label = match device.and_then(|d| devices.iter().find(|v| v.device.id == d)) {
        Some(v) if filter_qs.is_empty() => t!(l, "timeline-delete-device", device = &v.name),
        _ => t!(l, "timeline-delete-filter"),
    };
    let tree = Tree::new(&items, z, state.vault.recording_days(&child.child));
    let mut qs = filter_qs.clone();
    if let Some(d) = device {
        qs.push_str(&format!("{}device={d}", if qs.is_empty() { "" } else { "&" }));
    }
    if !qs.is_empty() {
        qs.push('&');
    }
    // A newer page exists unless this one is the newest (no cursor, or a
    // "newer" page that came back short).
    let paged = query.cursor.is_some() || (query.newer.is_some() && items.len() == 60);
    let newer = items.first().filter(|_| paged).map(|first| cursor_of(&first.meta));
    let body = html! {
        (links)
        @if !delete_qs.is_empty() {
            p { a.danger href={ "/portal/children/" (id) "/delete?" (delete_qs) } { (delete_label) } }
        }
        @if items.is_empty() { p.empty { (t!(l, "timeline-empty")) } }
        @for (std::cmp::Reverse(day), roots) in group(&items, z) {
            section.day aria-label=(day) {
                h2 { (z.day_title(day)) }
                p.actions {
                    a.danger href={ "/portal/children/" (id) "/delete?day=" (day) } { (t!(l, "timeline-delete-day")) }
                }
                ol.timeline { @for i in roots { (tree.render(&id, i)) } }
            }
        }
        @if newer.is_some() || next.is_some() {
            nav.pages aria-label=(t!(l, "pages-label")) {
                @if let Some(c) = &newer {
                    a.button href={ "/portal/children/" (id) "?" (qs) "newer=" (urlencode(c)) } { (t!(l, "pages-newer")) }
                }
                @if newer.is_some() && next.is_some() { " " }
                @if let Some(c) = &next {
                    a.button href={ "/portal/children/" (id) "?" (qs) "cursor=" (urlencode(c)) } { (t!(l, "pages-older")) }
                }
            }
        }
        section.card {
            h2 { (t!(l, "timeline-delete-by-kind")) }
            p { (t!(l, "timeline-delete-by-kind-text")) }
            p.actions {
                @for (n, k) in ItemKind::ALL.iter().enumerate() {
                    @if n > 0 { " " }
                    a.danger href={ "/portal/children/" (id) "/delete?kind=" (k.as_str()) } {
                        (t!(l, "timeline-delete-all-of", kind = words::kind_plural(l, *k)))
                    }
                }
            }
        }
    };
    Ok(html::page(l, StatusCode::OK, &title, Some(&p.who()), body))
}

fn filter_query(q: &TimelineQuery) -> String {
    [("kind", &q.kind), ("from", &q.from), ("to", &q.to)]
        .iter()
        .filter_map(|(k, v)| v.as_deref().filter(|v| !v.is_empty()).map(|v| format!("{k}={}", urlencode(v))))
        .collect::<Vec<_>>()
        .join("&")
}

fn filter_form(l: Lang, id: &str, q: &TimelineQuery, devices: &[kidvault_service::devices::DeviceView]) -> Markup {
    html! {
        form.filters method="get" action={ "/portal/children/" (id) } {
            label for="kind" { (t!(l, "filter-show")) }
            select #kind name="kind" {
                option value="" { (t!(l, "filter-everything")) }
                @for k in ItemKind::ALL {
                    option value=(k.as_str()) selected[q.kind.as_deref() == Some(k.as_str())] {
                        (words::kind_plural(l, k))
                    }
                }
            }
            label for="from" { (t!(l, "filter-from")) }
            input #from name="from" type="date" value=(q.from.as_deref().unwrap_or(""));
            label for="to" { (t!(l, "filter-to")) }
            input #to name="to" type="date" value=(q.to.as_deref().unwrap_or(""));
            label for="device" { (t!(l, "filter-device")) }
            select #device name="device" {
                option value="" { (t!(l, "filter-all-devices")) }
                @for d in devices {
                    option value=(d.device.id) selected[q.device.as_deref() == Some(d.device.id.to_string().as_str())] {
                        (d.name)
                    }
                }
            }
            label for="q" { (t!(l, "filter-words")) }
            input #q name="q" type="search" value=(q.q.as_deref().unwrap_or("")) placeholder=(t!(l, "filter-words-example"));
            button type="submit" { (t!(l, "filter-show")) }
        }
    }
}

/// The page's items by day (newest first); in each day, the items whose sources
/// are not on the page (recordings, locations, orphans), newest first.
fn group(items: &[ReviewItem], z: Clock) -> BTreeMap<std::cmp::Reverse<NaiveDate>, Vec<usize>> {
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
    z: Clock,
    /// How long this child's recordings are kept (the parent's choice or the policy's).
    keep_days: u32,
}

impl<'a> Tree<'a> {
    fn new(items: &'a [ReviewItem], z: Clock, keep_days: u32) -> Self {
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

    fn render(&self, child: &str, i: usize) -> Markup {
        let it = &self.items[i];
        let id = it.meta.id;
        let z = self.z;
        let l = z.lang;
        let label = words::kind_one(l, it.meta.kind);
        let content = match (it.meta.kind, &it.text) {
            (ItemKind::VoiceRecording, _) => html! {
                audio controls preload="none" src={ "/api/v1/items/" (id) "/content" } data-item=(id)
                    aria-label=(t!(l, "timeline-recording-of", when = z.at(it.meta.recorded_at))) {}
                p.meta.auto-delete {
                    (t!(
                        l,
                        "timeline-auto-deleted",
                        date = z.on(it.meta.recorded_at + chrono::Duration::days(i64::from(self.keep_days)))
                    ))
                    " "
                    a href={ "/api/v1/items/" (id) "/content" }
                        download={ (t!(l, "timeline-file-recording")) "-" (z.file_stamp(it.meta.recorded_at)) ".wav" } {
                        (t!(l, "timeline-download"))
                    }
                }
            },
            (ItemKind::Transcript, Some(t)) => html! { blockquote.transcript { (t) } },
            (ItemKind::Location, Some(t)) => location(t),
            (ItemKind::Embedding, _) => {
                html! { p.meta { (t!(l, "timeline-embedding")) } }
            }
            (ItemKind::Intent, Some(t)) => html! { p.understood { (words::understood(l, t)) } },
            (ItemKind::Memory, Some(t)) => html! { p.remembered { (words::remembered(l, t)) } },
            (ItemKind::ActionLog, Some(t)) => html! { p.did { (words::action(l, t)) } },
            (_, None) => html! {},
        };
        html! {
            li class={ "item kind-" (it.meta.kind.as_str()) } id={ "item-" (id) } {
                div.head {
                    span.label { (label) } " "
                    time datetime=(it.meta.recorded_at.to_rfc3339()) { (z.time(it.meta.recorded_at)) } " "
                    a.danger.small href={ "/portal/children/" (child) "/delete?item=" (id) }
                        aria-label=(t!(l, "timeline-delete-item-label", kind = &label)) {
                        (t!(l, "timeline-delete-item"))
                    }
                }
                (content)
                @if let Some(children) = self.derived.get(&id) {
                    ol.derived { @for c in children { (self.render(child, *c)) } }
                }
            }
        }
    }
}

fn location(json: &str) -> Markup {
    let v: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    match (v["lat"].as_f64(), v["lon"].as_f64()) {
        (Some(lat), Some(lon)) => html! { p.location { (format!("{lat:.5}, {lon:.5}")) } },
        _ => html! { code.json { (json) } },
    }
}
