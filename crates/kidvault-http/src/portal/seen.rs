//! "Who has seen": every look at a child's data, in sentences. The household's
//! own looks are summarised ("You and Alex looked at 14 recordings, words or
//! places"); each look by someone at kidvault is told on its own line, with why,
//! on what permission, and a link to the record's proof. Here the guardian also
//! lets support look, for a time they choose, and ends it.
//!
//! Reading this page adds nothing to it: the household summary counts what was
//! looked at (recordings, words, places), and showing the child's name here is
//! not looking at any of those.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use chrono::{DateTime, Duration, Utc};
use kidvault_domain::ids::{ChildId, GuardianId};
use kidvault_domain::staff::{AccessPurpose, StaffRole};
use kidvault_ledger::entry::{Entry, EntryKind};
use serde::Deserialize;

use super::html::{self, html, Markup, Zone};
use super::session::{PageResult, Portal, PortalForm};
use crate::extract::{path_id, ApiPath, ApiQuery};
use crate::AppState;

/// Lines of staff access per page.
const PAGE: usize = 20;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SeenQuery {
    /// `everyone` (default), `household` or `staff`.
    who: Option<String>,
    /// 7, 30 or 0 (all time; the default).
    days: Option<i64>,
    page: Option<usize>,
}

fn parse_at(e: &Entry) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(&e.at).ok().map(|t| t.with_timezone(&Utc))
}

fn count(n: usize) -> String {
    if n == 1 {
        "one".into()
    } else {
        n.to_string()
    }
}

/// What a staff read was, as a verb and its object, counted (`n` things).
fn looked_at(what: &str, n: usize, name: &str) -> String {
    let plural = |one: &str, many: &str| if n == 1 { format!("a {one}") } else { format!("{n} {many}") };
    match what.trim_end_matches(".content") {
        "voice_recording" => format!("listened to {}", plural("recording", "recordings")),
        "intent" => format!("read {} of what the assistant understood", count(n)),
        "transcript" => format!("read {} of what {name} said", count(n)),
        "memory" => format!("read {} of the things the assistant remembered about {name}", count(n)),
        "action_log" => format!("read {} of the things the assistant did for {name}", count(n)),
        "location" => format!("saw {}", plural("place", "places")),
        "child.metadata" => format!("saw how much kidvault keeps about {name} (counts and dates, not what was said)"),
        "items.list" => {
            format!("saw the list of what kidvault keeps about {name} (dates and kinds, not what was said)")
        }
        _ => format!("read {} kidvault keeps about {name}", plural("thing", "things")),
    }
}

/// One sentence for a run of like staff looks (same person, ticket, basis, kind).
struct StaffLine {
    actor: String,
    role: Option<StaffRole>,
    purpose: Option<AccessPurpose>,
    ticket: String,
    basis: String,
    grant_until: Option<DateTime<Utc>>,
    what: String,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    entries: Vec<u64>,
    /// How many things the records name (a page of words is one record).
    things: usize,
    reviewed: Option<String>,
}

impl StaffLine {
    fn render(&self, name: &str, z: Zone) -> Markup {
        let who = self.role.map_or("Someone at kidvault", StaffRole::plain);
        let why = self.purpose.map(|p| format!(", {}", p.plain())).unwrap_or_default();
        let permission = match (self.basis.as_str(), self.grant_until) {
            ("guardian_grant", Some(until)) => format!(", with your permission until {}", z.day_month(until)),
            ("break_glass", _) => {
                ", without your permission: they overrode the usual rules, and our privacy officer reviews every such look"
                    .to_owned()
            }
            _ => String::new(),
        };
        let when = if z.day_month(self.first) == z.day_month(self.last) {
            format!("on {}", z.day_month(self.last))
        } else {
            format!("from {} to {}", z.day_month(self.first), z.day_month(self.last))
        };
        let reviewed = match self.reviewed.as_deref() {
            Some("justified") => " The privacy officer reviewed it and found it justified.",
            Some(_) => " The privacy officer reviewed it and found it was not justified.",
            None if self.basis == "break_glass" => " The privacy officer has not reviewed it yet.",
            None => "",
        };
        html! {
            li.staff-look {
                p {
                    (who) " (ticket " (self.ticket) (why) (permission) ") "
                    (looked_at(&self.what, self.things, name)) " " (when) "." (reviewed)
                }
                p.proof {
                    "How we know this record wasn't altered: record "
                    @for (n, i) in self.entries.iter().enumerate() {
                        @if n > 0 { ", " }
                        a href={ "/api/v1/ledger/entries/" (i) "/proof" } download={ "kidvault-entry-" (i) "-proof.json" } {
                            (i)
                        }
                    }
                    "."
                }
            }
        }
    }
}

/// The staff lines, newest first: consecutive like looks are one line.
fn staff_lines(entries: &[Entry], since: Option<DateTime<Utc>>) -> Vec<StaffLine> {
    let reviews: BTreeMap<&str, &str> = entries
        .iter()
        .filter(|e| e.kind == EntryKind::AccessReviewed)
        .filter_map(|e| Some((e.subjects.first()?.as_str(), e.detail.get("decision")?.as_str())))
        .collect();
    let mut lines: Vec<StaffLine> = Vec::new();
    for e in entries.iter().rev() {
        if e.kind != EntryKind::AccessRead || !e.actor.starts_with("staff:") {
            continue;
        }
        let Some(at) = parse_at(e) else { continue };
        if since.is_some_and(|s| at < s) {
            continue;
        }
        let get = |k: &str| e.detail.get(k).cloned().unwrap_or_default();
        let line = StaffLine {
            actor: e.actor.clone(),
            role: StaffRole::parse(&get("role")),
            purpose: e.purpose.as_deref().and_then(AccessPurpose::parse),
            ticket: get("ticket"),
            basis: get("basis"),
            grant_until: e
                .detail
                .get("grant_until")
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc)),
            what: get("what"),
            first: at,
            last: at,
            entries: vec![e.index],
            things: e.subjects.len().max(1),
            reviewed: reviews.get(e.index.to_string().as_str()).map(|d| (*d).to_owned()),
        };
        if let Some(prev) = lines.last_mut() {
            let same = prev.actor == line.actor
                && prev.ticket == line.ticket
                && prev.basis == line.basis
                && prev.what == line.what
                && line.basis != "break_glass";
            if same {
                prev.first = at;
                prev.entries.push(e.index);
                prev.things += line.things;
                continue;
            }
        }
        lines.push(line);
    }
    lines
}

/// How many of the child's recordings, words or places each guardian of the
/// household looked at since `since`.
fn household_looks(entries: &[Entry], since: Option<DateTime<Utc>>) -> BTreeMap<String, usize> {
    let mut seen: BTreeMap<String, std::collections::BTreeSet<&str>> = BTreeMap::new();
    for e in entries {
        if e.kind != EntryKind::AccessRead || !e.actor.starts_with("guardian:") {
            continue;
        }
        if since.is_some_and(|s| parse_at(e).is_none_or(|at| at < s)) {
            continue;
        }
        let things = seen.entry(e.actor.clone()).or_default();
        things.extend(e.subjects.iter().map(String::as_str));
    }
    seen.into_iter().map(|(who, things)| (who, things.len())).filter(|(_, n)| *n > 0).collect()
}

fn support_card(z: Zone, state: &kidvault_service::staff::SupportAccess, name: &str, id: &str, csrf: Markup) -> Markup {
    let earlier: Vec<String> = state
        .recent
        .iter()
        .filter(|g| state.active.as_ref().is_none_or(|a| a.id != g.id))
        .take(3)
        .map(|g| match g.revoked_at {
            Some(r) => format!("You allowed it on {} and ended it on {}.", z.at(g.created_at), z.at(r)),
            None => format!("You allowed it on {}; it ended on {}.", z.at(g.created_at), z.at(g.expires_at)),
        })
        .collect();
    html! {
        section.card.support {
            h3 { "Support's access to " (name) "'s data" }
            @match &state.active {
                Some(g) => {
                    p.support-on {
                        "Support can see " (name) "'s recordings, words and places until " (z.at(g.expires_at))
                        ", to help you with a question you asked. Each look is listed below."
                    }
                    form method="post" action={ "/portal/children/" (id) "/support/revoke" } {
                        (csrf) button type="submit" { "End support's access now" }
                    }
                }
                None => {
                    p.support-off {
                        "Support cannot see " (name) "'s recordings, words or places. If you ask our support team for \
                         help, you can let them look for a time you choose; you can end it at any moment."
                    }
                    form method="post" action={ "/portal/children/" (id) "/support" } {
                        (csrf)
                        label {
                            "For how long "
                            select name="hours" {
                                option value="1" { "1 hour" }
                                option value="24" selected { "24 hours" }
                                option value="72" { "3 days" }
                                option value="168" { "7 days" }
                            }
                        }
                        " "
                        button type="submit" { "Let support see " (name) "'s data" }
                    }
                }
            }
            @if !earlier.is_empty() { p.support-earlier { (earlier.join(" ")) } }
        }
    }
}

pub async fn page(
    State(state): State<AppState>,
    p: Portal,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<SeenQuery>,
) -> PageResult {
    let child_id: ChildId = path_id(&id)?;
    let now = Utc::now();
    let days = q.days.unwrap_or(0);
    if ![0, 7, 30].contains(&days) {
        return Err(super::session::PageError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_query",
            "days is 7, 30 or 0 (all)",
        ));
    }
    let who = q.who.as_deref().unwrap_or("everyone");
    if !["everyone", "household", "staff"].contains(&who) {
        return Err(super::session::PageError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_query",
            "who is everyone, household or staff",
        ));
    }
    let since = (days > 0).then(|| now - Duration::days(days));
    let child = state.vault.get_child(&p.session, child_id, now).await?;
    let entries = state.vault.activity(&p.session, child_id).await?;
    let support = state.vault.support_access(&p.session, child_id, now).await?;
    let name = child.profile.display_name.as_str();
    let period = match days {
        7 => " in the last 7 days".to_owned(),
        30 => " in the last 30 days".to_owned(),
        _ => String::new(),
    };
    let filter = |w: &str, d: i64, label: &str| {
        let on = w == who && d == days;
        html! {
            a href={ "/portal/children/" (id) "/seen?who=" (w) "&days=" (d) }
                class=[on.then_some("on")] aria-current=[on.then_some("page")] { (label) }
        }
    };
    let household = if who == "staff" {
        None
    } else {
        let looks = household_looks(&entries, since);
        let me = format!("guardian:{}", p.session.guardian_id);
        let mut names = Vec::new();
        let mut total = 0;
        for (actor, n) in &looks {
            total += n;
            if *actor == me {
                names.insert(0, "You".to_owned());
            } else {
                let gid: Option<GuardianId> = actor.strip_prefix("guardian:").and_then(|s| s.parse().ok());
                let other = match gid {
                    Some(g) => state.vault.household_guardian_name(&p.session, g).await?,
                    None => None,
                };
                names.push(other.unwrap_or_else(|| "a former member of your household".into()));
            }
        }
        Some(match names.len() {
            0 => format!("No one in your household looked at {name}'s recordings, words or places{period}."),
            _ => {
                let people = match names.as_slice() {
                    [one] => one.clone(),
                    [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
                    [] => String::new(),
                };
                let what = if total == 1 { "1 of".to_owned() } else { format!("{total} of") };
                let household = if names.len() == 1 && names[0] == "You" { "" } else { " (your household)" };
                format!("{people}{household} looked at {what} {name}'s recordings, words or places{period}.")
            }
        })
    };
    let lines = if who == "household" { None } else { Some(staff_lines(&entries, since)) };
    let page = q.page.unwrap_or(0);
    // Reads by kidvault's own processes (the retention sweep making precise
    // places approximate): no person saw them, but they were reads.
    let system = entries
        .iter()
        .filter(|e| e.kind == kidvault_ledger::entry::EntryKind::AccessRead && e.actor.starts_with("system:"))
        .filter(|e| since.is_none_or(|s| parse_at(e).is_some_and(|at| at >= s)))
        .count();
    let body = html! {
        p {
            a href="/portal" { "← Household" } " · "
            a href={ "/portal/children/" (id) } { "Voice history" } " · "
            a href={ "/portal/children/" (id) "/shared" } { "Shared with companies" } " · "
            a href={ "/portal/children/" (id) "/activity" } { "Full record" }
        }
        (support_card(p.zone(), &support, name, &id, p.who().csrf_field()))
        p.filters {
            "Show: " (filter("everyone", days, "everyone")) " · " (filter("household", days, "your household")) " · "
            (filter("staff", days, "people at kidvault")) " — " (filter(who, 7, "last 7 days")) " · "
            (filter(who, 30, "last 30 days")) " · " (filter(who, 0, "all time"))
        }
        @if let Some(sentence) = &household {
            h3 { "Your household" }
            p.household-looks { (sentence) }
        }
        @if let Some(lines) = &lines {
            h3 { "People at kidvault" }
            @if lines.is_empty() {
                p.no-staff { "No one at kidvault looked at " (name) "'s data" (period) "." }
            } @else {
                ul.staff-looks {
                    @for l in lines.iter().skip(page * PAGE).take(PAGE) { (l.render(name, p.zone())) }
                }
                @if lines.len() > (page + 1) * PAGE {
                    p {
                        a href={ "/portal/children/" (id) "/seen?who=" (who) "&days=" (days) "&page=" (page + 1) } {
                            "Older"
                        }
                    }
                }
            }
        }
        @if who == "everyone" {
            @if system > 0 {
                h3 { "kidvault's own processes" }
                p.system-looks {
                    "kidvault's retention process read " (if system == 1 { "1 of".to_owned() } else { format!("{system} of") })
                    " " (name) "'s precise places" (period) " to make them approximate, as our policy says. No person \
                     saw them."
                }
            }
            p.no-one-else {
                "No one else. Companies outside kidvault that received " (name) "'s data are on "
                a href={ "/portal/children/" (id) "/shared" } { "Shared with companies" } "."
            }
        }
    };
    Ok(html::page(StatusCode::OK, &format!("Who has seen {name}'s data"), Some(&p.who()), body))
}

#[derive(Deserialize)]
pub struct Hours {
    hours: u32,
}

pub async fn grant(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    PortalForm(p, f): PortalForm<Hours>,
) -> PageResult {
    state.vault.grant_support(&p.session, path_id(&id)?, f.hours, Utc::now()).await?;
    Ok(Redirect::to(&format!("/portal/children/{id}/seen")).into_response())
}

#[derive(Deserialize)]
pub struct Nothing {}

pub async fn revoke(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    PortalForm(p, _): PortalForm<Nothing>,
) -> PageResult {
    state.vault.revoke_support(&p.session, path_id(&id)?, Utc::now()).await?;
    Ok(Redirect::to(&format!("/portal/children/{id}/seen")).into_response())
}
