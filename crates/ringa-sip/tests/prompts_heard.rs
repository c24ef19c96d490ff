//! The drop message and the message left on answering machines, checked in what a real
//! peer heard. The live driver with a real `Engine` (UK rules: a person must reach an agent
//! within 2 s, else the call is dropped with a message) calls two PJSIP customers that
//! record the audio they receive:
//!
//! - a person who says "Hello?" while the only agent is on a break: the drop message (a
//!   1400 Hz tone of 2 s) must be heard, starting within the rule set's limit of the
//!   person being judged human, whole, and ringa must hang up right after it;
//! - a voicemail greeting with a 1 kHz beep, on a campaign that leaves a message
//!   (`amd_on_machine = leave_message`): the machine message (a 1900 Hz tone of 2 s) must
//!   be heard after the beep ended, whole, then ringa hangs up.
//!
//! The prompts are WAV files loaded as an operator's would be; the peer's recordings are
//! analysed with a Goertzel filter in 20 ms frames.

mod peers;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use jiff::SignedDuration;
use peers::*;
use ringa_amd::Class;
use ringa_core::campaign::OnMachine;
use ringa_core::{AgentId, CallResult, CampaignId, DialMode, RuleSet};
use ringa_engine::{AttemptRecord, Command, EngineConfig, Input};
use ringa_sip::driver::DriverOptions;
use ringa_sip::media::MediaEvent;
use ringa_sip::prompt::Prompt;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

const CALLER_ID: &str = "+46850000043";
const PERSON: &str = "+46702230001";
const VOICEMAIL: &str = "+46702230002";
const DROP_HZ: f64 = 1400.0;
const MACHINE_HZ: f64 = 1900.0;
const PROMPT_SECS: f64 = 2.0;
/// 20 ms frames in a prompt.
const PROMPT_FRAMES: usize = 100;

/// Where a tone is in a recording: first and last frame, and how many frames hold it.
#[derive(Debug)]
struct Heard {
    start_s: f64,
    end_s: f64,
    frames: usize,
    recording_s: f64,
}

fn heard(path: &std::path::Path, hz: f64) -> Option<Heard> {
    let frames = tone_frames(path, hz);
    let first = frames.iter().position(|f| *f)?;
    let last = frames.iter().rposition(|f| *f)?;
    Some(Heard {
        start_s: first as f64 * 0.02,
        end_s: (last + 1) as f64 * 0.02,
        frames: frames.iter().filter(|f| **f).count(),
        recording_s: wav_seconds(path),
    })
}

/// The time a peer logged `event` for `user`, if it did.
fn logged(events: &[Value], event: &str, user: &str) -> Option<f64> {
    events.iter().find(|e| e["event"] == event && e["user"] == user).and_then(|e| e["t"].as_f64())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drop_message_and_the_machine_message_are_heard_then_ringa_hangs_up() {
    let dir = temp_dir("prompts-heard");
    let v = voices(&dir);
    let drop_wav = beep(&dir, "drop-message", DROP_HZ as u32, PROMPT_SECS as f32);
    let machine_wav = beep(&dir, "machine-message", MACHINE_HZ as u32, PROMPT_SECS as f32);
    // The voicemail is the greeting, then the beep (see `voices`).
    let beep_end_s = wav_seconds(&dir.join("greeting.wav")) + wav_seconds(&dir.join("beep.wav"));
    let record = |name: &str| dir.join(format!("{name}.heard.wav"));
    let path = |p: &std::path::Path| p.to_str().expect("UTF-8 path").to_string();

    let port = free_udp_port();
    let plan = json!({
        PERSON: {
            "kind": "answer", "answer_after": 1.0, "audio": path(&v.person),
            "record": path(&record("person")),
        },
        VOICEMAIL: {
            "kind": "answer", "answer_after": 1.0, "audio": path(&v.voicemail),
            "record": path(&record("voicemail")),
        },
    });
    let _customers = pjsua(&dir, "customers", port, &plan, 120);
    wait_ready(&dir, &["customers"], Duration::from_secs(30));

    let trunk = loopback_trunk("pjsip", port, 4, 4.0);
    let (reports_tx, mut reports) = mpsc::unbounded_channel();
    let mut options = DriverOptions::new(IpAddr::from([127, 0, 0, 1]));
    options.drop_message = Some(Arc::new(Prompt::load(&drop_wav).expect("the drop message")));
    options.machine_message =
        Some(Arc::new(Prompt::load(&machine_wav).expect("the machine message")));
    options.reports = Some(reports_tx);
    let config =
        EngineConfig { max_queue_wait: SignedDuration::from_secs(60), ..Default::default() };
    let (telephony, mut commands) = start_driver(trunk, options, config).await;

    let mut campaign = campaign(DialMode::Predictive, CALLER_ID, true);
    campaign.rules.rule_set = RuleSet::Uk;
    campaign.amd_on_machine = OnMachine::LeaveMessage;
    campaign.ring_timeout = SignedDuration::from_secs(20);
    // Paced, not one reserved call per agent: a person answered can find no agent.
    campaign.min_agents_predictive = 1;
    let connect_within = RuleSet::Uk.table().connect_within.expect("UK rules set a limit");
    let mut pending = vec![contact(1, PERSON), contact(2, VOICEMAIL)];
    telephony.input(Input::Campaign { campaign: Box::new(campaign) });
    telephony.input(Input::CampaignActive { campaign: CampaignId(1), active: true });
    let agent = AgentId(1);
    telephony.input(Input::AgentLogin { agent, campaigns: vec![CampaignId(1)] });
    telephony.input(Input::AgentReady { agent });

    let started = Instant::now();
    let deadline = started + Duration::from_secs(60);
    let mut ended: HashMap<String, AttemptRecord> = HashMap::new();
    let mut verdicts = HashMap::new();
    let mut connects = 0;
    let done = |dir: &std::path::Path| {
        let events = peer_events(dir, "customers");
        [PERSON, VOICEMAIL].iter().all(|u| logged(&events, "recorded", u).is_some())
    };
    while !(ended.len() == 2 && done(&dir)) {
        tokio::select! {
            command = commands.recv() => match command.expect("the driver is running") {
                Command::FetchContacts { campaign, want } => {

                    give_contacts(&telephony, campaign, want, &mut pending);

                }
                Command::AttemptStarted { record } if record.number.as_str() == PERSON => {
                    // The only agent takes a break while the person's phone rings.
                    let reason = "break".to_string();
                    telephony.input(Input::AgentPause { agent, reason });
                }
                Command::AttemptEnded { record } => {
                    if record.number.as_str() == PERSON {
                        // Back for the voicemail's call.
                        telephony.input(Input::AgentReady { agent });
                    }
                    ended.insert(record.number.as_str().to_string(), *record);
                }
                Command::Connect { .. } => connects += 1,
                _ => {}
            },
            Some(event) = reports.recv() => {
                if let MediaEvent::Verdict { call, verdict, .. } = event {
                    verdicts.insert(call, verdict);
                }
            }
            () = tokio::time::sleep(Duration::from_millis(100)) => {
                assert!(
                    Instant::now() < deadline,
                    "not done after 60 s: {ended:#?}\n{:#?}",
                    peer_events(&dir, "customers")
                );
            }
        }
    }
    let elapsed = started.elapsed();
    telephony.stop().await.expect("the driver stops cleanly");
    assert_eq!(connects, 0, "no customer reached an agent");

    let person = &ended[PERSON];
    assert_eq!(person.result, Some(CallResult::Dropped), "{person:?}");
    let person_verdict = verdicts.get(&person.call).expect("the person was judged");
    assert_eq!(person_verdict.class, Class::Human, "{person_verdict:?}");
    let machine = &ended[VOICEMAIL];
    assert_eq!(machine.result, Some(CallResult::Machine), "{machine:?}");
    let machine_verdict = verdicts.get(&machine.call).expect("the voicemail was judged");
    assert_eq!(machine_verdict.class, Class::Machine, "{machine_verdict:?}");
    let settings: Value = serde_json::from_str(
        &machine.amd_report.as_ref().expect("the voicemail was screened").settings,
    )
    .expect("JSON settings");
    assert_eq!(settings["on_machine"], "leave_message", "{settings}");

    let events = peer_events(&dir, "customers");
    // Each recording starts when the peer answered; its end is when ringa's BYE came.
    for (user, prompt, other) in [(PERSON, DROP_HZ, MACHINE_HZ), (VOICEMAIL, MACHINE_HZ, DROP_HZ)] {
        assert!(logged(&events, "hangup", user).is_none(), "{user} never hung up itself");
        let name = if user == PERSON { "person" } else { "voicemail" };
        let h = heard(&record(name), prompt).unwrap_or_else(|| panic!("{user} heard no prompt"));
        eprintln!("{user}: {h:?}");
        assert!(
            h.frames >= PROMPT_FRAMES * 9 / 10 && h.end_s - h.start_s <= PROMPT_SECS + 0.2,
            "{user} heard the whole prompt, once: {h:?}"
        );
        assert!(heard(&record(name), other).is_none(), "{user} heard only its own prompt");
        // Ringa's BYE follows the prompt's end; the peer's own timeline agrees.
        assert!(h.recording_s - h.end_s < 1.0, "{user}: hung up after the prompt: {h:?}");
        let recording = logged(&events, "recording", user).expect("recording started");
        let bye = logged(&events, "ended", user).expect("the call ended");
        let after = bye - (recording + h.end_s);
        assert!((-0.2..1.0).contains(&after), "{user}: BYE {after:.2} s after the prompt");
    }

    // The drop message starts within the rule set's limit of the person judged human (the
    // engine gives up waiting for an agent at that limit; 0.5 s for the network and the
    // peer's jitter buffer).
    let person_heard = heard(&record("person"), DROP_HZ).expect("checked above");
    let judged_s = f64::from(person_verdict.at_ms) / 1000.0;
    let limit = connect_within.as_secs_f64();
    let waited = person_heard.start_s - judged_s;
    assert!(
        (limit - 0.5..=limit + 0.5).contains(&waited),
        "drop message {waited:.2} s after the verdict, limit {limit} s: {person_heard:?}"
    );

    // The machine message starts after the beep ended, and soon after it.
    let machine_heard = heard(&record("voicemail"), MACHINE_HZ).expect("checked above");
    let after_beep = machine_heard.start_s - beep_end_s;
    assert!(
        (0.0..3.0).contains(&after_beep),
        "machine message {after_beep:.2} s after the beep's end ({beep_end_s:.2} s): \
         {machine_heard:?}, verdict {machine_verdict:?}"
    );
    eprintln!(
        "done in {:.1} s: drop message {waited:.2} s after the human verdict, machine message \
         {after_beep:.2} s after the beep",
        elapsed.as_secs_f64()
    );
    std::fs::remove_dir_all(&dir).expect("temp dir removable");
}
