//! The campaign interop test: a predictive campaign of 21 contacts with answering-machine
//! detection, dialled by the live driver through Kamailio (digest auth, 407) to a customer
//! population on PJSIP (one process per 4 numbers, behaviour by Request-URI user), with two
//! agents whose phones are a PJSIP process and baresip (auto-answer, echo), each called once
//! for the whole run (nailed-up legs, the default).
//!
//! Every attempt must end with the right result and SIP code; the caller ID each customer
//! saw must be the one stored; people (one of them after 6 s of early media that talks: the
//! amd-timers case) are judged HUMAN, reach an agent and are heard in the recording while
//! bridged; voicemails are judged MACHINE and never reach an agent; ringing numbers are
//! cancelled and answer 487; each phone gets one INVITE, its leg stays up until the driver
//! stops, and both agents end ready.

mod peers;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use jiff::SignedDuration;
use peers::*;
use ringa_amd::Class;
use ringa_core::{AgentId, CallId, CallResult, CampaignId, DialMode, OutcomeCode};
use ringa_engine::{AgentState, AttemptRecord, Command, EngineConfig, Input};
use ringa_sip::config::{Transport, TrunkConfig};
use ringa_sip::driver::{AgentLegMode, DriverOptions};
use ringa_sip::media::{MediaEvent, MediaReport};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

const CALLER_ID: &str = "+46850000042";
const PASSWORD: &str = "trunk-secret";

/// What a customer number does, and what the attempt must end with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Person,
    EarlyPerson,
    Voicemail,
    Busy,
    Invalid,
    Ring,
    Unavailable,
}

impl Kind {
    fn expected(self) -> (CallResult, Option<u16>) {
        match self {
            Kind::Person | Kind::EarlyPerson => (CallResult::Connected, Some(200)),
            Kind::Voicemail => (CallResult::Machine, Some(200)),
            Kind::Busy => (CallResult::Busy, Some(486)),
            Kind::Invalid => (CallResult::Invalid, Some(404)),
            Kind::Ring => (CallResult::NoAnswer, Some(487)),
            Kind::Unavailable => (CallResult::NoAnswer, Some(480)),
        }
    }
}

fn population() -> Vec<(String, Kind)> {
    let mut kinds = vec![Kind::Person; 8];
    kinds.push(Kind::EarlyPerson);
    kinds.extend([Kind::Voicemail; 5]);
    kinds.extend([Kind::Busy, Kind::Busy, Kind::Invalid, Kind::Invalid]);
    kinds.extend([Kind::Ring, Kind::Ring, Kind::Unavailable]);
    // Interleaved so that every PJSIP process plays a mix.
    let mut order: Vec<usize> = (0..kinds.len()).collect();
    order.sort_by_key(|i| (i * 7) % kinds.len());
    order.iter().enumerate().map(|(n, &i)| (format!("+467022200{:02}", n + 1), kinds[i])).collect()
}

fn plan_entry(kind: Kind, n: usize, v: &Voices) -> Value {
    let path = |p: &std::path::PathBuf| p.to_str().expect("UTF-8 path").to_string();
    let answer_after = 1.5 + (n % 3) as f64 * 0.5;
    match kind {
        Kind::Person => {
            json!({"kind": "answer", "answer_after": answer_after, "audio": path(&v.person)})
        }
        Kind::EarlyPerson => json!({
            "kind": "early", "answer_after": 6.5,
            "early_audio": path(&v.early), "audio": path(&v.person)
        }),
        Kind::Voicemail => {
            json!({"kind": "answer", "answer_after": answer_after, "audio": path(&v.voicemail)})
        }
        Kind::Busy => json!({"kind": "busy"}),
        Kind::Invalid => json!({"kind": "invalid"}),
        Kind::Ring => json!({"kind": "ring"}),
        Kind::Unavailable => json!({"kind": "unavailable"}),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_predictive_campaign_through_kamailio_reaches_people_and_never_machines() {
    let dir = temp_dir("campaign-interop");
    let v = voices(&dir);
    let people = population();
    let kind_of: HashMap<String, Kind> = people.iter().cloned().collect();

    // Customers: one PJSIP process per 4 numbers, routed by Kamailio on the user part.
    let mut routes = HashMap::new();
    let mut procs = Vec::new();
    let mut names = Vec::new();
    for (g, group) in people.chunks(4).enumerate() {
        let port = free_udp_port();
        let mut plan = serde_json::Map::new();
        for (i, (number, kind)) in group.iter().enumerate() {
            plan.insert(number.clone(), plan_entry(*kind, g * 4 + i, &v));
            routes.insert(number.clone(), port);
        }
        let name = format!("customers{g}");
        procs.push(pjsua(&dir, &name, port, &Value::Object(plan), 240));
        names.push(name);
    }
    let agent1_port = free_udp_port();
    let agent2_port = free_udp_port();
    let agent_plan = json!({"agent1": {"kind": "agent", "audio": v.agent.to_str()}});
    procs.push(pjsua(&dir, "agent1", agent1_port, &agent_plan, 240));
    names.push("agent1".to_string());
    let baresip_agent = baresip(&dir, "agent2", "agent2", agent2_port);
    let kamailio_port = free_udp_port();
    let _kamailio = kamailio(&dir, kamailio_port, PASSWORD, &routes);
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    wait_ready(&dir, &name_refs, Duration::from_secs(30));
    tokio::time::sleep(Duration::from_millis(500)).await;

    let trunk = TrunkConfig {
        name: "kamailio".into(),
        address: SocketAddr::from(([127, 0, 0, 1], kamailio_port)),
        transport: Transport::Udp,
        username: Some("ringa".into()),
        password: Some(PASSWORD.into()),
        line_limit: 6,
        cps: 4.0,
    };
    let recordings = dir.join("recordings");
    std::fs::create_dir_all(&recordings).expect("writable");
    let (reports_tx, mut reports) = mpsc::unbounded_channel();
    let mut options = DriverOptions::new(IpAddr::from([127, 0, 0, 1]));
    // The default: each agent's phone is called once and stays up for the whole run.
    assert_eq!(options.agent_legs, AgentLegMode::Nailed);
    options.agent_phones = HashMap::from([
        (AgentId(1), format!("sip:agent1@127.0.0.1:{agent1_port}")),
        (AgentId(2), format!("sip:agent2@127.0.0.1:{agent2_port}")),
    ]);
    options.recordings = Some(recordings);
    options.inactivity = Duration::from_secs(10);
    options.reports = Some(reports_tx);
    let config =
        EngineConfig { max_queue_wait: SignedDuration::from_secs(60), ..Default::default() };
    let (telephony, mut commands) = start_driver(trunk, options, config).await;

    let mut campaign = campaign(DialMode::Predictive, CALLER_ID, true);
    campaign.ring_timeout = SignedDuration::from_secs(8);
    campaign.max_lines_per_agent = Some(2.5);
    // Paced by the predictive pacer from the first agent on: no call is reserved for an
    // agent, so none is cancelled when that agent takes another.
    campaign.min_agents_predictive = 1;
    let mut pending: Vec<_> =
        people.iter().enumerate().map(|(i, (n, _))| contact(i as u64 + 1, n)).collect();
    telephony.input(Input::Campaign { campaign: Box::new(campaign) });
    telephony.input(Input::CampaignActive { campaign: CampaignId(1), active: true });
    for a in [AgentId(1), AgentId(2)] {
        telephony.input(Input::AgentLogin { agent: a, campaigns: vec![CampaignId(1)] });
        telephony.input(Input::AgentReady { agent: a });
    }

    let started = Instant::now();
    let mut ended: HashMap<String, AttemptRecord> = HashMap::new();
    let mut connects: Vec<(CallId, AgentId)> = Vec::new();
    let mut hangups: Vec<(Instant, AgentId, CallId)> = Vec::new();
    let mut verdicts: HashMap<CallId, ringa_amd::Verdict> = HashMap::new();
    let mut media: HashMap<CallId, MediaReport> = HashMap::new();
    let mut agent_state: HashMap<AgentId, AgentState> = HashMap::new();
    let mut current: HashMap<AgentId, CallId> = HashMap::new();
    let deadline = started + Duration::from_secs(150);
    loop {
        let settled = ended.len() == people.len()
            && hangups.is_empty()
            && connects.iter().all(|(c, _)| media.contains_key(c))
            && agent_state.values().all(|s| *s == AgentState::Ready);
        if settled {
            break;
        }
        let next_hangup = hangups.iter().map(|h| h.0).min().unwrap_or(deadline);
        tokio::select! {
            command = commands.recv() => match command.expect("the driver is running") {
                Command::FetchContacts { campaign, want } => {

                    give_contacts(&telephony, campaign, want, &mut pending);

                }
                Command::Connect { call, agent } => {
                    connects.push((call, agent));
                    current.insert(agent, call);
                    // The agent talks for 4 s, then hangs up from the desktop.
                    hangups.push((Instant::now() + Duration::from_secs(4), agent, call));
                }
                Command::AgentState { agent, state, .. } => {
                    agent_state.insert(agent, state);
                }
                Command::AttemptEnded { record } if record.outcome.is_none() => {
                    if record.result == Some(CallResult::Connected)
                        && let Some(agent) = record.agent
                    {
                        telephony.input(Input::AgentOutcome {
                            agent,
                            outcome: OutcomeCode::new("not_interested"),
                            callback: None,
                            note: None,
                        });
                    }
                    let number = record.number.as_str().to_string();
                    ended.entry(number).or_insert(*record);
                }
                _ => {}
            },
            Some(event) = reports.recv() => match event {
                MediaEvent::Verdict { call, verdict, .. } => {
                    verdicts.insert(call, verdict);
                }
                MediaEvent::Ended { call, report, .. } => {
                    media.insert(call, report);
                }
                _ => {}
            },
            () = tokio::time::sleep_until(next_hangup) => {
                let now = Instant::now();
                let due: Vec<_> = hangups.iter().filter(|h| h.0 <= now).copied().collect();
                hangups.retain(|h| h.0 > now);
                for (_, agent, call) in due {
                    // Only the call the agent is still on (a customer may have left first).
                    let on_it = current.get(&agent) == Some(&call)
                        && matches!(agent_state.get(&agent), Some(AgentState::InCall { .. }));
                    if on_it {
                        telephony.input(Input::AgentHangup { agent });
                    }
                }
            }
            () = tokio::time::sleep_until(deadline) => {
                panic!(
                    "not settled after 150 s: {} of {} attempts ended, {:?} agents, {} hangups due",
                    ended.len(), people.len(), agent_state, hangups.len()
                );
            }
        }
    }
    let elapsed = started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Both phones' legs are still up; stopping the driver hangs them up.
    let agent1_ends = |dir: &std::path::Path| {
        peer_events(dir, "agent1").iter().filter(|e| e["event"] == "ended").count()
    };
    assert_eq!(agent1_ends(&dir), 0, "agent 1's leg stayed up between customers");
    telephony.stop().await.expect("the driver stops cleanly");
    let stopped = Instant::now();
    while agent1_ends(&dir) == 0 && stopped.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Every attempt: the right result and SIP code, and the caller ID stored.
    let mut problems = Vec::new();
    for (number, kind) in &people {
        let r = ended.get(number).expect("every contact was dialled");
        let (result, code) = kind.expected();
        if r.result != Some(result) || r.sip_code != code {
            problems.push(format!(
                "{number} {kind:?}: {:?} {:?}; verdict {:?}; media {:?}",
                r.result,
                r.sip_code,
                verdicts.get(&r.call),
                media.get(&r.call)
            ));
        }
        assert_eq!(r.caller_id.as_ref().map(|c| c.as_str()), Some(CALLER_ID), "{r:?}");

        // The verdict and the settings in force travel with the record to the journal.
        let report = r.amd_report.as_ref().expect("every attempt was screened");
        let verdict = verdicts.get(&r.call);
        assert_eq!(report.class, verdict.map(|v| v.class.to_string()), "{r:?}");
        assert_eq!(report.at_ms, verdict.map(|v| v.at_ms), "{r:?}");
        let settings: Value = serde_json::from_str(&report.settings).expect("JSON settings");
        assert_eq!(settings["on_machine"], "hang_up", "{r:?}");
    }
    assert!(problems.is_empty(), "wrong results: {problems:#?}");

    // What the customers saw: the stored caller ID in From and P-Asserted-Identity, one
    // INVITE each, and 487 for the numbers that rang until our CANCEL.
    let mut invited = HashSet::new();
    for name in names.iter().filter(|n| n.starts_with("customers")) {
        for e in peer_events(&dir, name) {
            let user = e["user"].as_str().unwrap_or_default().to_string();
            if e["event"] == "invite" {
                assert_eq!(e["from_user"], CALLER_ID, "{e}");
                assert_eq!(e["pai_user"], CALLER_ID, "{e}");
                invited.insert(user.clone());
            }
            if e["event"] == "ended" && kind_of.get(&user) == Some(&Kind::Ring) {
                assert_eq!(e["code"], 487, "{e}");
            }
        }
    }
    assert_eq!(invited.len(), people.len(), "every number reached its PJSIP peer");

    // Detection: people HUMAN (the early-media one too: its early audio was never fed),
    // machines MACHINE and never connected.
    let call_of: HashMap<&str, CallId> = ended.iter().map(|(n, r)| (n.as_str(), r.call)).collect();
    let connected: HashSet<CallId> = connects.iter().map(|(c, _)| *c).collect();
    for (number, kind) in &people {
        let call = call_of[number.as_str()];
        match kind {
            Kind::Person | Kind::EarlyPerson => {
                let v = verdicts.get(&call).expect("people are judged");
                assert_eq!(v.class, Class::Human, "{number}: {v:?}");
                assert!(connected.contains(&call), "{number} reached an agent");
            }
            Kind::Voicemail => {
                let v = verdicts.get(&call).expect("machines are judged");
                assert_eq!(v.class, Class::Machine, "{number}: {v:?}");
                assert!(!connected.contains(&call), "voicemail {number} reached an agent");
            }
            _ => assert!(!connected.contains(&call)),
        }
        if *kind == Kind::EarlyPerson {
            let report = &media[&call];
            assert!(report.early_packets > 100, "early media arrived: {report:?}");
            let v = &verdicts[&call];
            assert!(v.at_ms < 4_000, "timers started at the answer: {v:?}");
        }
    }

    // Recordings: the customer is heard while the agent is bridged, the agent too.
    let mut heard = Vec::new();
    for (call, _) in &connects {
        let report = &media[call];
        let levels =
            channel_levels(report.recording.as_ref().expect("connected calls are recorded"));
        let bridged: Vec<_> = levels.iter().skip_while(|(_, agent)| *agent < 100.0).collect();
        let customer = bridged.iter().filter(|(c, _)| *c > 300.0).count();
        let agent = bridged.iter().filter(|(_, a)| *a > 100.0).count();
        assert!(customer > 25 && agent > 25, "{call}: customer {customer}, agent {agent} frames");
        heard.push(customer);
    }

    // One call to each phone for all its customers, hung up when the driver stopped.
    let per_agent = |a: AgentId| connects.iter().filter(|(_, x)| *x == a).count();
    let agent1 = peer_events(&dir, "agent1");
    let invites = agent1.iter().filter(|e| e["event"] == "invite").count();
    let ends = agent1.iter().filter(|e| e["event"] == "ended").count();
    assert_eq!((invites, ends), (1, 1), "{agent1:?}");
    drop(baresip_agent);
    let out = std::fs::read_to_string(dir.join("agent2.out")).unwrap_or_default();
    let established = out.matches("Call established").count();
    let terminated = out.matches("terminated").count();
    assert_eq!(established, 1, "baresip answered one call for all its customers");
    assert!(terminated >= established, "baresip saw its call end: {terminated}");
    assert!(per_agent(AgentId(1)) > 0 && per_agent(AgentId(2)) > 0, "both agents took calls");

    eprintln!(
        "campaign of {} contacts settled in {:.1} s; {} connects (agent1 {}, agent2 {}); \
         customer speech frames while bridged {:?}",
        people.len(),
        elapsed.as_secs_f64(),
        connects.len(),
        per_agent(AgentId(1)),
        per_agent(AgentId(2)),
        heard
    );
    drop(procs);
    std::fs::remove_dir_all(&dir).expect("temp dir removable");
}
