//! Who outside kidvault received a child's data, in sentences: each company,
//! why it received it, how much of what and when, and whether it has confirmed
//! deleting what it was asked to delete.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use kidvault_domain::downstream::TaskState;
use kidvault_domain::ids::ChildId;
use kidvault_service::disclosure::RegisterEntry;

use super::html::{self, esc, words, Zone};
use super::session::{PageResult, Portal};
use crate::extract::{path_id, ApiPath};
use crate::AppState;

fn recipient(z: Zone, e: &RegisterEntry, now: chrono::DateTime<Utc>) -> String {
    let what: Vec<String> = e.categories.iter().map(|s| words::category(s.category, s.items)).collect();
    let first = e.categories.iter().map(|s| s.first_at).min().unwrap_or(now);
    let last = e.categories.iter().map(|s| s.last_at).max().unwrap_or(now);
    let mut out = format!(
        r#"<li class="recipient"><p><strong>{name}</strong> ({why}) received {what}, from {first} to {last}.</p>"#,
        name = esc(&e.processor_name),
        why = esc(e.purpose.plain()),
        what = esc(&what.join(", ")),
        first = z.at(first),
        last = z.at(last),
    );
    if !e.tasks.is_empty() {
        out.push_str("<ul>");
        for t in &e.tasks {
            let asked = if t.deletion_id.is_some() {
                "Asked to delete what you deleted"
            } else {
                "Asked to delete everything it received, because you withdrew your permission"
            };
            let answer = match (t.state, t.acknowledged_at) {
                (TaskState::Acknowledged, Some(at)) => format!("it confirmed the deletion on {}", z.at(at)),
                _ if t.overdue(now) => {
                    format!("it has not confirmed yet and is late (it was due by {})", z.at(t.deadline))
                }
                _ => format!("waiting for it to confirm (due by {})", z.at(t.deadline)),
            };
            out.push_str(&format!(r#"<li class="request">{asked} on {}: {answer}.</li>"#, z.at(t.created_at)));
        }
        out.push_str("</ul>");
    }
    out.push_str("</li>");
    out
}

pub async fn register(State(state): State<AppState>, p: Portal, ApiPath(id): ApiPath<String>) -> PageResult {
    let child_id: ChildId = path_id(&id)?;
    let now = Utc::now();
    let child = state.vault.get_child(&p.session, child_id, now).await?;
    let register = state.vault.disclosure_register(&p.session, child_id).await?;
    let z = p.zone();
    let name = esc(&child.profile.display_name);
    let mut body = format!(
        r#"<p><a href="/portal">← Household</a> · <a href="/portal/children/{id}">Voice history</a> · <a href="/portal/children/{id}/consent">Consent</a></p>
<p>Every time data kidvault keeps about {name} goes to a company outside kidvault, it is written down here and in the tamper-evident log.
A company that helps run the service receives only what you let us collect; anyone else receives nothing unless you
allowed it on the consent page, and withdrawing that permission asks them to delete what they received.</p>"#
    );
    if register.received.is_empty() {
        body.push_str(&format!(r#"<p class="empty">Nobody outside kidvault has received {name}'s data.</p>"#));
    } else {
        body.push_str(r#"<h2>Shared with</h2><ul class="register">"#);
        for e in &register.received {
            body.push_str(&recipient(z, e, now));
        }
        body.push_str("</ul>");
        body.push_str(&format!(r#"<p>Nobody else has received what kidvault keeps about {name}.</p>"#));
    }
    if !register.nothing.is_empty() {
        body.push_str(r#"<h2>Received nothing</h2><ul class="register">"#);
        for p in &register.nothing {
            body.push_str(&recipient(z, p, now));
        }
        body.push_str("</ul>");
    }
    Ok(html::page(StatusCode::OK, &format!("Who received {name}'s data"), Some(&p.who()), &body))
}
