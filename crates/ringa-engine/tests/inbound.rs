//! Customers who call a campaign's caller ID back: a free agent of the campaign takes the
//! call with the caller's card, or the callback message answers when none is free.

use jiff::SignedDuration;
use ringa_core::{AgentId, CallId, CampaignId, ContactId, DialMode, OutcomeCode, RuleSet};
use ringa_engine::{AgentState, AttemptKind, CallEvent, Command, Input};

use crate::support::{World, at, campaign, contact, number};

const BACK: CallId = CallId((1 << 62) + 1);

/// A campaign that holds contacts 7 and 8 and dials nothing (stopped), so that its agents
/// stay ready for calls back.
fn stopped_campaign(world: &mut World, id: u64) {
    let contacts = vec![contact(7, "+46701740607"), contact(8, "+46701740608")];
    world.add_campaign(campaign(id, DialMode::Progressive, RuleSet::None), contacts);
    world.input(Input::CampaignActive { campaign: CampaignId(id), active: false });
}

fn call_back(world: &mut World, campaign: u64, caller: Option<&str>) -> Vec<Command> {
    world.input(Input::InboundCall {
        call: BACK,
        campaign: CampaignId(campaign),
        caller: caller.map(number),
        contact: None,
    })
}

fn state(world: &World, agent: u64) -> AgentState {
    world.engine.agent(AgentId(agent)).map(|a| a.state.clone()).expect("the agent is known")
}

#[test]
fn a_free_agent_takes_the_call_back_with_the_callers_card() {
    let mut world = World::new(at("2026-12-07T09:00:00+01:00"));
    stopped_campaign(&mut world, 1);
    world.login(1, &[1]);

    let out = call_back(&mut world, 1, Some("+46701740608"));
    assert!(out.contains(&Command::Connect { call: BACK, agent: AgentId(1) }), "{out:?}");
    let card = Command::ShowCard {
        agent: AgentId(1),
        campaign: CampaignId(1),
        contact: ContactId(8),
        call: Some(BACK),
        preview: false,
    };
    assert!(out.contains(&card), "the caller's card is shown: {out:?}");
    let talking =
        AgentState::InCall { campaign: CampaignId(1), contact: Some(ContactId(8)), call: BACK };
    assert_eq!(state(&world, 1), talking);
    let started = out.iter().find_map(|c| match c {
        Command::AttemptStarted { record } => Some(record.clone()),
        _ => None,
    });
    let started = started.expect("an inbound attempt is journaled");
    assert_eq!(started.kind, AttemptKind::Inbound);
    assert_eq!(started.contact, ContactId(8));
    assert_eq!(started.number, number("+46701740608"));
    assert_eq!(started.agent, Some(AgentId(1)));
    assert!(started.connected_at.is_some());

    let stats = world.engine.stats(CampaignId(1)).expect("the campaign has counters");
    assert_eq!(stats.inbound_connected, 1);
    assert_eq!((stats.placed, stats.live_answers, stats.connects, stats.drops), (0, 0, 0, 0));
    assert_eq!(world.engine.drop_window(CampaignId(1)), Some((0.0, 0.0)), "not a live answer");
}

#[test]
fn with_no_free_agent_the_callback_message_answers() {
    let mut world = World::new(at("2026-12-07T09:00:00+01:00"));
    stopped_campaign(&mut world, 1);
    world.input(Input::AgentLogin { agent: AgentId(1), campaigns: vec![CampaignId(1)] });

    let out = call_back(&mut world, 1, Some("+46701740607"));
    assert_eq!(out, vec![Command::InboundMessage { call: BACK, campaign: CampaignId(1) }]);
    assert!(matches!(state(&world, 1), AgentState::Paused { .. }), "a paused agent is not taken");
    let stats = world.engine.stats(CampaignId(1)).expect("the campaign has counters");
    assert_eq!((stats.inbound_messages, stats.inbound_connected), (1, 0));

    // The call is not tracked: its end changes nothing.
    let out = world.call_event(BACK, CallEvent::HungUp { by_customer: true });
    assert!(out.iter().all(|c| !matches!(c, Command::AttemptEnded { .. })), "{out:?}");
}

#[test]
fn an_agent_of_another_campaign_is_not_used() {
    let mut world = World::new(at("2026-12-07T09:00:00+01:00"));
    stopped_campaign(&mut world, 1);
    stopped_campaign(&mut world, 2);
    world.login(1, &[2]);

    let out = call_back(&mut world, 1, Some("+46701740607"));
    assert_eq!(out, vec![Command::InboundMessage { call: BACK, campaign: CampaignId(1) }]);
    assert_eq!(state(&world, 1), AgentState::Ready);
}

#[test]
fn an_agent_reserved_for_a_dial_is_not_free() {
    let mut world = World::new(at("2026-12-07T09:00:00+01:00"));
    stopped_campaign(&mut world, 1);
    let contacts = vec![contact(20, "+46701740620")];
    world.add_campaign(campaign(2, DialMode::Progressive, RuleSet::None), contacts);
    world.login(1, &[1, 2]);
    assert!(matches!(state(&world, 1), AgentState::Reserved { .. }), "dialing for campaign 2");

    let out = call_back(&mut world, 1, Some("+46701740607"));
    assert_eq!(out, vec![Command::InboundMessage { call: BACK, campaign: CampaignId(1) }]);
}

#[test]
fn the_agent_talking_to_a_caller_is_busy_for_the_dialer() {
    let mut world = World::new(at("2026-12-07T09:00:00+01:00"));
    stopped_campaign(&mut world, 1);
    let contacts = vec![contact(20, "+46701740620")];
    world.add_campaign(campaign(2, DialMode::Progressive, RuleSet::None), contacts);
    world.input(Input::CampaignActive { campaign: CampaignId(2), active: false });
    world.login(1, &[1, 2]);
    call_back(&mut world, 1, Some("+46701740607"));

    world.input(Input::CampaignActive { campaign: CampaignId(2), active: true });
    world.advance(SignedDuration::from_mins(5));
    assert!(world.originates().is_empty(), "nothing dialed for an agent in a call back");

    world.call_event(BACK, CallEvent::HungUp { by_customer: true });
    let outcome = OutcomeCode::new("not_interested");
    world.input(Input::AgentOutcome { agent: AgentId(1), outcome, callback: None, note: None });
    assert_eq!(world.originates().len(), 1, "free again, the agent gets campaign 2's call");
}

#[test]
fn the_callers_hang_up_frees_the_agent_like_an_outbound_call() {
    let mut world = World::new(at("2026-12-07T09:00:00+01:00"));
    stopped_campaign(&mut world, 1);
    world.login(1, &[1]);
    call_back(&mut world, 1, Some("+46701740607"));
    world.advance(SignedDuration::from_secs(90));

    let out = world.call_event(BACK, CallEvent::HungUp { by_customer: true });
    let wrap =
        AgentState::WrapUp { campaign: CampaignId(1), contact: Some(ContactId(7)), call: BACK };
    assert_eq!(state(&world, 1), wrap);
    let ended = out.iter().find_map(|c| match c {
        Command::AttemptEnded { record } => Some(record.clone()),
        _ => None,
    });
    let ended = ended.expect("the attempt ends");
    assert_eq!(ended.result, Some(ringa_core::CallResult::Connected));
    assert_eq!(ended.kind, AttemptKind::Inbound);

    let outcome = OutcomeCode::new("sale");
    let out =
        world.input(Input::AgentOutcome { agent: AgentId(1), outcome, callback: None, note: None });
    assert_eq!(state(&world, 1), AgentState::Ready);
    let closed = out.iter().any(|c| {
        matches!(c, Command::ContactClosed { contact, .. }
        if *contact == ContactId(7))
    });
    assert!(closed, "a sale on the call back closes the contact: {out:?}");
    let stats = world.engine.stats(CampaignId(1)).expect("the campaign has counters");
    assert!(stats.results.is_empty(), "no dial result counted: {:?}", stats.results);
    assert_eq!(stats.outcomes.get("sale"), Some(&1));
}

#[test]
fn the_agents_hang_up_ends_the_call_back() {
    let mut world = World::new(at("2026-12-07T09:00:00+01:00"));
    stopped_campaign(&mut world, 1);
    world.login(1, &[1]);
    call_back(&mut world, 1, Some("+46701740607"));

    let out = world.input(Input::AgentHangup { agent: AgentId(1) });
    assert!(out.contains(&Command::Hangup { call: BACK }), "{out:?}");
    assert!(matches!(state(&world, 1), AgentState::WrapUp { .. }));
}

#[test]
fn an_unknown_caller_reaches_the_agent_without_a_card() {
    let mut world = World::new(at("2026-12-07T09:00:00+01:00"));
    stopped_campaign(&mut world, 1);
    world.login(1, &[1]);

    let out = call_back(&mut world, 1, Some("+46701740699"));
    assert!(out.contains(&Command::Connect { call: BACK, agent: AgentId(1) }), "{out:?}");
    let journal =
        out.iter().any(|c| matches!(c, Command::ShowCard { .. } | Command::AttemptStarted { .. }));
    assert!(!journal, "no card and no attempt without a contact: {out:?}");
    let talking = AgentState::InCall { campaign: CampaignId(1), contact: None, call: BACK };
    assert_eq!(state(&world, 1), talking);

    world.call_event(BACK, CallEvent::HungUp { by_customer: true });
    let callback = ringa_engine::CallbackRequest {
        local: jiff::civil::date(2026, 12, 8).at(10, 0, 0, 0),
        zone: crate::support::zone("Europe/Stockholm"),
        around: None,
        personal: false,
    };
    let outcome = OutcomeCode::new("callback");
    let input =
        Input::AgentOutcome { agent: AgentId(1), outcome, callback: Some(callback), note: None };
    let out = world.input(input);
    assert!(matches!(&out[..], [Command::Rejected { .. }]), "no contact to call back: {out:?}");

    let outcome = OutcomeCode::new("do_not_call");
    let out =
        world.input(Input::AgentOutcome { agent: AgentId(1), outcome, callback: None, note: None });
    let dnc = out.iter().any(|c| {
        matches!(c, Command::DncAdd { number: n, .. }
        if *n == number("+46701740699"))
    });
    assert!(dnc, "the caller's number goes on the list: {out:?}");
    assert!(out.iter().all(|c| !matches!(c, Command::AttemptEnded { .. })), "{out:?}");
    assert_eq!(state(&world, 1), AgentState::Ready);
}

#[test]
fn a_contact_the_driver_found_is_held_and_moved_on_by_the_outcome() {
    let mut world = World::new(at("2026-12-07T09:00:00+01:00"));
    stopped_campaign(&mut world, 1);
    world.login(1, &[1]);
    let mut found = contact(30, "+46701740630");
    found.history.attempts = 2;

    let out = world.input(Input::InboundCall {
        call: BACK,
        campaign: CampaignId(1),
        caller: Some(number("+46701740630")),
        contact: Some(Box::new(found)),
    });
    let card = out.iter().any(|c| {
        matches!(c, Command::ShowCard { contact, .. }
        if *contact == ContactId(30))
    });
    assert!(card, "the found contact's card is shown: {out:?}");

    world.call_event(BACK, CallEvent::HungUp { by_customer: true });
    let outcome = OutcomeCode::new("not_interested");
    let out =
        world.input(Input::AgentOutcome { agent: AgentId(1), outcome, callback: None, note: None });
    let history = out.iter().find_map(|c| match c {
        Command::History { contact, history } if *contact == ContactId(30) => Some(history),
        _ => None,
    });
    let history = history.expect("the contact's history is journaled");
    assert_eq!(history.attempts, 2, "a call back is not a dial attempt");
    assert!(history.closed.is_some(), "a final outcome closes it: {history:?}");
    let released = out.iter().any(|c| {
        matches!(c, Command::ContactReleased { contact, due: None, .. }
        if *contact == ContactId(30))
    });
    assert!(released, "and the engine lets it go: {out:?}");
}

#[test]
fn the_json_lines_of_a_call_back_read_as_documented() {
    let line = r#"{"type":"inbound_call","call":4611686018427387905,"campaign":1,
        "caller":"+46701740607"}"#;
    let input: Input = serde_json::from_str(line).expect("the documented input parses");
    let expected = Input::InboundCall {
        call: BACK,
        campaign: CampaignId(1),
        caller: Some(number("+46701740607")),
        contact: None,
    };
    assert_eq!(input, expected);
    let withheld: Input =
        serde_json::from_str(r#"{"type":"inbound_call","call":9,"campaign":1,"caller":null}"#)
            .expect("a withheld number parses");
    assert!(matches!(withheld, Input::InboundCall { caller: None, .. }));

    let message = Command::InboundMessage { call: BACK, campaign: CampaignId(1) };
    let text = serde_json::to_string(&message).expect("commands serialise");
    assert_eq!(text, r#"{"type":"inbound_message","call":4611686018427387905,"campaign":1}"#);
    let unknown = AgentState::InCall { campaign: CampaignId(1), contact: None, call: BACK };
    let text = serde_json::to_string(&unknown).expect("states serialise");
    assert_eq!(
        text,
        r#"{"state":"in_call","campaign":1,"contact":null,"call":4611686018427387905}"#
    );
}
