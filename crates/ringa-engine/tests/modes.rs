//! The four dial modes, each with its own behaviour.

use jiff::SignedDuration;
use ringa_core::{AgentId, CallResult, CampaignId, ContactId, DialMode, OutcomeCode, RuleSet};
use ringa_engine::{AgentState, AnsweredBy, CallEvent, Command, ContactEntry, Input};

use crate::support::{World, at, campaign, contact, number};

fn two_numbers(id: u64) -> ContactEntry {
    let mut entry = contact(id, &format!("+4670174060{id}"));
    entry.contact.numbers.push(ringa_core::ContactNumber {
        number: number(&format!("+4686000000{id}")),
        label: "work".to_string(),
        raw: String::new(),
    });
    entry
}

#[test]
fn preview_dials_only_the_number_the_agent_clicks() {
    let mut world = World::new(at("2026-12-07T09:00:00+01:00"));
    world.add_campaign(
        campaign(1, DialMode::Preview, RuleSet::None),
        vec![two_numbers(1), two_numbers(2)],
    );
    world.login(1, &[1]);
    world.advance(SignedDuration::from_mins(30));
    assert!(world.originates().is_empty(), "nothing dialed before a click");
    let card = world.log.iter().any(|(_, c)| {
        matches!(c, Command::ShowCard { contact, preview: true, .. } if *contact == ContactId(1))
    });
    assert!(card, "the first card is shown");

    world.input(Input::AgentDial { agent: AgentId(1), number: 1 });
    let dialed = world.last_originate();
    assert_eq!(dialed.number, number("+46860000001"), "the work number that was clicked");
    world.fail(dialed.call, CallResult::NoAnswer, 480);
    world.advance(SignedDuration::from_mins(30));
    assert_eq!(world.originates().len(), 1, "the next card is shown, not dialed");

    world.input(Input::AgentSkip { agent: AgentId(1) });
    world.advance(SignedDuration::from_mins(5));
    assert_eq!(world.originates().len(), 1, "closing a card dials nothing");
}

#[test]
fn progressive_dials_as_the_card_appears_one_line_per_agent() {
    let mut world = World::new(at("2026-12-07T09:00:00+01:00"));
    let contacts = (1..=9).map(|i| contact(i, &format!("+4670174060{i}"))).collect();
    world.add_campaign(campaign(1, DialMode::Progressive, RuleSet::None), contacts);
    world.login(1, &[1]);
    world.login(2, &[1]);
    assert_eq!(world.open_calls().len(), 2, "one call per agent");
    for o in world.open_calls() {
        let card = world.log.iter().any(|(_, c)| {
            matches!(c, Command::ShowCard { agent, call: None, preview: false, .. }
                if Some(*agent) == o.agent)
        });
        assert!(card, "the card appears as the number is dialed");
    }
    for _ in 0..3 {
        for o in world.open_calls() {
            world.fail(o.call, CallResult::Busy, 486);
            assert!(world.open_calls().len() <= 2);
        }
    }
    assert_eq!(world.originates().len(), 8);
}

#[test]
fn power_sets_unanswered_outcomes_itself_and_uses_extra_lines_only_when_configured() {
    for lines in [1u32, 2] {
        let mut world = World::new(at("2026-12-07T09:00:00+01:00"));
        let mut config = campaign(1, DialMode::Power, RuleSet::Us);
        config.rules.windows = ringa_core::CallingWindows::always();
        config.ring_timeout = SignedDuration::from_secs(5);
        config.power_lines = lines;
        let contacts = (1..=9).map(|i| contact(i, &format!("+4670174060{i}"))).collect();
        world.add_campaign(config, contacts);
        world.input(Input::AgentLogin { agent: AgentId(1), campaigns: vec![CampaignId(1)] });
        world.input(Input::AgentReady { agent: AgentId(1) });
        assert_eq!(world.open_calls().len(), lines as usize);
        let ring = world.log.iter().find_map(|(_, c)| match c {
            Command::Originate { ring_timeout, .. } => Some(*ring_timeout),
            _ => None,
        });
        assert_eq!(ring, Some(SignedDuration::from_secs(15)), "never under the legal minimum");

        // No answer: the dialer closes the attempt and dials on by itself.
        let first = world.open_calls()[0].clone();
        world.fail(first.call, CallResult::NoAnswer, 487);
        assert_eq!(world.open_calls().len(), lines as usize);
        let state = world.engine.agent(AgentId(1)).unwrap().state.clone();
        assert!(matches!(state, AgentState::Reserved { .. }), "{state:?}");

        // A person answers: the agent takes over and the other line stops.
        let answered = world.open_calls()[0].clone();
        let commands =
            world.call_event(answered.call, CallEvent::Answered { by: AnsweredBy::Human });
        assert!(commands.iter().any(|c| matches!(c, Command::Connect { .. })));
        let cancels = commands.iter().filter(|c| matches!(c, Command::Cancel { .. })).count();
        assert_eq!(cancels, lines as usize - 1);
    }
}

#[test]
fn predictive_never_connects_a_call_to_a_paused_agent() {
    let mut world = World::new(at("2026-12-07T09:00:00+01:00"));
    let mut config = campaign(1, DialMode::Predictive, RuleSet::None);
    config.min_agents_predictive = 1;
    let contacts = (1..=60).map(|i| contact(i, &format!("+467017406{i:02}"))).collect();
    world.add_campaign(config, contacts);
    world.engine.set_pacer(CampaignId(1), ringa_pacer::by_name("ratio:3").unwrap());
    for agent in 1..=3 {
        world.login(agent, &[1]);
    }
    let placed = world.open_calls();
    assert!(placed.len() > 3, "predictive dials ahead of the agents");
    world.input(Input::AgentPause { agent: AgentId(2), reason: "coffee".to_string() });

    for o in placed {
        world.call_event(o.call, CallEvent::Answered { by: AnsweredBy::Human });
    }
    world.advance(SignedDuration::from_secs(3));
    for (_, c) in &world.log {
        if let Command::Connect { agent, .. } = c {
            assert_ne!(*agent, AgentId(2), "a paused agent got a call");
        }
    }
    let stats = world.engine.stats(CampaignId(1)).unwrap();
    assert_eq!(stats.connects, 2);
    assert!(stats.drops > 0, "the calls nobody could take were dropped");
    let _ = OutcomeCode::new("sale");
}

/// The agent states the engine reported for `agent`, in order.
fn states_of(world: &World, agent: u64) -> Vec<AgentState> {
    world
        .log
        .iter()
        .filter_map(|(_, c)| match c {
            Command::AgentState { agent: a, state, .. } if *a == AgentId(agent) => {
                Some(state.clone())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_pause_asked_for_during_a_call_is_taken_when_the_outcome_is_set() {
    let mut world = World::new(at("2026-12-07T09:00:00+01:00"));
    let contacts = (1..=5).map(|i| contact(i, &format!("+4670174060{i}"))).collect();
    world.add_campaign(campaign(1, DialMode::Progressive, RuleSet::None), contacts);
    world.login(1, &[1]);
    let call = world.last_originate().call;
    world.call_event(call, CallEvent::Answered { by: AnsweredBy::Human });
    let agent = AgentId(1);

    // During the call and during wrap-up: neither refused nor taken yet.
    let out = world.input(Input::AgentPause { agent, reason: "lunch".to_string() });
    assert!(!out.iter().any(|c| matches!(c, Command::Rejected { .. })), "{out:?}");
    world.call_event(call, CallEvent::HungUp { by_customer: true });
    let out = world.input(Input::AgentLogout { agent });
    assert!(out.iter().any(|c| matches!(c, Command::Rejected { .. })), "no logout in wrap-up");

    // The outcome ends the call: the agent pauses with the reason given, and no next
    // customer is dialed for them.
    let dialed = world.originates().len();
    let outcome = OutcomeCode::new("not_interested");
    world.input(Input::AgentOutcome { agent, outcome, callback: None, note: None });
    world.advance(SignedDuration::from_mins(5));
    let last = states_of(&world, 1).last().cloned();
    assert_eq!(last, Some(AgentState::Paused { reason: "lunch".to_string() }));
    assert_eq!(world.originates().len(), dialed, "no customer for a pausing agent");

    // Ready again: the pause was taken once, the next customer comes.
    world.input(Input::AgentReady { agent });
    assert_eq!(world.originates().len(), dialed + 1);
    world.fail(world.last_originate().call, CallResult::NoAnswer, 480);
    let last = states_of(&world, 1).last().cloned();
    assert!(!matches!(last, Some(AgentState::Paused { .. })), "{last:?}");
}
