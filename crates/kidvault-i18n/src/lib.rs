//! kidvault's one message catalogue: every word the portal and the notices
//! show a guardian lives in `locales/<lang>.ftl` ([Project Fluent] syntax), so
//! the wording is reviewed in one place and a language is added by adding a
//! file. English and Spanish ship; a test keeps their messages and the
//! variables each message uses the same.
//!
//! ```
//! use kidvault_i18n::{t, Lang};
//! assert_eq!(t!(Lang::Es, "nav-household"), "Hogar");
//! ```
//!
//! Dates and times are words too: [`Clock`] writes an instant in a reader's
//! zone and language ("30 Nov 2026, 9:30 pm PST", "30 nov 2026, 21:30 PST").
//!
//! [Project Fluent]: https://projectfluent.org/

mod clock;

use std::sync::OnceLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};

pub use clock::Clock;

const EN: &str = include_str!("../locales/en.ftl");
const ES: &str = include_str!("../locales/es.ftl");

/// A language the portal and notices are written in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Lang {
    #[default]
    En,
    Es,
}

type Bundle = FluentBundle<FluentResource>;

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Es];

    /// Its BCP 47 code, as in `<html lang>` and the language cookie.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Es => "es",
        }
    }

    /// Its name in itself ("Español"), for the language switch.
    pub fn name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Es => "Español",
        }
    }

    /// A language tag ("es", "es-MX", "EN-gb") to the language kidvault has
    /// for it; `None` for a language it does not have.
    pub fn parse(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        Lang::ALL.into_iter().find(|l| l.code() == primary)
    }

    /// The best language for an `Accept-Language` header (RFC 9110 §12.5.4):
    /// the highest-weighted tag kidvault has, English when none.
    pub fn negotiate(accept_language: &str) -> Lang {
        let mut best: Option<(f32, usize, Lang)> = None;
        for (i, part) in accept_language.split(',').enumerate().take(32) {
            let mut it = part.split(';');
            let tag = it.next().unwrap_or_default();
            let q = it
                .find_map(|p| p.trim().strip_prefix("q=").map(|q| q.trim().parse::<f32>().unwrap_or(0.0)))
                .unwrap_or(1.0);
            let Some(lang) = Lang::parse(tag) else { continue };
            if q <= 0.0 {
                continue;
            }
            // Higher weight wins; among equal weights, the earlier tag.
            if best.is_none_or(|(bq, bi, _)| q > bq || (q == bq && i < bi)) {
                best = Some((q, i, lang));
            }
        }
        best.map(|(_, _, l)| l).unwrap_or_default()
    }

    fn bundle(self) -> &'static Bundle {
        static BUNDLES: [OnceLock<Bundle>; 2] = [OnceLock::new(), OnceLock::new()];
        let (slot, source) = match self {
            Lang::En => (&BUNDLES[0], EN),
            Lang::Es => (&BUNDLES[1], ES),
        };
        slot.get_or_init(|| build(self, source))
    }

    /// A message without variables.
    pub fn text(self, id: &str) -> String {
        self.with(id, &[])
    }

    /// A message with its variables. A message missing here is taken from
    /// English; one missing everywhere shows its id (the catalogue test fails
    /// on both, so neither reaches a release).
    pub fn with(self, id: &str, args: &[(&str, FluentValue<'_>)]) -> String {
        let mut fluent_args = FluentArgs::with_capacity(args.len());
        for (k, v) in args {
            fluent_args.set(*k, v.clone());
        }
        for lang in [self, Lang::En] {
            let bundle = lang.bundle();
            if let Some(pattern) = bundle.get_message(id).and_then(|m| m.value()) {
                let mut errors = Vec::new();
                return bundle.format_pattern(pattern, Some(&fluent_args), &mut errors).into_owned();
            }
        }
        id.to_owned()
    }

    /// Whether the catalogue has this message (for messages chosen by a
    /// code at run time, such as an error's).
    pub fn has(self, id: &str) -> bool {
        self.bundle().has_message(id)
    }
}

fn build(lang: Lang, source: &'static str) -> Bundle {
    let locale = lang.code().parse().unwrap_or_default();
    let mut bundle = Bundle::new_concurrent(vec![locale]);
    // Text goes into HTML and e-mail, never mixed-direction: no isolation marks.
    bundle.set_use_isolating(false);
    let resource = match FluentResource::try_new(source.to_owned()) {
        Ok(r) => r,
        // The catalogue test fails on any syntax error; keep what parsed.
        Err((r, _)) => r,
    };
    let _ = bundle.add_resource(resource);
    bundle
}

/// A value for a message's variable: text or a number (numbers choose plural
/// forms: `{ $n -> [one] … *[other] … }`).
pub trait Arg<'a> {
    fn arg(self) -> FluentValue<'a>;
}

impl<'a> Arg<'a> for &'a str {
    fn arg(self) -> FluentValue<'a> {
        FluentValue::from(self)
    }
}

impl<'a> Arg<'a> for &'a String {
    fn arg(self) -> FluentValue<'a> {
        FluentValue::from(self.as_str())
    }
}

impl<'a> Arg<'a> for String {
    fn arg(self) -> FluentValue<'a> {
        FluentValue::from(self)
    }
}

macro_rules! number_arg {
    ($($t:ty)*) => {$(
        impl<'a> Arg<'a> for $t {
            fn arg(self) -> FluentValue<'a> {
                FluentValue::from(self)
            }
        }
    )*};
}
number_arg!(u8 u16 u32 u64 usize i32 i64);

/// `t!(lang, "id")` or `t!(lang, "id", name = value, n = 3)`.
#[macro_export]
macro_rules! t {
    ($lang:expr, $id:literal) => {
        $lang.text($id)
    };
    ($lang:expr, $id:literal, $($k:ident = $v:expr),+ $(,)?) => {
        $lang.with($id, &[$((stringify!($k), $crate::Arg::arg($v))),+])
    };
}

#[cfg(test)]
mod tests;

/// A message written in each reader's language when it is shown, for text
/// stored once and read by several people (a notice to a household):
/// `{{msg:id|name=value|…}}`. A value may itself hold markers (a child, a
/// time, another message); they are written in turn.
pub fn mark(id: &str, args: &[(&str, &str)]) -> String {
    let mut out = format!("{{{{msg:{id}");
    for (k, v) in args {
        out.push('|');
        out.push_str(k);
        out.push('=');
        out.push_str(&kidvault_domain::markers::escape(v));
    }
    out.push_str("}}");
    out
}

impl Lang {
    /// Writes the `{{msg:…}}` markers of `text` in this language (and the
    /// markers their values carried, a few levels deep); other markers and
    /// plain text are left as they are.
    pub fn render(self, text: &str) -> String {
        let mut text = text.to_owned();
        for _ in 0..4 {
            if !text.contains("{{msg:") {
                break;
            }
            text = kidvault_domain::markers::render(&text, |kind, value| {
                (kind == "msg").then(|| {
                    let mut parts = value.split('|');
                    let id = parts.next().unwrap_or_default();
                    let args: Vec<(String, String)> = parts
                        .filter_map(|p| {
                            p.split_once('=').map(|(k, v)| (k.to_owned(), kidvault_domain::markers::unescape(v)))
                        })
                        .collect();
                    let values: Vec<(&str, FluentValue<'_>)> = args
                        .iter()
                        .map(|(k, v)| match v.parse::<i64>() {
                            Ok(n) => (k.as_str(), FluentValue::from(n)),
                            Err(_) => (k.as_str(), FluentValue::from(v.as_str())),
                        })
                        .collect();
                    self.with(id, &values)
                })
            });
        }
        text
    }
}
