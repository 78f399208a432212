//! The published retention policy as a page, in the reader's language: the
//! words around the rules (headings, the table, what each rule means) come
//! from the catalogue; each rule's purpose and reason are the operator's own
//! words, shown as the policy file has them.

use kidvault_domain::retention::RetentionPolicy;

use super::html::{html, t, words, Lang, Markup};

/// The policy as an HTML fragment; every value is escaped.
pub fn render(l: Lang, p: &RetentionPolicy) -> Markup {
    let (d, a, loc) = (&p.dormancy, &p.abandoned_signup, &p.location);
    let km = if loc.coarse_precision <= 4 { 39 } else { 5 };
    html! {
        p { (t!(l, "policy-version", version = p.version.as_str())) }
        table.policy tabindex="0" {
            thead { tr {
                th { (t!(l, "policy-col-data")) } th { (t!(l, "policy-col-why")) }
                th { (t!(l, "policy-col-how-long")) } th { (t!(l, "policy-col-why-long")) }
            } }
            tbody {
                @for r in &p.items {
                    tr data-kind=(r.kind.as_str()) {
                        td {
                            (super::household::upper_first(&words::kind_plural(l, r.kind)))
                            @if !r.derived_from.is_empty() {
                                @let from: Vec<String> = r.derived_from.iter().map(|k| words::kind_plural(l, *k)).collect();
                                " " (t!(l, "policy-made-from", from = from.join(", ")))
                            }
                        }
                        td { (r.purpose) }
                        td { (t!(l, "policy-days", n = r.keep_days)) }
                        td { (r.reason) }
                    }
                }
            }
        }
        p { (t!(l, "policy-derived")) }
        h2 { (t!(l, "policy-location-title")) }
        p {
            (loc.purpose) ". "
            (t!(l, "policy-location", km = km, hours = loc.precise_for_hours)) " "
            (loc.reason) "."
        }
        h2 { (t!(l, "policy-dormant-title")) }
        p {
            (d.purpose) ". "
            (t!(
                l,
                "policy-dormant",
                days = d.inactive_after_days,
                reminder = d.reminder_days_before,
                grace = d.grace_days
            ))
            " " (d.reason) "."
        }
        h2 { (t!(l, "policy-abandoned-title")) }
        p {
            (a.purpose) ". " (t!(l, "policy-abandoned", days = a.delete_after_days)) " " (a.reason) "."
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_follows_the_policy_in_either_language() {
        let p = RetentionPolicy::default_policy();
        let en = render(Lang::En, &p).into_string();
        assert!(en.contains("<td>Voice recordings</td>") && en.contains("<h2>Profiles no longer used</h2>"), "{en}");
        assert!(en.contains("for 548 days is marked dormant"), "{en}");
        let es = render(Lang::Es, &p).into_string();
        assert!(
            es.contains("<td>Grabaciones de voz</td>") && es.contains("<h2>Perfiles que ya no se usan</h2>"),
            "{es}"
        );
        assert!(es.contains("durante 548 días"), "{es}");
        let rule = &p.items[0];
        assert!(es.contains(&rule.purpose), "the operator's own words are shown as written");
    }
}
