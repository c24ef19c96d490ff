//! Single-tone tracking over frames: answering-machine beeps (any frequency
//! from 400 to 2000 Hz), the special information tones (SIT) that precede
//! network announcements, and fax calling (CNG) and answer (CED) tones.

use crate::dsp::{FRAME_LEN, FRAME_MS, FrameFeatures, SAMPLE_RATE, goertzel_power};

/// Lowest frequency accepted as a beep.
pub const BEEP_MIN_HZ: f32 = 380.0;
/// Highest frequency accepted as a beep.
pub const BEEP_MAX_HZ: f32 = 2060.0;

/// Frequencies of the three SIT segments (low and high variants of the first
/// two), in the order they are sent.
const SIT_FIRST: [f32; 2] = [913.8, 985.2];
const SIT_SECOND: [f32; 2] = [1370.6, 1428.5];
const SIT_THIRD: f32 = 1776.7;

/// Frequency of the fax calling tone.
const CNG_HZ: f32 = 1100.0;
/// Frequency of the fax answer tone.
const CED_HZ: f32 = 2100.0;

/// How far a frame's frequency may stray from its tone's mean.
const FREQ_TOLERANCE_HZ: f32 = 40.0;
/// Frames a tone may miss (packet loss, a noise spike) and still continue.
const MAX_MISSED_FRAMES: u32 = 3;
/// Shortest tone that counts, in frames (180 ms).
const MIN_TONE_FRAMES: u32 = 9;
/// Longest tone still taken for a beep, in milliseconds.
const MAX_BEEP_MS: u32 = 3_000;
/// Wait after a tone that could open a SIT sequence before calling it a beep.
const SIT_WAIT_MS: u32 = 200;

/// Thresholds for frames to form a tone and for a tone to count.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ToneThresholds {
    /// Least share of band power in the peak region of a frame.
    pub min_tonality: f32,
    /// Least level above the noise floor in dB.
    pub min_above_floor_db: f32,
    /// Least absolute level in dBFS.
    pub min_level_dbfs: f32,
    /// Most spread (robust standard deviation) of the per-frame frequency
    /// over a tone (Hz): beeps hold their pitch, voices glide.
    pub max_freq_spread_hz: f32,
    /// Least share of the tone's power above the noise floor that a
    /// Goertzel filter at the tone's frequency finds.
    pub min_purity: f32,
    /// Most spread (robust standard deviation) of the frame levels over a
    /// tone (dB).
    pub max_level_spread_db: f32,
}

/// A finished single tone.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Tone {
    /// Start, milliseconds after answer.
    pub start_ms: u32,
    /// End, milliseconds after answer.
    pub end_ms: u32,
    /// Mean frequency in hertz.
    pub freq_hz: f32,
    /// Standard deviation of the per-frame frequency in hertz.
    pub freq_spread_hz: f32,
    /// Share of the power above the noise floor at the tone's frequency.
    pub purity: f32,
    /// Standard deviation of the frame levels in dB.
    pub level_spread_db: f32,
}

impl Tone {
    /// Length in milliseconds.
    pub fn duration_ms(&self) -> u32 {
        self.end_ms - self.start_ms
    }
}

/// What the tracker recognised.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ToneEvent {
    /// A single tone in the beep range that is not part of a SIT sequence.
    Beep(Tone),
    /// The three-tone special information sequence; the tone is the last one.
    Sit(Tone),
    /// A fax tone (CNG or CED).
    Fax(Tone),
}

#[derive(Debug, Clone)]
struct Run {
    start_frame: u32,
    last_frame: u32,
    freq_sum: f32,
    matched: u32,
    missed: u32,
    freqs: Vec<f32>,
    levels: Vec<f32>,
    samples: Vec<f32>,
    floor_db: f32,
    ced_reported: bool,
}

/// A robust standard deviation: the median absolute deviation scaled to
/// match the standard deviation of normal data. Codec glitches and lost
/// packets leave a few wild frames that should not condemn a beep.
fn spread(values: &[f32]) -> f32 {
    if values.is_empty() {
        return 0.0;
    }
    let median = |v: &mut Vec<f32>| {
        v.sort_by(f32::total_cmp);
        v[v.len() / 2]
    };
    let mut sorted = values.to_vec();
    let m = median(&mut sorted);
    let mut deviations: Vec<f32> = values.iter().map(|v| (v - m).abs()).collect();
    1.4826 * median(&mut deviations)
}

impl Run {
    fn freq(&self) -> f32 {
        self.freq_sum / self.matched as f32
    }

    /// The tone with its measurements. The first and last frames are left
    /// out of the spreads: ramps and frame edges blur them.
    fn tone(&self) -> Tone {
        let inner = |v: &[f32]| -> Vec<f32> {
            if v.len() > 4 { v[1..v.len() - 1].to_vec() } else { v.to_vec() }
        };
        let freq_hz = self.freq();
        Tone {
            start_ms: self.start_frame * FRAME_MS,
            end_ms: (self.last_frame + 1) * FRAME_MS,
            freq_hz,
            freq_spread_hz: spread(&inner(&self.freqs)),
            purity: self.purity(freq_hz),
            level_spread_db: spread(&inner(&self.levels)),
        }
    }

    /// Goertzel power at `freq_hz` over 40 ms blocks, against the power
    /// above the noise floor.
    fn purity(&self, freq_hz: f32) -> f32 {
        let noise = 32768.0f32 * 32768.0 * 10f32.powf(self.floor_db / 10.0);
        let (mut tone, mut excess) = (0.0f32, 0.0f32);
        for block in self.samples.chunks(2 * FRAME_LEN) {
            let power = block.iter().map(|s| s * s).sum::<f32>() / block.len() as f32;
            tone += goertzel_power(block, freq_hz, SAMPLE_RATE);
            excess += (power - noise).max(power * 0.05);
        }
        if excess > 0.0 { (tone / excess).min(1.0) } else { 0.0 }
    }
}

/// Follows tones frame by frame.
#[derive(Debug, Clone)]
pub struct ToneTracker {
    thresholds: ToneThresholds,
    run: Option<Run>,
    recent: Vec<Tone>,
    pending_beep: Option<Tone>,
    last_rejected: Option<Tone>,
}

fn near(freq: f32, target: f32) -> bool {
    (freq - target).abs() <= FREQ_TOLERANCE_HZ
}

impl ToneTracker {
    /// A tracker with the given frame thresholds.
    pub fn new(thresholds: ToneThresholds) -> Self {
        Self { thresholds, run: None, recent: Vec::new(), pending_beep: None, last_rejected: None }
    }

    /// Whether a frame, with the current noise floor, looks like part of a
    /// tone. Such frames are not voice.
    pub fn is_tonal(&self, f: &FrameFeatures, floor_db: f32) -> bool {
        let t = &self.thresholds;
        f.peak.tonality >= t.min_tonality
            && f.level_db >= floor_db + t.min_above_floor_db
            && f.level_db >= t.min_level_dbfs
    }

    /// The last tone-like run that failed the steadiness checks, for
    /// diagnosis.
    pub fn last_rejected(&self) -> Option<&Tone> {
        self.last_rejected.as_ref()
    }

    /// Whether a tone is being followed right now.
    pub fn in_tone(&self) -> bool {
        self.run.as_ref().is_some_and(|r| r.matched >= MIN_TONE_FRAMES && r.missed == 0)
    }

    /// Takes frame number `frame` (counted from answer) and returns what was
    /// recognised, if anything.
    pub fn handle_frame(
        &mut self,
        frame: u32,
        samples: &[f32; FRAME_LEN],
        f: &FrameFeatures,
        floor_db: f32,
    ) -> Option<ToneEvent> {
        let tonal = self.is_tonal(f, floor_db);
        let freq = f.peak.freq_hz;
        let mut event = None;

        match self.run.as_mut() {
            Some(run) if tonal && near(freq, run.freq()) => {
                run.last_frame = frame;
                run.freq_sum += freq;
                run.matched += 1;
                run.missed = 0;
                run.freqs.push(freq);
                run.levels.push(f.level_db);
                run.samples.extend_from_slice(samples);
            }
            Some(run) if run.missed < MAX_MISSED_FRAMES && !tonal => run.missed += 1,
            Some(_) => {
                event = self.finish_run();
                if tonal {
                    self.start_run(frame, samples, f, floor_db);
                }
            }
            None if tonal => self.start_run(frame, samples, f, floor_db),
            None => {}
        }

        if event.is_none() {
            event = self.check_ced();
        }
        if event.is_none() && self.run.is_none() {
            let now_ms = frame * FRAME_MS;
            if let Some(tone) = self.pending_beep
                && now_ms >= tone.end_ms + SIT_WAIT_MS
            {
                self.pending_beep = None;
                event = Some(ToneEvent::Beep(tone));
            }
        }
        event
    }

    fn start_run(
        &mut self,
        frame: u32,
        samples: &[f32; FRAME_LEN],
        f: &FrameFeatures,
        floor_db: f32,
    ) {
        self.run = Some(Run {
            start_frame: frame,
            last_frame: frame,
            freq_sum: f.peak.freq_hz,
            matched: 1,
            missed: 0,
            freqs: vec![f.peak.freq_hz],
            levels: vec![f.level_db],
            samples: samples.to_vec(),
            floor_db,
            ced_reported: false,
        });
    }

    /// Whether a tone is steady and pure enough to be a generated tone.
    fn is_clean(&self, tone: &Tone) -> bool {
        let t = &self.thresholds;
        tone.freq_spread_hz <= t.max_freq_spread_hz
            && tone.purity >= t.min_purity
            && tone.level_spread_db <= t.max_level_spread_db
    }

    fn check_ced(&mut self) -> Option<ToneEvent> {
        let run = self.run.as_ref()?;
        if run.ced_reported || !near(run.freq(), CED_HZ) || run.matched < 30 {
            return None;
        }
        let tone = run.tone();
        if !self.is_clean(&tone) {
            return None;
        }
        if let Some(run) = self.run.as_mut() {
            run.ced_reported = true;
        }
        Some(ToneEvent::Fax(tone))
    }

    fn finish_run(&mut self) -> Option<ToneEvent> {
        let run = self.run.take()?;
        if run.matched < MIN_TONE_FRAMES || run.ced_reported {
            return None;
        }
        let tone = run.tone();
        self.last_rejected = None;
        if !self.is_clean(&tone) {
            self.last_rejected = Some(tone);
            return None;
        }
        self.recent.push(tone);
        if self.recent.len() > 3 {
            self.recent.remove(0);
        }

        if self.is_sit_end(&tone) {
            self.pending_beep = None;
            return Some(ToneEvent::Sit(tone));
        }
        if near(tone.freq_hz, CNG_HZ) && (350..=750).contains(&tone.duration_ms()) {
            self.pending_beep = None;
            return Some(ToneEvent::Fax(tone));
        }
        if tone.freq_hz < BEEP_MIN_HZ
            || tone.freq_hz > BEEP_MAX_HZ
            || tone.duration_ms() > MAX_BEEP_MS
        {
            return None;
        }
        let could_open_sit = SIT_FIRST.iter().chain(&SIT_SECOND).any(|&f| near(tone.freq_hz, f))
            && (200..=450).contains(&tone.duration_ms());
        if could_open_sit {
            // A SIT segment may follow: hold the beep back for a moment.
            self.pending_beep = Some(tone);
            return None;
        }
        self.pending_beep = None;
        Some(ToneEvent::Beep(tone))
    }

    fn is_sit_end(&self, last: &Tone) -> bool {
        let n = self.recent.len();
        if n < 3 || !near(last.freq_hz, SIT_THIRD) {
            return false;
        }
        let (first, second) = (&self.recent[n - 3], &self.recent[n - 2]);
        let close = |a: &Tone, b: &Tone| b.start_ms.saturating_sub(a.end_ms) <= 200;
        SIT_FIRST.iter().any(|&f| near(first.freq_hz, f))
            && SIT_SECOND.iter().any(|&f| near(second.freq_hz, f))
            && close(first, second)
            && close(second, last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AmdConfig;
    use crate::MachineAction;
    use crate::dsp::{Spectrum, analyse};
    use crate::testsignal::{concat, silence, tone, with_noise, word};

    fn events(signal: &[f32], noise_amp: f32) -> Vec<ToneEvent> {
        let thresholds = AmdConfig::standard(MachineAction::HangUp).tones;
        let mut tracker = ToneTracker::new(thresholds);
        let spectrum = Spectrum::new();
        let audio = with_noise(signal, noise_amp, 11);
        let floor = -60.0;
        let mut out = Vec::new();
        for (i, chunk) in audio.chunks_exact(FRAME_LEN).enumerate() {
            let mut frame = [0.0f32; FRAME_LEN];
            for (f, s) in frame.iter_mut().zip(chunk) {
                *f = f32::from(*s);
            }
            let features = analyse(&spectrum, &frame);
            out.extend(tracker.handle_frame(i as u32, &frame, &features, floor));
        }
        out
    }

    #[test]
    fn beeps_across_the_range_are_found_with_their_frequency_and_timing() {
        for freq in [420.0, 850.0, 1000.0, 1400.0, 1950.0] {
            let signal = concat(&[silence(500), tone(freq, 400, 6000.0), silence(600)]);
            let found = events(&signal, 200.0);
            let [ToneEvent::Beep(beep)] = found[..] else {
                panic!("{freq} Hz: expected one beep, got {found:?}");
            };
            assert!((beep.freq_hz - freq).abs() < 15.0, "{freq}: {beep:?}");
            assert!(
                beep.start_ms.abs_diff(500) <= 40 && beep.end_ms.abs_diff(900) <= 40,
                "{beep:?}"
            );
        }
    }

    #[test]
    fn a_beep_in_noise_at_three_db_snr_is_found() {
        let signal = concat(&[silence(300), tone(1200.0, 500, 2000.0), silence(500)]);
        let found = events(&signal, 3500.0);
        assert!(matches!(found[..], [ToneEvent::Beep(_)]), "{found:?}");
    }

    #[test]
    fn voices_and_short_blips_are_not_beeps() {
        let speech = concat(&[
            word(400, 190.0, 150.0, 9000.0),
            silence(80),
            word(600, 220.0, 170.0, 9000.0),
            silence(300),
            tone(1000.0, 80, 6000.0),
            silence(400),
        ]);
        let found = events(&speech, 100.0);
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn sit_sequence_is_recognised_and_not_taken_for_beeps() {
        let signal = concat(&[
            silence(200),
            tone(913.8, 380, 5000.0),
            tone(1370.6, 380, 5000.0),
            tone(1776.7, 380, 5000.0),
            silence(600),
        ]);
        let found = events(&signal, 150.0);
        assert!(
            matches!(found[..], [ToneEvent::Sit(t)] if near(t.freq_hz, SIT_THIRD)),
            "{found:?}"
        );
    }

    #[test]
    fn fax_calling_and_answer_tones_are_recognised() {
        let cng = concat(&[silence(200), tone(1100.0, 500, 5000.0), silence(3000)]);
        assert!(matches!(events(&cng, 150.0)[..], [ToneEvent::Fax(_)]), "CNG");
        let ced = concat(&[silence(200), tone(2100.0, 3000, 5000.0), silence(300)]);
        let found = events(&ced, 150.0);
        assert!(matches!(found[..], [ToneEvent::Fax(t)] if near(t.freq_hz, CED_HZ)), "{found:?}");
    }
}
