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

use super::html::{self, html, words, Zone};
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
fn who(actor: &str, me: &str) -> String {
    match actor.split_once(':') {
        Some(("guardian", id)) if id == me => "You".into(),
        Some(("guardian", _)) => "Another parent in your household".into(),
        Some(("staff", _)) => "Someone at kidvault".into(),
        Some(("device", _)) => "A paired device".into(),
        Some(("system", "retention")) => "kidvault's retention process".into(),
        Some(("system", "dormancy")) => "kidvault's check for unused profiles".into(),
        Some(("system", _)) | None if actor.starts_with("system") => "kidvault".into(),
        _ => "kidvault".into(),
    }
}

/// What a look was at.
fn looked_at(what: &str, n: usize, name: &str) -> String {
    match what {
        "profile.read" => format!("{name}'s profile"),
        "timeline.read" => format!("{name}'s voice history ({})", plural(n, "record", "records")),
        "items.list" => format!("the list of {name}'s recordings and records"),
        "item.read" => format!("one of {name}'s records"),
        "content.read" => format!("one of {name}'s recordings or what was said"),
        "devices.list" => format!("{name}'s devices"),
        w if w.starts_with("export") => format!("everything kept about {name}, to download"),
        w if w.ends_with(".content") => match ItemKind::parse(w.trim_end_matches(".content")) {
            // One item, or a page of them (a staff read of several at once).
            Some(k) if n > 1 => format!("{} of {name}'s", words::kind(k, n as u64)),
            Some(k) => format!("{} of {name}'s", words::kind(k, 1).replacen("1 ", "a ", 1)),
            None => format!("{name}'s data"),
        },
        _ => format!("{name}'s data"),
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

fn scopes(list: &str) -> String {
    let named: Vec<&str> = list.split(',').filter_map(ConsentScope::parse).map(|s| words::scope(s).0).collect();
    if named.is_empty() {
        "nothing".into()
    } else {
        named.join(", ")
    }
}

fn instant(raw: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw).ok().map(|t| t.with_timezone(&Utc))
}

/// One entry as a sentence.
fn sentence(e: &Entry, me: &str, name: &str, z: Zone) -> String {
    let d = |k: &str| e.detail.get(k).map(String::as_str).unwrap_or("");
    let who = who(&e.actor, me);
    match e.kind {
        EntryKind::AccessRead => format!("{who} looked at {}.", looked_at(d("what"), e.subjects.len(), name)),
        EntryKind::ConsentGranted => {
            let how = ConsentMethod::parse(d("method")).map_or("", words::method);
            format!("{who} gave consent ({}) for: {}.", how.to_lowercase(), scopes(d("scopes")))
        }
        EntryKind::ConsentWithdrawn => format!("{who} withdrew consent for: {}.", scopes(d("scope"))),
        EntryKind::DeletionCompleted => {
            let why = DeletionReason::parse(d("reason")).map_or("", DeletionReason::plain);
            let n = e.counts.get("items").copied().unwrap_or(0);
            format!("A deletion was completed ({why}): {} deleted for good.", plural(n as usize, "thing", "things"))
        }
        EntryKind::KeyDestroyed => "The keys to what was deleted were destroyed: it can never be read again.".into(),
        EntryKind::RetentionExpired => "Data past the time our policy keeps it was deleted.".into(),
        EntryKind::DormancyNotice => {
            let on = instant(d("deletion_at")).map(|t| z.on(t)).unwrap_or_default();
            format!("{name}'s profile was not used for a long time: you were told it will be deleted on {on}.")
        }
        EntryKind::RetentionChoice => match (e.detail.get("keep_when_dormant"), e.detail.get("keep_recordings_days")) {
            (Some(k), _) if k == "true" => format!("{who} chose to keep {name}'s profile even if it is not used."),
            (Some(_), _) => format!("{who} stopped keeping {name}'s profile when it is not used."),
            (_, Some(days)) if days == "policy" => {
                format!("{who} chose to keep recordings as long as our policy allows.")
            }
            (_, Some(days)) if days == "0" => format!("{who} chose not to save {name}'s recordings."),
            (_, Some(days)) => format!("{who} chose to keep each recording {days} days."),
            _ => format!("{who} changed how long {name}'s data is kept."),
        },
        EntryKind::HouseholdClosed => "The account was closed and everything in it deleted.".into(),
        EntryKind::LedgerRollback => "Some of these records were lost when a backup was restored.".into(),
        EntryKind::DataDisclosed => {
            let n: u64 = e.counts.values().sum();
            let why = e
                .purpose
                .as_deref()
                .and_then(kidvault_domain::disclosure::Purpose::parse)
                .map_or(String::new(), |p| format!(" ({})", p.plain()));
            format!("{} received {}{why}.", d("processor"), plural(n as usize, "record", "records"))
        }
        EntryKind::DatasetCreated | EntryKind::DatasetDownloaded => {
            format!("Some of {name}'s data went into a training set, as your consent allows.")
        }
        EntryKind::ModelRegistered | EntryKind::ModelResolved => {
            "A model trained on data that was later deleted was retrained without it or destroyed.".into()
        }
        EntryKind::SupportGranted => {
            let until = instant(d("until")).map(|t| z.at(t)).unwrap_or_default();
            format!("{who} let kidvault support see {name}'s data until {until}.")
        }
        EntryKind::SupportRevoked => format!("{who} ended kidvault support's access to {name}'s data."),
        EntryKind::AccessReviewed => match d("decision") {
            "justified" => "Our privacy officer reviewed a look by kidvault staff and found it justified.".into(),
            _ => "Our privacy officer reviewed a look by kidvault staff and found it was not justified.".into(),
        },
        EntryKind::PolicyChanged => "kidvault's rules for staff access changed.".into(),
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
    let z = p.zone();
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
            a href="/portal" { "← Household" } " · "
            a href={ "/portal/children/" (id) } { "Voice history" } " · "
            a href={ "/portal/children/" (id) "/seen" } { "Who has seen it" }
        }
        p {
            "Everything that happened to " (name) "'s data, newest first: consents, choices, deletions, and every \
             time someone looked at it. Each line is signed and kept where nobody, kidvault included, can change or \
             remove it unnoticed: download a line's signed copy to check it yourself."
        }
        p.meta {
            @if include_mine {
                a href={ "/portal/children/" (id) "/activity" } { "Hide your own looks" }
            } @else {
                "Your own looks (" (own) ") are hidden. "
                a href={ "/portal/children/" (id) "/activity?mine=1" } { "Show them" }
            }
        }
        @if shown.is_empty() { p.empty { "Nothing else has happened yet." } }
        @for (std::cmp::Reverse(day), lines) in &days {
            section.day aria-label=(day) {
                h2 { (kidvault_domain::localtime::day_title(*day)) }
                ul.activity {
                    @for e in lines {
                        li data-kind=(e.kind.as_str()) {
                            time datetime=(e.at) { (instant(&e.at).map(|t| z.time(t)).unwrap_or_default()) }
                            " " (sentence(e, &me, &name, z)) " "
                            a.small href={ "/api/v1/ledger/entries/" (e.index) "/proof" }
                                download={ "kidvault-record-" (e.index) ".json" } aria-label="Signed copy of this line" {
                                "Signed copy"
                            }
                        }
                    }
                }
            }
        }
        @if pages > 1 {
            nav.pages aria-label="Pages" {
                @if page > 1 {
                    a.button href={ "/portal/children/" (id) "/activity?" (mine_qs) "page=" (page - 1) } { "← Newer" }
                    " "
                }
                "Page " (page) " of " (pages)
                @if page < pages {
                    " "
                    a.button href={ "/portal/children/" (id) "/activity?" (mine_qs) "page=" (page + 1) } { "Older →" }
                }
            }
        }
    };
    Ok(html::page(StatusCode::OK, &format!("What happened to {name}'s data"), Some(&p.who()), body))
}
