//! Parsing device audio. A recording is accepted only if its whole RIFF/WAVE
//! container checks out against the bytes present: the RIFF size equals the
//! file's, every chunk fits, the format is plain integer PCM (or the extensible
//! form of it) with a block alignment and byte rate that agree with its channels
//! and sample width, the data chunk holds whole frames and is the last chunk
//! (nothing stored after it), and the rate, channels and duration are sane.
//!
//! Written here rather than through a general WAV decoder: decoders are lenient
//! by design (they ignore the RIFF size, accept a widened `block_align`, read past
//! a short data chunk's promise), and leniency is what lets a file carry bytes
//! that are not the audio it claims to be.

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

/// The WAVE_FORMAT_EXTENSIBLE sub-format GUID of integer PCM, after its first two bytes.
const PCM_GUID_TAIL: [u8; 14] = [0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xAA, 0, 0x38, 0x9B, 0x71];

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn not_wav(why: &str) -> AudioError {
    AudioError::NotWav(why.to_owned())
}

/// The format chunk, checked for internal consistency.
struct Format {
    channels: u16,
    sample_rate: u32,
    bits: u16,
    block_align: u16,
}

fn parse_fmt(body: &[u8]) -> Result<Format, AudioError> {
    if body.len() < 16 {
        return Err(not_wav("the format chunk is too short"));
    }
    let tag = u16_at(body, 0);
    let fmt = Format {
        channels: u16_at(body, 2),
        sample_rate: u32_at(body, 4),
        block_align: u16_at(body, 12),
        bits: u16_at(body, 14),
    };
    let byte_rate = u32_at(body, 8);
    match tag {
        1 => {}
        0xFFFE => {
            // Extensible: the valid bits must fill the container and the
            // sub-format must be integer PCM.
            if body.len() < 40 || u16_at(body, 16) < 22 {
                return Err(not_wav("the extensible format chunk is too short"));
            }
            if u16_at(body, 18) != fmt.bits || u16_at(body, 24) != 1 || body[26..40] != PCM_GUID_TAIL {
                return Err(AudioError::Unsupported);
            }
        }
        _ => return Err(AudioError::Unsupported),
    }
    if !matches!(fmt.bits, 8 | 16 | 24) || !(1..=2).contains(&fmt.channels) || !SAMPLE_RATES.contains(&fmt.sample_rate)
    {
        return Err(AudioError::Unsupported);
    }
    if fmt.block_align != fmt.channels * (fmt.bits / 8) {
        return Err(not_wav("the block alignment does not match the channels and sample width"));
    }
    if byte_rate != fmt.sample_rate * u32::from(fmt.block_align) {
        return Err(not_wav("the byte rate does not match the sample rate and block alignment"));
    }
    Ok(fmt)
}

/// Checks `bytes` as a whole WAV file and says what audio it holds.
pub fn parse_wav(bytes: &[u8], limits: AudioLimits) -> Result<WavInfo, AudioError> {
    if bytes.len() > limits.max_bytes {
        return Err(AudioError::TooLarge { max: limits.max_bytes });
    }
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(not_wav("it does not start with a RIFF/WAVE header"));
    }
    let riff_end = u64::from(u32_at(bytes, 4)) + 8;
    if riff_end > bytes.len() as u64 {
        return Err(AudioError::Truncated);
    }
    if riff_end < bytes.len() as u64 {
        return Err(not_wav("there are bytes after the end its RIFF header declares"));
    }
    let mut at = 12usize;
    let mut fmt = None;
    while at < bytes.len() {
        if bytes.len() - at < 8 {
            return Err(not_wav("a chunk header is cut short"));
        }
        let id = &bytes[at..at + 4];
        let size = u32_at(bytes, at + 4) as usize;
        let body_start = at + 8;
        let body_end = body_start.checked_add(size).filter(|&e| e <= bytes.len());
        match id {
            b"fmt " => {
                let end = body_end.ok_or_else(|| not_wav("the format chunk is cut short"))?;
                if fmt.is_some() {
                    return Err(not_wav("it has two format chunks"));
                }
                fmt = Some(parse_fmt(&bytes[body_start..end])?);
            }
            b"data" => {
                let f = fmt.ok_or_else(|| not_wav("the data chunk comes before the format chunk"))?;
                let end = body_end.ok_or(AudioError::Truncated)?;
                // The data chunk is the last: at most its pad byte follows.
                if bytes.len() - end > usize::from(size % 2 == 1) {
                    return Err(not_wav("there are bytes after the audio data"));
                }
                if !size.is_multiple_of(usize::from(f.block_align)) {
                    return Err(not_wav("the audio data does not hold whole frames"));
                }
                let frames = u32::try_from(size / usize::from(f.block_align)).map_err(|_| AudioError::Unsupported)?;
                if frames == 0 {
                    return Err(AudioError::Empty);
                }
                let duration_ms = u64::from(frames) * 1000 / u64::from(f.sample_rate);
                if duration_ms > u64::from(limits.max_seconds) * 1000 {
                    return Err(AudioError::TooLong { max_seconds: limits.max_seconds });
                }
                return Ok(WavInfo {
                    sample_rate: f.sample_rate,
                    channels: f.channels,
                    bits_per_sample: f.bits,
                    frames,
                    duration_ms,
                });
            }
            _ => {
                // Metadata before the audio (LIST, fact, …): must fit, padded to even.
                let end = body_end.ok_or_else(|| not_wav("a chunk runs past the end of the file"))?;
                at = end + size % 2;
                continue;
            }
        }
        at = body_end.unwrap_or(bytes.len()) + size % 2;
    }
    Err(not_wav("it has no audio data chunk"))
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

    fn set_u16(b: &mut [u8], at: usize, v: u16) {
        b[at..at + 2].copy_from_slice(&v.to_le_bytes());
    }

    fn set_u32(b: &mut [u8], at: usize, v: u32) {
        b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    /// A 24-bit mono WAVE_FORMAT_EXTENSIBLE file of `frames` frames.
    fn extensible24(frames: usize, valid_bits: u16) -> Vec<u8> {
        let data = frames * 3;
        let mut b = Vec::new();
        b.extend_from_slice(b"RIFF");
        b.extend_from_slice(&((4 + 8 + 40 + 8 + data) as u32).to_le_bytes());
        b.extend_from_slice(b"WAVEfmt ");
        b.extend_from_slice(&40u32.to_le_bytes());
        for v in [0xFFFEu16, 1] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&16_000u32.to_le_bytes());
        b.extend_from_slice(&(16_000u32 * 3).to_le_bytes());
        for v in [3u16, 24, 22, valid_bits] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&4u32.to_le_bytes()); // channel mask
        b.extend_from_slice(&1u16.to_le_bytes()); // PCM sub-format
        b.extend_from_slice(&PCM_GUID_TAIL);
        b.extend_from_slice(b"data");
        b.extend_from_slice(&(data as u32).to_le_bytes());
        b.resize(b.len() + data, 0x11);
        b
    }

    #[test]
    fn a_container_that_lies_about_its_audio_is_refused() {
        let lim = AudioLimits::default();
        let wav = encode_wav_mono16(16_000, &vec![7; 16_000]);

        // A block alignment widened past channels × width (a decoder would read
        // each "frame" as 4 bytes and find the data short or padded).
        let mut widened = wav.clone();
        set_u16(&mut widened, 32, 4);
        set_u32(&mut widened, 28, 16_000 * 4);
        assert!(matches!(parse_wav(&widened, lim), Err(AudioError::NotWav(_))));
        // A byte rate that disagrees with the rest.
        let mut rate = wav.clone();
        set_u32(&mut rate, 28, 1);
        assert!(matches!(parse_wav(&rate, lim), Err(AudioError::NotWav(_))));

        // Extensible: valid bits that do not fill the container, or a float sub-format.
        assert!(parse_wav(&extensible24(1600, 24), lim).is_ok());
        assert_eq!(parse_wav(&extensible24(1600, 8), lim), Err(AudioError::Unsupported));
        let mut float = extensible24(1600, 24);
        set_u16(&mut float, 44, 3);
        assert_eq!(parse_wav(&float, lim), Err(AudioError::Unsupported));

        // Bytes after the declared RIFF end, or after the data chunk.
        let mut trailing = wav.clone();
        trailing.extend_from_slice(b"hidden words");
        assert!(matches!(parse_wav(&trailing, lim), Err(AudioError::NotWav(_))));
        let riff = u32::try_from(trailing.len() - 8).unwrap();
        set_u32(&mut trailing, 4, riff);
        assert!(matches!(parse_wav(&trailing, lim), Err(AudioError::NotWav(_))));

        // A RIFF size or a data size larger than the bytes present.
        let mut short_riff = wav.clone();
        set_u32(&mut short_riff, 4, u32::MAX - 8);
        assert_eq!(parse_wav(&short_riff, lim), Err(AudioError::Truncated));
        let mut short_data = wav.clone();
        set_u32(&mut short_data, 40, 40_000);
        assert!(parse_wav(&short_data, lim).is_err());

        // Half a frame, and a data chunk before any format.
        let mut half = encode_wav_mono16(16_000, &[1, 2, 3]);
        half.pop();
        set_u32(&mut half, 40, 5);
        let riff = u32::try_from(half.len() - 8).unwrap();
        set_u32(&mut half, 4, riff);
        assert!(matches!(parse_wav(&half, lim), Err(AudioError::NotWav(_))));

        // Metadata before the audio is fine; it must fit.
        let mut listed = wav[..12].to_vec();
        listed.extend_from_slice(b"LIST\x05\0\0\0INFOx\0");
        listed.extend_from_slice(&wav[12..]);
        let riff = u32::try_from(listed.len() - 8).unwrap();
        set_u32(&mut listed, 4, riff);
        assert_eq!(parse_wav(&listed, lim).unwrap().frames, 16_000);
    }

    proptest! {
        /// Whatever is changed in a valid file's header, an accepted file is
        /// exactly its header and whole frames: not one byte unaccounted for.
        #[test]
        fn an_accepted_file_holds_nothing_but_its_frames(
            at in 0usize..44, value in any::<u8>(), extra in 0usize..4,
        ) {
            let mut wav = encode_wav_mono16(16_000, &[5; 800]);
            wav[at] = value;
            wav.resize(wav.len() + extra, 0);
            if let Ok(info) = parse_wav(&wav, AudioLimits::default()) {
                let frame = usize::from(info.channels) * usize::from(info.bits_per_sample / 8);
                prop_assert_eq!(44 + info.frames as usize * frame, wav.len());
            }
        }

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
