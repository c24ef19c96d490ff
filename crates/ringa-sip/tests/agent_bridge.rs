//! Live calls with agent legs: the driver runs a progressive campaign with one agent whose
//! phone is a PJSIP process, to customers on PJSIP. Customer A speaks and hangs up itself,
//! customer B stays until the desktop hangs up, customer C's process freezes mid-call (its
//! BYE never comes). Every call must reach the agent's phone, be recorded with the
//! customer on the left and the agent on the right, and end both legs: the agent's phone
//! sees each of its calls end within a few seconds of the customer's.

mod peers;

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use peers::*;
use ringa_core::{AgentId, CallResult, CampaignId, DialMode, OutcomeCode};
use ringa_engine::{Command, EngineConfig, Input};
use ringa_sip::driver::{AgentLegMode, DriverOptions};
use ringa_sip::media::{MediaEnd, MediaEvent};
use serde_json::json;
use tokio::sync::mpsc;

const A: &str = "+46701110001";
const B: &str = "+46701110002";
const C: &str = "+46701110003";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_bridged_to_the_agents_phone_recorded_and_ended_on_both_legs() {
    let dir = temp_dir("agent-bridge");
    let v = voices(&dir);
    let person = v.person.to_str().expect("UTF-8 path");
    let (trunk_port, frozen_port, agent_port) = (free_udp_port(), free_udp_port(), free_udp_port());
    let customers = json!({
        A: {"kind": "answer", "answer_after": 1.0, "audio": person, "hangup_after": 9.0},
        B: {"kind": "answer", "answer_after": 1.0, "audio": person},
    });
    let frozen = json!({ C: {"kind": "answer", "answer_after": 1.0, "audio": person} });
    let agent_plan = json!({"agent1": {"kind": "agent", "audio": v.agent.to_str()}});
    let _customers = pjsua(&dir, "customers", trunk_port, &customers, 120);
    let frozen_peer = pjsua(&dir, "frozen", frozen_port, &frozen, 120);
    let _agent = pjsua(&dir, "agent", agent_port, &agent_plan, 120);
    wait_ready(&dir, &["customers", "frozen", "agent"], Duration::from_secs(20));

    // The trunk is the PJSIP customers process itself; C lives on a process of its own,
    // reached by a second driver below.
    let trunk = loopback_trunk("pjsip", trunk_port, 1, 5.0);
    let recordings = dir.join("recordings");
    std::fs::create_dir_all(&recordings).expect("writable");
    let (reports_tx, mut reports) = mpsc::unbounded_channel();
    let mut options = DriverOptions::new(IpAddr::from([127, 0, 0, 1]));
    // A leg per connected customer: this test counts the phone's calls per customer.
    options.agent_legs = AgentLegMode::PerCall;
    options.agent_phones =
        HashMap::from([(AgentId(1), format!("sip:agent1@127.0.0.1:{agent_port}"))]);
    options.recordings = Some(recordings.clone());
    options.inactivity = Duration::from_secs(3);
    options.reports = Some(reports_tx);
    let (telephony, mut commands) = start_driver(trunk, options, EngineConfig::default()).await;

    let mut pending = vec![contact(1, A), contact(2, B)];
    telephony.input(Input::Campaign {
        campaign: Box::new(campaign(DialMode::Progressive, "+46850000009", false)),
    });
    telephony.input(Input::CampaignActive { campaign: CampaignId(1), active: true });
    telephony.input(Input::AgentLogin { agent: AgentId(1), campaigns: vec![CampaignId(1)] });
    telephony.input(Input::AgentReady { agent: AgentId(1) });

    let mut ended = Vec::new();
    let mut media_ends = Vec::new();
    let mut desktop_hangup: Option<tokio::time::Instant> = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while ended.len() < 2 || media_ends.len() < 2 {
        let hangup_at = desktop_hangup.unwrap_or(deadline);
        tokio::select! {
            command = commands.recv() => match command.expect("the driver is running") {
                Command::FetchContacts { campaign, want } => {

                    give_contacts(&telephony, campaign, want, &mut pending);

                }
                Command::Connect { .. } if ended.len() == 1 => {
                    // B stays on the line: the agent hangs up from the desktop.
                    desktop_hangup = Some(tokio::time::Instant::now() + Duration::from_secs(7));
                }
                Command::AttemptEnded { record }
                    if record.result.is_some() && record.outcome.is_none() =>
                {
                    if let Some(agent) = record.agent {
                        telephony.input(Input::AgentOutcome {
                            agent,
                            outcome: OutcomeCode::new("not_interested"),
                            callback: None,
                            note: None,
                        });
                    }
                    ended.push(*record);
                }
                _ => {}
            },
            Some(event) = reports.recv() => {
                if let MediaEvent::Ended { report, end, .. } = event
                    && report.recording.is_some()
                {
                    media_ends.push((end, report));
                }
            }
            () = tokio::time::sleep_until(hangup_at) => {
                desktop_hangup = None;
                telephony.input(Input::AgentHangup { agent: AgentId(1) });
            }
            () = tokio::time::sleep_until(deadline) => {
                panic!("stuck: attempts {ended:?}, media {media_ends:?}");
            }
        }
    }

    for r in &ended {
        assert_eq!(r.result, Some(CallResult::Connected), "{r:?}");
        assert_eq!(r.agent, Some(AgentId(1)), "{r:?}");
    }
    for (end, report) in &media_ends {
        assert_eq!(*end, MediaEnd::Stopped, "{report:?}");
        assert!(report.agent_packets > 100, "agent audio relayed: {report:?}");
        assert!(report.customer_packets > 100, "customer audio relayed: {report:?}");
        let levels = channel_levels(report.recording.as_ref().expect("recorded"));
        let bridged: Vec<_> = levels.iter().skip_while(|(_, agent)| *agent < 200.0).collect();
        let customer_speech = bridged.iter().filter(|(c, _)| *c > 300.0).count();
        let agent_speech = bridged.iter().filter(|(_, a)| *a > 300.0).count();
        assert!(customer_speech > 50, "customer audio while bridged: {customer_speech} frames");
        assert!(agent_speech > 50, "agent audio while bridged: {agent_speech} frames");
    }

    // C: a customer whose BYE never comes. Point a second driver at the process, freeze it
    // once the call is bridged, and the inactivity timer must end both legs.
    let stuck = lost_bye(&dir, frozen_port, agent_port, &frozen_peer).await;
    assert_eq!(stuck.0, Some(CallResult::Connected), "{stuck:?}");
    assert!(stuck.1 < Duration::from_secs(8), "ended {:?} after the freeze", stuck.1);

    // The agent's phone saw each of its three calls end, each within 2 s of the customer's
    // end (as ringa saw it): no agent stays on a dead call.
    telephony.stop().await.expect("the driver stops cleanly");
    let agent_events = peer_events(&dir, "agent");
    let agent_ends: Vec<_> = agent_events.iter().filter(|e| e["event"] == "ended").collect();
    assert_eq!(agent_ends.len(), 3, "{agent_events:?}");
    let customer_events = peer_events(&dir, "customers");
    let b_end = customer_events
        .iter()
        .find(|e| e["event"] == "ended" && e["user"] == B)
        .expect("B's call ended");
    assert_eq!(b_end["answered"], true, "{b_end}");
    let a_hangup = customer_events.iter().find(|e| e["event"] == "hangup" && e["user"] == A);
    assert!(a_hangup.is_some(), "A hung up itself: {customer_events:?}");
    for e in &customer_events {
        if e["event"] == "invite" {
            assert_eq!(e["from_user"], "+46850000009", "{e}");
        }
    }
    drop(frozen_peer);
    std::fs::remove_dir_all(&dir).expect("temp dir removable");
}

/// Runs one call to the frozen process, freezes it once bridged; returns the attempt's result
/// and how long after the freeze the attempt ended.
async fn lost_bye(
    dir: &std::path::Path,
    port: u16,
    agent_port: u16,
    peer: &Proc,
) -> (Option<CallResult>, Duration) {
    let trunk = loopback_trunk("frozen", port, 1, 5.0);
    let mut options = DriverOptions::new(IpAddr::from([127, 0, 0, 1]));
    // A leg per connected customer: this test counts the phone's calls per customer.
    options.agent_legs = AgentLegMode::PerCall;
    options.agent_phones =
        HashMap::from([(AgentId(1), format!("sip:agent1@127.0.0.1:{agent_port}"))]);
    options.inactivity = Duration::from_secs(3);
    options.recordings = Some(dir.join("recordings"));
    let (telephony, mut commands) = start_driver(trunk, options, EngineConfig::default()).await;
    telephony.input(Input::Campaign {
        campaign: Box::new(campaign(DialMode::Progressive, "+46850000009", false)),
    });
    telephony.input(Input::CampaignActive { campaign: CampaignId(1), active: true });
    telephony.input(Input::AgentLogin { agent: AgentId(1), campaigns: vec![CampaignId(1)] });
    telephony.input(Input::AgentReady { agent: AgentId(1) });
    let mut pending = vec![contact(3, C)];
    let mut frozen_at = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        let command = tokio::time::timeout_at(deadline, commands.recv())
            .await
            .expect("the lost-BYE call ends in time")
            .expect("the driver is running");
        match command {
            Command::FetchContacts { campaign, want } => {
                let n = (want as usize).min(pending.len());
                let contacts: Vec<_> = pending.drain(..n).collect();
                telephony.input(Input::Contacts { campaign, contacts, exhausted: true });
            }
            Command::Connect { .. } => {
                // Let the bridge run, then freeze the customer: no RTP, no BYE.
                tokio::time::sleep(Duration::from_secs(3)).await;
                peer.signal("STOP");
                frozen_at = Some(Instant::now());
            }
            Command::AttemptEnded { record } if record.result.is_some() => {
                peer.signal("CONT");
                let after = frozen_at.map_or(Duration::MAX, |t| t.elapsed());
                // Give the agent's phone time to log the BYE.
                tokio::time::sleep(Duration::from_secs(1)).await;
                telephony.stop().await.expect("the driver stops cleanly");
                return (record.result, after);
            }
            _ => {}
        }
    }
}
