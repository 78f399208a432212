//! Markers in stored text: `{{kind:value}}`, rendered for each reader when the
//! text is shown. Notices store times as `{{at:…}}` / `{{on:…}}` (the reader's
//! time zone decides the words, [`crate::localtime`]) and children as
//! `{{child:<id>}}` (the reader's right to the name decides it,
//! [`crate::notice`]). One scanner serves every kind.

/// Calls `f(kind, value)` for each well-formed marker of `text`, in order.
pub fn each<'t>(text: &'t str, mut f: impl FnMut(&'t str, &'t str)) {
    scan(text, |piece| {
        if let Piece::Marker { kind, value, .. } = piece {
            f(kind, value);
        }
    });
}

/// Replaces each marker for which `words(kind, value)` has words; any other
/// marker, and any text that is not a marker, is left as it is.
pub fn render(text: &str, mut words: impl FnMut(&str, &str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    scan(text, |piece| match piece {
        Piece::Text(t) => out.push_str(t),
        Piece::Marker { raw, kind, value } => match words(kind, value) {
            Some(w) => out.push_str(&w),
            None => out.push_str(raw),
        },
    });
    out
}

/// A value made safe to stand inside another marker (`{{msg:id|name=value}}`):
/// the characters of the marker syntax are percent-escaped, so a marker the
/// value carries stays whole and is written once the outer one is.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '{' | '}' | '|' | '=' | '%' => out.push_str(&format!("%{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// The value [`escape`] made safe, as it was.
pub fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        match rest.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(b) => {
                out.push(char::from(b));
                rest = &rest[i + 3..];
            }
            None => {
                out.push('%');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

enum Piece<'t> {
    Text(&'t str),
    Marker { raw: &'t str, kind: &'t str, value: &'t str },
}

fn scan<'t>(text: &'t str, mut f: impl FnMut(Piece<'t>)) {
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        f(Piece::Text(&rest[..start]));
        let tail = &rest[start..];
        let Some(end) = tail.find("}}") else {
            rest = tail;
            break;
        };
        let raw = &tail[..end + 2];
        match tail[2..end].split_once(':') {
            Some((kind, value)) => f(Piece::Marker { raw, kind, value }),
            None => f(Piece::Text(raw)),
        }
        rest = &tail[end + 2..];
    }
    f(Piece::Text(rest));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_found_rendered_or_left_alone() {
        let text = "a {{x:1}} b {{y:2}} {{plain}} {{z:3 and {{";
        let mut seen = Vec::new();
        each(text, |k, v| seen.push((k, v)));
        assert_eq!(seen, [("x", "1"), ("y", "2")]);
        let out = render(text, |k, v| (k == "x").then(|| format!("<{v}>")));
        assert_eq!(out, "a <1> b {{y:2}} {{plain}} {{z:3 and {{");
        assert_eq!(render("no markers", |_, _| None), "no markers");
    }
}
