//! The nailed-up agent leg: the agent's phone (a PJSIP process) is called once when the agent
//! becomes ready and stays connected while the driver runs a progressive campaign of four
//! customers (PJSIP, talking for a few seconds). Customers 1 and 2 hang up themselves: one
//! INVITE to the phone serves both, audio is relayed both ways within each call, and the
//! phone's leg is still up after each. During customer 3 the phone is put down: the customer
//! is hung up on, the agent is paused once the outcome is set (not given customer 4), and
//! only when the agent is ready again is the phone called again, for customer 4. Then the
//! phone is put down while idle: the agent is paused at once and the phone is not called
//! until the agent is ready again.

mod peers;

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use peers::*;
use ringa_core::{AgentId, CallId, CallResult, CampaignId, DialMode, OutcomeCode};
use ringa_engine::{AgentState, Command, EngineConfig, Input};
use ringa_sip::driver::{AgentLegMode, DriverOptions};
use ringa_sip::media::{MediaEnd, MediaEvent, MediaReport};
use serde_json::json;
use tokio::sync::mpsc;

const CUSTOMERS: [&str; 4] = ["+46701120001", "+46701120002", "+46701120003", "+46701120004"];
/// The customer who stays on the line until the agent's phone is put down.
const STAYS: &str = "+46701120003";

/// Events of `name` named `event`, once at least `want` of them are logged (up to 5 s).
fn wait_events(dir: &std::path::Path, name: &str, event: &str, want: usize) -> usize {
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let n = peer_events(dir, name).iter().filter(|e| e["event"] == event).count();
        if n >= want || Instant::now() >= end {
            return n;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_agent_invite_serves_consecutive_customers_and_a_hangup_unreadies_the_agent() {
    let dir = temp_dir("nailed-agent");
    let v = voices(&dir);
    let person = v.person.to_str().expect("UTF-8 path");
    let (trunk_port, agent_port) = (free_udp_port(), free_udp_port());
    let mut plan = serde_json::Map::new();
    for number in CUSTOMERS {
        let mut entry = json!({"kind": "answer", "answer_after": 0.5, "audio": person});
        if number != STAYS {
            entry["hangup_after"] = json!(4.0);
        }
        plan.insert(number.to_string(), entry);
    }
    let _customers = pjsua(&dir, "customers", trunk_port, &plan.into(), 120);
    let agent_plan = json!({"agent1": {"kind": "agent", "audio": v.agent.to_str()}});
    let agent_phone = pjsua(&dir, "agent", agent_port, &agent_plan, 120);
    wait_ready(&dir, &["customers", "agent"], Duration::from_secs(20));

    let trunk = loopback_trunk("pjsip", trunk_port, 1, 5.0);
    let (reports_tx, mut reports) = mpsc::unbounded_channel();
    let mut options = DriverOptions::new(IpAddr::from([127, 0, 0, 1]));
    assert_eq!(options.agent_legs, AgentLegMode::Nailed, "nailed-up legs are the default");
    options.agent_phones =
        HashMap::from([(AgentId(1), format!("sip:agent1@127.0.0.1:{agent_port}"))]);
    options.inactivity = Duration::from_secs(5);
    options.reports = Some(reports_tx);
    let (telephony, mut commands) = start_driver(trunk, options, EngineConfig::default()).await;

    let mut pending: Vec<_> =
        CUSTOMERS.iter().enumerate().map(|(i, n)| contact(i as u64 + 1, n)).collect();
    telephony.input(Input::Campaign {
        campaign: Box::new(campaign(DialMode::Progressive, "+46850000011", false)),
    });
    telephony.input(Input::CampaignActive { campaign: CampaignId(1), active: true });
    telephony.input(Input::AgentLogin { agent: AgentId(1), campaigns: vec![CampaignId(1)] });
    telephony.input(Input::AgentReady { agent: AgentId(1) });

    // Four customers, one after the other, each ending with the agent's outcome; the phone
    // is put down 2.5 s into the third call, and the agent made ready again once paused.
    let mut ended = Vec::new();
    let mut media: HashMap<CallId, MediaReport> = HashMap::new();
    let mut phone_ends_after_call = Vec::new();
    let mut connects = 0;
    let mut pauses = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let mut put_down: Option<tokio::time::Instant> = None;
    while ended.len() < CUSTOMERS.len() || media.len() < CUSTOMERS.len() {
        let put_down_at = put_down.unwrap_or(deadline);
        tokio::select! {
            command = commands.recv() => match command.expect("the driver is running") {
                Command::FetchContacts { campaign, want } => {

                    give_contacts(&telephony, campaign, want, &mut pending);

                }
                Command::Connect { .. } => {
                    connects += 1;
                    if connects == 3 {
                        put_down = Some(tokio::time::Instant::now() + Duration::from_millis(2500));
                    }
                }
                // Logging in pauses the agent first ("login"): only later pauses count.
                Command::AgentState { state: AgentState::Paused { reason }, .. }
                    if reason != "login" =>
                {
                    pauses.push((ended.len(), reason));
                    telephony.input(Input::AgentReady { agent: AgentId(1) });
                }
                Command::AttemptEnded { record }
                    if record.result.is_some() && record.outcome.is_none() =>
                {
                    telephony.input(Input::AgentOutcome {
                        agent: AgentId(1),
                        outcome: OutcomeCode::new("not_interested"),
                        callback: None,
                        note: None,
                    });
                    let agent_ends = peer_events(&dir, "agent")
                        .iter()
                        .filter(|e| e["event"] == "ended")
                        .count();
                    phone_ends_after_call.push(agent_ends);
                    ended.push(*record);
                }
                _ => {}
            },
            Some(event) = reports.recv() => {
                if let MediaEvent::Ended { call, end, report } = event {
                    assert_eq!(end, MediaEnd::Stopped, "{report:?}");
                    media.insert(call, report);
                }
            }
            () = tokio::time::sleep_until(put_down_at) => {
                put_down = None;
                agent_phone.signal("USR1");
            }
            () = tokio::time::sleep_until(deadline) => {
                panic!("stuck: attempts {ended:?}, media {media:?}, pauses {pauses:?}");
            }
        }
    }

    for r in &ended {
        assert_eq!(r.result, Some(CallResult::Connected), "{r:?}");
        assert_eq!(r.agent, Some(AgentId(1)), "{r:?}");
        assert_eq!(r.sip_code, Some(200), "{r:?}");
        let report = &media[&r.call];
        // About 4 s (2.5 s for the third) bridged at 50 packets a second each way.
        let least = if r.number.as_str() == STAYS { 50 } else { 100 };
        assert!(report.customer_packets > least, "customer to agent: {report:?}");
        assert!(report.agent_packets > least, "agent to customer: {report:?}");
    }
    assert_eq!(ended[2].number.as_str(), STAYS);
    // Paused once, after the third call's outcome, before any fourth customer.
    assert_eq!(pauses.len(), 1, "{pauses:?}");
    assert_eq!(pauses[0].0, 3, "{pauses:?}");
    let agent_events = peer_events(&dir, "agent");
    let invites = agent_events.iter().filter(|e| e["event"] == "invite").count();
    assert_eq!(invites, 2, "one INVITE per leg, not per customer: {agent_events:?}");
    assert_eq!(phone_ends_after_call[..2], [0, 0], "the phone's leg stayed up");
    assert_eq!(phone_ends_after_call[3], 1, "the second leg stayed up after customer 4");
    let customer_events = peer_events(&dir, "customers");
    let hung_up_on = customer_events.iter().any(|e| e["event"] == "ended" && e["user"] == STAYS);
    let hung_up = customer_events.iter().any(|e| e["event"] == "hangup" && e["user"] == STAYS);
    assert!(hung_up_on && !hung_up, "ringa ended customer 3's call: {customer_events:?}");
    let packets: Vec<_> = ended
        .iter()
        .map(|r| (media[&r.call].customer_packets, media[&r.call].agent_packets))
        .collect();
    eprintln!("relayed packets per call (customer→agent, agent→customer): {packets:?}");

    // The phone is put down while idle: the agent leaves ready at once, and the phone is
    // not called again.
    agent_phone.signal("USR1");
    let paused = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match commands.recv().await {
                Some(Command::AgentState { state: AgentState::Paused { reason }, .. }) => {
                    return reason;
                }
                Some(_) => {}
                None => panic!("the driver stopped"),
            }
        }
    })
    .await
    .expect("the agent leaves ready when the phone hangs up");
    assert!(paused.contains("phone"), "{paused}");
    assert_eq!(wait_events(&dir, "agent", "ended", 2), 2, "the phone's leg ended");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(wait_events(&dir, "agent", "invite", 2), 2, "no new INVITE while paused");

    // Ready again: the phone is called again, once.
    telephony.input(Input::AgentReady { agent: AgentId(1) });
    assert_eq!(wait_events(&dir, "agent", "answered", 3), 3, "the leg is placed again");
    telephony.stop().await.expect("the driver stops cleanly");
    assert_eq!(wait_events(&dir, "agent", "ended", 3), 3, "the driver hangs up on stop");
    assert_eq!(wait_events(&dir, "agent", "invite", 3), 3);
    std::fs::remove_dir_all(&dir).expect("temp dir removable");
}
