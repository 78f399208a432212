//! Where a child's device was, as a parent reads it: repeats of one place
//! merged ("12 times between 8:55 am and 4:55 pm"), approximate places drawn
//! as the areas they are ("somewhere in this ~5 km area"), and for precise
//! points, until when they stay precise. Drawn from the points alone: no map
//! tiles, nothing fetched from elsewhere.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use kidvault_domain::ids::{ChildId, ItemId};
use kidvault_service::review::PageQuery;
use serde::Deserialize;

use super::html::{self, html, t, Clock, Lang, Markup};
use super::session::{urlencode, PageResult, Portal};
use crate::extract::{path_id, ApiPath};
use crate::AppState;

#[derive(Deserialize, Default)]
pub struct LocationsQuery {
    from: Option<String>,
    to: Option<String>,
    cursor: Option<String>,
}

/// One place, however many times the device was there.
struct Place {
    lat: f64,
    lon: f64,
    /// Metres: the fix's accuracy, or for an approximate place its cell's reach.
    accuracy_m: f64,
    approximate: bool,
    times: Vec<DateTime<Utc>>,
    items: Vec<ItemId>,
}

impl Place {
    fn first(&self) -> DateTime<Utc> {
        self.times.iter().min().copied().unwrap_or_default()
    }
    fn last(&self) -> DateTime<Utc> {
        self.times.iter().max().copied().unwrap_or_default()
    }

    /// "Somewhere in this ~5 km area" or "Here (within 8 m)".
    fn what(&self, l: Lang) -> String {
        if self.approximate {
            t!(
                l,
                "places-area",
                km = format!("{:.0}", (self.accuracy_m * 2.0 / 1000.0).max(1.0)),
                lat = format!("{:.2}", self.lat),
                lon = format!("{:.2}", self.lon)
            )
        } else {
            t!(
                l,
                "places-point",
                lat = format!("{:.5}", self.lat),
                lon = format!("{:.5}", self.lon),
                m = format!("{:.0}", self.accuracy_m)
            )
        }
    }

    /// "Once, 30 Nov 2026, 8:55 am PST", "12 times between 8:55 am and 4:55 pm
    /// on 30 November 2026", or across days "12 times between 2 November 2026 and 28 November 2026".
    fn when(&self, z: Clock) -> String {
        let (first, last) = (self.first(), self.last());
        let l = z.lang;
        match self.times.len() {
            1 => t!(l, "places-once", when = z.at(first)),
            n if z.date(first) == z.date(last) => {
                t!(l, "places-times-day", n = n, from = z.time(first), to = z.time(last), day = z.on(first))
            }
            n => t!(l, "places-times", n = n, from = z.on(first), to = z.on(last)),
        }
    }
}

/// Groups points into places: an approximate cell is one place; precise
/// points within about 10 m of each other (4 decimals) are one place.
fn places(points: Vec<(DateTime<Utc>, serde_json::Value, ItemId)>) -> Vec<Place> {
    let mut by_key: BTreeMap<String, Place> = BTreeMap::new();
    for (t, v, id) in points {
        let (Some(lat), Some(lon)) = (v["lat"].as_f64(), v["lon"].as_f64()) else { continue };
        let cell = v["cell"].as_str().map(str::to_owned);
        let key = cell.clone().unwrap_or_else(|| format!("{lat:.4},{lon:.4}"));
        let place = by_key.entry(key).or_insert_with(|| Place {
            lat,
            lon,
            accuracy_m: v["accuracy_m"].as_f64().unwrap_or(0.0),
            approximate: cell.is_some(),
            times: Vec::new(),
            items: Vec::new(),
        });
        place.times.push(t);
        place.items.push(id);
    }
    let mut out: Vec<Place> = by_key.into_values().collect();
    out.sort_by_key(|p| std::cmp::Reverse(p.last()));
    out
}

/// The places drawn to scale: approximate ones as the areas they are.
fn plot(z: Clock, places: &[Place]) -> Markup {
    let l = z.lang;
    const W: f64 = 640.0;
    const H: f64 = 400.0;
    const PAD: f64 = 24.0;
    let deg = |m: f64| m / 111_320.0;
    let (mut lat0, mut lat1, mut lon0, mut lon1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for p in places {
        let r = deg(if p.approximate { p.accuracy_m } else { 0.0 });
        lat0 = lat0.min(p.lat - r);
        lat1 = lat1.max(p.lat + r);
        lon0 = lon0.min(p.lon - r);
        lon1 = lon1.max(p.lon + r);
    }
    // Equirectangular, corrected for latitude, same scale on both axes.
    let k = ((lat0 + lat1) / 2.0).to_radians().cos().max(0.01);
    let (dx, dy) = (((lon1 - lon0) * k).max(1e-6), (lat1 - lat0).max(1e-6));
    let scale = ((W - 2.0 * PAD) / dx).min((H - 2.0 * PAD) / dy);
    let xy = |lat: f64, lon: f64| (PAD + (lon - lon0) * k * scale, H - PAD - (lat - lat0) * scale);
    let km = |d: f64| d * 111.32;
    let (wkm, hkm) = (format!("{:.1}", km(dx)), format!("{:.1}", km(dy)));
    let one = |v: f64| format!("{v:.1}");
    html! {
        svg.plot viewBox={ "0 0 " (W) " " (H) } role="img"
            aria-label=(t!(l, "places-map-label", n = places.len(), w = wkm.as_str(), h = hkm.as_str()))
            xmlns="http://www.w3.org/2000/svg" {
            rect x="0" y="0" width=(W) height=(H) fill="#f2f4f8" stroke="#dde1ea" {}
            @for p in places {
                @let (x, y) = xy(p.lat, p.lon);
                @let title = format!("{}: {}", p.what(l), p.when(z));
                @if p.approximate {
                    circle.area cx=(one(x)) cy=(one(y)) r=(one((deg(p.accuracy_m) * scale).max(6.0))) fill="#2450b2"
                        fill-opacity="0.15" stroke="#2450b2" { title { (title) } }
                } @else {
                    circle.point cx=(one(x)) cy=(one(y)) r=(one(4.0 + (p.times.len() as f64).sqrt().min(6.0)))
                        fill="#2450b2" { title { (title) } }
                }
            }
            text x=(PAD) y="16" font-size="12" fill="#5b6475" {
                (t!(l, "places-map-legend", w = wkm.as_str(), h = hkm.as_str()))
            }
        }
    }
}

pub async fn page(
    State(state): State<AppState>,
    p: Portal,
    ApiPath(id): ApiPath<String>,
    Query(q): Query<LocationsQuery>,
) -> PageResult {
    let child_id: ChildId = path_id(&id)?;
    let now = Utc::now();
    let child = state.vault.get_child(&p.session, child_id, now).await?;
    let z = p.clock();
    let l = p.lang;
    let (from, to) = super::child::day_range(z, q.from.as_deref(), q.to.as_deref())?;
    let query = PageQuery {
        kind: Some("location"),
        from,
        to,
        cursor: q.cursor.as_deref().filter(|c| !c.is_empty()),
        limit: Some(200),
        ..PageQuery::default()
    };
    let (items, next) = state.vault.review_page(&p.session, child_id, &query, now).await?;
    let points = items
        .iter()
        .filter_map(|it| Some((it.meta.recorded_at, serde_json::from_str(it.text.as_deref()?).ok()?, it.meta.id)))
        .collect();
    let places = places(points);
    let precise_for = chrono::Duration::hours(i64::from(state.vault.config().retention.location.precise_for_hours));
    let body = html! {
        p {
            a href="/portal" { (t!(l, "back-household")) } " · "
            a href={ "/portal/children/" (id) } { (t!(l, "link-voice-history")) }
        }
        p { (t!(l, "places-intro", name = &child.profile.display_name, hours = precise_for.num_hours())) }
        form.filters method="get" action={ "/portal/children/" (id) "/locations" } {
            label for="from" { (t!(l, "filter-from")) }
            input #from name="from" type="date" value=(q.from.as_deref().unwrap_or(""));
            label for="to" { (t!(l, "filter-to")) }
            input #to name="to" type="date" value=(q.to.as_deref().unwrap_or(""));
            button type="submit" { (t!(l, "filter-show")) }
        }
        @if places.is_empty() {
            p.empty { (t!(l, "places-none")) }
        } @else {
            (plot(z, &places))
            p.actions {
                a.danger href={ "/portal/children/" (id) "/delete?kind=location" } { (t!(l, "places-delete-all")) }
            }
            table.locations tabindex="0" {
                thead { tr {
                    th { (t!(l, "places-col-where")) } th { (t!(l, "places-col-when")) }
                    th { (t!(l, "places-col-exact")) } th {}
                } }
                tbody {
                    @for place in &places {
                        tr data-times=(place.times.len()) {
                            td { (place.what(l)) }
                            td { (place.when(z)) }
                            td {
                                @if place.approximate { (t!(l, "places-approximate")) } @else {
                                    (t!(l, "places-precise-until", when = z.at(place.last() + precise_for)))
                                }
                            }
                            td {
                                @if let [one] = place.items.as_slice() {
                                    a.danger.small href={ "/portal/children/" (id) "/delete?item=" (one) } {
                                        (t!(l, "timeline-delete-item"))
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(cursor) = &next {
            p {
                a.button href={ "/portal/children/" (id) "/locations?cursor=" (urlencode(cursor)) } {
                    (t!(l, "pages-older"))
                }
            }
        }
    };
    let title = t!(l, "places-title", name = &child.profile.display_name);
    Ok(html::page(l, StatusCode::OK, &title, Some(&p.who()), body))
}
