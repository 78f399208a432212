//! Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP): HMAC-SHA1,
//! 30-second steps, 6 digits, what every authenticator app speaks. SHA-1 is
//! used only because the apps require it; HOTP's security does not rest on
//! SHA-1's collision resistance.

use aws_lc_rs::hmac;

pub const STEP_SECS: i64 = 30;
pub const DIGITS: u32 = 6;

/// HOTP value of `counter` (RFC 4226 §5.3), `digits` long.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &counter.to_be_bytes());
    let h = tag.as_ref();
    let offset = (h[h.len() - 1] & 0x0f) as usize;
    let bin = (u32::from(h[offset]) & 0x7f) << 24
        | u32::from(h[offset + 1]) << 16
        | u32::from(h[offset + 2]) << 8
        | u32::from(h[offset + 3]);
    bin % 10u32.pow(digits)
}

/// The step a unix time falls in.
pub fn step_at(unix: i64) -> i64 {
    unix.div_euclid(STEP_SECS)
}

/// Checks a 6-digit code at `unix` time, allowing one step of clock drift
/// either way, and refusing any step at or before `last_used` (no replay).
/// Returns the step the code matched.
pub fn verify(secret: &[u8], code: &str, unix: i64, last_used: Option<i64>) -> Option<i64> {
    let code = code.trim().replace(' ', "");
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let given: u32 = code.parse().ok()?;
    let now = step_at(unix);
    let mut matched = None;
    // Every candidate is computed (no early exit on a match).
    for step in [now - 1, now, now + 1] {
        if step >= 0 && hotp(secret, step as u64, DIGITS) == given && last_used.is_none_or(|l| step > l) {
            matched = Some(step);
        }
    }
    matched
}

/// RFC 4648 base32 without padding (how authenticator apps take secrets).
pub fn base32(data: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0);
    for &b in data {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            out.push(ALPHABET[((buffer >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Decodes [`base32`] (case-insensitive, padding and spaces ignored).
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let (mut buffer, mut bits, mut out) = (0u32, 0, Vec::new());
    for c in text.chars().filter(|c| *c != '=' && !c.is_whitespace()) {
        let v = match c.to_ascii_uppercase() {
            c @ 'A'..='Z' => c as u32 - 'A' as u32,
            c @ '2'..='7' => c as u32 - '2' as u32 + 26,
            _ => return None,
        };
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            out.push((buffer >> (bits - 8)) as u8);
            bits -= 8;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn matches_the_rfc_4226_and_6238_vectors() {
        let hotp_vectors = [755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489];
        for (i, want) in hotp_vectors.iter().enumerate() {
            assert_eq!(hotp(SECRET, i as u64, 6), *want);
        }
        // RFC 6238 appendix B (SHA-1, 8 digits).
        for (t, want) in [(59, 94287082), (1111111109, 7081804), (1234567890, 89005924), (2000000000, 69279037)] {
            assert_eq!(hotp(SECRET, step_at(t) as u64, 8), want, "t={t}");
        }
    }

    #[test]
    fn codes_verify_within_one_step_of_drift_and_never_twice() {
        let t = 1_111_111_109;
        let code = format!("{:06}", hotp(SECRET, step_at(t) as u64, 6));
        assert_eq!(verify(SECRET, &code, t, None), Some(step_at(t)));
        assert_eq!(verify(SECRET, &code, t + 30, None), Some(step_at(t)), "a step late");
        assert_eq!(verify(SECRET, &code, t - 30, None), Some(step_at(t)), "a step early");
        assert_eq!(verify(SECRET, &code, t + 90, None), None, "too late");
        assert_eq!(verify(SECRET, &code, t, Some(step_at(t))), None, "replayed");
        assert_eq!(verify(SECRET, "12345", t, None), None);
        assert_eq!(verify(b"another secret......", &code, t, None), None);
    }

    #[test]
    fn base32_matches_rfc_4648() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(SECRET), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(base32_decode("gezd gnbv gy3tqojqgezdgnbvgy3tqojq").unwrap(), SECRET);
        assert_eq!(base32_decode("MZXW6YTBOI").unwrap(), b"foobar");
        assert_eq!(base32_decode("M1"), None);
    }
}
