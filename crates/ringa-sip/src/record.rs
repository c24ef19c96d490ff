//! Conversation recording: one stereo 8 kHz 16-bit WAV per call, the customer on the left
//! channel and the agent on the right, kept in step by writing whole frames of both sides.

use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

/// The recording sample rate.
pub const SAMPLE_RATE: u32 = 8000;

/// The most samples one side may run ahead before the other is padded with silence
/// (half a second: a leg that stops sending must not stall the recording).
const MAX_LEAD: usize = 4000;

/// Why a recording failed.
#[derive(Debug)]
pub struct RecordError(hound::Error);

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "recording: {}", self.0)
    }
}

impl std::error::Error for RecordError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl From<hound::Error> for RecordError {
    fn from(e: hound::Error) -> Self {
        RecordError(e)
    }
}

/// A stereo recording being written.
pub struct StereoRecorder {
    writer: hound::WavWriter<BufWriter<File>>,
    customer: VecDeque<i16>,
    agent: VecDeque<i16>,
    frames: u64,
}

impl fmt::Debug for StereoRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StereoRecorder").field("frames", &self.frames).finish_non_exhaustive()
    }
}

impl StereoRecorder {
    /// Creates the WAV file.
    pub fn create(path: &Path) -> Result<StereoRecorder, RecordError> {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: SAMPLE_RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        Ok(StereoRecorder {
            writer: hound::WavWriter::create(path, spec)?,
            customer: VecDeque::new(),
            agent: VecDeque::new(),
            frames: 0,
        })
    }

    /// Adds audio heard from the customer.
    pub fn push_customer(&mut self, samples: &[i16]) -> Result<(), RecordError> {
        self.customer.extend(samples);
        self.drain(false)
    }

    /// Adds audio heard from the agent.
    pub fn push_agent(&mut self, samples: &[i16]) -> Result<(), RecordError> {
        self.agent.extend(samples);
        self.drain(false)
    }

    fn drain(&mut self, flush: bool) -> Result<(), RecordError> {
        loop {
            let both = !self.customer.is_empty() && !self.agent.is_empty();
            let lagging = self.customer.len().max(self.agent.len()) > MAX_LEAD;
            let rest = flush && !(self.customer.is_empty() && self.agent.is_empty());
            if !(both || lagging || rest) {
                return Ok(());
            }
            let left = self.customer.pop_front().unwrap_or(0);
            let right = self.agent.pop_front().unwrap_or(0);
            self.writer.write_sample(left)?;
            self.writer.write_sample(right)?;
            self.frames += 1;
        }
    }

    /// Stereo frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Writes what is buffered and closes the file.
    pub fn finish(mut self) -> Result<u64, RecordError> {
        self.drain(true)?;
        let frames = self.frames;
        self.writer.finalize()?;
        Ok(frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_stay_apart_and_in_step() {
        let dir = std::env::temp_dir().join(format!("ringa-sip-rec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir is writable");
        let path = dir.join("call.wav");
        let mut rec = StereoRecorder::create(&path).expect("temp file is writable");
        rec.push_customer(&[100; 160]).expect("write");
        rec.push_agent(&[-200; 80]).expect("write");
        rec.push_agent(&[-200; 80]).expect("write");
        rec.push_customer(&[300; 10]).expect("write");
        assert_eq!(rec.frames(), 160);
        assert_eq!(rec.finish().expect("finalize"), 170);

        let mut reader = hound::WavReader::open(&path).expect("the recording opens");
        assert_eq!(reader.spec().channels, 2);
        let samples: Vec<i16> = reader.samples().map(|s| s.expect("valid sample")).collect();
        assert_eq!(samples.len(), 340);
        assert_eq!(&samples[..2], &[100, -200]);
        assert_eq!(&samples[338..], &[300, 0]);
        std::fs::remove_dir_all(&dir).expect("temp dir removable");
    }

    #[test]
    fn a_silent_side_does_not_stall_the_recording() {
        let dir = std::env::temp_dir().join(format!("ringa-sip-rec2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir is writable");
        let mut rec = StereoRecorder::create(&dir.join("c.wav")).expect("temp file is writable");
        for _ in 0..50 {
            rec.push_customer(&[1; 160]).expect("write");
        }
        assert!(rec.frames() >= 8000 - MAX_LEAD as u64, "{}", rec.frames());
        drop(rec);
        std::fs::remove_dir_all(&dir).expect("temp dir removable");
    }
}
