//! Shared case "amd-timers": the carrier sends 25 s of early media
//! (ringback during 183 Session Progress), then a person answers with a
//! three-word Swedish greeting ("Hej, det är Anna"). Detection timers must
//! start at the answer (200 OK), not at the first audio; the verdict is
//! HUMAN; an unsure verdict goes to an agent by default; and the settings in
//! force can be stored with the attempt for audit.

use std::f32::consts::PI;

use ringa_amd::{
    AmdConfig, AmdDetector, BaselineConfig, BaselineDetector, Class, Detector, MachineAction, Route,
};

const RATE: usize = 8_000;

fn samples(ms: usize) -> usize {
    ms * RATE / 1000
}

/// A voiced word with gliding pitch and a formant-shaped spectrum.
fn word(ms: usize, f0_start: f32, f0_end: f32) -> Vec<f32> {
    let n = samples(ms);
    let mut phase = 0.0f32;
    (0..n)
        .map(|i| {
            let x = i as f32 / n as f32;
            let f0 = f0_start + (f0_end - f0_start) * x;
            phase += 2.0 * PI * f0 / RATE as f32;
            let mut v = 0.0;
            let mut h = 1.0;
            while h * f0 < 3400.0 {
                let f = h * f0;
                let gain = (-((f - (450.0 + 350.0 * x)) / 250.0).powi(2)).exp()
                    + 0.6 * (-((f - 1600.0) / 350.0).powi(2)).exp()
                    + 0.05;
                v += gain * (h * phase).sin();
                h += 1.0;
            }
            4500.0 * (PI * x).sin().powf(0.6) * v
        })
        .collect()
}

fn silence(ms: usize) -> Vec<f32> {
    vec![0.0; samples(ms)]
}

/// Swedish ringback: 425 Hz, one second on, five seconds off.
fn ringback(ms: usize) -> Vec<f32> {
    (0..samples(ms))
        .map(|i| {
            let t = i as f32 / RATE as f32;
            if t % 6.0 < 1.0 { 6000.0 * (2.0 * PI * 425.0 * t).sin() } else { 0.0 }
        })
        .collect()
}

/// Adds low seeded line noise and converts to 16-bit samples.
fn line(signal: &[f32], seed: u64) -> Vec<i16> {
    let mut state = seed;
    signal
        .iter()
        .map(|s| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let r = ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5;
            (s + 150.0 * r).round().clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

/// What the SIP layer hands the media driver.
enum Event {
    /// Audio while the call is still ringing (183 with early media).
    EarlyMedia(Vec<i16>),
    /// The 200 OK.
    Answered,
    /// Audio after the answer.
    Media(Vec<i16>),
}

/// A minimal driver: the detector exists only from the answer on, so early
/// media can never reach it or start its timers.
struct Driver {
    config: AmdConfig,
    detector: Option<Detector>,
    early_media_ms: usize,
}

impl Driver {
    fn handle(&mut self, event: Event) {
        match event {
            Event::EarlyMedia(audio) => self.early_media_ms += audio.len() * 1000 / RATE,
            Event::Answered => self.detector = Some(Detector::new(self.config)),
            Event::Media(audio) => {
                if let Some(d) = self.detector.as_mut() {
                    for chunk in audio.chunks(160) {
                        if d.wants_audio() {
                            d.handle_audio(chunk);
                        }
                    }
                }
            }
        }
    }
}

fn greeting() -> Vec<f32> {
    // "Hej, det är Anna": three words, then the person waits.
    [
        silence(350),
        word(280, 210.0, 180.0),
        silence(140),
        word(320, 190.0, 175.0),
        silence(60),
        word(420, 200.0, 150.0),
        silence(4000),
    ]
    .concat()
}

#[test]
fn early_media_does_not_start_detection_timers() {
    let config = AmdConfig::standard(MachineAction::HangUp);
    let mut driver = Driver { config, detector: None, early_media_ms: 0 };

    let early = line(&ringback(25_000), 1);
    for chunk in early.chunks(160) {
        driver.handle(Event::EarlyMedia(chunk.to_vec()));
    }
    assert!(driver.detector.is_none(), "no detector before the answer");
    assert_eq!(driver.early_media_ms, 25_000);

    driver.handle(Event::Answered);
    let answered = line(&greeting(), 2);
    for chunk in answered.chunks(160) {
        driver.handle(Event::Media(chunk.to_vec()));
    }

    let detector = driver.detector.as_ref().expect("created at the answer");
    let verdict = detector.poll_verdict().expect("a verdict after the greeting");
    assert_eq!(verdict.class, Class::Human, "{verdict:?}");
    // The greeting ends 1.57 s after the answer: the decision time counts
    // from the answer, not from the first early-media packet 25 s before.
    assert!((1_570..=3_000).contains(&verdict.at_ms), "decided {} ms after answer", verdict.at_ms);
    assert!(detector.elapsed_ms() < 5_000, "only post-answer audio was fed");
    assert_eq!(config.route(verdict), Route::ConnectAgent);
}

#[test]
fn the_same_audio_fed_from_the_first_packet_would_misjudge() {
    // Guard for the test above: had the ringback reached a detector, the
    // classic one would have decided long before the answer.
    let mut audio = line(&ringback(25_000), 1);
    audio.extend(line(&greeting(), 2));
    let mut classic = BaselineDetector::new(BaselineConfig::classic());
    for chunk in audio.chunks(160) {
        if classic.wants_audio() {
            classic.handle_audio(chunk);
        }
    }
    let verdict = classic.poll_verdict().expect("a verdict");
    assert!(verdict.at_ms < 25_000, "decided during early media: {verdict:?}");
}

#[test]
fn unsure_goes_to_an_agent_by_default_and_settings_are_stored() {
    let config = AmdConfig::standard(MachineAction::LeaveMessage);
    assert!(config.notsure_to_agent);

    let stored = serde_json::to_string(&config).expect("settings serialise");
    let restored: AmdConfig = serde_json::from_str(&stored).expect("settings deserialise");
    assert_eq!(restored, config);
    assert!(stored.contains("\"on_machine\":\"leave_message\""), "{stored}");
    assert!(stored.contains("\"notsure_to_agent\":true"), "{stored}");

    let mut silent = Detector::new(config);
    for chunk in line(&silence(6_000), 3).chunks(160) {
        silent.handle_audio(chunk);
    }
    let verdict = silent.poll_verdict().expect("a verdict");
    assert_eq!(verdict.class, Class::NotSure);
    assert_eq!(config.route(verdict), Route::ConnectAgent);
    let record = serde_json::to_string(verdict).expect("the verdict serialises for audit");
    assert!(record.contains("\"class\":\"NOTSURE\""), "{record}");
}
