//! Answering-machine methods 2 (voicemail history) and 3 (ring time before
//! voicemail) in the engine: the per-call ring timeout learned from a
//! number's voicemail pickups never goes below the rule set's minimum ring
//! or above the campaign's, a call ended on it counts as avoided voicemail,
//! and the history moves dials but never ends an answered call.

use jiff::{SignedDuration, Timestamp};
use ringa_core::{CallId, CallResult, CampaignId, ContactId, DialMode, RuleSet};
use ringa_engine::{AnsweredBy, CallEvent, Command};

use crate::support::{World, at, campaign, contact};

fn start() -> Timestamp {
    at("2026-12-07T09:00:00+01:00")
}

/// A progressive US campaign (15 s minimum ring) with detection, a 25 s
/// ring timeout and machine retries a minute later.
fn methods_campaign(history: bool, ring_time: bool) -> ringa_core::Campaign {
    let mut config = campaign(1, DialMode::Progressive, RuleSet::Us);
    config.amd = true;
    config.ring_timeout = SignedDuration::from_secs(25);
    config.rules.max_attempts = 20;
    config.rules.retry.machine = Some(SignedDuration::from_secs(60));
    config.rules.retry.no_answer = Some(SignedDuration::from_secs(60));
    config.rules.retry.default = SignedDuration::from_secs(60);
    config.amd_methods.history = history;
    config.amd_methods.ring_time = ring_time;
    config
}

/// The ring timeout the engine gave `call`.
fn ring_timeout_of(world: &World, call: CallId) -> SignedDuration {
    world
        .log
        .iter()
        .find_map(|(_, c)| match c {
            Command::Originate { call: id, ring_timeout, .. } if *id == call => Some(*ring_timeout),
            _ => None,
        })
        .expect("the call was originated")
}

/// Lets voicemail answer the open call after `ring`, then waits for the
/// next dial.
fn voicemail_answers(world: &mut World, ring: SignedDuration) {
    let call = world.last_originate().call;
    world.advance(ring);
    world.call_event(call, CallEvent::Answered { by: AnsweredBy::Machine });
    world.advance(SignedDuration::from_secs(61));
}

fn ring_timeouts_after_pickups(pickup: SignedDuration, ring_time: bool) -> Vec<SignedDuration> {
    let mut world = World::new(start());
    world.add_campaign(methods_campaign(false, ring_time), vec![contact(1, "+46701740601")]);
    world.login(1, &[1]);
    for _ in 0..3 {
        voicemail_answers(&mut world, pickup);
    }
    world.originates().iter().map(|o| ring_timeout_of(&world, o.call)).collect()
}

#[test]
fn the_learned_ring_timeout_never_goes_below_the_rule_sets_minimum_ring() {
    let min = SignedDuration::from_secs(15);
    // Voicemail picks up after 8 s: just below would be 7 s, under the
    // minimum ring of the US rule set.
    let rings = ring_timeouts_after_pickups(SignedDuration::from_secs(8), true);
    assert_eq!(rings.len(), 4, "{rings:?}");
    assert_eq!(rings[0], SignedDuration::from_secs(25), "nothing learned yet");
    assert!(rings.iter().all(|r| *r >= min), "a ring timeout under 15 s: {rings:?}");
    assert_eq!(rings[3], min, "learned, and held at the minimum ring");
}

#[test]
fn the_learned_ring_timeout_sits_just_below_the_pickup_and_never_above_the_campaigns() {
    let rings = ring_timeouts_after_pickups(SignedDuration::from_secs(20), true);
    assert_eq!(rings[3], SignedDuration::from_secs(19), "{rings:?}");
    let late = ring_timeouts_after_pickups(SignedDuration::from_secs(24), true);
    assert!(late.iter().all(|r| *r <= SignedDuration::from_secs(25)), "{late:?}");
    let off = ring_timeouts_after_pickups(SignedDuration::from_secs(20), false);
    assert!(off.iter().all(|r| *r == SignedDuration::from_secs(25)), "method off: {off:?}");
}

#[test]
fn a_call_ended_on_a_learned_ring_timeout_counts_as_avoided_voicemail() {
    let mut world = World::new(start());
    world.add_campaign(methods_campaign(false, true), vec![contact(1, "+46701740601")]);
    world.login(1, &[1]);
    for _ in 0..2 {
        voicemail_answers(&mut world, SignedDuration::from_secs(20));
    }
    let call = world.last_originate().call;
    world.advance(SignedDuration::from_secs(19));
    world.fail(call, CallResult::NoAnswer, 480);
    let stats = world.engine.stats(CampaignId(1)).expect("campaign exists");
    assert_eq!(stats.avoided_voicemail, 1);
    assert_eq!(stats.results.get("avoided_voicemail"), Some(&1));
    assert_eq!(stats.results.get("no_answer"), None, "{:?}", stats.results);

    // With the method off the same ring-out is a no-answer.
    let mut world = World::new(start());
    world.add_campaign(methods_campaign(false, false), vec![contact(1, "+46701740601")]);
    world.login(1, &[1]);
    for _ in 0..2 {
        voicemail_answers(&mut world, SignedDuration::from_secs(20));
    }
    let call = world.last_originate().call;
    world.advance(SignedDuration::from_secs(25));
    world.fail(call, CallResult::NoAnswer, 480);
    let stats = world.engine.stats(CampaignId(1)).expect("campaign exists");
    assert_eq!(stats.avoided_voicemail, 0);
    assert_eq!(stats.results.get("no_answer"), Some(&1));
}

#[test]
fn the_history_moves_dials_but_never_ends_an_answered_call() {
    let mut world = World::new(start());
    world.add_campaign(methods_campaign(true, false), vec![contact(1, "+46701740601")]);
    world.login(1, &[1]);
    // Voicemail answers the first four attempts.
    for _ in 0..4 {
        voicemail_answers(&mut world, SignedDuration::from_secs(20));
    }
    let stats = world.engine.stats(CampaignId(1)).expect("campaign exists");
    let deferred = stats.history_retimed + stats.history_skipped;
    assert!(deferred > 0, "a contact that is mostly voicemail is moved");
    let dials_before = world.originates().len();

    // Once deferred often enough in a row it is dialed all the same; this
    // time a person answers and is connected, not hung up on.
    let until = world.now + SignedDuration::from_hours(48);
    while world.originates().len() == dials_before && world.now < until {
        world.advance(SignedDuration::from_mins(1));
    }
    assert!(world.originates().len() > dials_before, "the contact is dialed again");
    let call = world.last_originate().call;
    assert_eq!(world.last_originate().contact, ContactId(1));
    let commands = world.call_event(call, CallEvent::Answered { by: AnsweredBy::Human });
    assert!(
        commands.iter().any(|c| matches!(c, Command::Connect { call: c, .. } if *c == call)),
        "the answered call goes to the agent: {commands:?}"
    );
    assert!(!commands.iter().any(|c| matches!(c, Command::Drop { .. } | Command::Hangup { .. })));
}

#[test]
fn the_ring_time_is_learned_from_the_pickup_not_from_the_detectors_verdict() {
    let mut world = World::new(start());
    world.add_campaign(methods_campaign(false, true), vec![contact(1, "+46701740601")]);
    world.login(1, &[1]);
    for _ in 0..2 {
        // Voicemail picks up after 20 s; the detector decides 8 s later.
        let call = world.last_originate().call;
        world.advance(SignedDuration::from_secs(20));
        world.call_event(call, CallEvent::PickedUp);
        world.advance(SignedDuration::from_secs(8));
        world.call_event(call, CallEvent::Answered { by: AnsweredBy::Machine });
        world.advance(SignedDuration::from_secs(61));
    }
    let third = world.last_originate().call;
    assert_eq!(ring_timeout_of(&world, third), SignedDuration::from_secs(19));
}
