//! The labelled corpus generator: seeded, reproducible call openings of
//! people, answering machines and other lines (fax, SIT, IVR, music, dead
//! air), each an 8 kHz mono 16-bit WAV with a JSON label beside it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, bail};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::audio::{self, Codec, Noise, SpeechStyle, ms, to_ms};
use super::texts::{self, Kind};

/// Which voices a corpus uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum VoiceSet {
    /// Voices used while tuning the detector.
    Development,
    /// Held-out voices, never used while tuning.
    Evaluation,
    /// Both sets.
    All,
}

/// Where Debian's recorded English prompts live.
const RECORDED_DIR: &str = "/usr/share/asterisk/sounds/en_US_f_Allison";
/// Name of the recorded voice in labels.
const RECORDED_VOICE: &str = "asterisk-allison";

/// Sub-types the recorded prompts can voice.
const RECORDED_SUBTYPES: [&str; 14] = [
    "hello",
    "silence_then_hello",
    "double_hello",
    "silent",
    "personal",
    "carrier",
    "late_start",
    "long",
    "no_beep",
    "multi_beep",
    "fax_cng",
    "fax_ced",
    "music",
    "dead_air",
];

/// One voice of the corpus.
#[derive(Debug, Clone)]
pub(crate) struct Voice {
    lang: &'static str,
    /// espeak-ng variant, or `None` for the recorded voice.
    variant: Option<&'static str>,
    set: VoiceSet,
}

impl Voice {
    fn name(&self) -> String {
        match self.variant {
            Some(v) => format!("{}+{v}", self.lang),
            None => RECORDED_VOICE.to_string(),
        }
    }
}

/// The development voices share no variant with the evaluation voices, and
/// two languages (es, nl) and American English are heard only in
/// evaluation.
pub(crate) fn voices(set: VoiceSet) -> Vec<Voice> {
    const DEV_VARIANTS: [&str; 8] = ["m1", "m3", "m5", "m7", "f1", "f3", "f5", "klatt"];
    const DEV_LANGS: [&str; 4] = ["en", "sv", "de", "fr"];
    const EVAL_VARIANTS: [&str; 7] = ["m2", "m4", "m6", "f2", "f4", "klatt3", "croak"];
    const EVAL_LANGS: [&str; 7] = ["en", "en-us", "sv", "de", "fr", "es", "nl"];
    let mut out = Vec::new();
    if matches!(set, VoiceSet::Development | VoiceSet::All) {
        for lang in DEV_LANGS {
            for v in DEV_VARIANTS {
                out.push(Voice { lang, variant: Some(v), set: VoiceSet::Development });
            }
        }
    }
    if matches!(set, VoiceSet::Evaluation | VoiceSet::All) {
        for lang in EVAL_LANGS {
            for v in EVAL_VARIANTS {
                out.push(Voice { lang, variant: Some(v), set: VoiceSet::Evaluation });
            }
        }
        if recorded_available() {
            out.push(Voice { lang: "en", variant: None, set: VoiceSet::Evaluation });
        }
    }
    out
}

fn recorded_available() -> bool {
    Path::new(RECORDED_DIR).join("hello.wav").exists()
}

/// Broad class of a clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ClipClass {
    Human,
    Machine,
    Other,
}

/// A timed stretch of a clip.
#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize)]
pub(crate) struct Span {
    pub(crate) start_ms: u32,
    pub(crate) end_ms: u32,
}

/// A beep or other tone in a clip.
#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize)]
pub(crate) struct ToneLabel {
    pub(crate) start_ms: u32,
    pub(crate) end_ms: u32,
    pub(crate) freq_hz: f32,
}

/// The JSON label written beside each clip.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Label {
    id: String,
    class: ClipClass,
    subtype: &'static str,
    voice: String,
    voice_set: VoiceSet,
    language: &'static str,
    texts: Vec<String>,
    answer_delay_ms: u32,
    speech: Vec<Span>,
    beeps: Vec<ToneLabel>,
    tones: Vec<ToneLabel>,
    snr_db: f32,
    level_dbfs: f32,
    noise: Noise,
    codec: Codec,
    packet_loss: f32,
    duration_ms: u32,
    seed: u64,
}

/// Options of one corpus run.
#[derive(Debug, Clone)]
pub(crate) struct CorpusOptions {
    pub(crate) seed: u64,
    pub(crate) count: usize,
    pub(crate) out: PathBuf,
    pub(crate) voices: VoiceSet,
    pub(crate) jobs: usize,
}

/// Generates the corpus and returns the number of clips written.
pub(crate) fn generate(opts: &CorpusOptions) -> anyhow::Result<usize> {
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("creating {}", opts.out.display()))?;
    let voices = voices(opts.voices);
    if voices.is_empty() {
        bail!("no voices in set {:?}", opts.voices);
    }
    let next = AtomicUsize::new(0);
    let jobs = opts.jobs.max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..jobs)
            .map(|_| {
                scope.spawn(|| -> anyhow::Result<()> {
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        if index >= opts.count {
                            return Ok(());
                        }
                        let clip_seed =
                            opts.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index as u64;
                        make_clip(index, clip_seed, &voices, &opts.out)
                            .with_context(|| format!("clip {index}"))?;
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().map_err(|_| anyhow::anyhow!("a corpus worker panicked"))?)
    })?;
    Ok(opts.count)
}

/// Sub-types with their weights, per class.
const HUMAN_TYPES: [(&str, u32); 8] = [
    ("hello", 30),
    ("name", 18),
    ("business", 8),
    ("double_hello", 10),
    ("silence_then_hello", 8),
    ("silent", 6),
    ("noisy", 12),
    ("screener", 8),
];
const MACHINE_TYPES: [(&str, u32); 7] = [
    ("personal", 34),
    ("carrier", 20),
    ("short", 10),
    ("late_start", 10),
    ("long", 10),
    ("no_beep", 6),
    ("multi_beep", 10),
];
const OTHER_TYPES: [(&str, u32); 6] =
    [("fax_cng", 3), ("fax_ced", 3), ("sit", 4), ("ivr", 4), ("music", 3), ("dead_air", 3)];

fn pick_weighted(rng: &mut ChaCha8Rng, table: &[(&'static str, u32)]) -> &'static str {
    let total: u32 = table.iter().map(|(_, w)| w).sum();
    let mut r = rng.random_range(0..total);
    for &(name, w) in table {
        if r < w {
            return name;
        }
        r -= w;
    }
    table[0].0
}

/// Builds the sound of a clip before noise and channel effects.
struct Builder<'a> {
    rng: ChaCha8Rng,
    voice: &'a Voice,
    style: SpeechStyle,
    level_dbfs: f32,
    signal: Vec<f32>,
    speech: Vec<Span>,
    beeps: Vec<ToneLabel>,
    tones: Vec<ToneLabel>,
    texts: Vec<String>,
}

impl Builder<'_> {
    fn cursor(&self) -> usize {
        self.signal.len()
    }

    fn pause(&mut self, dur_ms: u32) {
        let n = self.signal.len() + ms(dur_ms);
        self.signal.resize(n, 0.0);
    }

    fn pick(&mut self, kind: Kind) -> String {
        let list = texts::phrases(self.voice.lang, kind);
        list.choose(&mut self.rng).copied().unwrap_or("Hello.").to_string()
    }

    /// Speaks one phrase at the cursor.
    fn say(&mut self, text: &str) -> anyhow::Result<()> {
        let mut speech = audio::speak(text, &self.style)?;
        let level = self.level_dbfs + self.rng.random_range(-1.5..1.5);
        audio::set_level(&mut speech, level);
        self.place_speech(speech, text);
        Ok(())
    }

    /// Plays one recorded prompt at the cursor.
    fn prompt(&mut self, name: &str) -> anyhow::Result<()> {
        let mut speech = audio::load_prompt(&Path::new(RECORDED_DIR).join(format!("{name}.wav")))?;
        audio::set_level(&mut speech, self.level_dbfs);
        self.place_speech(speech, name);
        Ok(())
    }

    fn place_speech(&mut self, speech: Vec<f32>, text: &str) {
        let at = self.cursor();
        self.speech.push(Span { start_ms: to_ms(at), end_ms: to_ms(at + speech.len()) });
        audio::mix_into(&mut self.signal, at, &speech);
        self.texts.push(text.to_string());
    }

    /// Speaks sentences of `kind` with short pauses, for about `target_ms`.
    fn greeting(&mut self, kind: Kind, target_ms: u32) -> anyhow::Result<()> {
        let start = self.cursor();
        let mut list: Vec<&str> = texts::phrases(self.voice.lang, kind).to_vec();
        list.shuffle_seeded(&mut self.rng);
        let mut i = 0;
        while to_ms(self.cursor() - start) < target_ms && i < list.len() * 3 {
            if i > 0 {
                let gap = self.rng.random_range(150..700);
                self.pause(gap);
            }
            let text = list[i % list.len()];
            self.say(text)?;
            i += 1;
        }
        Ok(())
    }

    fn beep(&mut self, freq_hz: f32, dur_ms: u32) {
        let level = self.level_dbfs + self.rng.random_range(-6.0..3.0);
        let at = self.cursor();
        audio::mix_into(&mut self.signal, at, &audio::tone(freq_hz, dur_ms, level));
        self.beeps.push(ToneLabel { start_ms: to_ms(at), end_ms: to_ms(at) + dur_ms, freq_hz });
    }

    fn tone(&mut self, freq_hz: f32, dur_ms: u32) {
        let at = self.cursor();
        audio::mix_into(&mut self.signal, at, &audio::tone(freq_hz, dur_ms, self.level_dbfs));
        self.tones.push(ToneLabel { start_ms: to_ms(at), end_ms: to_ms(at) + dur_ms, freq_hz });
    }
}

/// In-place seeded shuffle, so the shuffle order depends only on the seed.
trait ShuffleSeeded {
    fn shuffle_seeded(&mut self, rng: &mut ChaCha8Rng);
}

impl<T> ShuffleSeeded for Vec<T> {
    fn shuffle_seeded(&mut self, rng: &mut ChaCha8Rng) {
        for i in (1..self.len()).rev() {
            let j = rng.random_range(0..=i);
            self.swap(i, j);
        }
    }
}

/// Time from answer to the first sound, the same for every class. Most
/// people and machines start within 0.7 s; one in seven is slower, up to
/// 1.5 s (a phone still on its way to the ear). Starts later than that are
/// their own sub-types ("silence then hello" 1.5–3.5 s, "late start"
/// 2–3.5 s): drawing them here too counted slow answerers twice, so that
/// more than one person in five started after 0.7 s.
fn answer_delay(rng: &mut ChaCha8Rng) -> u32 {
    if rng.random_bool(0.85) { rng.random_range(150..700) } else { rng.random_range(700..1_500) }
}

fn make_clip(index: usize, seed: u64, voices: &[Voice], out: &Path) -> anyhow::Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let class = match rng.random_range(0..100) {
        0..45 => ClipClass::Human,
        45..90 => ClipClass::Machine,
        _ => ClipClass::Other,
    };
    let subtype = match class {
        ClipClass::Human => pick_weighted(&mut rng, &HUMAN_TYPES),
        ClipClass::Machine => pick_weighted(&mut rng, &MACHINE_TYPES),
        ClipClass::Other => pick_weighted(&mut rng, &OTHER_TYPES),
    };
    let mut voice = voices.choose(&mut rng).context("the voice list is not empty")?;
    if voice.variant.is_none() && !RECORDED_SUBTYPES.contains(&subtype) {
        // The recorded prompts have no phrase for this sub-type.
        let synthetic: Vec<&Voice> = voices.iter().filter(|v| v.variant.is_some()).collect();
        voice = synthetic.choose(&mut rng).context("a synthetic voice is listed")?;
    }
    let recorded = voice.variant.is_none();
    let style = SpeechStyle {
        voice: voice.name(),
        speed: rng.random_range(135..185),
        pitch: rng.random_range(25..75),
    };
    let level_dbfs = rng.random_range(-35.0..-8.0);
    let delay = match subtype {
        "silence_then_hello" => rng.random_range(1_500..3_500),
        "late_start" => rng.random_range(2_000..3_500),
        _ => answer_delay(&mut rng),
    };
    let sub_rng = ChaCha8Rng::seed_from_u64(rng.random());
    let mut b = Builder {
        rng: sub_rng,
        voice,
        style,
        level_dbfs,
        signal: Vec::new(),
        speech: Vec::new(),
        beeps: Vec::new(),
        tones: Vec::new(),
        texts: Vec::new(),
    };
    b.pause(delay);
    build_content(&mut b, subtype, recorded)?;

    // Every clip runs on after its content long enough for any detector
    // to finish, and at least 6 s.
    let tail = b.rng.random_range(3_000..4_500);
    b.pause(tail);
    let min_len = ms(6_000);
    if b.signal.len() < min_len {
        b.signal.resize(min_len, 0.0);
    }
    audio::telephone_band(&mut b.signal);

    // Line noise: the same distribution for every class.
    let snr_db = rng.random_range(5.0..35.0);
    let noise_kind = *Noise::ALL.choose(&mut rng).context("noise kinds are listed")?;
    let noise = audio::noise(&mut rng, noise_kind, b.signal.len(), level_dbfs - snr_db);
    let mut signal = b.signal;
    signal.iter_mut().zip(&noise).for_each(|(s, n)| *s += n);

    let codec = *[Codec::Linear, Codec::Pcmu, Codec::Pcma, Codec::Gsm]
        .choose(&mut rng)
        .context("codecs are listed")?;
    audio::codec_round_trip(&mut signal, codec)?;
    let loss = if rng.random_bool(0.3) {
        let p_enter = rng.random_range(0.005..0.03);
        let p_leave = rng.random_range(0.3..0.7);
        audio::packet_loss(&mut rng, &mut signal, p_enter, p_leave)
    } else {
        0.0
    };

    let id = format!("clip{index:05}");
    let label = Label {
        id: id.clone(),
        class,
        subtype,
        voice: voice.name(),
        voice_set: voice.set,
        language: voice.lang,
        texts: b.texts,
        answer_delay_ms: delay,
        speech: b.speech,
        beeps: b.beeps,
        tones: b.tones,
        snr_db,
        level_dbfs,
        noise: noise_kind,
        codec,
        packet_loss: loss,
        duration_ms: to_ms(signal.len()),
        seed,
    };
    write_wav(&out.join(format!("{id}.wav")), &signal)?;
    let json = serde_json::to_string_pretty(&label)?;
    std::fs::write(out.join(format!("{id}.json")), json)?;
    Ok(())
}

fn build_content(b: &mut Builder<'_>, subtype: &str, recorded: bool) -> anyhow::Result<()> {
    match subtype {
        "hello" | "silence_then_hello" if recorded => b.prompt("hello")?,
        "hello" | "silence_then_hello" => {
            let text = b.pick(Kind::Hello);
            b.say(&text)?;
        }
        "double_hello" => {
            let text = b.pick(Kind::Hello);
            if recorded {
                b.prompt("hello")?
            } else {
                b.say(&text)?
            }
            let gap = b.rng.random_range(1_000..2_500);
            b.pause(gap);
            if recorded { b.prompt("hello")? } else { b.say(&text)? }
        }
        "name" | "business" | "screener" | "noisy" => {
            let kind = match subtype {
                "business" => Kind::Business,
                "screener" => Kind::Screener,
                _ if b.rng.random_bool(0.5) => Kind::Hello,
                _ => Kind::Name,
            };
            if recorded && kind == Kind::Hello {
                b.prompt("hello")?;
            } else {
                let text = b.pick(kind);
                b.say(&text)?;
            }
            if subtype == "noisy" {
                background_voices(b)?;
            }
        }
        "silent" | "dead_air" => {}
        "personal" | "carrier" | "short" | "late_start" | "long" | "no_beep" | "multi_beep" => {
            machine_greeting(b, subtype, recorded)?;
            let beeps = match subtype {
                "no_beep" => 0,
                "multi_beep" => b.rng.random_range(2..4),
                _ => 1,
            };
            let gap = b.rng.random_range(150..1_000);
            b.pause(gap);
            let freq = b.rng.random_range(400.0..2000.0);
            for i in 0..beeps {
                if i > 0 {
                    let gap = b.rng.random_range(100..400);
                    b.pause(gap);
                }
                let dur = b.rng.random_range(200..1_000);
                let f = if i > 0 && b.rng.random_bool(0.5) {
                    b.rng.random_range(400.0..2000.0)
                } else {
                    freq
                };
                b.beep(f, dur);
            }
        }
        "fax_cng" => {
            for _ in 0..3 {
                b.tone(1100.0, 500);
                b.pause(3_000);
            }
        }
        "fax_ced" => {
            let dur = b.rng.random_range(2_600..4_000);
            b.tone(2100.0, dur);
        }
        "sit" => {
            let first = if b.rng.random_bool(0.5) { 913.8 } else { 985.2 };
            let second = if b.rng.random_bool(0.5) { 1370.6 } else { 1428.5 };
            let short = b.rng.random_range(274..300);
            let long = b.rng.random_range(370..390);
            let (d1, d2) = (
                if b.rng.random_bool(0.5) { short } else { long },
                if b.rng.random_bool(0.5) { short } else { long },
            );
            b.tone(first, d1);
            b.tone(second, d2);
            b.tone(1776.7, 380);
            let gap = b.rng.random_range(50..300);
            b.pause(gap);
            b.greeting(Kind::Announcement, 3_000)?;
        }
        "ivr" => {
            let target = b.rng.random_range(6_000..14_000);
            b.greeting(Kind::Ivr, target)?;
        }
        "music" => {
            let dur = b.rng.random_range(8_000..14_000);
            let level = b.level_dbfs;
            let music = audio::music(&mut b.rng, dur, level);
            let at = b.cursor();
            audio::mix_into(&mut b.signal, at, &music);
        }
        other => bail!("unknown sub-type {other}"),
    }
    Ok(())
}

fn machine_greeting(b: &mut Builder<'_>, subtype: &str, recorded: bool) -> anyhow::Result<()> {
    if recorded {
        let prompts: &[&[&str]] =
            &[&["vm-intro"], &["vm-nobodyavail", "vm-leavemsg"], &["vm-isunavail", "vm-intro"]];
        let chosen = *prompts.choose(&mut b.rng).context("prompt lists are not empty")?;
        for (i, p) in chosen.iter().enumerate() {
            if i > 0 {
                let gap = b.rng.random_range(150..500);
                b.pause(gap);
            }
            b.prompt(p)?;
        }
        return Ok(());
    }
    match subtype {
        "carrier" => {
            let target = b.rng.random_range(3_000..8_000);
            b.greeting(Kind::Carrier, target)
        }
        "short" => {
            let text = b.pick(Kind::Short);
            b.say(&text)
        }
        "long" => {
            let target = b.rng.random_range(12_000..20_000);
            b.greeting(Kind::Personal, target)
        }
        _ => {
            let target = b.rng.random_range(3_000..12_000);
            b.greeting(Kind::Personal, target)
        }
    }
}

/// Other people talking in the background, 12 to 25 dB below the speaker.
fn background_voices(b: &mut Builder<'_>) -> anyhow::Result<()> {
    let len = b.signal.len() + ms(5_000);
    let mut babble = Vec::new();
    let langs = texts::LANGUAGES;
    for _ in 0..2 {
        let lang = *langs.choose(&mut b.rng).context("languages are listed")?;
        let kind = *[Kind::Personal, Kind::Business, Kind::Ivr]
            .choose(&mut b.rng)
            .context("kinds are listed")?;
        let list = texts::phrases(lang, kind);
        let mut at = ms(b.rng.random_range(0..800));
        while at < len {
            let text = list.choose(&mut b.rng).copied().unwrap_or("Hello.");
            let style = SpeechStyle {
                voice: format!(
                    "{lang}+{}",
                    ["m8", "Annie", "Michael"].choose(&mut b.rng).unwrap_or(&"m8")
                ),
                speed: b.rng.random_range(140..180),
                pitch: b.rng.random_range(30..70),
            };
            let speech = audio::speak(text, &style)?;
            audio::mix_into(&mut babble, at, &speech);
            at += speech.len() + ms(b.rng.random_range(200..900));
        }
    }
    let level = b.level_dbfs - b.rng.random_range(12.0..25.0);
    audio::set_level(&mut babble, level);
    babble.truncate(len);
    audio::mix_into(&mut b.signal, 0, &babble);
    Ok(())
}

fn write_wav(path: &Path, samples: &[f32]) -> anyhow::Result<()> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: audio::RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec)
        .with_context(|| format!("creating {}", path.display()))?;
    for &s in samples {
        writer.write_sample(audio::to_i16(s))?;
    }
    writer.finalize()?;
    Ok(())
}
