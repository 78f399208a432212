//! Who outside kidvault received a child's data, in sentences: each company,
//! why it received it, how much of what and when, and whether it has confirmed
//! deleting what it was asked to delete.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use kidvault_domain::downstream::TaskState;
use kidvault_domain::ids::ChildId;
use kidvault_service::disclosure::RegisterEntry;

use super::html::{self, html, t, words, Clock, Markup};
use super::session::{PageResult, Portal};
use crate::extract::{path_id, ApiPath};
use crate::AppState;

fn recipient(z: Clock, e: &RegisterEntry, now: chrono::DateTime<Utc>) -> Markup {
    let l = z.lang;
    let what: Vec<String> = e.categories.iter().map(|s| words::category(l, s.category, s.items)).collect();
    let first = e.categories.iter().map(|s| s.first_at).min().unwrap_or(now);
    let last = e.categories.iter().map(|s| s.last_at).max().unwrap_or(now);
    html! {
        li.recipient {
            p {
                strong { (e.processor_name) } " "
                (t!(
                    l,
                    "shared-received",
                    purpose = t!(l, "purpose", purpose = e.purpose.as_str()),
                    what = what.join(", "),
                    from = z.at(first),
                    to = z.at(last)
                ))
            }
            @if !e.tasks.is_empty() {
                ul {
                    @for t in &e.tasks {
                        li.request {
                            @let why = if t.deletion_id.is_some() { "deleted" } else { "withdrew" };
                            @let state = match (t.state, t.acknowledged_at) {
                                (TaskState::Acknowledged, Some(at)) => t!(l, "shared-confirmed", when = z.at(at)),
                                _ if t.overdue(now) => t!(l, "shared-late", when = z.at(t.deadline)),
                                _ => t!(l, "shared-waiting", when = z.at(t.deadline)),
                            };
                            (t!(l, "shared-asked", why = why, when = z.at(t.created_at), state = state))
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
    let z = p.clock();
    let l = p.lang;
    let name = child.profile.display_name.as_str();
    let body = html! {
        p {
            a href="/portal" { (t!(l, "back-household")) } " · "
            a href={ "/portal/children/" (id) } { (t!(l, "link-voice-history")) } " · "
            a href={ "/portal/children/" (id) "/consent" } { (t!(l, "link-consent")) }
        }
        p { (t!(l, "shared-intro", name = name)) }
        @if register.received.is_empty() {
            p.empty { (t!(l, "shared-nobody", name = name)) }
        } @else {
            h2 { (t!(l, "shared-with")) }
            ul.register { @for e in &register.received { (recipient(z, e, now)) } }
            p { (t!(l, "shared-nobody-else", name = name)) }
        }
        @if !register.nothing.is_empty() {
            h2 { (t!(l, "shared-received-nothing")) }
            ul.register { @for e in &register.nothing { (recipient(z, e, now)) } }
        }
    };
    Ok(html::page(l, StatusCode::OK, &t!(l, "shared-title", name = name), Some(&p.who()), body))
}
