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

use super::html::{self, esc, flash, words};
use super::session::{PageResult, Portal, PortalForm};
use crate::extract::path_id;
use crate::AppState;

pub async fn overview(State(state): State<AppState>, p: Portal) -> PageResult {
    let z = p.zone();
    let children = state.vault.list_children(&p.session, Utc::now()).await?;
    let mut body = String::new();
    if children.is_empty() {
        body.push_str(r#"<p class="empty">No child profiles yet. Add one below.</p>"#);
    }
    body.push_str(r#"<div class="cards">"#);
    for c in &children {
        let id = c.child.id;
        let status = match (c.child.status, c.consent_renewal_required) {
            (_, true) => r#"<span class="badge warn">consent must be renewed</span>"#.to_owned(),
            (ChildStatus::PendingConsent, _) => r#"<span class="badge warn">waiting for consent</span>"#.to_owned(),
            (ChildStatus::Active, _) => r#"<span class="badge ok">active</span>"#.to_owned(),
            (ChildStatus::Deleting, _) => r#"<span class="badge">being deleted</span>"#.to_owned(),
        };
        let scopes = if c.scopes.is_empty() {
            "nothing may be collected".to_owned()
        } else {
            c.scopes.iter().map(|s| words::scope(*s).0).collect::<Vec<_>>().join(", ")
        };
        let last = c.child.last_active_at.map(|t| z.at(t)).unwrap_or_else(|| "never".into());
        let r = state.vault.retention_state(&p.session, id).await?;
        let keep_form = |keep: bool, label: &str, class: &str| {
            format!(
                r#"<form method="post" action="/portal/children/{id}/retention" class="inline">{csrf}<input type="hidden" name="keep" value="{keep}"><button type="submit" class="{class}">{label}</button></form>"#,
                csrf = p.who().csrf_field()
            )
        };
        let retention = match r.state {
            "dormant" => format!(
                r#"<p class="flash error" data-retention="dormant">Not used for a long time: this profile and all its data will be deleted on {}. {}</p>"#,
                r.deletion_at.map(|t| z.at(t)).unwrap_or_default(),
                keep_form(true, "Keep this profile", "")
            ),
            "kept" => format!(
                r#"<p class="meta" data-retention="kept">Kept even if unused (since {}). {}</p>"#,
                r.kept_at.map(|t| z.at(t)).unwrap_or_default(),
                keep_form(false, "Stop keeping it", "danger")
            ),
            _ => format!(
                r#"<p class="meta" data-retention="active">If unused, becomes dormant on {}. {}</p>"#,
                r.dormant_from.map(|t| z.at(t)).unwrap_or_default(),
                keep_form(true, "Keep it even if unused", "")
            ),
        };
        let auto_delete = super::autodelete::card(
            &p,
            &c.child,
            state.vault.policy_recording_days(),
            state.vault.recording_days(&c.child),
        );
        body.push_str(&format!(
            r#"<article class="card child" id="child-{id}">
<h2>{name}</h2>
<p>Born {year} · {status}</p>
<p>Consent in force: {scopes}</p>
<p class="meta">Last used a device: {last}</p>
{retention}
{auto_delete}
<p class="actions"><a href="/portal/children/{id}">Voice history</a>
<a href="/portal/children/{id}/activity">Activity &amp; access log</a>
<a href="/portal/children/{id}/consent">Consent</a>
<a href="/portal/children/{id}/locations">Locations</a>
<a href="/portal/children/{id}/devices">Devices</a>
<a href="/api/v1/children/{id}/export" download>Export (zip)</a>
<a href="/portal/children/{id}/delete?what=child" class="danger">Delete this child…</a></p>
</article>"#,
            name = esc(&c.profile.display_name),
            year = c.profile.birth_year,
        ));
    }
    body.push_str("</div>");
    body.push_str(&format!(
        r#"<section class="card narrow">
<h2>Add a child</h2>
<p>Nothing is collected for a new child until you give verifiable consent.</p>
<form method="post" action="/portal/children">
{csrf}
<label for="display_name">Name or nickname</label>
<input id="display_name" name="display_name" required maxlength="64" autocomplete="off">
<label for="birth_year">Birth year</label>
<input id="birth_year" name="birth_year" type="number" required min="{min}" max="{max}" inputmode="numeric">
<button type="submit">Add the child</button>
</form>
</section>"#,
        csrf = p.who().csrf_field(),
        min = Utc::now().year() - 17,
        max = Utc::now().year(),
    ));
    Ok(html::page(StatusCode::OK, "Your household", Some(&p.who()), &body))
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
) -> String {
    let policy = &state.vault.config().retention;
    let recordings = state.vault.recording_days(child);
    let mut lines = String::new();
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
        lines.push_str(&format!(
            "<li><strong>{what}</strong>: {why}. {how_long}.</li>",
            what = esc(&upper_first(label.trim_start_matches("2 "))),
            why = esc(rule.purpose.trim_end_matches('.')),
        ));
    }
    if lines.is_empty() {
        return String::new();
    }
    format!(
        r#"<section class="card" id="kept"><h3>What we keep about {name}, why, and for how long</h3><ul class="kept">{lines}</ul>
<p class="meta">Set by our <a href="/privacy/retention">retention policy</a> and your auto-delete choice on the household page. You can delete anything sooner.</p></section>"#
    )
}

/// "voice recordings" → "Voice recordings".
fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// After an e-mail-plus consent: where the confirmation went.
pub async fn consent_sent(State(state): State<AppState>, p: Portal, ApiPath(id): ApiPath<String>) -> PageResult {
    let child = state.vault.get_child(&p.session, path_id(&id)?, Utc::now()).await?;
    let body = format!(
        r#"<section class="card" role="status" id="awaiting"><h2>Check your e-mail</h2>
<p>We sent a confirmation link to {email}. Nothing is collected for {name} under this consent until you open it
(within 48 hours). It is also in your <a href="/portal/mailbox">mailbox</a>.</p>
<p><a href="/portal/children/{id}/consent">Back to consent</a></p></section>"#,
        email = esc(&p.guardian.email),
        name = esc(&child.profile.display_name),
    );
    Ok(html::page(StatusCode::OK, "Confirm by e-mail", Some(&p.who()), &body))
}

async fn consent_view(state: &AppState, p: &Portal, id: &str, error: Option<&str>, status: StatusCode) -> PageResult {
    let z = p.zone();
    let child_id = path_id(id)?;
    let now = Utc::now();
    let child = state.vault.get_child(&p.session, child_id, now).await?;
    let history = state.vault.consents(&p.session, child_id).await?;
    let notice = &state.vault.notice_version();
    let name = esc(&child.profile.display_name);
    let csrf = p.who().csrf_field();
    let mut body = format!(r#"<p><a href="/portal">← Household</a></p><h2>{name}</h2>"#);
    if child.consent_renewal_required {
        body.push_str(&flash(
            "error",
            &format!(
                "Our privacy notice changed (now version {notice}). Nothing is collected until you consent again."
            ),
        ));
    }
    body.push_str(r#"<section class="card"><h3>In force now</h3>"#);
    if child.scopes.is_empty() {
        body.push_str("<p>Nothing may be collected for this child.</p>");
    } else {
        body.push_str("<ul class=\"scopes\">");
        for s in &child.scopes {
            let (label, what) = words::scope(*s);
            body.push_str(&format!(
                r#"<li><strong>{label}</strong>: {what}
<form method="post" action="/portal/children/{child_id}/consent/withdraw" class="inline">{csrf}
<input type="hidden" name="scope" value="{scope}"><button type="submit" class="danger">Withdraw</button></form></li>"#,
                scope = s.as_str(),
            ));
        }
        body.push_str("</ul><p class=\"meta\">A withdrawal takes effect on the device's next request.</p>");
    }
    body.push_str("</section>");
    body.push_str(&kept_card(state, &child.child, &child.scopes, &name));
    body.push_str(&recipients_card(&state.vault.recipients(&p.session, child_id).await?, &name, id));

    let mut methods = String::new();
    for m in ConsentMethod::ALL {
        methods.push_str(&format!(r#"<option value="{}">{}</option>"#, m.as_str(), words::method(m)));
    }
    let mut switches = String::new();
    for s in ConsentScope::ALL {
        let (label, what) = words::scope(s);
        let checked = if s == ConsentScope::Voice { " checked" } else { "" };
        switches.push_str(&format!(
            r#"<div class="switch"><input type="checkbox" id="scope-{v}" name="scopes" value="{v}"{checked}>
<label for="scope-{v}"><strong>{label}</strong>: {what}</label></div>"#,
            v = s.as_str(),
        ));
    }
    body.push_str(&format!(
        r#"<section class="card"><h3>Give consent</h3>
{error}
<p>Under privacy notice version <strong>{notice}</strong>. Each permission is its own choice; only voice is on by default,
because the assistant cannot answer without it.</p>
<form method="post" action="/portal/children/{child_id}/consent">
{csrf}
<label for="method">How you verified that you are the parent</label>
<select id="method" name="method">{methods}</select>
<label for="evidence_ref">Reference of the verification (form number, call or transaction id)</label>
<input id="evidence_ref" name="evidence_ref" required maxlength="128" autocomplete="off">
<fieldset><legend>What kidvault may do</legend>{switches}</fieldset>
<button type="submit">Record consent</button>
</form></section>"#,
        error = error.map(|e| flash("error", e)).unwrap_or_default(),
    ));

    body.push_str(r#"<section class="card"><h3>History</h3>"#);
    if history.is_empty() {
        body.push_str("<p>No consent recorded yet.</p>");
    } else {
        body.push_str(
            "<table tabindex=\"0\"><thead><tr><th>Given</th><th>Method</th><th>Notice</th><th>Permissions</th></tr></thead><tbody>",
        );
        for c in history.iter().rev() {
            let scopes: Vec<String> = c
                .scopes
                .iter()
                .map(|g| match g.withdrawn_at {
                    Some(at) => format!("{} (withdrawn {})", words::scope(g.scope).0, z.at(at)),
                    None => words::scope(g.scope).0.to_owned(),
                })
                .collect();
            body.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                z.at(c.granted_at),
                words::method(c.method),
                esc(&c.notice_version),
                esc(&scopes.join(", "))
            ));
        }
        body.push_str("</tbody></table>");
    }
    body.push_str("</section>");
    Ok(html::page(status, &format!("Consent for {}", child.profile.display_name), Some(&p.who()), &body))
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
    let body = format!(
        r#"<section class="card narrow"><h2>Confirm your consent</h2>
<p>You asked to give consent by e-mail. Confirm it to let kidvault collect under it.</p>
<form method="post" action="/portal/consent/confirm/{token}">{csrf}<button type="submit">Confirm consent</button></form>
</section>"#,
        token = esc(&token),
        csrf = p.who().csrf_field(),
    );
    Ok(html::page(StatusCode::OK, "Confirm consent", Some(&p.who()), &body))
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
fn recipients_card(recipients: &[kidvault_service::disclosure::Recipient], name: &str, id: &str) -> String {
    use kidvault_domain::disclosure::Purpose;
    use kidvault_service::disclosure::Standing;
    let mut out = format!(
        r#"<section class="card"><h3>Who receives {name}'s data</h3>
<p>Of what kidvault keeps about {name}, nobody outside kidvault receives anything except the companies below, and only what the permissions above allow.
<a href="/portal/children/{id}/shared">See what each has received</a>.</p>"#
    );
    if recipients.is_empty() {
        out.push_str("<p>No company outside kidvault receives anything.</p></section>");
        return out;
    }
    out.push_str(r#"<ul class="recipients">"#);
    for r in recipients {
        let what: Vec<String> =
            r.categories.iter().map(|c| words::category(*c, 2).trim_start_matches("2 ").to_owned()).collect();
        let needs = match r.purpose {
            Purpose::Integral => "Voice or location (whichever collects it)",
            Purpose::Training => words::scope(kidvault_domain::consent::ConsentScope::Training).0,
            Purpose::ThirdParty => words::scope(kidvault_domain::consent::ConsentScope::ThirdParty).0,
        };
        let standing = match r.standing {
            Standing::Receives => format!("receives {} now, because you allowed it", what.join(", ")),
            Standing::NewSinceConsent => {
                "is new since you agreed: it receives nothing until you give consent again".to_owned()
            }
            Standing::NotAllowed => format!("receives nothing unless you allow \u{201c}{needs}\u{201d}"),
        };
        out.push_str(&format!(
            r#"<li><strong>{}</strong> ({}) {}.</li>"#,
            esc(&r.name),
            esc(r.purpose.plain()),
            esc(&standing)
        ));
    }
    out.push_str("</ul></section>");
    out
}
