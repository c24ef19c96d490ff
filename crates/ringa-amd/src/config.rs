//! Campaign settings for listening detection: what to do on a machine,
//! where unsure calls go, and the detector's thresholds. The whole struct
//! is stored with each attempt so that a verdict can be audited.

use serde::{Deserialize, Serialize};

use crate::tones::ToneThresholds;
use crate::vad::VadConfig;
use crate::{Class, Reason, Verdict};

/// What the campaign does when a machine answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MachineAction {
    /// End the call at once.
    HangUp,
    /// Wait for the end of the greeting or the beep, then play a message.
    LeaveMessage,
}

/// Where the call goes after the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// Bridge to an agent.
    ConnectAgent,
    /// End the call.
    HangUp,
    /// Play the campaign's message once the detector gives the cue.
    LeaveMessage,
}

/// Timing rules of the listening detector, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TimingConfig {
    /// Least voice that counts as a word.
    pub min_word_ms: u32,
    /// A pause at least this long ends an utterance.
    pub utterance_gap_ms: u32,
    /// Speech spans shorter than this are fragments (a cough, a syllable
    /// heard through noise) and need `long_silence_ms` of quiet.
    pub fragment_span_ms: u32,
    /// Speech spans up to this long are "short" ("hello?").
    pub short_span_ms: u32,
    /// Silence after a short span that means a person waiting.
    pub short_silence_ms: u32,
    /// Speech spans up to this long are "medium" ("Hej, det är Anna").
    pub medium_span_ms: u32,
    /// Silence after a medium span that means a person waiting.
    pub medium_silence_ms: u32,
    /// Longest span still taken for a person's greeting.
    pub human_max_span_ms: u32,
    /// Silence after a longer span that means a person waiting.
    pub long_silence_ms: u32,
    /// Silence after a span longer than `human_max_span_ms`, without a
    /// beep, after which the detector gives up (NOTSURE).
    pub after_long_greeting_ms: u32,
    /// A frame that is not voice but louder than the noise floor by more
    /// than this (dB) is not counted as quiet: speech the voice detector
    /// misses in loud noise still lifts the level. Zero turns it off
    /// (older stored settings lack it).
    #[serde(default)]
    pub quiet_max_above_floor_db: f32,
    /// Voice beyond this means a recorded greeting.
    pub machine_voice_ms: u32,
    /// Silence from answer after which the detector gives up (NOTSURE).
    pub max_initial_silence_ms: u32,
    /// Longest listening time.
    pub max_listen_ms: u32,
    /// A beep counts only if no voice follows it within this time: tones
    /// inside speech are voices holding a pitch.
    pub beep_confirm_ms: u32,
    /// After the last beep, quiet this long before the message may start.
    pub cue_after_beep_ms: u32,
    /// Without a beep, silence this long after the greeting before the
    /// message may start.
    pub cue_after_greeting_ms: u32,
    /// After a span longer than `human_max_span_ms` and this much silence,
    /// at least `cadence_min_utterances` utterances at an even level mean a
    /// recorded greeting (MACHINE). Zero turns the rule off (older stored
    /// settings, which lack these fields, read as off).
    #[serde(default)]
    pub cadence_min_utterances: u32,
    /// Silence after the greeting that the cadence rule waits for.
    #[serde(default)]
    pub cadence_silence_ms: u32,
    /// Least voice in an utterance for the cadence rule to count it.
    #[serde(default)]
    pub cadence_min_voice_ms: u32,
    /// How far below the loudest utterance another may be and still count
    /// as the same speaker, in dB.
    #[serde(default)]
    pub cadence_level_db: f32,
}

/// Settings of the listening detector for one campaign.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AmdConfig {
    /// What to do when a machine answers.
    pub on_machine: MachineAction,
    /// Whether NOTSURE calls go to an agent (otherwise they are ended).
    pub notsure_to_agent: bool,
    /// Voice activity thresholds.
    pub vad: VadConfig,
    /// Tone detection thresholds.
    pub tones: ToneThresholds,
    /// Timing rules.
    pub timing: TimingConfig,
}

impl AmdConfig {
    /// The tuned settings with the given machine action; unsure calls go to
    /// an agent.
    pub fn standard(on_machine: MachineAction) -> Self {
        Self {
            on_machine,
            notsure_to_agent: true,
            vad: VadConfig::standard(),
            tones: ToneThresholds {
                min_tonality: 0.4,
                min_above_floor_db: 6.0,
                min_level_dbfs: -60.0,
                max_freq_spread_hz: 9.0,
                min_purity: 0.6,
                max_level_spread_db: 2.5,
            },
            timing: TimingConfig {
                min_word_ms: 100,
                utterance_gap_ms: 300,
                fragment_span_ms: 200,
                short_span_ms: 1_000,
                short_silence_ms: 650,
                medium_span_ms: 2_000,
                medium_silence_ms: 1_300,
                human_max_span_ms: 4_000,
                long_silence_ms: 1_500,
                after_long_greeting_ms: 2_500,
                quiet_max_above_floor_db: 3.0,
                machine_voice_ms: 6_500,
                max_initial_silence_ms: 5_000,
                max_listen_ms: 30_000,
                beep_confirm_ms: 100,
                cue_after_beep_ms: 300,
                cue_after_greeting_ms: 1_500,
                cadence_min_utterances: 3,
                cadence_silence_ms: 1_500,
                cadence_min_voice_ms: 300,
                cadence_level_db: 4.0,
            },
        }
    }

    /// Where a call goes after `verdict` under these settings. A person is
    /// always connected; fax lines and network announcements are ended.
    pub fn route(&self, verdict: &Verdict) -> Route {
        match verdict.class {
            Class::Human => Route::ConnectAgent,
            Class::NotSure if self.notsure_to_agent => Route::ConnectAgent,
            Class::NotSure => Route::HangUp,
            Class::Machine if matches!(verdict.reason, Reason::Sit | Reason::Fax) => Route::HangUp,
            Class::Machine => match self.on_machine {
                MachineAction::HangUp => Route::HangUp,
                MachineAction::LeaveMessage => Route::LeaveMessage,
            },
        }
    }
}
