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

use super::html::{self, flash, html, words, Markup};
use super::session::{PageResult, Portal, PortalForm};
use crate::extract::path_id;
use crate::AppState;

pub async fn overview(State(state): State<AppState>, p: Portal) -> PageResult {
    let z = p.zone();
    let children = state.vault.list_children(&p.session, Utc::now()).await?;
    let mut cards = Vec::with_capacity(children.len());
    for c in &children {
        let id = c.child.id;
        let r = state.vault.retention_state(&p.session, id).await?;
        let keep_form = |keep: bool, label: &str, class: &str| {
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
                    "Not used for a long time: this profile and all its data will be deleted on "
                    (when(r.deletion_at)) ". " (keep_form(true, "Keep this profile", ""))
                }
            },
            "kept" => html! {
                p.meta data-retention="kept" {
                    "Kept even if unused (since " (when(r.kept_at)) "). " (keep_form(false, "Stop keeping it", "danger"))
                }
            },
            _ => html! {
                p.meta data-retention="active" {
                    "If unused, becomes dormant on " (when(r.dormant_from)) ". "
                    (keep_form(true, "Keep it even if unused", ""))
                }
            },
        };
        let auto_delete = super::autodelete::card(
            &p,
            &c.child,
            state.vault.policy_recording_days(),
            state.vault.recording_days(&c.child),
        );
        let last = c.child.last_active_at.map(|t| z.at(t)).unwrap_or_else(|| "never".into());
        cards.push(html! {
            article.card.child id={ "child-" (id) } {
                h2 { (c.profile.display_name) }
                p {
                    "Born " (c.profile.birth_year) " · "
                    @match (c.child.status, c.consent_renewal_required) {
                        (_, true) => span.badge.warn { "consent must be renewed" },
                        (ChildStatus::PendingConsent, _) => span.badge.warn { "waiting for consent" },
                        (ChildStatus::Active, _) => span.badge.ok { "active" },
                        (ChildStatus::Deleting, _) => span.badge { "being deleted" },
                    }
                }
                p {
                    "Consent in force: "
                    @if c.scopes.is_empty() { "nothing may be collected" }
                    @else { (c.scopes.iter().map(|s| words::scope(*s).0).collect::<Vec<_>>().join(", ")) }
                }
                p.meta { "Last used a device: " (last) }
                (retention)
                (auto_delete)
                p.actions {
                    a href={ "/portal/children/" (id) } { "Voice history" } " "
                    a href={ "/portal/children/" (id) "/activity" } { "Activity & access log" } " "
                    a href={ "/portal/children/" (id) "/consent" } { "Consent" } " "
                    a href={ "/portal/children/" (id) "/locations" } { "Locations" } " "
                    a href={ "/portal/children/" (id) "/devices" } { "Devices" } " "
                    a href={ "/api/v1/children/" (id) "/export" } download { "Export (zip)" } " "
                    a.danger href={ "/portal/children/" (id) "/delete?what=child" } { "Delete this child…" }
                }
            }
        });
    }
    let body = html! {
        @if children.is_empty() { p.empty { "No child profiles yet. Add one below." } }
        div.cards { @for card in cards { (card) } }
        section.card.narrow {
            h2 { "Add a child" }
            p { "Nothing is collected for a new child until you give verifiable consent." }
            form method="post" action="/portal/children" {
                (p.who().csrf_field())
                label for="display_name" { "Name or nickname" }
                input #display_name name="display_name" required maxlength="64" autocomplete="off";
                label for="birth_year" { "Birth year" }
                input #birth_year name="birth_year" type="number" required min=(Utc::now().year() - 17)
                    max=(Utc::now().year()) inputmode="numeric";
                button type="submit" { "Add the child" }
            }
        }
    };
    Ok(html::page(StatusCode::OK, "Your household", Some(&p.who()), body))
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
            0 => "Not kept".to_owned(),
            1 => "Kept 1 day, then deleted automatically".to_owned(),
            d => format!("Kept {d} days, then deleted automatically"),
        };
        let label = words::kind(rule.kind, 2);
        lines.push(html! {
            li {
                strong { (upper_first(label.trim_start_matches("2 "))) }
                ": " (rule.purpose.trim_end_matches('.')) ". " (how_long) "."
            }
        });
    }
    html! {
        @if !lines.is_empty() {
            section.card #kept {
                h3 { "What we keep about " (name) ", why, and for how long" }
                ul.kept { @for line in lines { (line) } }
                p.meta {
                    "Set by our " a href="/privacy/retention" { "retention policy" }
                    " and your auto-delete choice on the household page. You can delete anything sooner."
                }
            }
        }
    }
}

/// "voice recordings" → "Voice recordings".
fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// After an e-mail-plus consent: where the confirmation went.
pub async fn consent_sent(State(state): State<AppState>, p: Portal, ApiPath(id): ApiPath<String>) -> PageResult {
    let child = state.vault.get_child(&p.session, path_id(&id)?, Utc::now()).await?;
    let body = html! {
        section.card role="status" #awaiting {
            h2 { "Check your e-mail" }
            p {
                "We sent a confirmation link to " (p.guardian.email) ". Nothing is collected for "
                (child.profile.display_name) " under this consent until you open it (within 48 hours). It is also in \
                 your " a href="/portal/mailbox" { "mailbox" } "."
            }
            p { a href={ "/portal/children/" (id) "/consent" } { "Back to consent" } }
        }
    };
    Ok(html::page(StatusCode::OK, "Confirm by e-mail", Some(&p.who()), body))
}

async fn consent_view(state: &AppState, p: &Portal, id: &str, error: Option<&str>, status: StatusCode) -> PageResult {
    let z = p.zone();
    let child_id = path_id(id)?;
    let now = Utc::now();
    let child = state.vault.get_child(&p.session, child_id, now).await?;
    let history = state.vault.consents(&p.session, child_id).await?;
    let notice = &state.vault.notice_version();
    let name = child.profile.display_name.as_str();
    let csrf = p.who().csrf_field();
    let recipients = recipients_card(&state.vault.recipients(&p.session, child_id).await?, name, id);
    let body = html! {
        p { a href="/portal" { "← Household" } }
        h2 { (name) }
        @if child.consent_renewal_required {
            (flash("error", &format!(
                "Our privacy notice changed (now version {notice}). Nothing is collected until you consent again."
            )))
        }
        section.card {
            h3 { "In force now" }
            @if child.scopes.is_empty() {
                p { "Nothing may be collected for this child." }
            } @else {
                ul.scopes {
                    @for s in &child.scopes {
                        @let (label, what) = words::scope(*s);
                        li {
                            strong { (label) } ": " (what) " "
                            form.inline method="post" action={ "/portal/children/" (child_id) "/consent/withdraw" } {
                                (csrf)
                                input type="hidden" name="scope" value=(s.as_str());
                                button.danger type="submit" { "Withdraw" }
                            }
                        }
                    }
                }
                p.meta { "A withdrawal takes effect on the device's next request." }
            }
        }
        (kept_card(state, &child.child, &child.scopes, name))
        (recipients)
        section.card {
            h3 { "Give consent" }
            @if let Some(e) = error { (flash("error", e)) }
            p {
                "Under privacy notice version " strong { (notice) } ". Each permission is its own choice; only voice \
                 is on by default, because the assistant cannot answer without it."
            }
            form method="post" action={ "/portal/children/" (child_id) "/consent" } {
                (csrf)
                label for="method" { "How you verified that you are the parent" }
                select #method name="method" {
                    @for m in ConsentMethod::ALL { option value=(m.as_str()) { (words::method(m)) } }
                }
                label for="evidence_ref" { "Reference of the verification (form number, call or transaction id)" }
                input #evidence_ref name="evidence_ref" required maxlength="128" autocomplete="off";
                fieldset {
                    legend { "What kidvault may do" }
                    @for s in ConsentScope::ALL {
                        @let (label, what) = words::scope(s);
                        div.switch {
                            input type="checkbox" id={ "scope-" (s.as_str()) } name="scopes" value=(s.as_str())
                                checked[s == ConsentScope::Voice];
                            label for={ "scope-" (s.as_str()) } { strong { (label) } ": " (what) }
                        }
                    }
                }
                button type="submit" { "Record consent" }
            }
        }
        section.card {
            h3 { "History" }
            @if history.is_empty() {
                p { "No consent recorded yet." }
            } @else {
                table tabindex="0" {
                    thead { tr { th { "Given" } th { "Method" } th { "Notice" } th { "Permissions" } } }
                    tbody {
                        @for c in history.iter().rev() {
                            @let scopes: Vec<String> = c
                                .scopes
                                .iter()
                                .map(|g| match g.withdrawn_at {
                                    Some(at) => format!("{} (withdrawn {})", words::scope(g.scope).0, z.at(at)),
                                    None => words::scope(g.scope).0.to_owned(),
                                })
                                .collect();
                            tr {
                                td { (z.at(c.granted_at)) }
                                td { (words::method(c.method)) }
                                td { (c.notice_version) }
                                td { (scopes.join(", ")) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(html::page(status, &format!("Consent for {}", child.profile.display_name), Some(&p.who()), body))
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
    let body = html! {
        section.card.narrow {
            h2 { "Confirm your consent" }
            p { "You asked to give consent by e-mail. Confirm it to let kidvault collect under it." }
            form method="post" action={ "/portal/consent/confirm/" (token) } {
                (p.who().csrf_field()) button type="submit" { "Confirm consent" }
            }
        }
    };
    Ok(html::page(StatusCode::OK, "Confirm consent", Some(&p.who()), body))
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
fn recipients_card(recipients: &[kidvault_service::disclosure::Recipient], name: &str, id: &str) -> Markup {
    use kidvault_domain::disclosure::Purpose;
    use kidvault_service::disclosure::Standing;
    let standing = |r: &kidvault_service::disclosure::Recipient| {
        let what: Vec<String> =
            r.categories.iter().map(|c| words::category(*c, 2).trim_start_matches("2 ").to_owned()).collect();
        let needs = match r.purpose {
            Purpose::Integral => "Voice or location (whichever collects it)",
            Purpose::Training => words::scope(kidvault_domain::consent::ConsentScope::Training).0,
            Purpose::ThirdParty => words::scope(kidvault_domain::consent::ConsentScope::ThirdParty).0,
        };
        match r.standing {
            Standing::Receives => format!("receives {} now, because you allowed it", what.join(", ")),
            Standing::NewSinceConsent => {
                "is new since you agreed: it receives nothing until you give consent again".to_owned()
            }
            Standing::NotAllowed => format!("receives nothing unless you allow \u{201c}{needs}\u{201d}"),
        }
    };
    html! {
        section.card {
            h3 { "Who receives " (name) "'s data" }
            p {
                "Of what kidvault keeps about " (name) ", nobody outside kidvault receives anything except the \
                 companies below, and only what the permissions above allow. "
                a href={ "/portal/children/" (id) "/shared" } { "See what each has received" } "."
            }
            @if recipients.is_empty() {
                p { "No company outside kidvault receives anything." }
            } @else {
                ul.recipients {
                    @for r in recipients {
                        li { strong { (r.name) } " (" (r.purpose.plain()) ") " (standing(r)) "." }
                    }
                }
            }
        }
    }
}
