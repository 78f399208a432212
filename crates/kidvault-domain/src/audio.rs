//! Parsing device audio. A recording is accepted only if it decodes as PCM WAV with
//! a sane sample rate, channel count and duration, and only if the data chunk really
//! holds the samples its header promises.

use std::io::Cursor;

/// Caps on accepted audio; configuration, with defaults for a voice assistant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AudioLimits {
    pub max_bytes: usize,
    pub max_seconds: u32,
}

impl Default for AudioLimits {
    fn default() -> Self {
        // 60 s of 16 kHz stereo 16-bit is ~3.8 MB; 8 MiB leaves room for 48 kHz mono.
        Self { max_bytes: 8 * 1024 * 1024, max_seconds: 60 }
    }
}

/// What the decoder learned about an accepted recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WavInfo {
    pub sample_rate: u32,
    pub channels: u16,
    pub bits_per_sample: u16,
    pub frames: u32,
    pub duration_ms: u64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AudioError {
    #[error("recording is larger than {max} bytes")]
    TooLarge { max: usize },
    #[error("recording is not a readable WAV file: {0}")]
    NotWav(String),
    #[error("recording must be integer PCM, 8/16/24-bit, 1 or 2 channels, 8000 to 48000 Hz")]
    Unsupported,
    #[error("recording is empty")]
    Empty,
    #[error("recording is longer than {max_seconds} s")]
    TooLong { max_seconds: u32 },
    #[error("recording is truncated: the header promises more samples than the file holds")]
    Truncated,
}

pub const SAMPLE_RATES: std::ops::RangeInclusive<u32> = 8_000..=48_000;

/// Decodes `bytes` far enough to prove they are the audio they claim to be.
pub fn parse_wav(bytes: &[u8], limits: AudioLimits) -> Result<WavInfo, AudioError> {
    if bytes.len() > limits.max_bytes {
        return Err(AudioError::TooLarge { max: limits.max_bytes });
    }
    let reader = hound::WavReader::new(Cursor::new(bytes)).map_err(|e| AudioError::NotWav(e.to_string()))?;
    let spec = reader.spec();
    let supported = spec.sample_format == hound::SampleFormat::Int
        && matches!(spec.bits_per_sample, 8 | 16 | 24)
        && (1..=2).contains(&spec.channels)
        && SAMPLE_RATES.contains(&spec.sample_rate);
    if !supported {
        return Err(AudioError::Unsupported);
    }
    let frames = reader.duration();
    if frames == 0 {
        return Err(AudioError::Empty);
    }
    let duration_ms = u64::from(frames) * 1000 / u64::from(spec.sample_rate);
    if duration_ms > u64::from(limits.max_seconds) * 1000 {
        return Err(AudioError::TooLong { max_seconds: limits.max_seconds });
    }
    // The header promises `len` samples; the data chunk must hold them. Checked
    // arithmetically: no need to touch each of the ~80,000 samples of 5 s of audio.
    let promised = u64::from(reader.len()) * u64::from(spec.bits_per_sample.div_ceil(8));
    let data_start = reader.into_inner().position();
    if data_start + promised > bytes.len() as u64 {
        return Err(AudioError::Truncated);
    }
    Ok(WavInfo {
        sample_rate: spec.sample_rate,
        channels: spec.channels,
        bits_per_sample: spec.bits_per_sample,
        frames,
        duration_ms,
    })
}

/// Encodes 16-bit mono PCM samples as a WAV file (used by the demo and benchmarks,
/// which must produce real audio).
pub fn encode_wav_mono16(sample_rate: u32, samples: &[i16]) -> Vec<u8> {
    let data_len = u32::try_from(samples.len() * 2).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(44 + samples.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&sample_rate.to_le_bytes());
    out.extend_from_slice(&(sample_rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_real_pcm_and_refuses_the_rest() {
        let wav = encode_wav_mono16(16_000, &vec![1000; 16_000 * 5]);
        let info = parse_wav(&wav, AudioLimits::default()).unwrap();
        assert_eq!((info.sample_rate, info.channels, info.duration_ms), (16_000, 1, 5000));
        assert_eq!(wav.len(), 160_044);

        assert!(matches!(parse_wav(b"not audio at all", AudioLimits::default()), Err(AudioError::NotWav(_))));
        let mut truncated = wav.clone();
        truncated.truncate(1000);
        assert_eq!(parse_wav(&truncated, AudioLimits::default()), Err(AudioError::Truncated));
        let limits = AudioLimits { max_bytes: 1000, max_seconds: 60 };
        assert_eq!(parse_wav(&wav, limits), Err(AudioError::TooLarge { max: 1000 }));
        let long = encode_wav_mono16(8_000, &vec![0; 8_000 * 61]);
        assert_eq!(parse_wav(&long, AudioLimits::default()), Err(AudioError::TooLong { max_seconds: 60 }));
        let odd_rate = encode_wav_mono16(4_000, &[0; 100]);
        assert_eq!(parse_wav(&odd_rate, AudioLimits::default()), Err(AudioError::Unsupported));
        assert_eq!(parse_wav(&encode_wav_mono16(16_000, &[]), AudioLimits::default()), Err(AudioError::Empty));
    }

    proptest! {
        /// Arbitrary bytes never panic the parser, and are almost never audio.
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_wav(&bytes, AudioLimits::default());
        }

        #[test]
        fn encoded_audio_always_parses(samples in proptest::collection::vec(any::<i16>(), 1..4000), rate in SAMPLE_RATES) {
            let info = parse_wav(&encode_wav_mono16(rate, &samples), AudioLimits::default()).unwrap();
            prop_assert_eq!(info.frames as usize, samples.len());
        }
    }
}
