//! Signal measurements on 20 ms frames of 8 kHz audio: level, a windowed
//! short-time spectrum, tonality and a Goertzel filter for checking single
//! frequencies.

use std::f32::consts::PI;

/// Samples per second of the telephone audio the detectors take.
pub const SAMPLE_RATE: u32 = 8_000;

/// Samples in one analysis frame (20 ms).
pub const FRAME_LEN: usize = 160;

/// Milliseconds in one analysis frame.
pub const FRAME_MS: u32 = 20;

/// Width of one spectrum bin in hertz.
pub const BIN_HZ: f32 = SAMPLE_RATE as f32 / FRAME_LEN as f32;

/// Number of spectrum bins (0 Hz to the Nyquist frequency).
pub const BINS: usize = FRAME_LEN / 2 + 1;

/// Lowest bin counted as telephone band (300 Hz).
pub const BAND_LO: usize = 6;
/// Highest bin counted as telephone band (3400 Hz).
pub const BAND_HI: usize = 68;

/// Power of a full-scale square wave, the 0 dBFS reference.
const FULL_SCALE_POWER: f32 = 32768.0 * 32768.0;

/// Level of digital silence, so that logarithms stay finite.
pub const FLOOR_DB: f32 = -100.0;

/// Mean power of `samples` in dB relative to full scale.
pub fn power_dbfs(samples: &[f32]) -> f32 {
    if samples.is_empty() {
        return FLOOR_DB;
    }
    let power = samples.iter().map(|s| s * s).sum::<f32>() / samples.len() as f32;
    to_db(power / FULL_SCALE_POWER)
}

/// Converts a power ratio to decibels, clamped at [`FLOOR_DB`].
pub fn to_db(power_ratio: f32) -> f32 {
    if power_ratio <= 1e-10 { FLOOR_DB } else { 10.0 * power_ratio.log10() }
}

/// Estimated mean power of the tone at `freq_hz` in `samples`, computed
/// with the Goertzel recurrence. For a sine of amplitude `a` whose
/// frequency matches, the result is close to `a * a / 2`.
pub fn goertzel_power(samples: &[f32], freq_hz: f32, sample_rate: u32) -> f32 {
    let n = samples.len();
    if n == 0 {
        return 0.0;
    }
    let omega = 2.0 * PI * freq_hz / sample_rate as f32;
    let coeff = 2.0 * omega.cos();
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &x in samples {
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let magnitude_sq = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    2.0 * magnitude_sq.max(0.0) / (n as f32 * n as f32)
}

/// Precomputed Hann window and DFT twiddles for one frame length.
#[derive(Debug, Clone)]
pub struct Spectrum {
    window: Vec<f32>,
    cos: Vec<f32>,
    sin: Vec<f32>,
}

impl Spectrum {
    /// Builds the tables for [`FRAME_LEN`]-sample frames.
    pub fn new() -> Self {
        let n = FRAME_LEN;
        let window = (0..n).map(|i| 0.5 - 0.5 * (2.0 * PI * i as f32 / n as f32).cos()).collect();
        let cos = (0..n).map(|i| (2.0 * PI * i as f32 / n as f32).cos()).collect();
        let sin = (0..n).map(|i| (2.0 * PI * i as f32 / n as f32).sin()).collect();
        Self { window, cos, sin }
    }

    /// Power per bin of one frame (Hann window, plain DFT).
    pub fn power(&self, frame: &[f32; FRAME_LEN]) -> [f32; BINS] {
        let mut windowed = [0.0f32; FRAME_LEN];
        for (w, (x, h)) in windowed.iter_mut().zip(frame.iter().zip(&self.window)) {
            *w = x * h;
        }
        let mut out = [0.0f32; BINS];
        for (k, bin) in out.iter_mut().enumerate() {
            let (mut re, mut im) = (0.0f32, 0.0f32);
            let mut idx = 0usize;
            for &x in &windowed {
                re += x * self.cos[idx];
                im -= x * self.sin[idx];
                idx += k;
                if idx >= FRAME_LEN {
                    idx -= FRAME_LEN;
                }
            }
            *bin = re * re + im * im;
        }
        out
    }
}

impl Default for Spectrum {
    fn default() -> Self {
        Self::new()
    }
}

/// Where the strongest in-band peak of a spectrum lies and how much of the
/// band's power it holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Peak {
    /// Interpolated frequency of the peak in hertz.
    pub freq_hz: f32,
    /// Share of the band power in the peak bin and its two neighbours.
    pub tonality: f32,
    /// Strongest bin more than three bins away from the peak, as a share of
    /// the peak region's power; pure tones leave this near zero, voiced
    /// speech has further harmonics.
    pub second_peak: f32,
}

/// Finds the strongest peak in the telephone band of `power`.
pub fn find_peak(power: &[f32; BINS]) -> Peak {
    let band = &power[BAND_LO..=BAND_HI];
    let total: f32 = band.iter().sum();
    let (offset, _) = band
        .iter()
        .enumerate()
        .fold((0usize, f32::MIN), |best, (i, &p)| if p > best.1 { (i, p) } else { best });
    let k = BAND_LO + offset;
    let (left, mid, right) = (power[k - 1], power[k], power[k + 1]);
    let region = left + mid + right;
    let tonality = if total > 0.0 { region / total } else { 0.0 };

    // Parabolic interpolation on the log magnitudes refines the bin centre.
    let (l, m, r) = (left.max(1e-12).ln(), mid.max(1e-12).ln(), right.max(1e-12).ln());
    let denom = l - 2.0 * m + r;
    let delta = if denom.abs() > 1e-9 { (0.5 * (l - r) / denom).clamp(-0.5, 0.5) } else { 0.0 };
    let freq_hz = (k as f32 + delta) * BIN_HZ;

    let second = power[BAND_LO..=BAND_HI]
        .iter()
        .enumerate()
        .filter(|(i, _)| (BAND_LO + i).abs_diff(k) > 3)
        .map(|(_, &p)| p)
        .fold(0.0f32, f32::max);
    let second_peak = if region > 0.0 { second / region } else { 0.0 };
    Peak { freq_hz, tonality, second_peak }
}

/// Spectral flatness (geometric over arithmetic mean) of the telephone band:
/// close to 1 for white noise, small for voiced speech and tones.
pub fn flatness(power: &[f32; BINS]) -> f32 {
    let band = &power[BAND_LO..=BAND_HI];
    let n = band.len() as f32;
    let mean = band.iter().sum::<f32>() / n;
    if mean <= 0.0 {
        return 1.0;
    }
    let log_mean = band.iter().map(|p| (p.max(mean * 1e-6)).ln()).sum::<f32>() / n;
    (log_mean.exp() / mean).clamp(0.0, 1.0)
}

/// Everything measured on one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameFeatures {
    /// Mean power in dBFS.
    pub level_db: f32,
    /// Mean absolute sample value, the measure classic detectors use.
    pub mean_abs: f32,
    /// Strongest in-band peak.
    pub peak: Peak,
    /// Spectral flatness of the telephone band.
    pub flatness: f32,
    /// Power per spectrum bin.
    pub power: [f32; BINS],
}

/// Measures one frame.
pub fn analyse(spectrum: &Spectrum, frame: &[f32; FRAME_LEN]) -> FrameFeatures {
    let power = spectrum.power(frame);
    let mean_abs = frame.iter().map(|s| s.abs()).sum::<f32>() / FRAME_LEN as f32;
    FrameFeatures {
        level_db: power_dbfs(frame),
        mean_abs,
        peak: find_peak(&power),
        flatness: flatness(&power),
        power,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f32, amp: f32) -> [f32; FRAME_LEN] {
        let mut out = [0.0f32; FRAME_LEN];
        for (i, s) in out.iter_mut().enumerate() {
            *s = amp * (2.0 * PI * freq * i as f32 / SAMPLE_RATE as f32).sin();
        }
        out
    }

    #[test]
    fn goertzel_measures_the_power_of_a_matching_tone() {
        let frame = tone(1000.0, 1000.0);
        let on = goertzel_power(&frame, 1000.0, SAMPLE_RATE);
        let off = goertzel_power(&frame, 1600.0, SAMPLE_RATE);
        assert!((on - 500_000.0).abs() < 25_000.0, "on-frequency power {on}");
        assert!(off < on / 100.0, "off-frequency power {off} against {on}");
    }

    #[test]
    fn full_scale_sine_is_minus_three_dbfs() {
        let frame = tone(440.0, 32767.0);
        let db = power_dbfs(&frame);
        assert!((db + 3.0).abs() < 0.2, "level {db}");
    }

    #[test]
    fn pure_tone_is_tonal_with_an_accurate_frequency() {
        for freq in [400.0, 777.0, 1234.0, 2000.0] {
            let peak = find_peak(&Spectrum::new().power(&tone(freq, 3000.0)));
            assert!(peak.tonality > 0.95, "{freq}: tonality {}", peak.tonality);
            assert!((peak.freq_hz - freq).abs() < 12.0, "{freq}: found {}", peak.freq_hz);
            assert!(peak.second_peak < 0.01, "{freq}: second {}", peak.second_peak);
        }
    }

    #[test]
    fn harmonic_sound_is_not_tonal() {
        let mut frame = [0.0f32; FRAME_LEN];
        for h in 2..16 {
            let f = 180.0 * h as f32;
            for (i, s) in frame.iter_mut().enumerate() {
                *s += 800.0 / h as f32 * (2.0 * PI * f * i as f32 / SAMPLE_RATE as f32).sin();
            }
        }
        let power = Spectrum::new().power(&frame);
        let peak = find_peak(&power);
        assert!(peak.tonality < 0.6 || peak.second_peak > 0.2, "{peak:?}");
        assert!(flatness(&power) < 0.5);
    }
}
