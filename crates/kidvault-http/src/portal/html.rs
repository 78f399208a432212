//! The portal's page layout and shared pieces, written with `maud`: every
//! interpolated value is escaped unless it is wrapped in `PreEscaped`, which
//! only markup generated here (or by the QR-code and policy renderers) is.
//! No JavaScript build.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use kidvault_domain::entities::Guardian;
pub use kidvault_i18n::{t, Clock, Lang};
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

/// A whole page in the reader's language: header with who is signed in and
/// the household, navigation, the body, the language switch, and the
/// security headers.
pub fn page(l: Lang, status: StatusCode, title: &str, who: Option<&Who<'_>>, body: Markup) -> Response {
    let page = html! {
        (maud::DOCTYPE)
        html lang=(l.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · kidvault" }
                link rel="stylesheet" href="/portal/static/portal.css";
                script src="/portal/static/portal.js" defer {}
            }
            body {
                a.skip href="#main" { (t!(l, "page-skip")) }
                header.top {
                    a.brand href="/portal" { "kidvault" }
                    @if let Some(who) = who {
                        nav aria-label=(t!(l, "nav-label")) {
                            a href="/portal" { (t!(l, "nav-household")) } " "
                            a href="/portal/deletions" { (t!(l, "nav-deletions")) } " "
                            a href="/portal/mailbox" { (t!(l, "nav-mailbox")) } " "
                            a href="/portal/account" { (t!(l, "nav-account")) }
                        }
                        div.who {
                            (t!(l, "page-signed-in-as")) " " strong { (who.guardian.display_name) }
                            " (" (who.guardian.email) ") · "
                            a href="/portal/account#time-zone" {
                                (t!(l, "page-times-in", zone = who.guardian.zone().name().replace('_', " ")))
                            }
                            " "
                            form.inline method="post" action="/portal/sign-out" {
                                (who.csrf_field()) button type="submit" { (t!(l, "page-sign-out")) }
                            }
                        }
                    }
                }
                main id="main" {
                    h1 { (title) }
                    (body)
                }
                footer {
                    (t!(l, "page-footer")) " "
                    a href="/privacy/retention" { (t!(l, "page-footer-retention")) }
                    nav.languages aria-label=(t!(l, "page-language")) {
                        @for other in Lang::ALL {
                            " "
                            @if other == l {
                                span aria-current="true" lang=(other.code()) { (other.name()) }
                            } @else {
                                a href={ "/portal/language?to=" (other.code()) } lang=(other.code())
                                    hreflang=(other.code()) { (other.name()) }
                            }
                        }
                    }
                }
            }
        }
    };
    with_headers(status, page.into_string())
}

/// Security headers on every portal response: nothing loads from anywhere but
/// kidvault, no inline script or style, no framing, no referrer to other
/// sites, no caching.
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
    // The referrer goes to kidvault itself only (the language switch returns
    // to the page it was chosen on), never to another site.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// A wait in words: "1 second", "40 seconds", "3 minutes", "15 minutes".
pub fn duration_words(l: Lang, secs: u64) -> String {
    match secs {
        0..=59 => t!(l, "wait-seconds", n = secs.max(1)),
        _ => t!(l, "wait-minutes", n = secs.div_ceil(60)),
    }
}

/// The last 8 hex digits of a UUID: enough to tell records apart on a page
/// (a UUIDv7 begins with its time, so its first digits are alike for records
/// made together).
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

/// Words for guardians, from the catalogue.
pub mod words {
    use kidvault_domain::consent::{ConsentMethod, ConsentScope};
    use kidvault_domain::item::ItemKind;
    use kidvault_i18n::{t, Lang};

    /// "3 voice recordings".
    pub fn kind(l: Lang, k: ItemKind, n: u64) -> String {
        t!(l, "count-items", kind = k.as_str(), n = n)
    }

    /// "Voice recordings": a kind as a heading or a choice.
    pub fn kind_plural(l: Lang, k: ItemKind) -> String {
        t!(l, "kind-plural", kind = k.as_str())
    }

    /// "voice recording": one item of a kind.
    pub fn kind_one(l: Lang, k: ItemKind) -> String {
        t!(l, "kind-one", kind = k.as_str())
    }

    /// A consent scope's name and what it allows.
    pub fn scope(l: Lang, s: ConsentScope) -> (String, String) {
        (t!(l, "scope-name", scope = s.as_str()), t!(l, "scope-allows", scope = s.as_str()))
    }

    /// `n` items of a data category, in words ("3 voice recordings").
    pub fn category(l: Lang, c: kidvault_domain::item::DataCategory, n: u64) -> String {
        t!(l, "count-category", category = c.as_str().replace('.', "_"), n = n)
    }

    /// "voice recordings": a data category, without a count.
    pub fn category_plural(l: Lang, c: kidvault_domain::item::DataCategory) -> String {
        t!(l, "category-plural", category = c.as_str().replace('.', "_"))
    }

    pub fn method(l: Lang, m: ConsentMethod) -> String {
        t!(l, "consent-method", method = m.as_str())
    }

    /// What the assistant understood, as a sentence: `{"intent": "play_story",
    /// "slot": "brave little owl", "confidence": 0.94}` reads "The assistant
    /// understood: play a story, about “brave little owl” (sure)."
    pub fn understood(l: Lang, json: &str) -> String {
        let v: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
        let Some(intent) = v.get("intent").and_then(|i| i.as_str()) else {
            return t!(l, "understood", what = plain_value(l, &v), about = "", sure = "");
        };
        let key = intent.replace('.', "_");
        let what = match t!(l, "intent", intent = key.as_str()) {
            w if w.is_empty() => intent.replace(['_', '.'], " "),
            w => w,
        };
        let about = match v.get("slot").and_then(|s| s.as_str()).filter(|s| !s.is_empty()) {
            Some(slot) => t!(l, "understood-about", slot = slot),
            None => String::new(),
        };
        let sure = match v.get("confidence").and_then(serde_json::Value::as_f64) {
            Some(c) if c >= 0.9 => t!(l, "understood-sure", level = "sure"),
            Some(c) if c >= 0.7 => t!(l, "understood-sure", level = "fairly"),
            Some(_) => t!(l, "understood-sure", level = "unsure"),
            None => String::new(),
        };
        t!(l, "understood", what = what, about = about, sure = sure)
    }

    /// A remembered fact or an action, from its JSON, in words.
    pub fn remembered(l: Lang, json: &str) -> String {
        let v: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
        t!(l, "remembered", what = plain_value(l, &v))
    }

    pub fn action(l: Lang, json: &str) -> String {
        let v: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
        t!(l, "action-done", what = plain_value(l, &v))
    }

    /// Any JSON value as plain words: strings as they are, objects as
    /// "key value" pairs with underscores as spaces, lists joined.
    pub fn plain_value(l: Lang, v: &serde_json::Value) -> String {
        use serde_json::Value;
        let words = |s: &str| s.replace('_', " ");
        match v {
            Value::Null => t!(l, "value-nothing"),
            Value::Bool(b) => t!(l, "value-bool", yes = if *b { "yes" } else { "no" }),
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.clone(),
            Value::Array(a) => a.iter().map(|v| plain_value(l, v)).collect::<Vec<_>>().join(", "),
            Value::Object(o) => o
                .iter()
                .map(|(k, v)| format!("{} {}", words(k), words(&plain_value(l, v))))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}
