//! The catalogue itself: both files parse, hold the same messages, and each
//! message uses the same variables in both languages (a translation that
//! drops `$child` would show a sentence about nobody).

use std::collections::{BTreeMap, BTreeSet};

use fluent_syntax::ast::{Entry, Expression, InlineExpression, Pattern, PatternElement};

use super::*;

type Vars = BTreeSet<String>;

fn messages(name: &str, source: &str) -> BTreeMap<String, Vars> {
    let resource = match fluent_syntax::parser::parse(source) {
        Ok(r) => r,
        Err((_, errors)) => panic!("{name} does not parse: {errors:?}"),
    };
    let mut out = BTreeMap::new();
    for entry in resource.body {
        match entry {
            Entry::Message(m) => {
                let value = m.value.unwrap_or_else(|| panic!("{name}: {} has no value", m.id.name));
                let mut vars = Vars::new();
                pattern_vars(&value, &mut vars);
                assert!(out.insert(m.id.name.to_owned(), vars).is_none(), "{name}: {} twice", m.id.name);
            }
            Entry::Junk { content } => panic!("{name}: junk {content:?}"),
            _ => {}
        }
    }
    out
}

fn pattern_vars(p: &Pattern<&str>, vars: &mut Vars) {
    for el in &p.elements {
        if let PatternElement::Placeable { expression } = el {
            expression_vars(expression, vars);
        }
    }
}

fn expression_vars(e: &Expression<&str>, vars: &mut Vars) {
    match e {
        Expression::Inline(i) => inline_vars(i, vars),
        Expression::Select { selector, variants } => {
            inline_vars(selector, vars);
            for v in variants {
                pattern_vars(&v.value, vars);
            }
        }
    }
}

fn inline_vars(i: &InlineExpression<&str>, vars: &mut Vars) {
    match i {
        InlineExpression::VariableReference { id } => {
            vars.insert(id.name.to_owned());
        }
        InlineExpression::Placeable { expression } => expression_vars(expression, vars),
        _ => {}
    }
}

#[test]
fn english_and_spanish_have_the_same_messages_with_the_same_variables() {
    let en = messages("en.ftl", EN);
    let es = messages("es.ftl", ES);
    let only_en: Vec<_> = en.keys().filter(|k| !es.contains_key(*k)).collect();
    let only_es: Vec<_> = es.keys().filter(|k| !en.contains_key(*k)).collect();
    assert!(only_en.is_empty(), "missing in Spanish: {only_en:?}");
    assert!(only_es.is_empty(), "missing in English: {only_es:?}");
    for (id, vars) in &en {
        // A language may use a variable only its grammar needs (the 12-hour
        // clock's am/pm); every other variable must be in both.
        let extra: Vec<_> = es[id].difference(vars).filter(|v| !GRAMMAR_ONLY.contains(&v.as_str())).collect();
        assert!(extra.is_empty(), "{id}: Spanish uses {extra:?}, which English does not pass");
        let dropped: Vec<_> = vars.difference(&es[id]).filter(|v| !GRAMMAR_ONLY.contains(&v.as_str())).collect();
        assert!(dropped.is_empty(), "{id}: Spanish drops {dropped:?}");
    }
    assert!(en.len() > 50, "the catalogue is nearly empty");
}

/// Variables one language's grammar uses and another's does not.
const GRAMMAR_ONLY: [&str; 3] = ["h12", "h24", "pm"];

#[test]
fn languages_come_from_tags_and_accept_language() {
    assert_eq!(Lang::parse("es-MX"), Some(Lang::Es));
    assert_eq!(Lang::parse("EN_gb"), Some(Lang::En));
    assert_eq!(Lang::parse("fr"), None);
    assert_eq!(Lang::negotiate("fr-FR, es;q=0.8, en;q=0.5"), Lang::Es);
    assert_eq!(Lang::negotiate("es;q=0.4, en-US"), Lang::En);
    assert_eq!(Lang::negotiate("es;q=0, de"), Lang::En);
    assert_eq!(Lang::negotiate(""), Lang::En);
    assert_eq!(Lang::negotiate("es-419,es;q=0.9"), Lang::Es);
}

#[test]
fn times_read_in_the_readers_zone_and_language() {
    use kidvault_domain::localtime::Zone;
    let la = Zone::parse("America/Los_Angeles").unwrap_or_default();
    // 05:30 UTC on 1 December is 9:30 pm on Monday 30 November in Los Angeles.
    let t = chrono::DateTime::parse_from_rfc3339("2026-12-01T05:30:00Z").unwrap_or_default().to_utc();
    let en = Clock::new(la, Lang::En);
    let es = Clock::new(la, Lang::Es);
    assert_eq!(en.at(t), "30 Nov 2026, 9:30 pm PST");
    assert_eq!(es.at(t), "30 nov 2026, 21:30 PST");
    assert_eq!(en.on(t), "30 November 2026");
    assert_eq!(es.on(t), "30 de noviembre de 2026");
    assert_eq!(en.weekday_day_month(t), "Mon 30 Nov");
    assert_eq!(es.weekday_day_month(t), "lun 30 nov");
    assert_eq!(en.day_title(en.date(t)), "Monday 30 November 2026");
    assert_eq!(es.day_title(es.date(t)), "lunes, 30 de noviembre de 2026");
    let marked = format!("Deleted on {}.", kidvault_domain::localtime::mark_on(t));
    assert_eq!(es.render(&marked), "Deleted on 30 de noviembre de 2026.");
}

#[test]
fn plurals_follow_each_languages_rules() {
    assert_eq!(t!(Lang::En, "count-items", kind = "voice_recording", n = 1), "1 voice recording");
    assert_eq!(t!(Lang::En, "count-items", kind = "voice_recording", n = 3), "3 voice recordings");
    assert_eq!(t!(Lang::Es, "count-items", kind = "voice_recording", n = 1), "1 grabación de voz");
    assert_eq!(t!(Lang::Es, "count-items", kind = "voice_recording", n = 3), "3 grabaciones de voz");
}

#[test]
fn a_missing_message_falls_back_to_english_then_its_id() {
    assert_eq!(Lang::Es.text("no-such-message"), "no-such-message");
}

#[test]
fn stored_messages_are_written_in_each_readers_language() {
    let scopes = [mark("scope-name", &[("scope", "voice")]), mark("scope-name", &[("scope", "training")])].join(", ");
    let text = mark("household-kept", &[("date", &format!("{{{{on:2026-12-01T05:30:00Z}}}} | {scopes} = 100%"))]);
    assert!(!text[2..].contains("{{"), "nested markers are escaped inside the value: {text}");
    assert_eq!(
        Lang::En.render(&text),
        "Kept even if unused (since {{on:2026-12-01T05:30:00Z}} | Voice, Model training = 100%)."
    );
    assert_eq!(
        Lang::Es.render(&text),
        "Se conserva aunque no se use (desde el {{on:2026-12-01T05:30:00Z}} | Voz, Entrenamiento de modelos = 100%)."
    );
    // Numbers choose plural forms.
    let n = mark("count-items", &[("kind", "transcript"), ("n", "1")]);
    assert_eq!(Lang::Es.render(&n), "1 transcripción");
    // Text without markers, and a broken marker, are left alone.
    assert_eq!(Lang::Es.render("plain {{msg:"), "plain {{msg:");
}

#[test]
fn time_markers_are_written_in_each_readers_zone_and_anything_else_is_kept() {
    use kidvault_domain::localtime::{mark_at, mark_on, Zone};
    let at = chrono::DateTime::parse_from_rfc3339("2026-12-01T05:30:00Z").unwrap_or_default().to_utc();
    let text = format!("Opened {} and deleted on {}. {{{{x}}}} {{{{at:nope}}}} {{{{", mark_at(at), mark_on(at));
    let madrid = Clock::new(Zone::parse("Europe/Madrid").unwrap_or_default(), Lang::En);
    assert_eq!(
        madrid.render(&text),
        "Opened 1 Dec 2026, 6:30 am CET and deleted on 1 December 2026. {{x}} {{at:nope}} {{"
    );
    let la = Clock::new(Zone::parse("America/Los_Angeles").unwrap_or_default(), Lang::Es);
    assert_eq!(
        la.render(&text),
        "Opened 30 nov 2026, 21:30 PST and deleted on 30 de noviembre de 2026. {{x}} {{at:nope}} {{"
    );
}
