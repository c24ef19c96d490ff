//! Voice activity by a per-bin likelihood test against a running noise
//! spectrum. Each frame's spectrum is compared bin by bin with the noise
//! estimate; voice lifts some bins (harmonics, formants) far above it even
//! when the overall level barely moves, so quiet speech in loud noise is
//! still found. The noise estimate follows quiet frames quickly and all
//! frames slowly, so a change of background does not lock the detector.

use crate::dsp::{BAND_HI, BAND_LO, BINS, FRAME_MS, FrameFeatures};

/// Frames at or below this level (dBFS) are dropouts.
pub const DROPOUT_DBFS: f32 = -85.0;
/// Share of the way the noise estimate moves down toward a quieter frame.
const QUIET_FALL: f32 = 0.1;
/// Largest rise of the noise estimate per quiet frame (1 dB).
const QUIET_RISE_CAP: f32 = 1.26;
/// Largest rise of the noise estimate per voice frame (0.03 dB).
const VOICE_RISE_CAP: f32 = 1.007;
/// Quiet frames after which the thresholds are 50% above their setting;
/// they approach it as the noise estimate matures.
const WARMUP_FRAMES: f32 = 8.0;
/// Frames after answer that only train the noise estimate (80 ms).
const TRAINING_FRAMES: u32 = 4;

/// Settings of the voice activity detector.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VadConfig {
    /// Mean per-bin likelihood score that may start voice.
    pub start_score: f32,
    /// Voice continues while the score stays above this.
    pub keep_score: f32,
    /// Frames quieter than this (dBFS) are never voice.
    pub min_level_dbfs: f32,
    /// Voice needs this many loud frames in a row to start.
    pub onset_frames: u32,
    /// Voice lasts this long after the last frame above the keep score.
    pub hangover_ms: u32,
    /// Time constant of the noise estimate on quiet frames, in ms.
    pub quiet_adapt_ms: u32,
    /// Time constant of the noise estimate on voice frames, in ms.
    pub voice_adapt_ms: u32,
}

impl VadConfig {
    /// The settings the detector was tuned with.
    pub fn standard() -> Self {
        Self {
            start_score: 0.6,
            keep_score: 0.3,
            min_level_dbfs: -65.0,
            onset_frames: 2,
            hangover_ms: 60,
            quiet_adapt_ms: 200,
            voice_adapt_ms: 3_000,
        }
    }
}

/// Frame-by-frame voice activity.
#[derive(Debug, Clone)]
pub struct Vad {
    config: VadConfig,
    noise: Option<[f32; BINS]>,
    floor_db: Option<f32>,
    active: bool,
    loud_run: u32,
    hangover_left: u32,
    last_score: f32,
    frames: u32,
    quiet_frames: u32,
}

impl Vad {
    /// A detector that has heard nothing yet.
    pub fn new(config: VadConfig) -> Self {
        Self {
            config,
            noise: None,
            floor_db: None,
            active: false,
            loud_run: 0,
            hangover_left: 0,
            last_score: 0.0,
            frames: 0,
            quiet_frames: 0,
        }
    }

    /// Current noise level in dBFS.
    pub fn floor_db(&self) -> f32 {
        self.floor_db.unwrap_or(crate::dsp::FLOOR_DB)
    }

    /// The last frame's likelihood score.
    pub fn last_score(&self) -> f32 {
        self.last_score
    }

    /// Takes one frame; `tonal` frames (beeps, tones) are never voice and
    /// do not move the noise estimate. Returns whether the frame is voice.
    pub fn handle_frame(&mut self, f: &FrameFeatures, tonal: bool) -> bool {
        // Digital silence is a lost packet or a muted line, not the noise:
        // it neither moves the estimate nor counts as voice.
        if f.level_db <= DROPOUT_DBFS {
            self.loud_run = 0;
            self.active = false;
            self.hangover_left = 0;
            return false;
        }
        // The first frames train the noise estimate.
        self.frames += 1;
        if self.frames <= TRAINING_FRAMES {
            let n = self.frames as f32;
            let noise = self.noise.get_or_insert([0.0; BINS]);
            for (m, &p) in noise.iter_mut().zip(&f.power) {
                *m += (p - *m) / n;
            }
            let floor = self.floor_db.get_or_insert(f.level_db);
            *floor += (f.level_db - *floor) / n;
            self.quiet_frames = self.frames;
            return false;
        }
        let noise = self.noise.get_or_insert(f.power);
        let floor = self.floor_db.get_or_insert(f.level_db);

        // Per-bin signal-to-noise ratios. A broadband swell of the noise
        // (traffic, a moving handset) lifts every bin alike, so the ratios
        // are divided by their median over that of pure noise (ln 2), up to
        // a 6 dB swell; beyond that the whole band has risen with a voice.
        let mut gammas = [0.0f32; BAND_HI - BAND_LO + 1];
        for (g, k) in gammas.iter_mut().zip(BAND_LO..=BAND_HI) {
            *g = (f.power[k] / noise[k].max(1e-3)).min(1e4);
        }
        let mut sorted = gammas;
        sorted.sort_by(f32::total_cmp);
        let swell = (sorted[sorted.len() / 2] / std::f32::consts::LN_2).clamp(1.0, 4.0);
        let mut score = 0.0f32;
        for g in gammas {
            // Only bins above the noise count: quieter bins are no evidence
            // of voice, and would make a too-high noise estimate stick.
            let gamma = g / swell;
            if gamma > 1.0 {
                score += gamma - gamma.ln() - 1.0;
            }
        }
        score /= (BAND_HI - BAND_LO + 1) as f32;
        self.last_score = score;

        // A young noise estimate is rough: ask for more until it has seen
        // enough quiet frames.
        let c = self.config;
        let youth = 1.0 + WARMUP_FRAMES / self.quiet_frames.max(1) as f32;
        let audible = !tonal && f.level_db >= c.min_level_dbfs;
        let starts = audible && score >= c.start_score * youth;
        let keeps = audible && score >= c.keep_score * youth;
        if !keeps && !tonal {
            self.quiet_frames = (self.quiet_frames + 1).min(1_000);
        }
        self.loud_run = if starts { self.loud_run + 1 } else { 0 };
        let hangover_frames = c.hangover_ms / FRAME_MS;
        if self.active {
            if keeps {
                self.hangover_left = hangover_frames;
            } else if self.hangover_left > 0 && !tonal {
                self.hangover_left -= 1;
            } else {
                self.active = false;
            }
        } else if self.loud_run >= c.onset_frames {
            self.active = true;
            self.hangover_left = hangover_frames;
        }

        // Follow the noise: down quickly, up slowly and by a capped step, so
        // that speech never drags the estimate up; never on tones.
        if !tonal {
            let tau = if keeps { c.voice_adapt_ms } else { c.quiet_adapt_ms };
            let alpha = (FRAME_MS as f32 / tau.max(FRAME_MS) as f32).min(1.0);
            let cap = if keeps { VOICE_RISE_CAP } else { QUIET_RISE_CAP };
            for (n, &p) in noise.iter_mut().zip(&f.power) {
                *n = if p < *n {
                    *n + QUIET_FALL * (p - *n)
                } else {
                    (*n + alpha * (p - *n)).min(*n * cap)
                };
            }
            *floor = if f.level_db < *floor {
                *floor + QUIET_FALL * (f.level_db - *floor)
            } else {
                (*floor + alpha * (f.level_db - *floor)).min(*floor + 10.0 * cap.log10())
            };
        }
        self.active
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::{FRAME_LEN, SAMPLE_RATE, Spectrum, analyse};

    /// Deterministic pseudo-random noise (a linear congruential generator).
    fn noise_frames(n: usize, amp: f32, seed: u64) -> Vec<[f32; FRAME_LEN]> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                let mut f = [0.0f32; FRAME_LEN];
                for s in f.iter_mut() {
                    state =
                        state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    *s = amp * (((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5);
                }
                f
            })
            .collect()
    }

    fn voiced(frame: &mut [f32; FRAME_LEN], index: usize, amp: f32) {
        for (i, s) in frame.iter_mut().enumerate() {
            let t = (index * FRAME_LEN + i) as f32 / SAMPLE_RATE as f32;
            for h in 2..12 {
                let f = 140.0 * h as f32;
                *s += amp / h as f32 * (2.0 * std::f32::consts::PI * f * t).sin();
            }
        }
    }

    #[test]
    fn steady_noise_is_not_voice_and_quiet_speech_in_it_is() {
        let spectrum = Spectrum::new();
        let mut vad = Vad::new(VadConfig::standard());
        let mut frames = noise_frames(150, 4000.0, 7);
        for (i, f) in frames.iter_mut().enumerate().skip(100).take(25) {
            voiced(f, i, 6000.0);
        }
        let mut voice = Vec::new();
        for f in &frames {
            voice.push(vad.handle_frame(&analyse(&spectrum, f), false));
        }
        assert!(voice[..100].iter().all(|v| !v), "noise taken for voice");
        let found = voice[100..125].iter().filter(|v| **v).count();
        assert!(found >= 20, "speech at +5 dB SNR found in {found} of 25 frames");
        assert!(voice[130..].iter().all(|v| !v), "voice after the speech ended");
    }

    #[test]
    fn tonal_frames_are_never_voice() {
        let spectrum = Spectrum::new();
        let mut vad = Vad::new(VadConfig::standard());
        let mut frames = noise_frames(40, 300.0, 3);
        for (i, f) in frames.iter_mut().enumerate().skip(20) {
            voiced(f, i, 3000.0);
        }
        for (i, f) in frames.iter().enumerate() {
            let v = vad.handle_frame(&analyse(&spectrum, f), i >= 20);
            assert!(!v, "frame {i}");
        }
    }

    #[test]
    fn digital_silence_is_never_voice() {
        let spectrum = Spectrum::new();
        let mut vad = Vad::new(VadConfig::standard());
        for _ in 0..20 {
            assert!(!vad.handle_frame(&analyse(&spectrum, &[0.0; FRAME_LEN]), false));
        }
    }
}
