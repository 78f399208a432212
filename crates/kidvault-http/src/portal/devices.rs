//! A child's devices, and pairing one as TVs do it (RFC 8628): the parent
//! types the 8 letters the device shows, names it, and it is paired; the
//! device collects its own token. The forms redirect after POST, so reloading
//! the page that says "paired" pairs nothing more.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use chrono::Utc;
use kidvault_domain::ids::{ChildId, DeviceId};
use kidvault_service::ServiceError;
use serde::Deserialize;

use super::html::{self, flash, html, t, Markup};
use super::session::{PageResult, Portal, PortalForm};
use crate::extract::{path_id, ApiPath};
use crate::AppState;

#[derive(Deserialize, Default)]
pub struct Paired {
    paired: Option<String>,
}

/// The form that pairs a device to one child (`child`), or to the child the
/// parent picks (`None`: the household's children are offered).
fn pair_form(p: &Portal, action: &str, code: &str, children: Option<Markup>, error: Option<&str>) -> Markup {
    let l = p.lang;
    html! {
        section.card.narrow #pair {
            h3 { (t!(l, "pair-title")) }
            p { (t!(l, "pair-text")) }
            @if let Some(e) = error { (flash("error", e)) }
            form method="post" action=(action) {
                (p.who().csrf_field())
                label for="user_code" { (t!(l, "pair-code")) }
                input #user_code name="code" required autocomplete="off" autocapitalize="characters" spellcheck="false"
                    maxlength="12" placeholder="WDJB-MJHT" value=(code);
                @if let Some(children) = children { (children) }
                label for="device_name" { (t!(l, "pair-name")) }
                input #device_name name="name" required maxlength="64" autocomplete="off"
                    placeholder=(t!(l, "pair-name-example"));
                button type="submit" { (t!(l, "pair-button")) }
            }
        }
    }
}

pub async fn page(
    State(state): State<AppState>,
    p: Portal,
    ApiPath(id): ApiPath<String>,
    Query(q): Query<Paired>,
) -> PageResult {
    let paired: Option<DeviceId> = q.paired.as_deref().and_then(|d| path_id(d).ok());
    view(&state, &p, &id, paired, "", None, StatusCode::OK).await
}

async fn view(
    state: &AppState,
    p: &Portal,
    id: &str,
    paired: Option<DeviceId>,
    code: &str,
    error: Option<&str>,
    status: StatusCode,
) -> PageResult {
    let z = p.clock();
    let l = p.lang;
    let child_id: ChildId = path_id(id)?;
    let now = Utc::now();
    let child = state.vault.get_child(&p.session, child_id, now).await?;
    let list = state.vault.list_devices(&p.session, child_id, now).await?;
    let name = child.profile.display_name.as_str();
    let body = html! {
        p {
            a href="/portal" { (t!(l, "back-household")) } " · "
            a href={ "/portal/children/" (id) } { (t!(l, "link-voice-history")) }
        }
        h2 { (t!(l, "devices-heading", name = name)) }
        @if let Some(d) = paired.and_then(|p| list.iter().find(|d| d.device.id == p)) {
            section.card #paired role="status" {
                h3 { (t!(l, "devices-paired", device = &d.name)) }
                p { (t!(l, "devices-paired-text", name = name)) }
            }
        }
        @if list.is_empty() {
            p.empty { (t!(l, "devices-none")) }
        } @else {
            table tabindex="0" {
                thead { tr {
                    th { (t!(l, "devices-col-device")) } th { (t!(l, "devices-col-paired")) }
                    th { (t!(l, "devices-col-status")) } th {}
                } }
                tbody {
                    @for d in &list {
                        tr data-device=(d.device.id) {
                            td {
                                (d.name) br;
                                a.danger.small href={ "/portal/children/" (id) "/delete?device=" (d.device.id) } {
                                    (t!(l, "timeline-delete-device", device = &d.name))
                                }
                            }
                            td { (z.at(d.device.created_at)) }
                            @match d.device.revoked_at {
                                Some(at) => { td { (t!(l, "devices-revoked", when = z.at(at))) } td {} }
                                None => {
                                    td { (t!(l, "devices-active")) }
                                    td {
                                        form.inline method="post" action={ "/portal/devices/" (d.device.id) "/revoke" } {
                                            (p.who().csrf_field())
                                            button.danger type="submit"
                                                aria-label=(t!(l, "devices-revoke-label", device = &d.name)) {
                                                (t!(l, "devices-revoke"))
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            p.meta { (t!(l, "devices-revoke-when")) }
        }
        (pair_form(p, &format!("/portal/children/{id}/devices"), code, None, error))
    };
    Ok(html::page(l, status, &t!(l, "devices-title"), Some(&p.who()), body).into_response())
}

#[derive(Deserialize)]
pub struct Pair {
    code: String,
    name: String,
    /// On `/portal/pair`: the child picked.
    child: Option<String>,
}

/// Whether an error is the parent's to fix on the form (shown there) or not.
fn form_error(l: html::Lang, e: &ServiceError) -> Option<(StatusCode, String)> {
    match e {
        ServiceError::Invalid { .. } => Some((StatusCode::UNPROCESSABLE_ENTITY, super::error_words(l, e))),
        ServiceError::Conflict { .. } => Some((StatusCode::CONFLICT, super::error_words(l, e))),
        ServiceError::RateLimited { retry_after, .. } => {
            Some((StatusCode::TOO_MANY_REQUESTS, t!(l, "pair-too-many", wait = html::duration_words(l, *retry_after))))
        }
        _ => None,
    }
}

/// Pairs from a child's devices page.
pub async fn pair(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    PortalForm(p, f): PortalForm<Pair>,
) -> PageResult {
    let child: ChildId = path_id(&id)?;
    match state.vault.approve_pairing(&p.session, child, &f.code, &f.name, Utc::now()).await {
        Ok(device) => Ok(Redirect::to(&format!("/portal/children/{child}/devices?paired={device}")).into_response()),
        Err(e) => match form_error(p.lang, &e) {
            Some((status, msg)) => view(&state, &p, &id, None, &f.code, Some(&msg), status).await,
            None => Err(e.into()),
        },
    }
}

#[derive(Deserialize, Default)]
pub struct Code {
    code: Option<String>,
}

/// Where a device sends the parent (`verification_uri`): the code, and which child.
pub async fn pair_anywhere(State(state): State<AppState>, p: Portal, Query(q): Query<Code>) -> PageResult {
    pair_anywhere_view(&state, &p, q.code.as_deref().unwrap_or(""), None, StatusCode::OK).await
}

async fn pair_anywhere_view(
    state: &AppState,
    p: &Portal,
    code: &str,
    error: Option<&str>,
    status: StatusCode,
) -> PageResult {
    let l = p.lang;
    let children = state.vault.list_children(&p.session, Utc::now()).await?;
    if children.is_empty() {
        let body = html! {
            p { (t!(l, "pair-no-child")) " " a href="/portal" { (t!(l, "pair-no-child-link")) } }
        };
        return Ok(html::page(l, StatusCode::OK, &t!(l, "pair-title"), Some(&p.who()), body).into_response());
    }
    let select = html! {
        label for="child" { (t!(l, "pair-whose")) }
        select #child name="child" {
            @for c in &children { option value=(c.child.id) { (c.profile.display_name) } }
        }
    };
    let body = pair_form(p, "/portal/pair", code, Some(select), error);
    Ok(html::page(l, status, &t!(l, "pair-title"), Some(&p.who()), body).into_response())
}

pub async fn pair_anywhere_post(State(state): State<AppState>, PortalForm(p, f): PortalForm<Pair>) -> PageResult {
    let child: ChildId = path_id(f.child.as_deref().unwrap_or_default())?;
    match state.vault.approve_pairing(&p.session, child, &f.code, &f.name, Utc::now()).await {
        Ok(device) => Ok(Redirect::to(&format!("/portal/children/{child}/devices?paired={device}")).into_response()),
        Err(e) => match form_error(p.lang, &e) {
            Some((status, msg)) => pair_anywhere_view(&state, &p, &f.code, Some(&msg), status).await,
            None => Err(e.into()),
        },
    }
}
