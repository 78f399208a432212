//! The household overview, adding a child, and a child's consents.

use crate::extract::ApiPath;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Datelike, Utc};
use kidvault_domain::consent::{ConsentMethod, ConsentScope};
use kidvault_domain::entities::ChildStatus;
use kidvault_service::children::ConsentGiven;
use serde::Deserialize;

use super::html::{self, flash, html, t, words, Lang, Markup};
use super::session::{PageResult, Portal, PortalForm};
use crate::extract::path_id;
use crate::AppState;

pub async fn overview(State(state): State<AppState>, p: Portal) -> PageResult {
    let z = p.clock();
    let l = p.lang;
    let children = state.vault.list_children(&p.session, Utc::now()).await?;
    let mut cards = Vec::with_capacity(children.len());
    for c in &children {
        let id = c.child.id;
        let r = state.vault.retention_state(&p.session, id).await?;
        let keep_form = |keep: bool, label: String, class: &str| {
            html! {
                form.inline method="post" action={ "/portal/children/" (id) "/retention" } {
                    (p.who().csrf_field())
                    input type="hidden" name="keep" value=(keep);
                    button type="submit" class=(class) { (label) }
                }
            }
        };
        let when = |t: Option<kidvault_domain::Timestamp>| t.map(|t| z.at(t)).unwrap_or_default();
        let retention = match r.state {
            "dormant" => html! {
                p.flash.error data-retention="dormant" {
                    (t!(l, "household-dormant", date = when(r.deletion_at))) " "
                    (keep_form(true, t!(l, "household-keep-profile"), ""))
                }
            },
            "kept" => html! {
                p.meta data-retention="kept" {
                    (t!(l, "household-kept", date = when(r.kept_at))) " "
                    (keep_form(false, t!(l, "household-stop-keeping"), "danger"))
                }
            },
            _ => html! {
                p.meta data-retention="active" {
                    (t!(l, "household-dormant-from", date = when(r.dormant_from))) " "
                    (keep_form(true, t!(l, "household-keep-unused"), ""))
                }
            },
        };
        let auto_delete = super::autodelete::card(
            &p,
            &c.child,
            state.vault.policy_recording_days(),
            state.vault.recording_days(&c.child),
        );
        let last = c.child.last_active_at.map(|t| z.at(t)).unwrap_or_else(|| t!(l, "household-never"));
        cards.push(html! {
            article.card.child id={ "child-" (id) } {
                h2 { (c.profile.display_name) }
                p {
                    (t!(l, "household-born", year = c.profile.birth_year.to_string())) " · "
                    @match (c.child.status, c.consent_renewal_required) {
                        (_, true) => span.badge.warn { (t!(l, "household-badge-renew")) },
                        (ChildStatus::PendingConsent, _) => span.badge.warn { (t!(l, "household-badge-waiting")) },
                        (ChildStatus::Active, _) => span.badge.ok { (t!(l, "household-badge-active")) },
                        (ChildStatus::Deleting, _) => span.badge { (t!(l, "household-badge-deleting")) },
                    }
                }
                p {
                    (t!(l, "household-in-force")) " "
                    @if c.scopes.is_empty() { (t!(l, "household-nothing-collected")) }
                    @else { (c.scopes.iter().map(|s| words::scope(l, *s).0).collect::<Vec<_>>().join(", ")) }
                }
                p.meta { (t!(l, "household-last-used", when = last)) }
                (retention)
                (auto_delete)
                p.actions {
                    a href={ "/portal/children/" (id) } { (t!(l, "link-voice-history")) } " "
                    a href={ "/portal/children/" (id) "/activity" } { (t!(l, "link-activity")) } " "
                    a href={ "/portal/children/" (id) "/consent" } { (t!(l, "link-consent")) } " "
                    a href={ "/portal/children/" (id) "/locations" } { (t!(l, "link-locations")) } " "
                    a href={ "/portal/children/" (id) "/devices" } { (t!(l, "link-devices")) } " "
                    a href={ "/api/v1/children/" (id) "/export" } download { (t!(l, "link-export")) } " "
                    a.danger href={ "/portal/children/" (id) "/delete?what=child" } { (t!(l, "link-delete-child")) }
                }
            }
        });
    }
    let body = html! {
        @if children.is_empty() { p.empty { (t!(l, "household-empty")) } }
        div.cards { @for card in cards { (card) } }
        section.card.narrow {
            h2 { (t!(l, "household-add")) }
            p { (t!(l, "household-add-nothing-yet")) }
            form method="post" action="/portal/children" {
                (p.who().csrf_field())
                label for="display_name" { (t!(l, "household-name")) }
                input #display_name name="display_name" required maxlength="64" autocomplete="off";
                label for="birth_year" { (t!(l, "household-birth-year")) }
                input #birth_year name="birth_year" type="number" required min=(Utc::now().year() - 17)
                    max=(Utc::now().year()) inputmode="numeric";
                button type="submit" { (t!(l, "household-add-button")) }
            }
        }
    };
    Ok(html::page(l, StatusCode::OK, &t!(l, "household-title"), Some(&p.who()), body))
}

#[derive(Deserialize)]
pub struct NewChild {
    display_name: String,
    birth_year: String,
}

pub async fn add_child(State(state): State<AppState>, PortalForm(p, f): PortalForm<NewChild>) -> PageResult {
    let year = f.birth_year.trim().parse().map_err(|_| {
        super::session::PageError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_child", "birth year must be a year")
    })?;
    let child = state.vault.create_child(&p.session, &f.display_name, year, Utc::now()).await?;
    Ok(Redirect::to(&format!("/portal/children/{}/consent", child.child.id)).into_response())
}

pub async fn consent_page(State(state): State<AppState>, p: Portal, ApiPath(id): ApiPath<String>) -> PageResult {
    consent_view(&state, &p, &id, None, StatusCode::OK).await
}

/// What is kept about the child under the consent in force, why, and for how
/// long: the written policy's rules, shortened by the parent's auto-delete
/// choice for recordings and everything that comes from them.
fn kept_card(
    l: Lang,
    state: &AppState,
    child: &kidvault_domain::entities::Child,
    scopes: &[ConsentScope],
    name: &str,
) -> Markup {
    let policy = &state.vault.config().retention;
    let recordings = state.vault.recording_days(child);
    let mut lines = Vec::new();
    for rule in policy.items.iter().filter(|r| scopes.contains(&r.kind.spec().scope)) {
        // The auto-delete choice shortens recordings and what is made from them
        // (deleting a recording deletes everything derived from it).
        let recording = kidvault_domain::item::ItemKind::VoiceRecording;
        let days = if rule.kind == recording || policy.descends_from(rule.kind, recording) {
            rule.keep_days.min(recordings)
        } else {
            rule.keep_days
        };
        let how_long = match days {
            0 => t!(l, "kept-not"),
            d => t!(l, "kept-days", n = d),
        };
        let label = words::kind_plural(l, rule.kind);
        lines.push(html! {
            li {
                strong { (upper_first(&label)) }
                ": " (rule.purpose.trim_end_matches('.')) ". " (how_long) "."
            }
        });
    }
    html! {
        @if !lines.is_empty() {
            section.card #kept {
                h3 { (t!(l, "kept-title", name = name)) }
                ul.kept { @for line in lines { (line) } }
                p.meta {
                    (t!(l, "kept-set-by")) " " a href="/privacy/retention" { (t!(l, "kept-policy")) }
                    " " (t!(l, "kept-and-choice"))
                }
            }
        }
    }
}

/// "voice recordings" → "Voice recordings".
pub(super) fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// After an e-mail-plus consent: where the confirmation went.
pub async fn consent_sent(State(state): State<AppState>, p: Portal, ApiPath(id): ApiPath<String>) -> PageResult {
    let l = p.lang;
    let child = state.vault.get_child(&p.session, path_id(&id)?, Utc::now()).await?;
    let body = html! {
        section.card role="status" #awaiting {
            h2 { (t!(l, "consent-sent-check")) }
            p {
                (t!(l, "consent-sent-text", email = &p.guardian.email, name = &child.profile.display_name)) " "
                a href="/portal/mailbox" { (t!(l, "consent-sent-mailbox")) }
            }
            p { a href={ "/portal/children/" (id) "/consent" } { (t!(l, "consent-back")) } }
        }
    };
    Ok(html::page(l, StatusCode::OK, &t!(l, "consent-sent-title"), Some(&p.who()), body))
}

async fn consent_view(state: &AppState, p: &Portal, id: &str, error: Option<&str>, status: StatusCode) -> PageResult {
    let z = p.clock();
    let l = p.lang;
    let child_id = path_id(id)?;
    let now = Utc::now();
    let child = state.vault.get_child(&p.session, child_id, now).await?;
    let history = state.vault.consents(&p.session, child_id).await?;
    let notice = &state.vault.notice_version();
    let name = child.profile.display_name.as_str();
    let csrf = p.who().csrf_field();
    let recipients = recipients_card(l, &state.vault.recipients(&p.session, child_id).await?, name, id);
    let body = html! {
        p { a href="/portal" { (t!(l, "back-household")) } }
        h2 { (name) }
        @if child.consent_renewal_required {
            (flash("error", &t!(l, "consent-notice-changed", version = *notice)))
        }
        section.card {
            h3 { (t!(l, "consent-in-force")) }
            @if child.scopes.is_empty() {
                p { (t!(l, "consent-nothing")) }
            } @else {
                ul.scopes {
                    @for s in &child.scopes {
                        @let (label, what) = words::scope(l, *s);
                        li {
                            strong { (label) } ": " (what) " "
                            form.inline method="post" action={ "/portal/children/" (child_id) "/consent/withdraw" } {
                                (csrf)
                                input type="hidden" name="scope" value=(s.as_str());
                                button.danger type="submit" { (t!(l, "consent-withdraw")) }
                            }
                        }
                    }
                }
                p.meta { (t!(l, "consent-withdraw-when")) }
            }
        }
        (kept_card(l, state, &child.child, &child.scopes, name))
        (recipients)
        section.card {
            h3 { (t!(l, "consent-give")) }
            @if let Some(e) = error { (flash("error", e)) }
            p { (t!(l, "consent-under-notice", version = *notice)) }
            form method="post" action={ "/portal/children/" (child_id) "/consent" } {
                (csrf)
                label for="method" { (t!(l, "consent-method-label")) }
                select #method name="method" {
                    @for m in ConsentMethod::ALL { option value=(m.as_str()) { (words::method(l, m)) } }
                }
                label for="evidence_ref" { (t!(l, "consent-evidence")) }
                input #evidence_ref name="evidence_ref" required maxlength="128" autocomplete="off";
                fieldset {
                    legend { (t!(l, "consent-may-do")) }
                    @for s in ConsentScope::ALL {
                        @let (label, what) = words::scope(l, s);
                        div.switch {
                            input type="checkbox" id={ "scope-" (s.as_str()) } name="scopes" value=(s.as_str())
                                checked[s == ConsentScope::Voice];
                            label for={ "scope-" (s.as_str()) } { strong { (label) } ": " (what) }
                        }
                    }
                }
                button type="submit" { (t!(l, "consent-record")) }
            }
        }
        section.card {
            h3 { (t!(l, "consent-history")) }
            @if history.is_empty() {
                p { (t!(l, "consent-none-yet")) }
            } @else {
                table tabindex="0" {
                    thead { tr {
                        th { (t!(l, "consent-col-given")) } th { (t!(l, "consent-col-method")) }
                        th { (t!(l, "consent-col-notice")) } th { (t!(l, "consent-col-permissions")) }
                    } }
                    tbody {
                        @for c in history.iter().rev() {
                            @let scopes: Vec<String> = c
                                .scopes
                                .iter()
                                .map(|g| match g.withdrawn_at {
                                    Some(at) => t!(
                                        l,
                                        "consent-withdrawn-on",
                                        scope = words::scope(l, g.scope).0,
                                        when = z.at(at)
                                    ),
                                    None => words::scope(l, g.scope).0,
                                })
                                .collect();
                            tr {
                                td { (z.at(c.granted_at)) }
                                td { (words::method(l, c.method)) }
                                td { (c.notice_version) }
                                td { (scopes.join(", ")) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(html::page(l, status, &t!(l, "consent-title", name = name), Some(&p.who()), body))
}

/// The consent form's fields; `scopes` repeats (one per switch turned on).
pub async fn give_consent(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    PortalForm(p, fields): PortalForm<Vec<(String, String)>>,
) -> PageResult {
    let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or("");
    let scopes: Vec<String> = fields.iter().filter(|(k, _)| k == "scopes").map(|(_, v)| v.clone()).collect();
    let child = path_id(&id)?;
    let notice = state.vault.notice_version().to_owned();
    let now = Utc::now();
    match state
        .vault
        .grant_consent(&p.session, child, field("method"), field("evidence_ref"), &notice, &scopes, now)
        .await
    {
        Ok(ConsentGiven::Recorded(_)) => Ok(Redirect::to(&format!("/portal/children/{id}/consent")).into_response()),
        // Redirected, so that a reload asks for nothing twice.
        Ok(ConsentGiven::AwaitingConfirmation { .. }) => {
            Ok(Redirect::to(&format!("/portal/children/{id}/consent/sent")).into_response())
        }
        Err(e @ kidvault_service::ServiceError::Invalid { .. }) => {
            consent_view(&state, &p, &id, Some(&e.public_message()), StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct Withdraw {
    scope: String,
}

pub async fn withdraw(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    PortalForm(p, f): PortalForm<Withdraw>,
) -> PageResult<Response> {
    state.vault.withdraw_scope(&p.session, path_id(&id)?, &f.scope, Utc::now()).await?;
    Ok(Redirect::to(&format!("/portal/children/{id}/consent")).into_response())
}

pub async fn revoke(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    PortalForm(p, _): PortalForm<Empty>,
) -> PageResult {
    let device: kidvault_domain::ids::DeviceId = path_id(&id)?;
    let child = state.vault.revoke_device(&p.session, device, Utc::now()).await?;
    Ok(Redirect::to(&format!("/portal/children/{child}/devices")).into_response())
}

#[derive(Deserialize)]
pub struct Empty {}

pub async fn confirm_page(p: Portal, ApiPath(token): ApiPath<String>) -> PageResult {
    let l = p.lang;
    let body = html! {
        section.card.narrow {
            h2 { (t!(l, "confirm-heading")) }
            p { (t!(l, "confirm-text")) }
            form method="post" action={ "/portal/consent/confirm/" (token) } {
                (p.who().csrf_field()) button type="submit" { (t!(l, "confirm-button")) }
            }
        }
    };
    Ok(html::page(l, StatusCode::OK, &t!(l, "confirm-title"), Some(&p.who()), body))
}

pub async fn confirm(
    State(state): State<AppState>,
    ApiPath(token): ApiPath<String>,
    PortalForm(p, _): PortalForm<Empty>,
) -> PageResult {
    let consent = state.vault.confirm_consent(&p.session, &token, Utc::now()).await?;
    Ok(Redirect::to(&format!("/portal/children/{}/consent", consent.child_id)).into_response())
}

#[derive(Deserialize)]
pub struct Keep {
    keep: bool,
}

pub async fn set_keep(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    PortalForm(p, f): PortalForm<Keep>,
) -> PageResult {
    state.vault.set_keep_when_dormant(&p.session, path_id(&id)?, f.keep, Utc::now()).await?;
    Ok(Redirect::to("/portal").into_response())
}

/// Who receives the child's data, in sentences: each processor in service, why,
/// and whether the consents in force let it receive anything now.
fn recipients_card(l: Lang, recipients: &[kidvault_service::disclosure::Recipient], name: &str, id: &str) -> Markup {
    use kidvault_domain::disclosure::Purpose;
    use kidvault_service::disclosure::Standing;
    let standing = |r: &kidvault_service::disclosure::Recipient| {
        let what: Vec<String> = r.categories.iter().map(|c| words::category_plural(l, *c)).collect();
        let needs = match r.purpose {
            Purpose::Integral => t!(l, "recipients-voice-or-location"),
            Purpose::Training => words::scope(l, kidvault_domain::consent::ConsentScope::Training).0,
            Purpose::ThirdParty => words::scope(l, kidvault_domain::consent::ConsentScope::ThirdParty).0,
        };
        match r.standing {
            Standing::Receives => t!(l, "recipients-receives", what = what.join(", ")),
            Standing::NewSinceConsent => t!(l, "recipients-new"),
            Standing::NotAllowed => t!(l, "recipients-not-allowed", needs = needs),
        }
    };
    html! {
        section.card {
            h3 { (t!(l, "recipients-title", name = name)) }
            p {
                (t!(l, "recipients-intro", name = name)) " "
                a href={ "/portal/children/" (id) "/shared" } { (t!(l, "recipients-see")) } "."
            }
            @if recipients.is_empty() {
                p { (t!(l, "recipients-none")) }
            } @else {
                ul.recipients {
                    @for r in recipients {
                        li {
                            strong { (r.name) } " (" (t!(l, "purpose", purpose = r.purpose.as_str())) ") "
                            (standing(r)) "."
                        }
                    }
                }
            }
        }
    }
}
