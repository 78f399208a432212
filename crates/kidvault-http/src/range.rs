//! HTTP byte ranges (RFC 9110 §14) for content playback: an `<audio>` element
//! seeks with `Range: bytes=…`. One range per request; several, or anything
//! malformed, is ignored and the whole content served (as the RFC allows).

/// The byte range to serve, inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeRequest {
    /// Serve everything (no usable Range header).
    Full,
    /// Serve `start..=end`.
    Part { start: u64, end: u64 },
    /// The range lies outside the content: 416.
    Unsatisfiable,
}

/// Resolves a `Range` header value against content of `len` bytes.
pub fn resolve(header: Option<&str>, len: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else { return RangeRequest::Full };
    let (a, b) = (a.trim(), b.trim());
    match (a.parse::<u64>().ok(), b.parse::<u64>().ok()) {
        // bytes=-N: the last N bytes.
        (None, Some(n)) if a.is_empty() => {
            if n == 0 || len == 0 {
                RangeRequest::Unsatisfiable
            } else {
                RangeRequest::Part { start: len.saturating_sub(n), end: len - 1 }
            }
        }
        // bytes=S- and bytes=S-E.
        (Some(start), end) if b.is_empty() || end.is_some() => {
            if start >= len {
                return RangeRequest::Unsatisfiable;
            }
            match end {
                Some(e) if e < start => RangeRequest::Full,
                Some(e) => RangeRequest::Part { start, end: e.min(len - 1) },
                None => RangeRequest::Part { start, end: len - 1 },
            }
        }
        _ => RangeRequest::Full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RangeRequest::*;

    #[test]
    fn ranges_resolve_as_rfc_9110_says() {
        assert_eq!(resolve(None, 100), Full);
        assert_eq!(resolve(Some("bytes=0-9"), 100), Part { start: 0, end: 9 });
        assert_eq!(resolve(Some("bytes=90-"), 100), Part { start: 90, end: 99 });
        assert_eq!(resolve(Some("bytes=90-500"), 100), Part { start: 90, end: 99 });
        assert_eq!(resolve(Some("bytes=-10"), 100), Part { start: 90, end: 99 });
        assert_eq!(resolve(Some("bytes=-500"), 100), Part { start: 0, end: 99 });
        assert_eq!(resolve(Some("bytes=100-"), 100), Unsatisfiable);
        assert_eq!(resolve(Some("bytes=-0"), 100), Unsatisfiable);
        for ignored in ["bytes=0-1,5-6", "items=0-1", "bytes=abc", "bytes=9-2", "bytes=-", "bytes=1-x"] {
            assert_eq!(resolve(Some(ignored), 100), Full, "{ignored}");
        }
    }

    proptest::proptest! {
        /// Any header against any length: a part is always inside the content.
        #[test]
        fn a_resolved_part_is_always_inside_the_content(header in "(bytes=)?[-0-9, x]{0,24}", len in 0u64..10_000) {
            match resolve(Some(&header), len) {
                Part { start, end } => proptest::prop_assert!(start <= end && end < len, "{header} {len}"),
                Full | Unsatisfiable => {}
            }
        }
    }
}
