//! The demo household: a guardian, two children with consent, their devices, and
//! three weeks of realistic activity (real WAV audio, transcripts derived from it,
//! intents, memories, locations), all ingested through the service exactly as a
//! device would. Seeding is idempotent: a second run finds the guardian and stops.

use chrono::{Duration, Timelike};
use kidvault_domain::audio::encode_wav_mono16;
use kidvault_domain::Timestamp;
use kidvault_service::ingest::NewDerived;
use kidvault_service::{ServiceError, Vault};
use serde_json::json;

pub const DEMO_EMAIL: &str = "demo@kidvault.example";
pub const DEMO_PASSWORD: &str = "kidvault-demo-parent";

/// What was seeded (or found).
#[derive(Debug, Default)]
pub struct Seeded {
    pub created: bool,
    pub recordings: usize,
    pub items: usize,
}

/// A small deterministic PRNG (xorshift64*), so the demo is the same every time.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

/// Speech-like audio: syllables of a child's voice (f0 ≈ 260 Hz) whose harmonics
/// are shaped by moving vowel formants, with attack/decay envelopes and pauses.
pub fn synth_utterance(words: usize, seed: u64) -> Vec<u8> {
    const RATE: u32 = 16_000;
    let mut rng = Rng(seed | 1);
    let vowels = [(730.0, 1090.0), (270.0, 2290.0), (300.0, 870.0), (530.0, 1840.0), (640.0, 1190.0)];
    let mut samples: Vec<i16> = vec![0; (RATE / 5) as usize];
    for _ in 0..words {
        for _ in 0..rng.range(1, 4) {
            let len = (RATE as f64 * (0.12 + 0.12 * rng.unit())) as usize;
            let (f1, f2) = vowels[rng.range(0, vowels.len() as u64) as usize];
            let f0 = 240.0 + 50.0 * rng.unit();
            for n in 0..len {
                let t = n as f64 / f64::from(RATE);
                let pos = n as f64 / len as f64;
                let env = (pos * 12.0).min(1.0) * (1.0 - pos).powf(1.5);
                let pitch = f0 * (1.0 + 0.08 * (1.0 - pos));
                let mut v = 0.0;
                for k in 1..=14 {
                    let f = pitch * f64::from(k);
                    let gain = (-((f - f1) / 180.0).powi(2)).exp() + 0.6 * (-((f - f2) / 250.0).powi(2)).exp() + 0.02;
                    v += gain * (std::f64::consts::TAU * f * t).sin();
                }
                samples.push((v * env * 5200.0).clamp(-32000.0, 32000.0) as i16);
            }
        }
        samples.extend(std::iter::repeat_n(0, (RATE as f64 * (0.06 + 0.1 * rng.unit())) as usize));
    }
    samples.extend(std::iter::repeat_n(0, (RATE / 5) as usize));
    encode_wav_mono16(RATE, &samples)
}

const REQUESTS: &[(&str, &str, &str)] = &[
    ("play the dinosaur song", "play_music", "dinosaur song"),
    ("what sound does a whale make", "question", "animals"),
    ("set a timer for ten minutes", "set_timer", "10 minutes"),
    ("tell me a joke about cats", "joke", "cats"),
    ("how far away is the moon", "question", "space"),
    ("good night", "bedtime_routine", ""),
    ("what is the weather tomorrow", "weather", "tomorrow"),
    ("how do you spell elephant", "spelling", "elephant"),
    ("play the story about the brave little owl", "play_story", "brave little owl"),
    ("what is seven plus eight", "math", "7+8"),
];

/// Seeds the demo household (once). `now` anchors the three weeks of history.
pub async fn seed(vault: &Vault, now: Timestamp) -> anyhow::Result<Seeded> {
    match vault.register_guardian(DEMO_EMAIL, DEMO_PASSWORD, "Sam (demo parent)", None, now).await {
        Ok(_) => {}
        Err(ServiceError::Conflict { .. }) => return Ok(Seeded::default()),
        Err(e) => return Err(e.into()),
    }
    let token = vault.sign_in(DEMO_EMAIL, DEMO_PASSWORD, None, None, now).await?;
    let g = vault.authenticate_guardian(&token, now).await?;
    let notice = vault.notice_version().to_owned();
    let mut seeded = Seeded { created: true, ..Seeded::default() };
    let mut rng = Rng(0x6b69_6476_6175_6c74);
    let year = chrono::Datelike::year(&now);
    let kids = [
        ("Mia", year - 7, true, "Mia's watch", (52.3702, 4.8952)),
        ("Leo", year - 5, false, "Kitchen speaker", (0.0, 0.0)),
    ];
    for (i, (name, birth_year, location, device_name, home)) in kids.into_iter().enumerate() {
        // One millisecond apart, so the household lists them in this order.
        let created = now + Duration::milliseconds(i as i64);
        let child = vault.create_child(&g, name, birth_year, created).await?;
        let id = child.child.id;
        let mut scopes = vec!["voice".to_string()];
        if location {
            scopes.push("precise_location".into());
        }
        vault.grant_consent(&g, id, "signed_form", &format!("demo-form-{name}"), &notice, &scopes, now).await?;
        let paired = vault.pair_device(&g, id, device_name, now).await?;
        let device = vault.authenticate_device(&paired.token).await?;
        for day in (1..=21).rev() {
            let date = now - Duration::days(day);
            let base = date.with_hour(7).and_then(|d| d.with_minute(10)).unwrap_or(date);
            for slot in 0..rng.range(2, 5) {
                let at = base + Duration::minutes((slot * 240 + rng.range(0, 120)) as i64);
                let (text, intent, slot_value) = REQUESTS[rng.range(0, REQUESTS.len() as u64) as usize];
                let wav = synth_utterance(text.split(' ').count(), rng.next());
                let rec = vault.ingest_recording(&device, id, wav.into(), Some(at), now).await?;
                let tr = vault
                    .ingest_derived(
                        &device,
                        id,
                        NewDerived {
                            kind: "transcript",
                            derived_from: &[rec.item_id.to_string()],
                            content: &json!(text),
                            recorded_at: Some(at),
                        },
                        now,
                    )
                    .await?;
                let mut intent_json = json!({"intent": intent, "confidence": 0.8 + 0.19 * rng.unit()});
                if !slot_value.is_empty() {
                    intent_json["slot"] = json!(slot_value);
                }
                vault
                    .ingest_derived(
                        &device,
                        id,
                        NewDerived {
                            kind: "intent",
                            derived_from: &[tr.item_id.to_string()],
                            content: &intent_json,
                            recorded_at: Some(at),
                        },
                        now,
                    )
                    .await?;
                seeded.recordings += 1;
                seeded.items += 3;
                if intent == "play_music" && rng.unit() < 0.5 {
                    let memory = format!("{name} likes the {slot_value}");
                    vault
                        .ingest_derived(
                            &device,
                            id,
                            NewDerived {
                                kind: "memory",
                                derived_from: &[tr.item_id.to_string()],
                                content: &json!(memory),
                                recorded_at: Some(at),
                            },
                            now,
                        )
                        .await?;
                    seeded.items += 1;
                }
            }
            if location {
                let places = [(0.0, 0.0, 8.0), (0.0081, -0.0123, 15.0), (-0.0042, 0.0061, 25.0)];
                for (hour, (dlat, dlon, acc)) in [8u32, 12, 16].into_iter().zip(places) {
                    let at = date.with_hour(hour).unwrap_or(date);
                    let (jl, jo) = (rng_jitter(&mut rng), rng_jitter(&mut rng));
                    vault
                        .ingest_location(&device, id, (home.0 + dlat + jl, home.1 + dlon + jo, acc), Some(at), now)
                        .await?;
                    seeded.items += 1;
                }
            }
        }
    }
    Ok(seeded)
}

fn rng_jitter(rng: &mut Rng) -> f64 {
    (rng.unit() - 0.5) * 0.0006
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthesized_speech_is_valid_audio() {
        let wav = synth_utterance(5, 42);
        let info = kidvault_domain::audio::parse_wav(&wav, Default::default()).unwrap();
        assert_eq!(info.sample_rate, 16_000);
        assert!(info.duration_ms > 1000 && info.duration_ms < 8000, "{}", info.duration_ms);
        assert_eq!(wav, synth_utterance(5, 42), "deterministic");
    }
}
