//! The classic energy-and-word-count detector, re-implemented as the
//! yardstick for [`crate::Detector`]. A frame is voice when its mean
//! absolute sample exceeds a fixed threshold; words are counted and timed,
//! and fixed limits turn the counts into a verdict.

use serde::{Deserialize, Serialize};

use crate::dsp::{FRAME_LEN, FRAME_MS};
use crate::{AmdDetector, Class, Features, Framer, MessageCue, Reason, Verdict};

/// The classic detector's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaselineConfig {
    /// Silence before the first word that means a machine.
    pub initial_silence_ms: u32,
    /// Longest greeting of a person, from the first word on.
    pub greeting_ms: u32,
    /// Silence after a word that means a person waiting.
    pub after_greeting_silence_ms: u32,
    /// Time after which the detector gives up.
    pub total_analysis_ms: u32,
    /// Least voice that counts as a word.
    pub min_word_ms: u32,
    /// Silence that ends a word.
    pub between_words_silence_ms: u32,
    /// Most words of a person's greeting; one more means a machine.
    pub max_words: u32,
    /// Mean absolute 16-bit sample value below which a frame is silence.
    pub silence_threshold: u32,
    /// A single word this long means a machine.
    pub max_word_ms: u32,
}

impl BaselineConfig {
    /// The well-known default parameters.
    pub fn classic() -> Self {
        Self {
            initial_silence_ms: 2_500,
            greeting_ms: 1_500,
            after_greeting_silence_ms: 800,
            total_analysis_ms: 5_000,
            min_word_ms: 100,
            between_words_silence_ms: 50,
            max_words: 2,
            silence_threshold: 256,
            max_word_ms: 5_000,
        }
    }
}

/// The classic detector.
#[derive(Debug, Clone)]
pub struct BaselineDetector {
    config: BaselineConfig,
    framer: Framer,
    silence_ms: u32,
    voice_ms: u32,
    total_voice_ms: u32,
    words: u32,
    in_word: bool,
    first_word_ms: Option<u32>,
    longest_word_ms: u32,
    verdict: Option<Verdict>,
}

impl BaselineDetector {
    /// A detector at the moment of answer.
    pub fn new(config: BaselineConfig) -> Self {
        Self {
            config,
            framer: Framer::default(),
            silence_ms: 0,
            voice_ms: 0,
            total_voice_ms: 0,
            words: 0,
            in_word: false,
            first_word_ms: None,
            longest_word_ms: 0,
            verdict: None,
        }
    }

    fn handle_frame(&mut self, index: u32, frame: &[f32; FRAME_LEN]) {
        if self.verdict.is_some() {
            return;
        }
        let now_ms = (index + 1) * FRAME_MS;
        let c = self.config;
        let mean_abs = frame.iter().map(|s| s.abs()).sum::<f32>() / FRAME_LEN as f32;

        let decision = if mean_abs < c.silence_threshold as f32 {
            self.silence_ms += FRAME_MS;
            self.voice_ms = 0;
            if self.in_word && self.silence_ms >= c.between_words_silence_ms {
                self.in_word = false;
            }
            if self.words == 0 && self.silence_ms >= c.initial_silence_ms {
                Some((Class::Machine, Reason::InitialSilence))
            } else if self.words > 0 && self.silence_ms >= c.after_greeting_silence_ms {
                Some((Class::Human, Reason::WordThenSilence))
            } else {
                None
            }
        } else {
            self.voice_ms += FRAME_MS;
            self.total_voice_ms += FRAME_MS;
            self.silence_ms = 0;
            self.longest_word_ms = self.longest_word_ms.max(self.voice_ms);
            if !self.in_word && self.voice_ms >= c.min_word_ms {
                self.in_word = true;
                self.words += 1;
                self.first_word_ms.get_or_insert(now_ms - self.voice_ms);
            }
            let greeting_ms = self.first_word_ms.map_or(0, |start| now_ms - start);
            if self.words > c.max_words {
                Some((Class::Machine, Reason::MaxWords))
            } else if self.voice_ms >= c.max_word_ms {
                Some((Class::Machine, Reason::LongWord))
            } else if self.words > 0 && greeting_ms >= c.greeting_ms {
                Some((Class::Machine, Reason::LongGreeting))
            } else {
                None
            }
        };
        let decision = decision.or_else(|| {
            (now_ms >= c.total_analysis_ms).then_some((Class::NotSure, Reason::Timeout))
        });
        if let Some((class, reason)) = decision {
            let features = Features {
                first_voice_ms: self.first_word_ms,
                voice_ms: self.total_voice_ms,
                utterances: self.words,
                longest_utterance_ms: self.longest_word_ms,
                trailing_silence_ms: self.silence_ms,
                beeps: Vec::new(),
                noise_floor_db: crate::dsp::FLOOR_DB,
            };
            self.verdict = Some(Verdict { class, at_ms: now_ms, reason, features });
        }
    }
}

impl AmdDetector for BaselineDetector {
    fn name(&self) -> &'static str {
        "baseline"
    }

    fn handle_audio(&mut self, samples: &[i16]) {
        let mut framer = std::mem::take(&mut self.framer);
        framer.push(samples, |index, frame| self.handle_frame(index, frame));
        self.framer = framer;
    }

    fn poll_verdict(&self) -> Option<&Verdict> {
        self.verdict.as_ref()
    }

    fn poll_message_cue(&self) -> Option<MessageCue> {
        None
    }

    fn wants_audio(&self) -> bool {
        self.verdict.is_none()
    }

    fn elapsed_ms(&self) -> u32 {
        self.framer.elapsed_ms()
    }
}
