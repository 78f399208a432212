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
use kidvault_service::deletion::DeletionRecord;
use kidvault_service::deletion::Within;
use serde::Deserialize;

use super::child::{day_range, parse_day};
use super::html::{self, html, words, Markup, Zone};
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
    fn chosen(&self, z: Zone) -> Result<Chosen, PageError> {
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
/// days in the reader's zone.
pub fn describe(z: Zone, scope: &DeletionScope) -> String {
    match scope {
        DeletionScope::Child => "the child's profile, keys, consents, devices and all of its data".into(),
        DeletionScope::Item { .. } => "one recording (or other record) and everything that came from it".into(),
        DeletionScope::Items { kinds, from, to, device } => {
            let what = if kinds.is_empty() {
                "all data".to_owned()
            } else {
                kinds
                    .iter()
                    .map(|k| words::kind(*k, 2).trim_start_matches("2 ").to_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            // `to` is exclusive: the last day named is the one its previous instant falls on.
            let last = |t: &DateTime<Utc>| z.on(*t - Duration::seconds(1));
            let range = match (from, to) {
                (Some(f), Some(t)) if z.on(*f) == last(t) => format!(" recorded on {}", z.on(*f)),
                (Some(f), Some(t)) => format!(" recorded from {} to {}", z.on(*f), last(t)),
                (Some(f), None) => format!(" recorded since {}", z.on(*f)),
                (None, Some(t)) => format!(" recorded up to {}", last(t)),
                (None, None) => String::new(),
            };
            let sent = if device.is_some() { " that one device sent" } else { "" };
            format!("{what}{sent}{range}, and everything that came from it")
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
    let z = p.zone();
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
            let named = devices.iter().find(|v| v.device.id == *d).map(|v| format!("that {} sent", v.name));
            describe(z, &scope).replacen("that one device sent", named.as_deref().unwrap_or("that one device sent"), 1)
        }
        _ => describe(z, &scope),
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
    let things = if total == 1 { "1 thing".to_owned() } else { format!("{total} things") };
    let keys_go = if state.vault.keys_leave_no_bytes() {
        "The data keys are destroyed first and erased from disk, so nothing can be read again from anything we keep"
    } else {
        "The data keys are destroyed first, so nothing can be read again through kidvault (the database keeps \
         locked remnants of them until its routine cleanup)"
    };
    let body = html! {
        section.card.danger {
            h2 { "Delete " (what) " for " (name) "?" }
            p { "This will permanently delete:" }
            @if nothing {
                p { "Nothing matches: there is nothing to delete." }
            } @else {
                ul.will-go {
                    @for (k, n) in &preview { li { (words::kind(*k, *n)) } }
                    @if whole_child {
                        li { (name) "'s profile, consents and paired devices" }
                        li { "the child's encryption keys, destroyed at once" }
                    }
                }
                p { (things) " in all." }
                @if !said.is_empty() {
                    p { "Among it, what " (name) " said:" }
                    ul.said {
                        @for (at, first) in &said { li { (at) ": “" (first) "”" } }
                    }
                    @if more_said { p.meta { "…and more." } }
                }
            }
            p {
                (keys_go) "; then the encrypted data is erased, every service that holds a copy is told to delete \
                 it, and you get a signed receipt. Backups made before today hold only locked copies, and stop \
                 opening by " strong { (z.on(state.vault.backups_unrecoverable_after(Utc::now()))) } ", when their \
                 own keys are destroyed. " strong { "This cannot be undone." }
            }
            form method="post" action={ "/portal/children/" (id) "/delete" } {
                (p.who().csrf_field())
                (target.hidden())
                button.danger type="submit" disabled[nothing] { "Delete permanently" } " "
                a href={ "/portal/children/" (id) } { "Cancel" }
            }
        }
    };
    Ok(html::page(StatusCode::OK, "Confirm deletion", Some(&p.who()), body))
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
    let z = p.zone();
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
    let kind = words::kind(view.meta.kind, 1);
    let mut out = format!("the {} of {}", kind.trim_start_matches("1 "), p.zone().at(view.meta.recorded_at));
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
    if let Some(words) = said.filter(|w| !w.trim().is_empty()) {
        out.push_str(&format!(": “{}”", first_words(&words)));
    }
    out.push_str(", and everything that came from it");
    Ok(out)
}

pub async fn perform(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    PortalForm(p, target): PortalForm<Target>,
) -> PageResult {
    let child_id: ChildId = path_id(&id)?;
    let now = Utc::now();
    let g = &p.session;
    let deletion = match target.chosen(p.zone())? {
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

fn step_badge(d: &DeletionRecord) -> Markup {
    let done = d.step == DeletionStep::Completed;
    html! {
        span class={ "badge " (if done { "ok" } else { "warn" }) } data-step=(d.step.as_str()) {
            (if done { "done" } else { "in progress" })
        }
    }
}

pub async fn list(State(state): State<AppState>, p: Portal) -> PageResult {
    let deletions = state.vault.household_deletions(&p.session, 200).await?;
    let z = p.zone();
    let body = html! {
        p {
            "Every deletion you (or the retention policy, or your auto-delete choice) started, and where it is. A \
             completed deletion has a signed receipt: a file that anyone can check was written by kidvault and not \
             changed since."
        }
        @if deletions.is_empty() {
            p.empty { "No deletions yet." }
        } @else {
            table.deletions tabindex="0" {
                thead { tr { th { "Requested" } th { "What" } th { "Why" } th { "Status" } th { "Receipt" } } }
                tbody {
                    @for d in &deletions {
                        tr data-deletion=(d.id) {
                            td { a href={ "/portal/deletions/" (d.id) } { (z.at(d.requested_at)) } }
                            td { (describe(z, &d.scope)) }
                            td { (d.reason.plain()) }
                            td { (step_badge(d)) }
                            td {
                                @if d.step == DeletionStep::Completed {
                                    a href={ "/api/v1/deletions/" (d.id) "/receipt" }
                                        download={ "kidvault-deletion-" (d.id) ".json" } { "Download receipt" }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(html::page(StatusCode::OK, "Deletions", Some(&p.who()), body))
}

pub async fn detail(State(state): State<AppState>, p: Portal, ApiPath(id): ApiPath<String>) -> PageResult {
    let deletion_id: DeletionId = path_id(&id)?;
    let d = state.vault.deletion(&p.session, deletion_id).await?;
    let tasks = state.vault.deletion_tasks(&p.session, deletion_id).await?;
    let now = Utc::now();
    let z = p.zone();
    let done = d.step == DeletionStep::Completed;
    let processors: Vec<(String, String)> = tasks
        .iter()
        .map(|t| {
            let status = match (t.state, t.overdue(now)) {
                (TaskState::Acknowledged, _) => {
                    format!("confirmed {}", t.acknowledged_at.map(|t| z.at(t)).unwrap_or_default())
                }
                (_, true) => format!("waiting, overdue since {}", z.at(t.deadline)),
                _ => format!("waiting (deadline {})", z.at(t.deadline)),
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
                (Some("retrained"), Some(at)) => format!("retrained without it on {}", z.at(at)),
                (Some(_), Some(at)) => format!("destroyed on {}", z.at(at)),
                _ if m.overdue(now) => format!("not yet retrained or destroyed, late since {}", z.at(m.deadline)),
                _ => format!("to be retrained without it or destroyed by {}", z.at(m.deadline)),
            };
            (format!("{} {}", m.model.name, m.model.version), status)
        })
        .collect();
    let body = html! {
        p { a href="/portal/deletions" { "← Deletions" } }
        section.card #deletion data-step=(d.step.as_str()) data-refresh=[(!done).then_some("2")] {
            h2 { (describe(z, &d.scope)) }
            p.meta { "Asked for " (z.at(d.requested_at)) " · why: " (d.reason.plain()) }
            ol.steps {
                @for s in DeletionStep::ALL {
                    li class=(if s <= d.step { "done" } else { "todo" }) {
                        (if s <= d.step { "✓" } else { "…" }) " " (step_words(s, state.vault.keys_leave_no_bytes()))
                    }
                }
            }
            @if !processors.is_empty() {
                h3 { "Services holding copies" }
                ul { @for (name, status) in &processors { li { strong { (name) } ": " (status) } } }
            }
            @if !models.is_empty() {
                h3 { "Models trained on this data" }
                ul.models { @for (what, status) in &models { li { strong { (what) } ": " (status) } } }
            }
            @if done {
                p.copies {
                    "Unreadable in everything we keep since " (z.at(d.updated_at)) ". Backups made before then stop \
                     opening by " (z.on(state.vault.backups_unrecoverable_after(d.updated_at))) "."
                }
                p #receipt-check role="status" data-receipt-check
                    data-receipt={ "/api/v1/deletions/" (d.id) "/receipt" } data-key="/api/v1/ledger/public-key" {
                    "This receipt is signed by kidvault's log. Download it to keep it; anyone can check it against \
                     the log's published key."
                }
                p {
                    a.button href={ "/api/v1/deletions/" (d.id) "/receipt" }
                        download={ "kidvault-deletion-" (d.id) ".json" } { "Download the signed receipt" }
                }
            }
        }
    };
    Ok(html::page(StatusCode::OK, "Deletion", Some(&p.who()), body))
}

fn step_words(s: DeletionStep, keys_leave_no_bytes: bool) -> &'static str {
    match s {
        DeletionStep::Requested => "Requested",
        DeletionStep::Resolved => "Found everything that came from it",
        DeletionStep::Shredded if keys_leave_no_bytes => "Keys destroyed and erased from disk: unreadable from now on",
        DeletionStep::Shredded => "Keys destroyed: unreadable from now on",
        DeletionStep::Rotated => "Everything else keeps its own keys: nothing else is touched",
        DeletionStep::Purged => "Encrypted data erased",
        DeletionStep::Dispatched => "Services holding copies told",
        DeletionStep::Acknowledged => "Every service confirmed",
        DeletionStep::Completed => "Completed, receipt signed",
    }
}
