//! Synthetic test sounds: voiced "words" with gliding pitch and moving
//! formants, pure tones, and seeded noise, all at 8 kHz in 16-bit scale.

use std::f32::consts::PI;

use crate::dsp::SAMPLE_RATE;

/// Samples in `ms` milliseconds.
pub(crate) fn samples(ms: u32) -> usize {
    (ms * SAMPLE_RATE / 1000) as usize
}

/// A voiced word: harmonics of a pitch gliding from `f0_start` to `f0_end`,
/// shaped by two formants that move across the word, with a syllable-rate
/// amplitude envelope. `amp` is the peak amplitude.
pub(crate) fn word(ms: u32, f0_start: f32, f0_end: f32, amp: f32) -> Vec<f32> {
    let n = samples(ms);
    let mut phase = 0.0f32;
    (0..n)
        .map(|i| {
            let x = i as f32 / n as f32;
            let f0 = f0_start + (f0_end - f0_start) * x;
            phase += 2.0 * PI * f0 / SAMPLE_RATE as f32;
            let (f1, f2) = (500.0 + 300.0 * x, 1500.0 - 400.0 * x);
            let mut v = 0.0;
            let mut h = 1.0;
            while h * f0 < 3400.0 {
                let f = h * f0;
                let gain = (-((f - f1) / 250.0).powi(2)).exp()
                    + 0.6 * (-((f - f2) / 350.0).powi(2)).exp()
                    + 0.05;
                v += gain * (h * phase).sin();
                h += 1.0;
            }
            let envelope = (PI * x).sin().powf(0.6) * (0.75 + 0.25 * (2.0 * PI * 4.5 * x).sin());
            amp * 0.5 * envelope * v
        })
        .collect()
}

/// A pure tone with 5 ms ramps.
pub(crate) fn tone(freq: f32, ms: u32, amp: f32) -> Vec<f32> {
    let n = samples(ms);
    let ramp = samples(5) as f32;
    (0..n)
        .map(|i| {
            let edge = (i.min(n - 1 - i) as f32 / ramp).min(1.0);
            amp * edge * (2.0 * PI * freq * i as f32 / SAMPLE_RATE as f32).sin()
        })
        .collect()
}

/// Silence of `ms` milliseconds.
pub(crate) fn silence(ms: u32) -> Vec<f32> {
    vec![0.0; samples(ms)]
}

/// Adds seeded white noise of amplitude `amp` and converts to i16.
pub(crate) fn with_noise(signal: &[f32], amp: f32, seed: u64) -> Vec<i16> {
    let mut state = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    signal
        .iter()
        .map(|s| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let r = ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5;
            (s + amp * r).round().clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

/// Joins pieces end to end.
pub(crate) fn concat(pieces: &[Vec<f32>]) -> Vec<f32> {
    pieces.concat()
}
