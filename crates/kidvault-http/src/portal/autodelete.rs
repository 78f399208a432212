//! The auto-delete choice for a child's recordings, on the household page:
//! don't save them, keep each for a while, or as long as the written policy
//! allows, never longer. Choices longer than the policy are shown, disabled,
//! with the reason, so a parent sees the policy's limit rather than guessing.

use axum::extract::State;
use axum::response::{IntoResponse, Redirect};
use chrono::Utc;
use kidvault_domain::entities::Child;
use serde::Deserialize;

use super::html::{html, t, Lang, Markup};
use super::session::{PageError, PageResult, Portal, PortalForm};
use crate::extract::{path_id, ApiPath};
use crate::AppState;

/// The choices a parent is offered, as (form value, days); each value's words
/// are the catalogue's `auto-delete-choice`.
const CHOICES: [(&str, Option<u32>); 5] =
    [("never", Some(0)), ("7", Some(7)), ("90", Some(90)), ("548", Some(548)), ("policy", None)];

/// What is kept now, in a sentence.
fn current(l: Lang, days: u32, chosen: Option<u32>) -> String {
    match (chosen, days) {
        (Some(0), _) | (_, 0) => t!(l, "auto-delete-now-none"),
        (None, d) => t!(l, "auto-delete-now-policy", n = d),
        (Some(_), d) => t!(l, "auto-delete-now-days", n = d),
    }
}

/// The card on the household page for one child.
pub fn card(p: &Portal, child: &Child, policy_days: u32, kept_days: u32) -> Markup {
    let id = child.id;
    let l = p.lang;
    html! {
        form.auto-delete method="post" action={ "/portal/children/" (id) "/auto-delete" } data-keep-days=(kept_days) {
            (p.who().csrf_field())
            p.meta { (current(l, kept_days, child.keep_recordings_days)) }
            label for={ "keep-" (id) } { (t!(l, "auto-delete-label")) }
            select id={ "keep-" (id) } name="keep" {
                @for (value, days) in CHOICES {
                    @let longer = days.is_some_and(|d| d > policy_days);
                    option value=(value) selected[days == child.keep_recordings_days] disabled[longer] {
                        (t!(l, "auto-delete-choice", choice = value))
                        @if longer { " " (t!(l, "auto-delete-too-long", n = policy_days)) }
                        @else if days.is_none() { " " (t!(l, "auto-delete-policy-days", n = policy_days)) }
                    }
                }
            }
            " "
            button type="submit" { (t!(l, "auto-delete-save")) }
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
    let days = CHOICES.iter().find(|(value, _)| *value == f.keep).map(|(_, days)| *days).ok_or_else(|| {
        PageError::new(axum::http::StatusCode::UNPROCESSABLE_ENTITY, "invalid_choice", "choose one of the options")
    })?;
    let child = path_id(&id)?;
    let started = state.vault.set_auto_delete(&p.session, child, days, Utc::now()).await?;
    if started.is_some() {
        crate::routes::deletions::run_deletions_now(&state);
    }
    Ok(Redirect::to(&format!("/portal#child-{child}")).into_response())
}
