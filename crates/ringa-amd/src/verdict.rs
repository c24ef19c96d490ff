//! The outcome of listening: class, decision time, reason and the features
//! that led to it, all serialisable for the attempt's audit record.

use serde::{Deserialize, Serialize};

use crate::tones::Tone;

/// Who answered, as far as the detector can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Class {
    /// A person.
    Human,
    /// An answering machine, or another machine (fax, network announcement).
    Machine,
    /// Could not tell.
    #[serde(rename = "NOTSURE")]
    NotSure,
}

impl std::fmt::Display for Class {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Class::Human => "HUMAN",
            Class::Machine => "MACHINE",
            Class::NotSure => "NOTSURE",
        })
    }
}

/// Why a verdict was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// A short greeting followed by the silence of someone waiting.
    ShortGreetingThenSilence,
    /// A voicemail beep.
    Beep,
    /// Speech went on far longer than a person's greeting.
    LongGreeting,
    /// A long greeting ended in silence without a beep: a screener or a
    /// machine without beep.
    LongGreetingThenSilence,
    /// A long greeting of several sentences at an even level ended in
    /// silence: a recorded greeting whose beep was missed or that has none.
    GreetingCadence,
    /// Special information tones (a network announcement).
    Sit,
    /// A fax tone.
    Fax,
    /// Nothing was said.
    Silence,
    /// Listening time ran out.
    Timeout,
    /// Classic detector: silence before any word lasted too long.
    InitialSilence,
    /// Classic detector: more words than a person's greeting has.
    MaxWords,
    /// Classic detector: one word went on too long.
    LongWord,
    /// Classic detector: a word followed by the after-greeting silence.
    WordThenSilence,
}

/// What the detector had measured when it decided.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Features {
    /// First voice, milliseconds after answer.
    pub first_voice_ms: Option<u32>,
    /// Milliseconds of voice heard.
    pub voice_ms: u32,
    /// Utterances (or words, for the classic detector) heard.
    pub utterances: u32,
    /// Longest utterance in milliseconds.
    pub longest_utterance_ms: u32,
    /// Silence since the last voice, in milliseconds.
    pub trailing_silence_ms: u32,
    /// Beeps heard.
    pub beeps: Vec<Tone>,
    /// Estimated noise floor in dBFS.
    pub noise_floor_db: f32,
}

/// The decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Who answered.
    pub class: Class,
    /// Decision time, milliseconds after answer.
    pub at_ms: u32,
    /// Why.
    pub reason: Reason,
    /// The measurements behind it.
    pub features: Features,
}

/// Where a message may start when leaving one on a machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageCue {
    /// Milliseconds after answer at which playing may start.
    pub at_ms: u32,
    /// Whether it follows a beep (otherwise the end of the greeting).
    pub after_beep: bool,
}
