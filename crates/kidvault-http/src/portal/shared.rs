//! Who outside kidvault received a child's data, in sentences: each company,
//! why it received it, how much of what and when, and whether it has confirmed
//! deleting what it was asked to delete.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use kidvault_domain::downstream::TaskState;
use kidvault_domain::ids::ChildId;
use kidvault_service::disclosure::RegisterEntry;

use super::html::{self, html, words, Markup, Zone};
use super::session::{PageResult, Portal};
use crate::extract::{path_id, ApiPath};
use crate::AppState;

fn recipient(z: Zone, e: &RegisterEntry, now: chrono::DateTime<Utc>) -> Markup {
    let what: Vec<String> = e.categories.iter().map(|s| words::category(s.category, s.items)).collect();
    let first = e.categories.iter().map(|s| s.first_at).min().unwrap_or(now);
    let last = e.categories.iter().map(|s| s.last_at).max().unwrap_or(now);
    html! {
        li.recipient {
            p {
                strong { (e.processor_name) } " (" (e.purpose.plain()) ") received " (what.join(", ")) ", from "
                (z.at(first)) " to " (z.at(last)) "."
            }
            @if !e.tasks.is_empty() {
                ul {
                    @for t in &e.tasks {
                        li.request {
                            @if t.deletion_id.is_some() { "Asked to delete what you deleted" } @else {
                                "Asked to delete everything it received, because you withdrew your permission"
                            }
                            " on " (z.at(t.created_at)) ": "
                            @match (t.state, t.acknowledged_at) {
                                (TaskState::Acknowledged, Some(at)) => { "it confirmed the deletion on " (z.at(at)) }
                                _ if t.overdue(now) => {
                                    "it has not confirmed yet and is late (it was due by " (z.at(t.deadline)) ")"
                                }
                                _ => { "waiting for it to confirm (due by " (z.at(t.deadline)) ")" }
                            }
                            "."
                        }
                    }
                }
            }
        }
    }
}

pub async fn register(State(state): State<AppState>, p: Portal, ApiPath(id): ApiPath<String>) -> PageResult {
    let child_id: ChildId = path_id(&id)?;
    let now = Utc::now();
    let child = state.vault.get_child(&p.session, child_id, now).await?;
    let register = state.vault.disclosure_register(&p.session, child_id).await?;
    let z = p.zone();
    let name = child.profile.display_name.as_str();
    let body = html! {
        p {
            a href="/portal" { "← Household" } " · "
            a href={ "/portal/children/" (id) } { "Voice history" } " · "
            a href={ "/portal/children/" (id) "/consent" } { "Consent" }
        }
        p {
            "Every time data kidvault keeps about " (name) " goes to a company outside kidvault, it is written down \
             here and in the tamper-evident log. A company that helps run the service receives only what you let us \
             collect; anyone else receives nothing unless you allowed it on the consent page, and withdrawing that \
             permission asks them to delete what they received."
        }
        @if register.received.is_empty() {
            p.empty { "Nobody outside kidvault has received " (name) "'s data." }
        } @else {
            h2 { "Shared with" }
            ul.register { @for e in &register.received { (recipient(z, e, now)) } }
            p { "Nobody else has received what kidvault keeps about " (name) "." }
        }
        @if !register.nothing.is_empty() {
            h2 { "Received nothing" }
            ul.register { @for e in &register.nothing { (recipient(z, e, now)) } }
        }
    };
    Ok(html::page(StatusCode::OK, &format!("Who received {name}'s data"), Some(&p.who()), body))
}
