//! A child's activity, as a story: every consent, deletion, choice and look
//! at the child's data, newest first, each in a sentence in the parent's own
//! time, with a signed copy to download. The parent's own looks are folded
//! away unless asked for (they would bury everything else), and the page is
//! paged.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use kidvault_domain::consent::{ConsentMethod, ConsentScope};
use kidvault_domain::deletion::DeletionReason;
use kidvault_domain::ids::ChildId;
use kidvault_domain::item::ItemKind;
use kidvault_ledger::entry::{Entry, EntryKind};
use serde::Deserialize;

use super::html::{self, html, t, words, Clock, Lang};
use super::session::{PageResult, Portal};
use crate::extract::{path_id, ApiPath};
use crate::AppState;

/// Lines per page.
const PAGE: usize = 50;

#[derive(Deserialize, Default)]
pub struct ActivityQuery {
    /// Any value: include the parent's own looks.
    mine: Option<String>,
    page: Option<usize>,
}

/// Who did it, as the reader says it.
fn who(l: Lang, actor: &str, me: &str) -> String {
    let key = match actor.split_once(':') {
        Some(("guardian", id)) if id == me => "you",
        Some(("guardian", _)) => "other_parent",
        Some(("staff", _)) => "staff",
        Some(("device", _)) => "device",
        Some(("system", "retention")) => "retention",
        Some(("system", "dormancy")) => "dormancy",
        _ => "kidvault",
    };
    t!(l, "actor", who = key)
}

/// What a look was at.
fn looked_at(l: Lang, what: &str, n: usize, name: &str) -> String {
    let key = match what {
        "profile.read" => "profile",
        "timeline.read" => "timeline",
        "items.list" => "items",
        "item.read" => "item",
        "content.read" => "content",
        "devices.list" => "devices",
        w if w.starts_with("export") => "export",
        w if w.ends_with(".content") => match ItemKind::parse(w.trim_end_matches(".content")) {
            // One item, or a page of them (a staff read of several at once).
            Some(k) => return t!(l, "looked-kind", kind = k.as_str(), n = n, name = name),
            None => "data",
        },
        _ => "data",
    };
    t!(l, "looked-at", what = key, n = n, name = name)
}

fn scopes(l: Lang, list: &str) -> String {
    let named: Vec<String> = list.split(',').filter_map(ConsentScope::parse).map(|s| words::scope(l, s).0).collect();
    if named.is_empty() {
        t!(l, "value-nothing")
    } else {
        named.join(", ")
    }
}

fn instant(raw: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw).ok().map(|t| t.with_timezone(&Utc))
}

/// One entry as a sentence.
fn sentence(e: &Entry, me: &str, name: &str, z: Clock) -> String {
    let l = z.lang;
    let d = |k: &str| e.detail.get(k).map(String::as_str).unwrap_or("");
    let who = who(l, &e.actor, me);
    match e.kind {
        EntryKind::AccessRead => t!(l, "act-looked", who = who, what = looked_at(l, d("what"), e.subjects.len(), name)),
        EntryKind::ConsentGranted => {
            let how = ConsentMethod::parse(d("method")).map_or(String::new(), |m| words::method(l, m));
            t!(l, "act-consent-given", who = who, how = how.to_lowercase(), scopes = scopes(l, d("scopes")))
        }
        EntryKind::ConsentWithdrawn => t!(l, "act-consent-withdrawn", who = who, scopes = scopes(l, d("scope"))),
        EntryKind::DeletionCompleted => {
            let why = DeletionReason::parse(d("reason"))
                .map_or(String::new(), |r| t!(l, "deletion-reason", reason = r.as_str()));
            let n = e.counts.get("items").copied().unwrap_or(0);
            t!(l, "act-deletion-completed", why = why, n = n)
        }
        EntryKind::KeyDestroyed => t!(l, "act-keys-destroyed"),
        EntryKind::RetentionExpired => t!(l, "act-retention-expired"),
        EntryKind::DormancyNotice => {
            let on = instant(d("deletion_at")).map(|t| z.on(t)).unwrap_or_default();
            t!(l, "act-dormancy-notice", name = name, date = on)
        }
        EntryKind::RetentionChoice => match (e.detail.get("keep_when_dormant"), e.detail.get("keep_recordings_days")) {
            (Some(k), _) if k == "true" => t!(l, "act-keep-profile", who = who, name = name),
            (Some(_), _) => t!(l, "act-stop-keeping", who = who, name = name),
            (_, Some(days)) if days == "policy" => t!(l, "act-keep-policy", who = who),
            (_, Some(days)) if days == "0" => t!(l, "act-keep-none", who = who, name = name),
            (_, Some(days)) => t!(l, "act-keep-days", who = who, days = days),
            _ => t!(l, "act-kept-changed", who = who, name = name),
        },
        EntryKind::HouseholdClosed => t!(l, "act-household-closed"),
        EntryKind::LedgerRollback => t!(l, "act-rollback"),
        EntryKind::DataDisclosed => {
            let n: u64 = e.counts.values().sum();
            let why = e
                .purpose
                .as_deref()
                .and_then(kidvault_domain::disclosure::Purpose::parse)
                .map_or(String::new(), |p| format!(" ({})", t!(l, "purpose", purpose = p.as_str())));
            t!(l, "act-disclosed", processor = d("processor"), n = n, why = why)
        }
        EntryKind::DatasetCreated | EntryKind::DatasetDownloaded => t!(l, "act-dataset", name = name),
        EntryKind::ModelRegistered | EntryKind::ModelResolved => t!(l, "act-model"),
        EntryKind::SupportGranted => {
            let until = instant(d("until")).map(|t| z.at(t)).unwrap_or_default();
            t!(l, "act-support-granted", who = who, name = name, until = until)
        }
        EntryKind::SupportRevoked => t!(l, "act-support-revoked", who = who, name = name),
        EntryKind::AccessReviewed => match d("decision") {
            "justified" => t!(l, "act-reviewed", justified = "yes"),
            _ => t!(l, "act-reviewed", justified = "no"),
        },
        EntryKind::PolicyChanged => t!(l, "act-policy-changed"),
    }
}

pub async fn page(
    State(state): State<AppState>,
    p: Portal,
    ApiPath(id): ApiPath<String>,
    Query(q): Query<ActivityQuery>,
) -> PageResult {
    let child_id: ChildId = path_id(&id)?;
    let child = state.vault.get_child(&p.session, child_id, Utc::now()).await?;
    let entries = state.vault.activity(&p.session, child_id).await?;
    let z = p.clock();
    let l = p.lang;
    let me = p.session.guardian_id.to_string();
    let mine = |e: &Entry| e.kind == EntryKind::AccessRead && e.actor == format!("guardian:{me}");
    let include_mine = q.mine.is_some();
    let own = entries.iter().filter(|e| mine(e)).count();
    let shown: Vec<&Entry> = entries.iter().rev().filter(|e| include_mine || !mine(e)).collect();
    let pages = shown.len().div_ceil(PAGE).max(1);
    let page = q.page.unwrap_or(1).clamp(1, pages);
    let name = child.profile.display_name.clone();
    // Lines of one day together, under the day's heading.
    let mut days: BTreeMap<std::cmp::Reverse<chrono::NaiveDate>, Vec<&Entry>> = BTreeMap::new();
    for e in shown.iter().skip((page - 1) * PAGE).take(PAGE) {
        let day = instant(&e.at).map(|t| z.date(t)).unwrap_or_default();
        days.entry(std::cmp::Reverse(day)).or_default().push(e);
    }
    let mine_qs = if include_mine { "mine=1&" } else { "" };
    let body = html! {
        p {
            a href="/portal" { (t!(l, "back-household")) } " · "
            a href={ "/portal/children/" (id) } { (t!(l, "link-voice-history")) } " · "
            a href={ "/portal/children/" (id) "/seen" } { (t!(l, "link-seen")) }
        }
        p { (t!(l, "activity-intro", name = &name)) }
        p.meta {
            @if include_mine {
                a href={ "/portal/children/" (id) "/activity" } { (t!(l, "activity-hide-mine")) }
            } @else {
                (t!(l, "activity-mine-hidden", n = own)) " "
                a href={ "/portal/children/" (id) "/activity?mine=1" } { (t!(l, "activity-show-mine")) }
            }
        }
        @if shown.is_empty() { p.empty { (t!(l, "activity-empty")) } }
        @for (std::cmp::Reverse(day), lines) in &days {
            section.day aria-label=(day) {
                h2 { (z.day_title(*day)) }
                ul.activity {
                    @for e in lines {
                        li data-kind=(e.kind.as_str()) {
                            time datetime=(e.at) { (instant(&e.at).map(|t| z.time(t)).unwrap_or_default()) }
                            " " (sentence(e, &me, &name, z)) " "
                            a.small href={ "/api/v1/ledger/entries/" (e.index) "/proof" }
                                download={ "kidvault-record-" (e.index) ".json" }
                                aria-label=(t!(l, "activity-signed-copy-label")) {
                                (t!(l, "activity-signed-copy"))
                            }
                        }
                    }
                }
            }
        }
        @if pages > 1 {
            nav.pages aria-label=(t!(l, "pages-label")) {
                @if page > 1 {
                    a.button href={ "/portal/children/" (id) "/activity?" (mine_qs) "page=" (page - 1) } {
                        (t!(l, "pages-newer"))
                    }
                    " "
                }
                (t!(l, "pages-of", page = page, pages = pages))
                @if page < pages {
                    " "
                    a.button href={ "/portal/children/" (id) "/activity?" (mine_qs) "page=" (page + 1) } {
                        (t!(l, "pages-older"))
                    }
                }
            }
        }
    };
    Ok(html::page(l, StatusCode::OK, &t!(l, "activity-title", name = &name), Some(&p.who()), body))
}
