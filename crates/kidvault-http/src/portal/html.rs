//! The portal's page layout and shared pieces, written with `maud`: every
//! interpolated value is escaped unless it is wrapped in `PreEscaped`, which
//! only markup generated here (or by the QR-code and policy renderers) is.
//! No JavaScript build.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use kidvault_domain::entities::Guardian;
pub use kidvault_domain::localtime::Zone;
pub use maud::{html, Markup, PreEscaped};

/// The signed-in guardian, shown on every page, and the form token.
#[derive(Debug)]
pub struct Who<'a> {
    pub guardian: &'a Guardian,
    pub csrf: &'a str,
}

impl Who<'_> {
    /// The hidden anti-forgery field every state-changing form carries.
    pub fn csrf_field(&self) -> Markup {
        csrf_field(self.csrf)
    }
}

pub fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name="_csrf" value=(token); }
}

/// A whole page: header with who is signed in and the household, navigation,
/// the body, and the security headers.
pub fn page(status: StatusCode, title: &str, who: Option<&Who<'_>>, body: Markup) -> Response {
    let page = html! {
        (maud::DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · kidvault" }
                link rel="stylesheet" href="/portal/static/portal.css";
                script src="/portal/static/portal.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to the page's content" }
                header.top {
                    a.brand href="/portal" { "kidvault" }
                    @if let Some(who) = who {
                        nav aria-label="Main" {
                            a href="/portal" { "Household" } " "
                            a href="/portal/deletions" { "Deletions" } " "
                            a href="/portal/mailbox" { "Mailbox" } " "
                            a href="/portal/account" { "Account" }
                        }
                        div.who {
                            "Signed in as " strong { (who.guardian.display_name) } " (" (who.guardian.email) ") · "
                            a href="/portal/account#time-zone" {
                                "times in " (who.guardian.zone().name().replace('_', " "))
                            }
                            " "
                            form.inline method="post" action="/portal/sign-out" {
                                (who.csrf_field()) button type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main id="main" {
                    h1 { (title) }
                    (body)
                }
                footer {
                    "kidvault keeps children's data only with a parent's consent, shows every access, and deletes for real. "
                    a href="/privacy/retention" { "How long we keep data" }
                }
            }
        }
    };
    with_headers(status, page.into_string())
}

/// Security headers on every portal response: nothing loads from anywhere but
/// kidvault, no inline script or style, no framing, no referrer, no caching.
fn with_headers(status: StatusCode, html: String) -> Response {
    let mut resp = (status, html).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// The last 8 hex digits of a UUID: enough to tell records apart on a page
/// (a UUIDv7 begins with its time, so its first digits are alike for records
/// made together).
/// A wait in words: "1 second", "40 seconds", "3 minutes", "15 minutes".
pub fn duration_words(secs: u64) -> String {
    match secs {
        0..=1 => "1 second".to_owned(),
        2..=59 => format!("{secs} seconds"),
        60..=119 => "1 minute".to_owned(),
        _ => format!("{} minutes", secs.div_ceil(60)),
    }
}

pub fn short_id(id: &str) -> String {
    let hex: Vec<char> = id.chars().filter(char::is_ascii_hexdigit).collect();
    hex[hex.len().saturating_sub(8)..].iter().collect()
}

/// A notice box (error or success) above a form.
pub fn flash(kind: &str, text: &str) -> Markup {
    html! { p class={ "flash " (kind) } role=(if kind == "error" { "alert" } else { "status" }) { (text) } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_interpolated_value_is_escaped() {
        let hostile = r#"<a href="x" onclick='y'>&</a>"#;
        let out = flash("error", hostile).into_string();
        assert_eq!(
            out,
            r#"<p class="flash error" role="alert">&lt;a href=&quot;x&quot; onclick='y'&gt;&amp;&lt;/a&gt;</p>"#
        );
        assert!(csrf_field(r#""><script>"#).into_string().contains("value=\"&quot;&gt;&lt;script&gt;\""));
    }
}

/// Words for guardians.
pub mod words {
    use kidvault_domain::consent::{ConsentMethod, ConsentScope};
    use kidvault_domain::item::ItemKind;

    pub fn kind(k: ItemKind, n: u64) -> String {
        k.words(n)
    }

    pub fn scope(s: ConsentScope) -> (&'static str, &'static str) {
        match s {
            ConsentScope::Voice => (
                "Voice",
                "Record the child's voice to answer them, and keep what comes from it (the words, what was understood)",
            ),
            ConsentScope::PreciseLocation => (
                "Precise location",
                "Collect the device's precise location (kept precise for a day, then made approximate)",
            ),
            ConsentScope::ApproximateLocation => (
                "Approximate location",
                "Collect where the device is to within a few kilometres (never the exact point)",
            ),
            ConsentScope::Training => ("Model training", "Use the child's data to train or improve models"),
            ConsentScope::ThirdParty => ("Third parties", "Disclose the child's data to third parties"),
        }
    }

    /// `n` items of a data category, in words ("3 voice recordings").
    pub fn category(c: kidvault_domain::item::DataCategory, n: u64) -> String {
        use kidvault_domain::item::DataCategory::*;
        let (one, many) = match c {
            BiometricVoice => ("voice recording", "voice recordings"),
            Content => ("piece of what was said or understood", "pieces of what was said or understood"),
            LocationPrecise => ("precise location", "precise locations"),
            LocationImprecise => ("approximate location", "approximate locations"),
            Childrens => ("profile detail", "profile details"),
        };
        format!("{n} {}", if n == 1 { one } else { many })
    }

    pub fn method(m: ConsentMethod) -> &'static str {
        match m {
            ConsentMethod::SignedForm => "Signed consent form",
            ConsentMethod::PaymentCard => "Payment card transaction",
            ConsentMethod::TollFreeCall => "Toll-free call",
            ConsentMethod::VideoCall => "Video call",
            ConsentMethod::GovernmentId => "Government ID check",
            ConsentMethod::KnowledgeBased => "Knowledge-based questions",
            ConsentMethod::FaceMatch => "Face match against ID",
            ConsentMethod::TextPlus => "Text message plus confirmation",
            ConsentMethod::EmailPlus => "E-mail plus confirmation",
        }
    }

    /// What the assistant understood, as a sentence: `{"intent": "play_story",
    /// "slot": "brave little owl", "confidence": 0.94}` reads "The assistant
    /// understood: play a story, about “brave little owl” (sure)."
    pub fn understood(json: &str) -> String {
        let v: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
        let Some(intent) = v.get("intent").and_then(|i| i.as_str()) else {
            return format!("The assistant understood: {}.", plain_value(&v));
        };
        let what = match intent {
            "play_music" => "play music".to_owned(),
            "play_story" => "play a story".to_owned(),
            "question" => "answer a question".to_owned(),
            "set_timer" => "set a timer".to_owned(),
            "joke" => "tell a joke".to_owned(),
            "bedtime_routine" => "start the bedtime routine".to_owned(),
            "weather" => "say what the weather will be".to_owned(),
            "spelling" => "spell a word".to_owned(),
            "math" => "work out a sum".to_owned(),
            other => other.replace(['_', '.'], " "),
        };
        let about = match v.get("slot").and_then(|s| s.as_str()).filter(|s| !s.is_empty()) {
            Some(slot) => format!(", about “{slot}”"),
            None => String::new(),
        };
        let sure = match v.get("confidence").and_then(serde_json::Value::as_f64) {
            Some(c) if c >= 0.9 => " (sure)",
            Some(c) if c >= 0.7 => " (fairly sure)",
            Some(_) => " (not sure)",
            None => "",
        };
        format!("The assistant understood: {what}{about}{sure}.")
    }

    /// A remembered fact or an action, from its JSON, in words.
    pub fn remembered(json: &str) -> String {
        let v: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
        format!("The assistant remembers: {}.", plain_value(&v))
    }

    pub fn action(json: &str) -> String {
        let v: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
        format!("The assistant did this: {}.", plain_value(&v))
    }

    /// Any JSON value as plain words: strings as they are, objects as
    /// "key value" pairs with underscores as spaces, lists joined.
    pub fn plain_value(v: &serde_json::Value) -> String {
        use serde_json::Value;
        let words = |s: &str| s.replace('_', " ");
        match v {
            Value::Null => "nothing".to_owned(),
            Value::Bool(b) => if *b { "yes" } else { "no" }.to_owned(),
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.clone(),
            Value::Array(a) => a.iter().map(plain_value).collect::<Vec<_>>().join(", "),
            Value::Object(o) => {
                o.iter().map(|(k, v)| format!("{} {}", words(k), words(&plain_value(v)))).collect::<Vec<_>>().join(", ")
            }
        }
    }
}
