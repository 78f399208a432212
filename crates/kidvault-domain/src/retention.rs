//! The written retention policy: one TOML file that drives enforcement and
//! renders the published text. Loading checks it the way a privacy lawyer
//! would, and names the line of every problem.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::item::{DataCategory, ItemKind, Origin};

/// The policy kidvault ships.
pub const DEFAULT_POLICY: &str = include_str!("../policy/retention.toml");

/// The settlement's ceiling: dormant after at most 18 months.
pub const MAX_INACTIVE_DAYS: u32 = 548;
/// Notice before deleting a dormant profile: at most 90 days.
pub const MAX_GRACE_DAYS: u32 = 90;
/// Abandoned sign-ups: at most 14 days.
pub const MAX_ABANDONED_DAYS: u32 = 14;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ItemRule {
    pub kind: ItemKind,
    pub category: DataCategory,
    pub derived_from: Vec<ItemKind>,
    pub purpose: String,
    pub keep_days: u32,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DormancyRule {
    pub inactive_after_days: u32,
    pub grace_days: u32,
    pub reminder_days_before: u32,
    pub purpose: String,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AbandonedRule {
    pub delete_after_days: u32,
    pub purpose: String,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LocationRule {
    pub precise_for_hours: u32,
    /// Geohash length of the coarse cell (5: about 4.9 km × 4.9 km).
    pub coarse_precision: usize,
    pub purpose: String,
    pub reason: String,
}

/// A loaded, checked policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RetentionPolicy {
    pub version: String,
    pub dormancy: DormancyRule,
    pub abandoned_signup: AbandonedRule,
    pub location: LocationRule,
    /// One rule per item kind, in the file's order.
    pub items: Vec<ItemRule>,
}

/// Why a policy file was refused: the line and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct PolicyError {
    pub line: usize,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    version: Spanned<String>,
    dormancy: RawDormancy,
    abandoned_signup: RawAbandoned,
    location: RawLocation,
    #[serde(default)]
    item: Vec<RawItem>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDormancy {
    inactive_after_days: Spanned<u32>,
    grace_days: Spanned<u32>,
    reminder_days_before: Spanned<u32>,
    purpose: Option<Spanned<String>>,
    reason: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAbandoned {
    delete_after_days: Spanned<u32>,
    purpose: Option<Spanned<String>>,
    reason: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLocation {
    precise_for_hours: Spanned<u32>,
    coarse_cell: Spanned<String>,
    purpose: Option<Spanned<String>>,
    reason: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawItem {
    kind: Spanned<String>,
    category: Spanned<String>,
    #[serde(default)]
    derived_from: Option<Spanned<Vec<String>>>,
    purpose: Option<Spanned<String>>,
    keep_days: Spanned<u32>,
    reason: Option<Spanned<String>>,
}

struct Lines<'a>(&'a str);

impl Lines<'_> {
    fn at(&self, offset: usize) -> usize {
        self.0[..offset.min(self.0.len())].bytes().filter(|b| *b == b'\n').count() + 1
    }
    fn err<T>(&self, offset: usize, message: impl Into<String>) -> Result<T, PolicyError> {
        Err(PolicyError { line: self.at(offset), message: message.into() })
    }
    /// A required piece of text: present and not blank. `near` locates the table.
    fn text(&self, v: Option<Spanned<String>>, what: &str, near: usize) -> Result<String, PolicyError> {
        match v {
            Some(s) if !s.get_ref().trim().is_empty() => Ok(s.into_inner().trim().to_owned()),
            Some(s) => self.err(s.span().start, format!("{what} is empty")),
            None => self.err(near, format!("{what} is missing")),
        }
    }
}

impl RetentionPolicy {
    /// The policy kidvault ships (always valid: `the_shipped_policy_loads`
    /// checks it, so this cannot fail in a build that passed its tests).
    #[allow(clippy::panic)]
    pub fn default_policy() -> Self {
        Self::parse(DEFAULT_POLICY).unwrap_or_else(|e| panic!("the shipped retention policy is invalid: {e}"))
    }

    /// Parses and checks a policy file.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let lines = Lines(text);
        let raw: RawPolicy = toml::from_str(text).map_err(|e| PolicyError {
            line: e.span().map_or(1, |s| lines.at(s.start)),
            message: e.message().to_owned(),
        })?;
        if raw.version.get_ref().trim().is_empty() {
            return lines.err(raw.version.span().start, "version is empty");
        }

        let d = raw.dormancy;
        let d_near = d.inactive_after_days.span().start;
        if *d.inactive_after_days.get_ref() == 0 || *d.inactive_after_days.get_ref() > MAX_INACTIVE_DAYS {
            return lines.err(d_near, format!("inactive_after_days must be 1 to {MAX_INACTIVE_DAYS} (18 months)"));
        }
        if *d.grace_days.get_ref() > MAX_GRACE_DAYS {
            return lines.err(
                d.grace_days.span().start,
                format!(
                    "grace_days is {}: the grace period may be at most {MAX_GRACE_DAYS} days",
                    d.grace_days.get_ref()
                ),
            );
        }
        if *d.reminder_days_before.get_ref() >= *d.grace_days.get_ref() {
            return lines.err(d.reminder_days_before.span().start, "reminder_days_before must be less than grace_days");
        }
        let dormancy = DormancyRule {
            inactive_after_days: d.inactive_after_days.into_inner(),
            grace_days: d.grace_days.into_inner(),
            reminder_days_before: d.reminder_days_before.into_inner(),
            purpose: lines.text(d.purpose, "purpose of [dormancy]", d_near)?,
            reason: lines.text(d.reason, "reason of [dormancy]", d_near)?,
        };

        let a = raw.abandoned_signup;
        let a_near = a.delete_after_days.span().start;
        if *a.delete_after_days.get_ref() == 0 || *a.delete_after_days.get_ref() > MAX_ABANDONED_DAYS {
            return lines.err(a_near, format!("delete_after_days must be 1 to {MAX_ABANDONED_DAYS}"));
        }
        let abandoned_signup = AbandonedRule {
            delete_after_days: a.delete_after_days.into_inner(),
            purpose: lines.text(a.purpose, "purpose of [abandoned_signup]", a_near)?,
            reason: lines.text(a.reason, "reason of [abandoned_signup]", a_near)?,
        };

        let l = raw.location;
        let l_near = l.precise_for_hours.span().start;
        let coarse_precision = match l.coarse_cell.get_ref().as_str() {
            "geohash4" => 4,
            "geohash5" => 5,
            other => {
                return lines.err(
                    l.coarse_cell.span().start,
                    format!(
                    "coarse_cell {other:?} is not a 1-40 km cell: use geohash4 (~39 km × 20 km) or geohash5 (~4.9 km)"
                ),
                )
            }
        };
        let location = LocationRule {
            precise_for_hours: l.precise_for_hours.into_inner(),
            coarse_precision,
            purpose: lines.text(l.purpose, "purpose of [location]", l_near)?,
            reason: lines.text(l.reason, "reason of [location]", l_near)?,
        };

        let mut items: Vec<ItemRule> = Vec::new();
        let mut kind_lines: HashMap<ItemKind, usize> = HashMap::new();
        // (kind, its sources with where they were named, where keep_days is)
        type Sources = Vec<(ItemKind, usize)>;
        let mut pending_sources: Vec<(ItemKind, Sources, usize)> = Vec::new();
        for it in raw.item {
            let at = it.kind.span().start;
            let kind = ItemKind::parse(it.kind.get_ref()).map_or_else(
                || {
                    let known: Vec<_> = ItemKind::ALL.iter().map(|k| k.as_str()).collect();
                    lines.err(at, format!("unknown item kind {:?}; known: {}", it.kind.get_ref(), known.join(", ")))
                },
                Ok,
            )?;
            if kind_lines.contains_key(&kind) {
                return lines.err(at, format!("{} has two rules", kind.as_str()));
            }
            let category = DataCategory::parse(it.category.get_ref()).map_or_else(
                || {
                    let known: Vec<_> = DataCategory::ALL.iter().map(|c| c.as_str()).collect();
                    lines.err(
                        it.category.span().start,
                        format!("unknown data category {:?}; known: {}", it.category.get_ref(), known.join(", ")),
                    )
                },
                Ok,
            )?;
            if category != kind.spec().category {
                return lines.err(
                    it.category.span().start,
                    format!("{} is {}, not {}", kind.as_str(), kind.spec().category.as_str(), category.as_str()),
                );
            }
            let mut sources = Vec::new();
            match (&it.derived_from, kind.spec().origin) {
                (Some(s), Origin::Collected) => {
                    return lines.err(s.span().start, format!("{} is collected, not derived", kind.as_str()))
                }
                (None, Origin::Derived) => {
                    return lines.err(at, format!("{} is derived: say what from (derived_from)", kind.as_str()))
                }
                (Some(s), Origin::Derived) => {
                    for name in s.get_ref() {
                        let k = ItemKind::parse(name).map_or_else(
                            || lines.err(s.span().start, format!("unknown item kind {name:?} in derived_from")),
                            Ok,
                        )?;
                        sources.push((k, s.span().start));
                    }
                }
                (None, Origin::Collected) => {}
            }
            if *it.keep_days.get_ref() == 0 {
                return lines.err(it.keep_days.span().start, "keep_days must be at least 1");
            }
            let keep_at = it.keep_days.span().start;
            let rule = ItemRule {
                kind,
                category,
                derived_from: sources.iter().map(|(k, _)| *k).collect(),
                purpose: lines.text(it.purpose, &format!("purpose of {}", kind.as_str()), at)?,
                keep_days: it.keep_days.into_inner(),
                reason: lines.text(it.reason, &format!("reason of {}", kind.as_str()), at)?,
            };
            pending_sources.push((kind, sources, keep_at));
            kind_lines.insert(kind, at);
            items.push(rule);
        }
        for kind in ItemKind::ALL {
            if !kind_lines.contains_key(&kind) {
                return Err(PolicyError {
                    line: lines.at(text.len()),
                    message: format!("no rule for {}: every kind of data needs a period", kind.as_str()),
                });
            }
        }
        // Derived data never outlives what it was derived from.
        let keep = |k: ItemKind| items.iter().find(|r| r.kind == k).map_or(0, |r| r.keep_days);
        for (kind, sources, keep_at) in &pending_sources {
            for (source, _) in sources {
                if keep(*kind) > keep(*source) {
                    return lines.err(
                        *keep_at,
                        format!(
                            "{} would outlive its source {}: {} days > {} days",
                            kind.as_str(),
                            source.as_str(),
                            keep(*kind),
                            keep(*source)
                        ),
                    );
                }
            }
        }
        Ok(Self { version: raw.version.into_inner().trim().to_owned(), dormancy, abandoned_signup, location, items })
    }

    pub fn rule(&self, kind: ItemKind) -> Option<&ItemRule> {
        self.items.iter().find(|r| r.kind == kind)
    }

    /// Whether items of `kind` are made from items of `ancestor`, directly or
    /// through other derived kinds (so deleting those deletes these too).
    pub fn descends_from(&self, kind: ItemKind, ancestor: ItemKind) -> bool {
        let mut seen = vec![kind];
        let mut next = vec![kind];
        while let Some(k) = next.pop() {
            for parent in self.rule(k).map(|r| r.derived_from.as_slice()).unwrap_or_default() {
                if *parent == ancestor {
                    return true;
                }
                if !seen.contains(parent) {
                    seen.push(*parent);
                    next.push(*parent);
                }
            }
        }
        false
    }

    /// The published policy as Markdown.
    pub fn render_markdown(&self) -> String {
        let mut out = format!(
            "# How long we keep your child's data\n\nRetention policy version {}. These are the longest periods; \
             you can delete anything sooner, at any time, from the parent portal.\n\n\
             | Data | Why we keep it | How long | Why that long |\n|---|---|---|---|\n",
            self.version
        );
        for r in &self.items {
            let from = if r.derived_from.is_empty() {
                String::new()
            } else {
                let names: Vec<&str> = r.derived_from.iter().map(|k| label(*k)).collect();
                format!(" (made from: {})", names.join(", "))
            };
            out.push_str(&format!(
                "| {}{from} | {} | {} days | {} |\n",
                label(r.kind),
                md(&r.purpose),
                r.keep_days,
                md(&r.reason)
            ));
        }
        let (d, a, l) = (&self.dormancy, &self.abandoned_signup, &self.location);
        out.push_str(&format!(
            "\nAnything made from other data is deleted with it, never later.\n\n\
             ## Location\n\n{}. Without your permission for precise location, a position is made approximate \
             (about {} km) before it is stored; with it, it is kept precise for {} hours, then made approximate. \
             {}.\n\n\
             ## Profiles no longer used\n\n{}. A child profile with no activity from the child's devices for {} days \
             is marked dormant and you are told; we remind you {} days before the end of a {}-day grace period, \
             and then delete the whole profile unless you choose to keep it or the child uses it again. {}.\n\n\
             ## Sign-ups never completed\n\n{}. A child profile for which no parent ever gave consent is deleted \
             after {} days. {}.\n",
            l.purpose,
            if l.coarse_precision <= 4 { 39 } else { 5 },
            l.precise_for_hours,
            l.reason,
            d.purpose,
            d.inactive_after_days,
            d.reminder_days_before,
            d.grace_days,
            d.reason,
            a.purpose,
            a.delete_after_days,
            a.reason,
        ));
        out
    }
}

fn label(k: ItemKind) -> &'static str {
    match k {
        ItemKind::VoiceRecording => "Voice recordings",
        ItemKind::Transcript => "Transcripts",
        ItemKind::Intent => "Understood requests",
        ItemKind::Embedding => "Voice/text embeddings",
        ItemKind::Memory => "Remembered facts",
        ItemKind::ActionLog => "Actions taken",
        ItemKind::Location => "Locations",
    }
}

fn md(s: &str) -> String {
    s.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(edit: impl Fn(&str) -> String) -> PolicyError {
        RetentionPolicy::parse(&edit(DEFAULT_POLICY)).expect_err("refused")
    }

    fn line_of(text: &str, needle: &str) -> usize {
        text[..text.find(needle).unwrap()].matches('\n').count() + 1
    }

    #[test]
    fn the_shipped_policy_loads() {
        let p = RetentionPolicy::default_policy();
        assert_eq!(p.items.len(), ItemKind::ALL.len());
        assert_eq!(p.dormancy.inactive_after_days, 548);
        assert!(p.dormancy.grace_days <= 90);
        assert_eq!(p.abandoned_signup.delete_after_days, 14);
    }

    #[test]
    fn derived_kinds_descend_through_the_chain() {
        let p = RetentionPolicy::default_policy();
        let rec = ItemKind::VoiceRecording;
        // action_log <- intent <- transcript <- voice_recording
        assert!(p.descends_from(ItemKind::ActionLog, rec));
        assert!(p.descends_from(ItemKind::Transcript, rec));
        assert!(!p.descends_from(ItemKind::Location, rec));
        assert!(!p.descends_from(rec, rec), "a kind is not its own ancestor");
        assert!(!p.descends_from(ItemKind::Transcript, ItemKind::Intent));
    }

    #[test]
    fn the_published_text_comes_from_the_policy() {
        let p = RetentionPolicy::default_policy();
        let md = p.render_markdown();
        assert!(
            md.contains("| Voice recordings | Answer the child's request, and let the parent listen to it | 30 days |")
        );
        assert!(md.contains("for 548 days"));
        let changed = RetentionPolicy::parse(&DEFAULT_POLICY.replacen("keep_days = 7", "keep_days = 3", 1)).unwrap();
        assert!(changed.render_markdown().contains("| 3 days |"), "the text follows the file");
    }

    #[test]
    fn an_unknown_kind_is_named_with_its_line() {
        let text = DEFAULT_POLICY.replace("kind = \"memory\"", "kind = \"dreams\"");
        let e = RetentionPolicy::parse(&text).unwrap_err();
        assert_eq!(e.line, line_of(&text, "kind = \"dreams\""));
        assert!(e.message.contains("unknown item kind \"dreams\""), "{e}");
    }

    #[test]
    fn an_unknown_category_is_named_with_its_line() {
        let text = DEFAULT_POLICY.replacen("category = \"user.content\"", "category = \"user.feelings\"", 1);
        let e = RetentionPolicy::parse(&text).unwrap_err();
        assert_eq!(e.line, line_of(&text, "user.feelings"));
        assert!(e.message.contains("unknown data category"), "{e}");
    }

    #[test]
    fn derived_data_may_not_outlive_its_source() {
        let text = DEFAULT_POLICY.replacen(
            "purpose = \"Show the parent what the child asked\"\nkeep_days = 30",
            "purpose = \"Show the parent what the child asked\"\nkeep_days = 400",
            1,
        );
        let e = RetentionPolicy::parse(&text).unwrap_err();
        assert_eq!(e.line, line_of(&text, "keep_days = 400"));
        assert!(e.message.contains("transcript would outlive its source voice_recording"), "{e}");
    }

    #[test]
    fn a_grace_period_over_90_days_is_refused() {
        let e = refused(|t| t.replace("grace_days = 60", "grace_days = 120"));
        assert_eq!(e.line, line_of(DEFAULT_POLICY, "grace_days = 60"));
        assert!(e.message.contains("at most 90 days"), "{e}");
    }

    #[test]
    fn a_missing_or_empty_reason_is_refused() {
        let text = DEFAULT_POLICY.replacen(
            "reason = \"Recordings are needed only to answer and for a short parental review; the voice is biometric data\"\n",
            "",
            1,
        );
        let e = RetentionPolicy::parse(&text).unwrap_err();
        assert_eq!(e.line, line_of(&text, "kind = \"voice_recording\""));
        assert!(e.message.contains("reason of voice_recording is missing"), "{e}");
        let e = refused(|t| t.replacen("reason = \"A transcript", "reason = \"  \" # \"", 1));
        assert!(e.message.contains("reason of transcript is empty"), "{e}");
    }

    #[test]
    fn other_mistakes_are_refused_too() {
        assert!(refused(|t| t.replace("inactive_after_days = 548", "inactive_after_days = 900"))
            .message
            .contains("18 months"));
        assert!(refused(|t| t.replace("delete_after_days = 14", "delete_after_days = 30")).message.contains("1 to 14"));
        assert!(refused(|t| t.replace("geohash5", "geohash9")).message.contains("coarse_cell"));
        let syntax = refused(|t| t.replace("keep_days = 7", "keep_days = seven"));
        assert_eq!(syntax.line, line_of(DEFAULT_POLICY, "keep_days = 7"));
        let e = refused(|t| t.replace("category = \"user.location.precise\"", "category = \"user.content\""));
        assert!(e.message.contains("location is user.location.precise"), "{e}");
    }

    proptest::proptest! {
        /// Any edit of the shipped policy (a byte replaced, a range cut out) is
        /// loaded or refused with an error; it never panics.
        #[test]
        fn an_edited_policy_never_panics(at in 0usize..4096, len in 0usize..64, byte in 0u8..128) {
            let mut text = DEFAULT_POLICY.as_bytes().to_vec();
            let at = at % text.len();
            let end = (at + len).min(text.len());
            text.splice(at..end, [byte]);
            let _ = RetentionPolicy::parse(&String::from_utf8_lossy(&text));
        }
    }
}
