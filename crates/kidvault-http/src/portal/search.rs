//! Looking for words in what a child said, within the dates (and device) the
//! parent picked: the transcripts are opened page by page under the usual
//! access records, and the matches listed with their time and recording.

use kidvault_domain::ids::ChildId;
use kidvault_domain::item::ItemKind;
use kidvault_domain::Timestamp;
use kidvault_service::review::PageQuery;

use super::html::{html, t, Markup};
use super::session::{PageError, Portal};
use crate::AppState;

/// How many transcripts one search reads at most (newest first).
const READ_AT_MOST: usize = 2_000;
/// How many matches are shown.
const SHOW_AT_MOST: usize = 100;

/// `text` with each case-insensitive occurrence of `words` marked.
fn marked(text: &str, words: &str) -> Markup {
    let lower = text.to_lowercase();
    let needle = words.to_lowercase();
    // Lower-casing can change lengths outside ASCII: mark only when it did not.
    let mut parts: Vec<(&str, bool)> = Vec::new();
    let mut at = 0;
    if lower.len() == text.len() && !needle.is_empty() {
        while let Some(i) = lower[at..].find(&needle) {
            let start = at + i;
            let end = start + needle.len();
            parts.push((&text[at..start], false));
            parts.push((&text[start..end], true));
            at = end;
        }
    }
    parts.push((&text[at..], false));
    html! { @for (part, mark) in parts { @if mark { mark { (part) } } @else { (part) } } }
}

pub async fn results(
    state: &AppState,
    p: &Portal,
    child: ChildId,
    range: &PageQuery<'_>,
    words: &str,
    now: Timestamp,
) -> Result<Markup, PageError> {
    let z = p.clock();
    let l = p.lang;
    let needle = words.to_lowercase();
    let mut found = Vec::new();
    let mut read = 0;
    let mut cursor: Option<String> = None;
    loop {
        let query = PageQuery {
            kind: Some(ItemKind::Transcript.as_str()),
            cursor: cursor.as_deref(),
            limit: Some(200),
            ..range.clone()
        };
        let (items, next) = state.vault.review_page(&p.session, child, &query, now).await?;
        read += items.len();
        for it in items {
            if it.text.as_deref().is_some_and(|t| t.to_lowercase().contains(&needle)) {
                found.push(it);
            }
        }
        match next {
            Some(n) if read < READ_AT_MOST && found.len() < SHOW_AT_MOST => cursor = Some(n),
            _ => break,
        }
    }
    let said = match found.len() {
        n if n >= SHOW_AT_MOST => t!(l, "search-said-many", words = words, n = n),
        n => t!(l, "search-said", words = words, n = n),
    };
    Ok(html! {
        section.card #search {
            h2 { (said) }
            ol.found {
                @for it in found.iter().take(SHOW_AT_MOST) {
                    @let day = z.date(it.meta.recorded_at);
                    @let source = it.meta.derived_from.first().map(|s| format!("#item-{s}")).unwrap_or_default();
                    li {
                        a href={ "/portal/children/" (child) "?from=" (day) "&to=" (day) (source) } {
                            time datetime=(it.meta.recorded_at.to_rfc3339()) { (z.at(it.meta.recorded_at)) }
                        }
                        blockquote.transcript { (marked(it.text.as_deref().unwrap_or(""), words)) }
                    }
                }
            }
            @if read >= READ_AT_MOST {
                p.meta { (t!(l, "search-only-newest", n = READ_AT_MOST)) }
            }
            p { a href={ "/portal/children/" (child) } { (t!(l, "search-back")) } }
        }
    })
}

#[cfg(test)]
mod tests {

    #[test]
    fn matches_are_marked_whatever_their_case_and_the_rest_is_escaped() {
        let marked = |t: &str, w: &str| super::marked(t, w).into_string();
        assert_eq!(marked("Sing the Moon song <3", "moon"), "Sing the <mark>Moon</mark> song &lt;3");
        assert_eq!(marked("moon, moon", "MOON"), "<mark>moon</mark>, <mark>moon</mark>");
        assert_eq!(marked("İstanbul moon", "moon"), "İstanbul moon", "not marked where lower-casing moves bytes");
        assert_eq!(marked("<b>moon</b>", "<b>"), "<mark>&lt;b&gt;</mark>moon&lt;/b&gt;", "the words are escaped too");
    }
}
