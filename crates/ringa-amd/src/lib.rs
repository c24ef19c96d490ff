//! Answering-machine detection for the ringa dialer, without I/O.
//!
//! Three methods live here, each usable on its own:
//!
//! 1. **Listening** ([`Detector`], and [`BaselineDetector`] for comparison):
//!    a streaming classifier fed 8 kHz, 16-bit mono audio from the moment
//!    the call is answered (the 200 OK, never early media). Time is the
//!    number of samples fed, so no clock is read. The driver calls
//!    [`AmdDetector::handle_audio`] with each chunk it receives and then
//!    [`AmdDetector::poll_verdict`]; once a verdict is out, a detector
//!    configured to leave messages keeps listening and reports through
//!    [`AmdDetector::poll_message_cue`] when the greeting or beep is over.
//! 2. **History** ([`history`]): the probability that voicemail answers a
//!    contact, from its past attempts, and a pre-dial advice.
//! 3. **Ring time** ([`ringtime`]): per number, how long it rings before
//!    voicemail picks up, and a ring timeout just below that.
//!
//! The [`AmdConfig`] in force is serialisable so that it can be stored with
//! each attempt and a wrong verdict audited later.

mod baseline;
mod config;
mod detector;
pub mod dsp;
pub mod history;
pub mod ringtime;
#[cfg(test)]
mod testsignal;
pub mod tones;
pub mod vad;
mod verdict;

pub use baseline::{BaselineConfig, BaselineDetector};
pub use config::{AmdConfig, MachineAction, Route, TimingConfig};
pub use detector::Detector;
pub use verdict::{Class, Features, MessageCue, Reason, Verdict};

/// What both listening detectors offer, so that drivers and the evaluator
/// can run either.
pub trait AmdDetector {
    /// Short name used in reports.
    fn name(&self) -> &'static str;

    /// Takes the next audio after answer (8 kHz, 16-bit mono). Chunks may
    /// have any length; the detector keeps the remainder of a frame.
    fn handle_audio(&mut self, samples: &[i16]);

    /// The verdict, once reached. It does not change afterwards.
    fn poll_verdict(&self) -> Option<&Verdict>;

    /// When leaving a message: the moment the greeting (and its beep) is
    /// over and the message may start.
    fn poll_message_cue(&self) -> Option<MessageCue>;

    /// Whether more audio is useful: false once the verdict is out and,
    /// when leaving messages, the message cue is known too.
    fn wants_audio(&self) -> bool;

    /// Milliseconds of audio fed since answer.
    fn elapsed_ms(&self) -> u32;

    /// Takes audio that starts `at_ms` milliseconds after the answer, as
    /// timed by the driver (from RTP timestamps, say). Time the samples fed
    /// so far do not cover (lost or late packets) is filled with digital
    /// silence, which counts as neither voice nor quiet, so the decision
    /// times stay measured from the answer. Audio that starts earlier than
    /// the time already fed is taken as it is.
    fn handle_audio_at(&mut self, at_ms: u32, samples: &[i16]) {
        let gap_ms = at_ms.saturating_sub(self.elapsed_ms()).min(MAX_GAP_FILL_MS);
        if gap_ms > 0 {
            let zeros = [0i16; dsp::FRAME_LEN];
            let mut left = gap_ms as usize * dsp::SAMPLE_RATE as usize / 1000;
            while left > 0 && self.wants_audio() {
                let n = left.min(zeros.len());
                self.handle_audio(&zeros[..n]);
                left -= n;
            }
        }
        self.handle_audio(samples);
    }
}

/// Longest gap [`AmdDetector::handle_audio_at`] fills, so that a wild
/// timestamp cannot make it feed hours of silence.
pub const MAX_GAP_FILL_MS: u32 = 60_000;

/// Splits incoming chunks into whole analysis frames.
#[derive(Debug, Clone, Default)]
struct Framer {
    buf: Vec<f32>,
    frames: u32,
}

impl Framer {
    /// Appends samples and calls `on_frame` with each completed frame and
    /// its index counted from answer.
    fn push(&mut self, samples: &[i16], mut on_frame: impl FnMut(u32, &[f32; dsp::FRAME_LEN])) {
        for &s in samples {
            self.buf.push(f32::from(s));
            if self.buf.len() == dsp::FRAME_LEN {
                let frame: [f32; dsp::FRAME_LEN] = self.buf[..]
                    .try_into()
                    .expect("the buffer holds exactly one frame at this point");
                on_frame(self.frames, &frame);
                self.frames += 1;
                self.buf.clear();
            }
        }
    }

    fn elapsed_ms(&self) -> u32 {
        self.frames * dsp::FRAME_MS + (self.buf.len() as u32 * 1000) / dsp::SAMPLE_RATE
    }
}
