//! Sound making for the corpus: speech from espeak-ng (resampled by sox),
//! recorded prompts, tones, music, noise, the telephone band, G.711 and GSM
//! round trips and bursty packet loss. Everything works on f32 samples at
//! 8 kHz in 16-bit scale.

use std::f32::consts::PI;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Sample rate of every clip.
pub(crate) const RATE: u32 = 8_000;

/// Converts milliseconds to samples.
pub(crate) fn ms(ms: u32) -> usize {
    (ms as usize * RATE as usize) / 1000
}

/// Converts a sample count to milliseconds.
pub(crate) fn to_ms(samples: usize) -> u32 {
    (samples as u64 * 1000 / u64::from(RATE)) as u32
}

/// Runs `cmd` with `input` on its standard input and returns its output.
fn pipe(cmd: &mut Command, input: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {cmd:?}"))?;
    let mut stdin = child.stdin.take().context("child stdin was requested as piped")?;
    let data = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output()?;
    writer.join().map_err(|_| anyhow::anyhow!("stdin writer panicked"))??;
    if !out.status.success() {
        bail!("{cmd:?} failed with {}", out.status);
    }
    Ok(out.stdout)
}

fn raw_to_samples(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(2).map(|b| f32::from(i16::from_le_bytes([b[0], b[1]]))).collect()
}

fn samples_to_raw(samples: &[f32]) -> Vec<u8> {
    samples.iter().flat_map(|&s| to_i16(s).to_le_bytes()).collect()
}

/// Rounds and clips one sample to 16 bits.
pub(crate) fn to_i16(s: f32) -> i16 {
    s.round().clamp(-32768.0, 32767.0) as i16
}

/// sox without dither and with its random generator seeded, so that the
/// same corpus seed gives the same bytes.
fn sox() -> Command {
    let mut cmd = Command::new("sox");
    cmd.args(["-D", "-R"]);
    cmd
}

const SOX_RAW_8K: [&str; 10] = ["-t", "raw", "-r", "8000", "-e", "signed", "-b", "16", "-c", "1"];

/// Speech settings for espeak-ng.
#[derive(Debug, Clone)]
pub(crate) struct SpeechStyle {
    /// Voice name, for example `sv+f3`.
    pub(crate) voice: String,
    /// Words per minute.
    pub(crate) speed: u32,
    /// Pitch, 0 to 99.
    pub(crate) pitch: u32,
}

/// Speaks `text` and returns 8 kHz samples with the silence around the
/// speech trimmed.
pub(crate) fn speak(text: &str, style: &SpeechStyle) -> anyhow::Result<Vec<f32>> {
    let wav = Command::new("espeak-ng")
        .args(["-v", &style.voice, "-s", &style.speed.to_string(), "-p", &style.pitch.to_string()])
        .args(["--stdout", text])
        .stderr(Stdio::null())
        .output()
        .context("running espeak-ng (install it with scripts/test-deps)")?;
    if !wav.status.success() || wav.stdout.is_empty() {
        bail!("espeak-ng produced no audio for voice {}", style.voice);
    }
    let raw = pipe(sox().args(["-t", "wav", "-"]).args(SOX_RAW_8K).arg("-"), &wav.stdout)
        .context("resampling with sox (install it with scripts/test-deps)")?;
    Ok(trim(raw_to_samples(&raw)))
}

/// Reads a recorded prompt (any format sox reads) as 8 kHz samples, trimmed.
pub(crate) fn load_prompt(path: &Path) -> anyhow::Result<Vec<f32>> {
    let out = sox()
        .arg(path)
        .args(SOX_RAW_8K)
        .arg("-")
        .stderr(Stdio::null())
        .output()
        .with_context(|| format!("reading {}", path.display()))?;
    if !out.status.success() {
        bail!("sox could not read {}", path.display());
    }
    Ok(trim(raw_to_samples(&out.stdout)))
}

/// Removes leading and trailing near-silence.
fn trim(samples: Vec<f32>) -> Vec<f32> {
    let peak = samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    let threshold = peak * 0.02;
    let first = samples.iter().position(|s| s.abs() > threshold).unwrap_or(0);
    let last = samples.iter().rposition(|s| s.abs() > threshold).map_or(0, |i| i + 1);
    if first >= last { Vec::new() } else { samples[first..last].to_vec() }
}

/// Root mean square of the louder half of 20 ms blocks: an active-speech
/// level that ignores pauses.
pub(crate) fn active_rms(samples: &[f32]) -> f32 {
    let mut blocks: Vec<f32> = samples
        .chunks(160)
        .map(|c| c.iter().map(|s| s * s).sum::<f32>() / c.len() as f32)
        .collect();
    if blocks.is_empty() {
        return 0.0;
    }
    blocks.sort_by(|a, b| b.total_cmp(a));
    let half = &blocks[..blocks.len().div_ceil(2)];
    (half.iter().sum::<f32>() / half.len() as f32).sqrt()
}

/// Scales `samples` so that their active level is `dbfs`.
pub(crate) fn set_level(samples: &mut [f32], dbfs: f32) {
    let rms = active_rms(samples);
    if rms <= 0.0 {
        return;
    }
    let target = 32768.0 * 10f32.powf(dbfs / 20.0);
    let gain = target / rms;
    samples.iter_mut().for_each(|s| *s *= gain);
}

/// Adds `src` into `dst` starting at sample `at`, growing `dst` if needed.
pub(crate) fn mix_into(dst: &mut Vec<f32>, at: usize, src: &[f32]) {
    if dst.len() < at + src.len() {
        dst.resize(at + src.len(), 0.0);
    }
    for (d, s) in dst[at..].iter_mut().zip(src) {
        *d += s;
    }
}

/// A sine tone with 5 ms ramps, at `dbfs` RMS.
pub(crate) fn tone(freq_hz: f32, dur_ms: u32, dbfs: f32) -> Vec<f32> {
    let n = ms(dur_ms);
    let amp = 32768.0 * 10f32.powf(dbfs / 20.0) * std::f32::consts::SQRT_2;
    let ramp = ms(5).max(1);
    (0..n)
        .map(|i| {
            let env = (i.min(n - 1 - i) as f32 / ramp as f32).min(1.0);
            amp * env * (2.0 * PI * freq_hz * i as f32 / RATE as f32).sin()
        })
        .collect()
}

/// Hold music: a melody over a chord, with harmonics and note envelopes.
pub(crate) fn music(rng: &mut ChaCha8Rng, dur_ms: u32, dbfs: f32) -> Vec<f32> {
    let n = ms(dur_ms);
    let mut out = vec![0.0f32; n];
    let scale = [0, 2, 4, 7, 9, 12, 14, 16];
    let root = 196.0 * 2f32.powf(rng.random_range(0..7) as f32 / 12.0);
    let beat = ms(rng.random_range(350..650));
    let mut at = 0;
    while at < n {
        let step = scale[rng.random_range(0..scale.len())];
        let freq = root * 2f32.powf(step as f32 / 12.0);
        let len = beat * rng.random_range(1..3);
        for i in 0..len.min(n - at) {
            let t = i as f32 / RATE as f32;
            let env = (-3.0 * t).exp() * (i as f32 / 40.0).min(1.0);
            let mut v = 0.0;
            for (h, w) in [(1.0, 1.0), (2.0, 0.5), (3.0, 0.3), (4.0, 0.15)] {
                v += w * (2.0 * PI * freq * h * t).sin();
            }
            out[at + i] += env * v;
        }
        at += len;
    }
    for (i, s) in out.iter_mut().enumerate() {
        let t = i as f32 / RATE as f32;
        *s += 0.25 * ((2.0 * PI * root * 0.5 * t).sin() + (2.0 * PI * root * 0.75 * t).sin());
    }
    set_level(&mut out, dbfs);
    out
}

/// Second-order filter section (direct form I).
#[derive(Debug, Clone, Copy)]
struct Biquad {
    b: [f32; 3],
    a: [f32; 2],
}

impl Biquad {
    fn highpass(freq: f32, q: f32) -> Self {
        let w = 2.0 * PI * freq / RATE as f32;
        let alpha = w.sin() / (2.0 * q);
        let cos = w.cos();
        let a0 = 1.0 + alpha;
        let b = [(1.0 + cos) / 2.0, -(1.0 + cos), (1.0 + cos) / 2.0];
        Self { b: b.map(|x| x / a0), a: [-2.0 * cos / a0, (1.0 - alpha) / a0] }
    }

    fn lowpass(freq: f32, q: f32) -> Self {
        let w = 2.0 * PI * freq / RATE as f32;
        let alpha = w.sin() / (2.0 * q);
        let cos = w.cos();
        let a0 = 1.0 + alpha;
        let b = [(1.0 - cos) / 2.0, 1.0 - cos, (1.0 - cos) / 2.0];
        Self { b: b.map(|x| x / a0), a: [-2.0 * cos / a0, (1.0 - alpha) / a0] }
    }

    fn run(&self, samples: &mut [f32]) {
        let (mut x1, mut x2, mut y1, mut y2) = (0.0, 0.0, 0.0, 0.0);
        for s in samples.iter_mut() {
            let x = *s;
            let y =
                self.b[0] * x + self.b[1] * x1 + self.b[2] * x2 - self.a[0] * y1 - self.a[1] * y2;
            (x2, x1, y2, y1) = (x1, x, y1, y);
            *s = y;
        }
    }
}

/// Limits `samples` to the telephone band, 300 to 3400 Hz.
pub(crate) fn telephone_band(samples: &mut [f32]) {
    for f in [
        Biquad::highpass(300.0, 0.707),
        Biquad::highpass(300.0, 0.707),
        Biquad::lowpass(3400.0, 0.707),
        Biquad::lowpass(3400.0, 0.707),
    ] {
        f.run(samples);
    }
}

/// Kinds of line and room noise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Noise {
    White,
    Pink,
    Brown,
    Hum,
    Street,
}

impl Noise {
    pub(crate) const ALL: [Noise; 5] =
        [Noise::White, Noise::Pink, Noise::Brown, Noise::Hum, Noise::Street];
}

fn gaussian(rng: &mut ChaCha8Rng) -> f32 {
    let u1: f32 = rng.random_range(1e-7..1.0);
    let u2: f32 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
}

/// `n` samples of noise of `kind` at `dbfs` RMS, in the telephone band.
pub(crate) fn noise(rng: &mut ChaCha8Rng, kind: Noise, n: usize, dbfs: f32) -> Vec<f32> {
    let mut out = Vec::with_capacity(n);
    let (mut b0, mut b1, mut b2, mut brown) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
    let hum_hz = if rng.random_bool(0.5) { 50.0 } else { 60.0 };
    let mod_hz = rng.random_range(0.2..1.5);
    for i in 0..n {
        let w = gaussian(rng);
        b0 = 0.997 * b0 + 0.029 * w;
        b1 = 0.985 * b1 + 0.032 * w;
        b2 = 0.950 * b2 + 0.048 * w;
        let pink = b0 + b1 + b2 + 0.05 * w;
        brown = (brown + 0.02 * w) * 0.998;
        let t = i as f32 / RATE as f32;
        out.push(match kind {
            Noise::White => w,
            Noise::Pink => pink,
            Noise::Brown => brown,
            Noise::Hum => {
                let hum: f32 =
                    (1..8).map(|h| (2.0 * PI * hum_hz * h as f32 * t).sin() / h as f32).sum();
                0.6 * hum + 0.4 * pink
            }
            Noise::Street => pink * (1.0 + 0.35 * (2.0 * PI * mod_hz * t).sin()),
        });
    }
    telephone_band(&mut out);
    let rms = (out.iter().map(|s| s * s).sum::<f32>() / n.max(1) as f32).sqrt();
    if rms > 0.0 {
        let gain = 32768.0 * 10f32.powf(dbfs / 20.0) / rms;
        out.iter_mut().for_each(|s| *s *= gain);
    }
    out
}

/// Codec round trips applied to a clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Codec {
    Linear,
    Pcmu,
    Pcma,
    Gsm,
}

/// Encodes and decodes `samples` with `codec`.
pub(crate) fn codec_round_trip(samples: &mut [f32], codec: Codec) -> anyhow::Result<()> {
    match codec {
        Codec::Linear => {}
        Codec::Pcmu => {
            samples.iter_mut().for_each(|s| *s = f32::from(ulaw_decode(ulaw_encode(to_i16(*s)))))
        }
        Codec::Pcma => {
            samples.iter_mut().for_each(|s| *s = f32::from(alaw_decode(alaw_encode(to_i16(*s)))))
        }
        Codec::Gsm => {
            let raw = samples_to_raw(samples);
            let gsm = pipe(sox().args(SOX_RAW_8K).args(["-", "-t", "gsm", "-"]), &raw)
                .context("GSM encoding with sox")?;
            let back = pipe(
                sox().args(["-t", "gsm", "-r", "8000", "-c", "1", "-"]).args(SOX_RAW_8K).arg("-"),
                &gsm,
            )
            .context("GSM decoding with sox")?;
            let decoded = raw_to_samples(&back);
            for (i, s) in samples.iter_mut().enumerate() {
                *s = decoded.get(i).copied().unwrap_or(0.0);
            }
        }
    }
    Ok(())
}

/// G.711 µ-law encoding of one sample.
pub(crate) fn ulaw_encode(sample: i16) -> u8 {
    const BIAS: i32 = 0x84;
    let mut s = i32::from(sample);
    let sign = if s < 0 { 0x80 } else { 0 };
    if s < 0 {
        s = -s;
    }
    s = (s + BIAS).min(32635 + BIAS);
    let mut exponent = 7;
    let mut mask = 0x4000;
    while exponent > 0 && s & mask == 0 {
        exponent -= 1;
        mask >>= 1;
    }
    let mantissa = (s >> (exponent + 3)) & 0x0f;
    !(sign | (exponent << 4) as u8 | mantissa as u8)
}

/// G.711 µ-law decoding of one byte.
pub(crate) fn ulaw_decode(byte: u8) -> i16 {
    let b = !byte;
    let sign = b & 0x80;
    let exponent = i32::from((b >> 4) & 0x07);
    let mantissa = i32::from(b & 0x0f);
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    (if sign != 0 { -magnitude } else { magnitude }) as i16
}

/// G.711 A-law encoding of one sample.
pub(crate) fn alaw_encode(sample: i16) -> u8 {
    let s = i32::from(sample) >> 3;
    let (sign, mag) = if s >= 0 { (0x80, s) } else { (0x00, -s - 1) };
    let mag = mag.min(0x0fff);
    let byte = if mag < 32 {
        (mag >> 1) as u8
    } else {
        let segment = (31 - (mag as u32).leading_zeros()) as i32 - 4;
        (segment << 4) as u8 | ((mag >> segment) & 0x0f) as u8
    };
    (byte | sign) ^ 0x55
}

/// G.711 A-law decoding of one byte.
pub(crate) fn alaw_decode(byte: u8) -> i16 {
    let b = byte ^ 0x55;
    let exponent = i32::from((b >> 4) & 0x07);
    let mantissa = i32::from(b & 0x0f);
    let mag = if exponent == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (exponent - 1)
    };
    (if b & 0x80 != 0 { mag } else { -mag }) as i16
}

/// Drops 20 ms packets in bursts (a two-state Gilbert model); lost packets
/// become silence. Returns the share of packets lost.
pub(crate) fn packet_loss(
    rng: &mut ChaCha8Rng,
    samples: &mut [f32],
    p_enter: f64,
    p_leave: f64,
) -> f32 {
    let mut bad = false;
    let (mut lost, mut total) = (0u32, 0u32);
    for packet in samples.chunks_mut(160) {
        bad = if bad { !rng.random_bool(p_leave) } else { rng.random_bool(p_enter) };
        total += 1;
        if bad {
            lost += 1;
            packet.iter_mut().for_each(|s| *s = 0.0);
        }
    }
    if total == 0 { 0.0 } else { lost as f32 / total as f32 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g711_round_trips_stay_close() {
        for s in [-32768i16, -20000, -1000, -5, 0, 7, 300, 4000, 32767] {
            let u = ulaw_decode(ulaw_encode(s));
            let a = alaw_decode(alaw_encode(s));
            let tolerance = (i32::from(s).abs() / 16).max(16);
            assert!((i32::from(u) - i32::from(s)).abs() <= tolerance, "µ-law {s} -> {u}");
            assert!((i32::from(a) - i32::from(s)).abs() <= tolerance, "A-law {s} -> {a}");
        }
    }

    #[test]
    fn noise_has_the_requested_level() {
        use rand::SeedableRng;
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for kind in Noise::ALL {
            let n = noise(&mut rng, kind, 16_000, -30.0);
            let rms = (n.iter().map(|s| s * s).sum::<f32>() / n.len() as f32).sqrt();
            let db = 20.0 * (rms / 32768.0).log10();
            assert!((db + 30.0).abs() < 0.5, "{kind:?}: {db}");
        }
    }
}
