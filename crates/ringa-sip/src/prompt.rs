//! Prompts played to a leg (the drop message): loaded from an 8 kHz mono WAV (16-bit PCM,
//! or G.711 µ-law/A-law read through hound as PCM) or a raw µ-law file, and cut into 20 ms
//! frames of linear samples.

use std::fmt;
use std::path::Path;

use crate::g711::Codec;

/// Samples in one 20 ms frame at 8 kHz.
pub const FRAME: usize = 160;

/// Why a prompt cannot be loaded.
#[derive(Debug)]
pub enum PromptError {
    /// The file could not be read.
    Io(std::io::Error),
    /// The WAV file is malformed.
    Wav(hound::Error),
    /// The WAV is not 8 kHz mono 16-bit PCM.
    Format(String),
}

impl fmt::Display for PromptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PromptError::Io(e) => write!(f, "prompt: {e}"),
            PromptError::Wav(e) => write!(f, "prompt: {e}"),
            PromptError::Format(s) => write!(f, "prompt: {s}"),
        }
    }
}

impl std::error::Error for PromptError {}

/// A prompt as linear 8 kHz samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    samples: Vec<i16>,
}

impl Prompt {
    /// A prompt from samples already at 8 kHz.
    pub fn from_samples(samples: Vec<i16>) -> Prompt {
        Prompt { samples }
    }

    /// Loads `path`: `.ul`/`.ulaw`/`.pcmu` as raw µ-law, anything else as WAV.
    pub fn load(path: &Path) -> Result<Prompt, PromptError> {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        if matches!(ext.as_str(), "ul" | "ulaw" | "pcmu") {
            let bytes = std::fs::read(path).map_err(PromptError::Io)?;
            let mut samples = Vec::with_capacity(bytes.len());
            Codec::Pcmu.decode_into(&bytes, &mut samples);
            return Ok(Prompt { samples });
        }
        let reader = hound::WavReader::open(path).map_err(PromptError::Wav)?;
        let spec = reader.spec();
        if spec.sample_rate != 8000
            || spec.channels != 1
            || spec.bits_per_sample != 16
            || spec.sample_format != hound::SampleFormat::Int
        {
            return Err(PromptError::Format(format!(
                "need 8000 Hz mono 16-bit PCM, got {} Hz, {} channel(s), {} bits",
                spec.sample_rate, spec.channels, spec.bits_per_sample
            )));
        }
        let samples = reader
            .into_samples::<i16>()
            .collect::<Result<Vec<_>, _>>()
            .map_err(PromptError::Wav)?;
        Ok(Prompt { samples })
    }

    /// The 20 ms frames of the prompt, the last one padded with silence.
    pub fn frames(&self) -> impl Iterator<Item = [i16; FRAME]> + '_ {
        self.samples.chunks(FRAME).map(|chunk| {
            let mut frame = [0i16; FRAME];
            frame[..chunk.len()].copy_from_slice(chunk);
            frame
        })
    }

    /// The samples.
    pub fn samples(&self) -> &[i16] {
        &self.samples
    }

    /// The length in samples.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether the prompt is empty.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wav_and_ulaw_prompts_load_and_frame() {
        let dir = std::env::temp_dir().join(format!("ringa-sip-prompt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir is writable");
        let wav = dir.join("drop.wav");
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&wav, spec).expect("temp file is writable");
        for i in 0..400 {
            w.write_sample(i as i16).expect("write");
        }
        w.finalize().expect("finalize");
        let p = Prompt::load(&wav).expect("valid prompt");
        assert_eq!(p.len(), 400);
        let frames: Vec<_> = p.frames().collect();
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[2][79], 399);
        assert_eq!(frames[2][80], 0);

        let ul = dir.join("drop.ul");
        std::fs::write(&ul, [0xFFu8, 0x80, 0x00]).expect("write");
        let p = Prompt::load(&ul).expect("valid prompt");
        assert_eq!(p, Prompt::from_samples(vec![0, 32_124, -32_124]));

        let stereo = dir.join("stereo.wav");
        let mut w = hound::WavWriter::create(&stereo, hound::WavSpec { channels: 2, ..spec })
            .expect("temp file is writable");
        w.write_sample(0i16).expect("write");
        w.write_sample(0i16).expect("write");
        w.finalize().expect("finalize");
        assert!(matches!(Prompt::load(&stereo), Err(PromptError::Format(_))));
        std::fs::write(dir.join("junk.wav"), b"RIFFjunk").expect("write");
        assert!(matches!(Prompt::load(&dir.join("junk.wav")), Err(PromptError::Wav(_))));
        std::fs::remove_dir_all(&dir).expect("temp dir removable");
    }
}
