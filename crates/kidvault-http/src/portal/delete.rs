//! Deleting from the portal: every delete link leads to a confirmation that
//! says what will go (counted through lineage, as the deletion will resolve
//! it), then a form that starts the deletion; and the deletions page, where each
//! deletion is followed step by step to its receipt.

use crate::extract::ApiPath;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use chrono::{DateTime, Duration, Utc};
use kidvault_domain::deletion::{DeletionScope, DeletionStep};
use kidvault_domain::downstream::TaskState;
use kidvault_domain::ids::{ChildId, DeletionId, DeviceId, ItemId};
use kidvault_domain::item::ItemKind;
use kidvault_service::deletion::Within;
use kidvault_service::deletion::{DeletionRecord, KeyRemnants};
use serde::Deserialize;

use super::child::{day_range, parse_day};
use super::html::{self, html, t, words, Clock, Markup};
use super::session::{PageError, PageResult, Portal, PortalForm};
use crate::extract::path_id;
use crate::routes::deletions::run_deletions_now;
use crate::AppState;

/// What a delete link names; exactly one target.
#[derive(Deserialize, Default, Clone)]
pub struct Target {
    /// `child` (the profile and everything) or `all` (all data, profile kept).
    #[serde(default)]
    what: Option<String>,
    #[serde(default)]
    item: Option<String>,
    #[serde(default)]
    day: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    /// Only what this device sent.
    #[serde(default)]
    device: Option<String>,
}

enum Chosen {
    Child,
    All,
    Item(ItemId),
    Items { kinds: Vec<ItemKind>, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>, device: Option<DeviceId> },
}

fn bad(message: &str) -> PageError {
    PageError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_scope", message)
}

impl Target {
    /// What the form names; days are the guardian's (`z`).
    fn chosen(&self, z: Clock) -> Result<Chosen, PageError> {
        let set = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
        match self.what.as_deref().filter(|w| !w.is_empty()) {
            Some("child") => return Ok(Chosen::Child),
            Some("all") => return Ok(Chosen::All),
            Some(_) => return Err(bad("what must be child or all")),
            None => {}
        }
        if set(&self.item) {
            return Ok(Chosen::Item(path_id(self.item.as_deref().unwrap_or_default())?));
        }
        let kinds = match self.kind.as_deref().filter(|k| !k.is_empty()) {
            Some(k) => vec![ItemKind::parse(k).ok_or_else(|| bad("unknown item kind"))?],
            None => Vec::new(),
        };
        let (from, to) = if set(&self.day) {
            let day = parse_day("day", self.day.as_deref())?.map(|d| z.day_bounds(d));
            (day.map(|d| d.0), day.map(|d| d.1))
        } else {
            day_range(z, self.from.as_deref(), self.to.as_deref())?
        };
        let device: Option<DeviceId> = match self.device.as_deref().filter(|d| !d.trim().is_empty()) {
            Some(d) => Some(path_id(d)?),
            None => None,
        };
        if kinds.is_empty() && from.is_none() && to.is_none() && device.is_none() {
            return Err(bad(
                "say what to delete: an item, a day, a date range, a kind, a device, all data or the child",
            ));
        }
        if let (Some(f), Some(t)) = (from, to) {
            if f >= t {
                return Err(bad("the range must start before it ends"));
            }
        }
        Ok(Chosen::Items { kinds, from, to, device })
    }

    /// The hidden fields that carry the target into the confirming form.
    fn hidden(&self) -> Markup {
        let fields = [
            ("what", &self.what),
            ("item", &self.item),
            ("day", &self.day),
            ("kind", &self.kind),
            ("from", &self.from),
            ("to", &self.to),
            ("device", &self.device),
        ];
        html! {
            @for (k, v) in fields {
                @if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                    input type="hidden" name=(k) value=(v);
                }
            }
        }
    }
}

impl Chosen {
    fn scope(&self) -> DeletionScope {
        match self {
            Chosen::Child => DeletionScope::Child,
            Chosen::All => DeletionScope::Items { kinds: Vec::new(), from: None, to: None, device: None },
            Chosen::Item(item) => DeletionScope::Item { item: *item },
            Chosen::Items { kinds, from, to, device } => {
                DeletionScope::Items { kinds: kinds.clone(), from: *from, to: *to, device: *device }
            }
        }
    }
}

/// Words for a scope, as the confirmation and the deletions page say it, its
/// days in the reader's zone and language; `device` names the device when
/// the scope is one device's.
pub fn describe(z: Clock, scope: &DeletionScope, device_name: Option<&str>) -> String {
    let l = z.lang;
    match scope {
        DeletionScope::Child => t!(l, "scope-child"),
        DeletionScope::Item { .. } => t!(l, "scope-item"),
        DeletionScope::Items { kinds, from, to, device } => {
            let what = if kinds.is_empty() {
                t!(l, "scope-all-data")
            } else {
                kinds.iter().map(|k| words::kind_plural(l, *k)).collect::<Vec<_>>().join(", ")
            };
            // `to` is exclusive: the last day named is the one its previous instant falls on.
            let last = |t: &DateTime<Utc>| z.on(*t - Duration::seconds(1));
            let range = match (from, to) {
                (Some(f), Some(t)) if z.on(*f) == last(t) => t!(l, "scope-range-on", day = z.on(*f)),
                (Some(f), Some(t)) => t!(l, "scope-range-from-to", from = z.on(*f), to = last(t)),
                (Some(f), None) => t!(l, "scope-range-since", from = z.on(*f)),
                (None, Some(t)) => t!(l, "scope-range-up-to", to = last(t)),
                (None, None) => String::new(),
            };
            let sent = match (device, device_name) {
                (Some(_), Some(name)) => t!(l, "scope-sent-by", device = name),
                (Some(_), None) => t!(l, "scope-sent-by-one"),
                (None, _) => String::new(),
            };
            t!(l, "scope-items", what = what, sent = sent, range = range)
        }
    }
}

pub async fn confirm(
    State(state): State<AppState>,
    p: Portal,
    ApiPath(id): ApiPath<String>,
    Query(target): Query<Target>,
) -> PageResult {
    let child_id: ChildId = path_id(&id)?;
    let child = state.vault.get_child(&p.session, child_id, Utc::now()).await?;
    let z = p.clock();
    let l = p.lang;
    let chosen = target.chosen(z)?;
    let scope = chosen.scope();
    let preview = state.vault.preview_deletion(&p.session, child_id, &scope).await?;
    if matches!(chosen, Chosen::Item(_)) && preview.is_empty() {
        return Err(PageError::new(StatusCode::NOT_FOUND, "not_found", "no such item"));
    }
    let total: u64 = preview.iter().map(|(_, n)| n).sum();
    let what = match &chosen {
        Chosen::Item(item) => one_item(&state, &p, *item).await?,
        Chosen::Items { device: Some(d), .. } => {
            let devices = state.vault.list_devices(&p.session, child_id, Utc::now()).await?;
            describe(z, &scope, devices.iter().find(|v| v.device.id == *d).map(|v| v.name.as_str()))
        }
        _ => describe(z, &scope, None),
    };
    let mut said = match &chosen {
        Chosen::Items { kinds, from, to, device } if kinds.is_empty() || kinds.iter().any(speaks) => {
            words_said(&state, &p, child_id, *from, *to, *device).await?
        }
        _ => Vec::new(),
    };
    let more_said = said.len() > SAID_SHOWN;
    said.truncate(SAID_SHOWN);
    let name = child.profile.display_name.as_str();
    let whole_child = matches!(chosen, Chosen::Child);
    let nothing = preview.is_empty() && !whole_child;
    let keys_go = match state.vault.key_remnants() {
        KeyRemnants::None => t!(l, "delete-keys-erased"),
        KeyRemnants::OpenUntil(window) => t!(l, "delete-keys-sealed", days = window.num_days()),
        KeyRemnants::UntilCleanup => t!(l, "delete-keys-locked"),
    };
    let body = html! {
        section.card.danger {
            h2 { (t!(l, "delete-heading", what = what, name = name)) }
            p { (t!(l, "delete-will")) }
            @if nothing {
                p { (t!(l, "delete-nothing")) }
            } @else {
                ul.will-go {
                    @for (k, n) in &preview { li { (words::kind(l, *k, *n)) } }
                    @if whole_child {
                        li { (t!(l, "delete-child-profile", name = name)) }
                        li { (t!(l, "delete-child-keys")) }
                    }
                }
                p { (t!(l, "delete-total", n = total)) }
                @if !said.is_empty() {
                    p { (t!(l, "delete-among", name = name)) }
                    ul.said {
                        @for (at, first) in &said { li { (at) ": “" (first) "”" } }
                    }
                    @if more_said { p.meta { (t!(l, "delete-more")) } }
                }
            }
            p {
                (keys_go) (t!(l, "delete-then")) " "
                strong { (z.on(state.vault.backups_unrecoverable_after(Utc::now()))) }
                (t!(l, "delete-then-keys")) " "
                strong { (t!(l, "delete-cannot-undo")) }
            }
            form method="post" action={ "/portal/children/" (id) "/delete" } {
                (p.who().csrf_field())
                (target.hidden())
                button.danger type="submit" disabled[nothing] { (t!(l, "delete-button")) } " "
                a href={ "/portal/children/" (id) } { (t!(l, "delete-cancel")) }
            }
        }
    };
    Ok(html::page(l, StatusCode::OK, &t!(l, "delete-title"), Some(&p.who()), body))
}

/// How many of the words said a deletion's confirmation shows.
const SAID_SHOWN: usize = 6;

/// Whether deleting this kind deletes words said (a recording takes its
/// transcript with it).
fn speaks(k: &ItemKind) -> bool {
    matches!(k, ItemKind::VoiceRecording | ItemKind::Transcript)
}

/// The first 40 characters of what was said, "…" if there is more.
fn first_words(text: &str) -> String {
    let first: String = text.chars().take(40).collect();
    let more = if text.chars().count() > 40 { "…" } else { "" };
    format!("{}{more}", first.trim())
}

/// The first words of what was said within a deletion's range (one more than
/// is shown, to know whether there is more), newest first,
/// each with its local time ("Sun 29 Nov, 9:30 pm", "read me the bedtime…"),
/// so the parent sees which evening goes before confirming. Reading them is
/// the parent reading their child's words: recorded like any timeline page.
async fn words_said(
    state: &AppState,
    p: &Portal,
    child: ChildId,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    device: Option<DeviceId>,
) -> Result<Vec<(String, String)>, PageError> {
    let q = kidvault_service::review::PageQuery {
        kind: Some(ItemKind::Transcript.as_str()),
        from,
        to,
        device,
        limit: Some(SAID_SHOWN as u32 + 1),
        ..Default::default()
    };
    let (items, _) = state.vault.review_page(&p.session, child, &q, Utc::now()).await?;
    let z = p.clock();
    Ok(items
        .into_iter()
        .filter_map(|it| {
            let at = it.meta.recorded_at;
            Some((format!("{}, {}", z.weekday_day_month(at), z.time(at)), first_words(&it.text?)))
        })
        .collect())
}

/// One record in a parent's words: what it is, when, and the first words said
/// ("the voice recording of 29 Nov 2026, 8:30 pm: “can you sing the moon…”").
async fn one_item(state: &AppState, p: &Portal, item: ItemId) -> Result<String, PageError> {
    let now = Utc::now();
    let view = state.vault.get_item(&p.session, item, now).await?;
    let l = p.lang;
    let kind = words::kind_one(l, view.meta.kind);
    let when = p.clock().at(view.meta.recorded_at);
    let mut said = view.content.as_ref().and_then(|c| c.as_str().map(str::to_owned));
    if said.is_none() && view.meta.kind == ItemKind::VoiceRecording {
        for d in view.derived.iter().take(4) {
            let derived = state.vault.get_item(&p.session, *d, now).await?;
            if derived.meta.kind == ItemKind::Transcript {
                said = derived.content.as_ref().and_then(|c| c.as_str().map(str::to_owned));
                break;
            }
        }
    }
    Ok(match said.filter(|w| !w.trim().is_empty()) {
        Some(words) => t!(l, "delete-one-item-said", kind = kind, when = when, said = first_words(&words)),
        None => t!(l, "delete-one-item", kind = kind, when = when),
    })
}

pub async fn perform(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    PortalForm(p, target): PortalForm<Target>,
) -> PageResult {
    let child_id: ChildId = path_id(&id)?;
    let now = Utc::now();
    let g = &p.session;
    let deletion = match target.chosen(p.clock())? {
        Chosen::Child => state.vault.delete_child(g, child_id, now).await?,
        Chosen::All => state.vault.delete_items(g, child_id, &[], Within::default(), true, now).await?,
        Chosen::Item(item) => {
            // The item must be this child's: the page named both.
            let preview = state.vault.preview_deletion(g, child_id, &DeletionScope::Item { item }).await?;
            if preview.is_empty() {
                return Err(PageError::new(StatusCode::NOT_FOUND, "not_found", "no such item"));
            }
            state.vault.delete_item(g, item, now).await?
        }
        Chosen::Items { kinds, from, to, device } => {
            let kinds: Vec<String> = kinds.iter().map(|k| k.as_str().to_owned()).collect();
            state.vault.delete_items(g, child_id, &kinds, Within { from, to, device }, false, now).await?
        }
    };
    run_deletions_now(&state);
    Ok(Redirect::to(&format!("/portal/deletions/{deletion}")).into_response())
}

fn step_badge(l: html::Lang, d: &DeletionRecord) -> Markup {
    let done = d.step == DeletionStep::Completed;
    html! {
        span class={ "badge " (if done { "ok" } else { "warn" }) } data-step=(d.step.as_str()) {
            (if done { t!(l, "deletions-done") } else { t!(l, "deletions-in-progress") })
        }
    }
}

/// Why a deletion happened, in a parent's words.
fn reason(l: html::Lang, d: &DeletionRecord) -> String {
    t!(l, "deletion-reason", reason = d.reason.as_str())
}

pub async fn list(State(state): State<AppState>, p: Portal) -> PageResult {
    let deletions = state.vault.household_deletions(&p.session, 200).await?;
    let z = p.clock();
    let l = p.lang;
    let body = html! {
        p { (t!(l, "deletions-intro")) }
        @if deletions.is_empty() {
            p.empty { (t!(l, "deletions-none")) }
        } @else {
            table.deletions tabindex="0" {
                thead { tr {
                    th { (t!(l, "deletions-col-requested")) } th { (t!(l, "deletions-col-what")) }
                    th { (t!(l, "deletions-col-why")) } th { (t!(l, "deletions-col-status")) }
                    th { (t!(l, "deletions-col-receipt")) }
                } }
                tbody {
                    @for d in &deletions {
                        tr data-deletion=(d.id) {
                            td { a href={ "/portal/deletions/" (d.id) } { (z.at(d.requested_at)) } }
                            td { (describe(z, &d.scope, None)) }
                            td { (reason(l, d)) }
                            td { (step_badge(l, d)) }
                            td {
                                @if d.step == DeletionStep::Completed {
                                    a href={ "/api/v1/deletions/" (d.id) "/receipt" }
                                        download={ "kidvault-deletion-" (d.id) ".json" } {
                                        (t!(l, "deletions-download-receipt"))
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(html::page(l, StatusCode::OK, &t!(l, "deletions-title"), Some(&p.who()), body))
}

pub async fn detail(State(state): State<AppState>, p: Portal, ApiPath(id): ApiPath<String>) -> PageResult {
    let deletion_id: DeletionId = path_id(&id)?;
    let d = state.vault.deletion(&p.session, deletion_id).await?;
    let tasks = state.vault.deletion_tasks(&p.session, deletion_id).await?;
    let now = Utc::now();
    let z = p.clock();
    let l = p.lang;
    let done = d.step == DeletionStep::Completed;
    let processors: Vec<(String, String)> = tasks
        .iter()
        .map(|t| {
            let status = match (t.state, t.overdue(now)) {
                (TaskState::Acknowledged, _) => {
                    t!(l, "deletion-task-confirmed", when = t.acknowledged_at.map(|t| z.at(t)).unwrap_or_default())
                }
                (_, true) => t!(l, "deletion-task-overdue", when = z.at(t.deadline)),
                _ => t!(l, "deletion-task-waiting", when = z.at(t.deadline)),
            };
            (t.processor_name.clone(), status)
        })
        .collect();
    let models: Vec<(String, String)> = state
        .vault
        .deletion_models(&p.session, deletion_id)
        .await?
        .iter()
        .map(|m| {
            let status = match (m.model.outcome.as_deref(), m.model.resolved_at) {
                (Some("retrained"), Some(at)) => t!(l, "deletion-model-retrained", when = z.at(at)),
                (Some(_), Some(at)) => t!(l, "deletion-model-destroyed", when = z.at(at)),
                _ if m.overdue(now) => t!(l, "deletion-model-late", when = z.at(m.deadline)),
                _ => t!(l, "deletion-model-due", when = z.at(m.deadline)),
            };
            (format!("{} {}", m.model.name, m.model.version), status)
        })
        .collect();
    let body = html! {
        p { a href="/portal/deletions" { (t!(l, "deletion-back")) } }
        section.card #deletion data-step=(d.step.as_str()) data-refresh=[(!done).then_some("2")] {
            h2 { (describe(z, &d.scope, None)) }
            p.meta { (t!(l, "deletion-asked", when = z.at(d.requested_at), why = reason(l, &d))) }
            ol.steps {
                @for s in DeletionStep::ALL {
                    li class=(if s <= d.step { "done" } else { "todo" }) {
                        (if s <= d.step { "✓" } else { "…" }) " "
                        (step_words(l, s, state.vault.key_remnants() == KeyRemnants::None))
                    }
                }
            }
            @if !processors.is_empty() {
                h3 { (t!(l, "deletion-services")) }
                ul { @for (name, status) in &processors { li { strong { (name) } ": " (status) } } }
            }
            @if !models.is_empty() {
                h3 { (t!(l, "deletion-models")) }
                ul.models { @for (what, status) in &models { li { strong { (what) } ": " (status) } } }
            }
            @if done {
                p.copies {
                    (t!(
                        l,
                        "deletion-unreadable-since",
                        when = z.at(d.updated_at),
                        backups = z.on(state.vault.backups_unrecoverable_after(d.updated_at))
                    ))
                }
                p #receipt-check role="status" data-receipt-check
                    data-receipt={ "/api/v1/deletions/" (d.id) "/receipt" } data-key="/api/v1/ledger/public-key"
                    data-valid=(t!(l, "receipt-valid", index = "{index}", size = "{size}"))
                    data-invalid=(t!(l, "receipt-invalid")) data-unchecked=(t!(l, "receipt-unchecked"))
                    data-why-signature=(t!(l, "receipt-why-signature")) data-why-checkpoint=(t!(l, "receipt-why-checkpoint"))
                    data-why-proof=(t!(l, "receipt-why-proof")) data-why-absent=(t!(l, "receipt-why-absent"))
                    data-why-text=(t!(l, "receipt-why-text")) {
                    (t!(l, "receipt-signed"))
                }
                p {
                    a.button href={ "/api/v1/deletions/" (d.id) "/receipt" }
                        download={ "kidvault-deletion-" (d.id) ".json" } { (t!(l, "deletion-download-receipt")) }
                }
            }
        }
    };
    Ok(html::page(l, StatusCode::OK, &t!(l, "deletion-title"), Some(&p.who()), body))
}

fn step_words(l: html::Lang, s: DeletionStep, keys_leave_no_bytes: bool) -> String {
    match s {
        DeletionStep::Shredded if keys_leave_no_bytes => t!(l, "deletion-step", step = "shredded_erased"),
        s => t!(l, "deletion-step", step = s.as_str()),
    }
}
