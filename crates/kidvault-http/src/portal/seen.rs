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

use super::html::{self, html, t, Clock, Lang, Markup};
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

/// What a staff read was, as a verb and its object, counted (`n` things).
fn looked_at(l: Lang, what: &str, n: usize, name: &str) -> String {
    let what = match what.trim_end_matches(".content") {
        w @ ("voice_recording" | "intent" | "transcript" | "memory" | "action_log" | "location") => w,
        "child.metadata" => "metadata",
        "items.list" => "list",
        _ => "other",
    };
    t!(l, "staff-looked-at", what = what, n = n, name = name)
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
    fn render(&self, name: &str, z: Clock) -> Markup {
        let l = z.lang;
        let who = t!(l, "staff-role", role = self.role.map_or("someone", StaffRole::as_str));
        let why =
            self.purpose.map(|p| format!(", {}", t!(l, "staff-purpose", purpose = p.as_str()))).unwrap_or_default();
        let permission = match (self.basis.as_str(), self.grant_until) {
            ("guardian_grant", Some(until)) => t!(l, "staff-with-permission", until = z.day_month(until)),
            ("break_glass", _) => t!(l, "staff-break-glass"),
            _ => String::new(),
        };
        let when = if z.day_month(self.first) == z.day_month(self.last) {
            t!(l, "staff-on", day = z.day_month(self.last))
        } else {
            t!(l, "staff-from-to", from = z.day_month(self.first), to = z.day_month(self.last))
        };
        let reviewed = match self.reviewed.as_deref() {
            Some("justified") => format!(" {}", t!(l, "act-reviewed-it", justified = "yes")),
            Some(_) => format!(" {}", t!(l, "act-reviewed-it", justified = "no")),
            None if self.basis == "break_glass" => format!(" {}", t!(l, "act-reviewed-it", justified = "pending")),
            None => String::new(),
        };
        html! {
            li.staff-look {
                p {
                    (t!(
                        l,
                        "staff-look",
                        who = who,
                        ticket = &self.ticket,
                        why = why,
                        permission = permission,
                        what = looked_at(l, &self.what, self.things, name),
                        when = when
                    ))
                    (reviewed)
                }
                p.proof {
                    (t!(l, "staff-proof")) " "
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

fn support_card(
    z: Clock,
    state: &kidvault_service::staff::SupportAccess,
    name: &str,
    id: &str,
    csrf: Markup,
) -> Markup {
    let l = z.lang;
    let earlier: Vec<String> = state
        .recent
        .iter()
        .filter(|g| state.active.as_ref().is_none_or(|a| a.id != g.id))
        .take(3)
        .map(|g| match g.revoked_at {
            Some(r) => t!(l, "support-earlier-ended", from = z.at(g.created_at), to = z.at(r)),
            None => t!(l, "support-earlier-expired", from = z.at(g.created_at), to = z.at(g.expires_at)),
        })
        .collect();
    html! {
        section.card.support {
            h3 { (t!(l, "support-title", name = name)) }
            @match &state.active {
                Some(g) => {
                    p.support-on { (t!(l, "support-on", name = name, until = z.at(g.expires_at))) }
                    form method="post" action={ "/portal/children/" (id) "/support/revoke" } {
                        (csrf) button type="submit" { (t!(l, "support-end")) }
                    }
                }
                None => {
                    p.support-off { (t!(l, "support-off", name = name)) }
                    form method="post" action={ "/portal/children/" (id) "/support" } {
                        (csrf)
                        label {
                            (t!(l, "support-how-long")) " "
                            select name="hours" {
                                option value="1" { (t!(l, "support-hours", n = 1)) }
                                option value="24" selected { (t!(l, "support-hours", n = 24)) }
                                option value="72" { (t!(l, "support-days", n = 3)) }
                                option value="168" { (t!(l, "support-days", n = 7)) }
                            }
                        }
                        " "
                        button type="submit" { (t!(l, "support-let", name = name)) }
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
    let l = p.lang;
    let period = match days {
        7 | 30 => t!(l, "seen-period", n = days),
        _ => String::new(),
    };
    let filter = |w: &str, d: i64, label: String| {
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
                names.insert(0, t!(l, "actor", who = "you"));
            } else {
                let gid: Option<GuardianId> = actor.strip_prefix("guardian:").and_then(|s| s.parse().ok());
                let other = match gid {
                    Some(g) => state.vault.household_guardian_name(&p.session, g).await?,
                    None => None,
                };
                names.push(other.unwrap_or_else(|| t!(l, "seen-former-member")));
            }
        }
        Some(match names.len() {
            0 => t!(l, "seen-household-none", name = name, period = &period),
            _ => {
                let people = match names.as_slice() {
                    [one] => one.clone(),
                    [rest @ .., last] => t!(l, "seen-and", rest = rest.join(", "), last = last),
                    [] => String::new(),
                };
                let only_me = names.len() == 1 && looks.contains_key(&me);
                t!(
                    l,
                    "seen-household",
                    people = people,
                    household = if only_me { "no" } else { "yes" },
                    n = total,
                    name = name,
                    period = &period
                )
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
            a href="/portal" { (t!(l, "back-household")) } " · "
            a href={ "/portal/children/" (id) } { (t!(l, "link-voice-history")) } " · "
            a href={ "/portal/children/" (id) "/shared" } { (t!(l, "seen-shared-link")) } " · "
            a href={ "/portal/children/" (id) "/activity" } { (t!(l, "seen-full-record")) }
        }
        (support_card(p.clock(), &support, name, &id, p.who().csrf_field()))
        p.filters {
            (t!(l, "seen-show")) " " (filter("everyone", days, t!(l, "seen-everyone"))) " · "
            (filter("household", days, t!(l, "seen-your-household"))) " · "
            (filter("staff", days, t!(l, "seen-staff"))) " — " (filter(who, 7, t!(l, "seen-last-days", n = 7))) " · "
            (filter(who, 30, t!(l, "seen-last-days", n = 30))) " · " (filter(who, 0, t!(l, "seen-all-time")))
        }
        @if let Some(sentence) = &household {
            h3 { (t!(l, "seen-household-title")) }
            p.household-looks { (sentence) }
        }
        @if let Some(lines) = &lines {
            h3 { (t!(l, "seen-staff-title")) }
            @if lines.is_empty() {
                p.no-staff { (t!(l, "seen-no-staff", name = name, period = &period)) }
            } @else {
                ul.staff-looks {
                    @for line in lines.iter().skip(page * PAGE).take(PAGE) { (line.render(name, p.clock())) }
                }
                @if lines.len() > (page + 1) * PAGE {
                    p {
                        a href={ "/portal/children/" (id) "/seen?who=" (who) "&days=" (days) "&page=" (page + 1) } {
                            (t!(l, "seen-older"))
                        }
                    }
                }
            }
        }
        @if who == "everyone" {
            @if system > 0 {
                h3 { (t!(l, "seen-system-title")) }
                p.system-looks { (t!(l, "seen-system", n = system, name = name, period = &period)) }
            }
            p.no-one-else {
                (t!(l, "seen-no-one-else", name = name)) " "
                a href={ "/portal/children/" (id) "/shared" } { (t!(l, "seen-shared-link")) } "."
            }
        }
    };
    Ok(html::page(l, StatusCode::OK, &t!(l, "seen-title", name = name), Some(&p.who()), body))
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
