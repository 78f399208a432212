//! The auto-delete choice for a child's recordings, on the household page:
//! don't save them, keep each for a while, or as long as the written policy
//! allows, never longer. Choices longer than the policy are shown, disabled,
//! with the reason, so a parent sees the policy's limit rather than guessing.

use axum::extract::State;
use axum::response::{IntoResponse, Redirect};
use chrono::Utc;
use kidvault_domain::entities::Child;
use serde::Deserialize;

use super::html::{html, Markup};
use super::session::{PageError, PageResult, Portal, PortalForm};
use crate::extract::{path_id, ApiPath};
use crate::AppState;

/// The choices a parent is offered, as (form value, days, words).
const CHOICES: [(&str, Option<u32>, &str); 5] = [
    ("never", Some(0), "Don't save recordings (answer and forget)"),
    ("7", Some(7), "Keep each recording 7 days"),
    ("90", Some(90), "Keep each recording 3 months"),
    ("548", Some(548), "Keep each recording 18 months"),
    ("policy", None, "Keep each recording as long as our policy allows"),
];

/// What is kept now, in a sentence.
fn current(days: u32, chosen: Option<u32>) -> String {
    match (chosen, days) {
        (Some(0), _) | (_, 0) => "Recordings are not saved: the device answers and forgets.".to_owned(),
        (None, d) => {
            format!("Each recording is kept {d} days (the longest our policy allows), then deleted automatically.")
        }
        (Some(_), d) => format!("Each recording is kept {d} days, then deleted automatically."),
    }
}

/// The card on the household page for one child.
pub fn card(p: &Portal, child: &Child, policy_days: u32, kept_days: u32) -> Markup {
    let id = child.id;
    html! {
        form.auto-delete method="post" action={ "/portal/children/" (id) "/auto-delete" } data-keep-days=(kept_days) {
            (p.who().csrf_field())
            p.meta { (current(kept_days, child.keep_recordings_days)) }
            label for={ "keep-" (id) } { "Auto-delete recordings" }
            select id={ "keep-" (id) } name="keep" {
                @for (value, days, words) in CHOICES {
                    @let longer = days.is_some_and(|d| d > policy_days);
                    option value=(value) selected[days == child.keep_recordings_days] disabled[longer] {
                        (words)
                        @if longer { " (longer than our policy allows: " (policy_days) " days)" }
                        @else if days.is_none() { " (" (policy_days) " days)" }
                    }
                }
            }
            " "
            button type="submit" { "Save" }
        }
    }
}

#[derive(Deserialize)]
pub struct Choice {
    keep: String,
}

pub async fn choose(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    PortalForm(p, f): PortalForm<Choice>,
) -> PageResult {
    let days = CHOICES.iter().find(|(value, _, _)| *value == f.keep).map(|(_, days, _)| *days).ok_or_else(|| {
        PageError::new(axum::http::StatusCode::UNPROCESSABLE_ENTITY, "invalid_choice", "choose one of the options")
    })?;
    let child = path_id(&id)?;
    let started = state.vault.set_auto_delete(&p.session, child, days, Utc::now()).await?;
    if started.is_some() {
        crate::routes::deletions::run_deletions_now(&state);
    }
    Ok(Redirect::to(&format!("/portal#child-{child}")).into_response())
}
