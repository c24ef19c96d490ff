//! Callbacks are never lost, duplicated or silently missed.

use jiff::SignedDuration;
use ringa_core::{
    AgentId, CallbackId, CampaignId, ContactId, DialMode, DncListId, OutcomeCode, RuleSet,
};
use ringa_engine::{AnsweredBy, CallEvent, CallbackRequest, CallbackState, Command, Input};

use crate::support::{World, at, campaign, contact, number, zone};

fn request(hour: i8, personal: bool) -> CallbackRequest {
    CallbackRequest {
        local: jiff::civil::date(2026, 12, 7).at(hour, 0, 0, 0),
        zone: zone("Europe/Stockholm"),
        around: None,
        personal,
    }
}

/// Agent 1 talks to contact 1 and books a callback.
fn booked(personal: bool) -> World {
    let mut world = World::new(at("2026-12-07T09:00:00+01:00"));
    world.add_campaign(
        campaign(1, DialMode::Progressive, RuleSet::None),
        vec![contact(1, "+46701740601")],
    );
    world.login(1, &[1]);
    let call = world.last_originate().call;
    world.call_event(call, CallEvent::Answered { by: AnsweredBy::Human });
    world.call_event(call, CallEvent::HungUp { by_customer: true });
    world.input(Input::AgentOutcome {
        agent: AgentId(1),
        outcome: OutcomeCode::new("callback"),
        callback: Some(request(15, personal)),
        note: Some("call after lunch".to_string()),
    });
    world
}

fn open_callbacks(world: &World) -> Vec<(CallbackId, ContactId)> {
    world.engine.callbacks().filter(|cb| cb.is_open()).map(|cb| (cb.id, cb.contact)).collect()
}

#[test]
fn changing_a_callbacks_time_leaves_exactly_one_pending() {
    let mut world = booked(true);
    let open = open_callbacks(&world);
    assert_eq!(open.len(), 1);
    let (id, _) = open[0];
    world.input(Input::CallbackChange { callback: id, request: request(16, true) });
    let open = open_callbacks(&world);
    assert_eq!(open, vec![(id, ContactId(1))], "still one callback, the same one");
    let cb = world.engine.callbacks().find(|cb| cb.id == id).unwrap();
    assert_eq!(cb.due, at("2026-12-07T16:00:00+01:00"));
    assert_eq!(cb.owner, Some(AgentId(1)));
}

#[test]
fn a_do_not_call_request_cancels_the_pending_callback_with_its_reason() {
    let mut world = booked(false);
    let (id, _) = open_callbacks(&world)[0];
    world.input(Input::Dnc { number: number("+46701740601"), list: DncListId(1) });
    assert!(open_callbacks(&world).is_empty());
    let reason = world.log.iter().find_map(|(_, c)| match c {
        Command::CallbackCancelled { callback, reason } if *callback == id => Some(reason.clone()),
        _ => None,
    });
    let reason = reason.expect("the cancellation is journaled");
    assert!(reason.contains("do-not-call"), "{reason}");
    world.advance_to(at("2026-12-07T18:00:00+01:00"));
    assert_eq!(world.originates().len(), 1, "the cancelled callback is never dialed");
}

#[test]
fn a_personal_callback_goes_to_others_when_its_agent_is_away() {
    let mut world = booked(true);
    world.input(Input::AgentPause { agent: AgentId(1), reason: "training".to_string() });
    world.login(2, &[1]);
    world.advance_to(at("2026-12-07T15:09:59+01:00"));
    assert_eq!(world.originates().len(), 1, "held for its owner until the delay is over");
    world.advance_to(at("2026-12-07T15:10:00+01:00"));
    let redial = world.last_originate();
    assert_eq!(redial.contact, ContactId(1));
    assert_eq!(redial.agent, Some(AgentId(2)), "offered to the other agent");
    assert_eq!(redial.at, at("2026-12-07T15:10:00+01:00"));
}

#[test]
fn a_personal_callback_waits_for_its_agent_to_click() {
    let mut world = booked(true);
    world.advance_to(at("2026-12-07T15:00:00+01:00"));
    let shown = world.log.iter().any(|(t, c)| {
        *t == at("2026-12-07T15:00:00+01:00")
            && matches!(c, Command::ShowCard { agent, contact, preview: true, .. }
                if *agent == AgentId(1) && *contact == ContactId(1))
    });
    assert!(shown, "the owner sees the card at the due time");
    assert_eq!(world.originates().len(), 1, "nothing dialed before the click");
    world.input(Input::AgentDial { agent: AgentId(1), number: 0 });
    assert_eq!(world.originates().len(), 2);
}

#[test]
fn a_callback_that_meets_congestion_is_retried_then_escalated() {
    let mut world = booked(false);
    world.advance_to(at("2026-12-07T15:00:00+01:00"));
    let mut tries = 0;
    for _ in 0..40 {
        if let Some(open) = world.open_calls().first().cloned() {
            tries += 1;
            world.fail(open.call, ringa_core::CallResult::Congestion, 503);
        }
        world.advance(SignedDuration::from_mins(1));
    }
    assert!(tries >= 2, "retried within its window");
    // Every retry of the callback inside the campaign's window from its due
    // time, then the escalation when the window closes, never a silent drop.
    let window = world.engine.campaign(CampaignId(1)).unwrap().callbacks.retry_window;
    let due = at("2026-12-07T15:00:00+01:00");
    let escalated_at = world
        .log
        .iter()
        .find_map(|(t, c)| matches!(c, Command::CallbackEscalated { .. }).then_some(*t))
        .expect("escalated after its window instead of being dropped");
    assert!(escalated_at >= due + window, "escalated at {escalated_at}, before its window closed");
    assert!(escalated_at <= due + window + SignedDuration::from_mins(1), "{escalated_at}");
    let retries: Vec<_> = world
        .originates()
        .into_iter()
        .filter(|o| o.at >= due && o.at < escalated_at)
        .map(|o| o.at)
        .collect();
    assert!(retries.len() >= 2, "retried within its window: {retries:?}");
    assert!(retries.iter().all(|t| *t <= due + window), "{retries:?}");
    let state = world.engine.callbacks().next().unwrap().state;
    assert_eq!(state, CallbackState::Escalated);
}

#[test]
fn a_callback_nobody_answers_is_tried_within_its_budget_then_escalated() {
    let mut world = booked(false);
    world.advance_to(at("2026-12-07T15:00:00+01:00"));
    let budget = world.engine.campaign(CampaignId(1)).unwrap().rules.max_callback_attempts;
    let mut tries = 0;
    for _ in 0..40 {
        if let Some(open) = world.open_calls().first().cloned() {
            tries += 1;
            world.fail(open.call, ringa_core::CallResult::NoAnswer, 480);
        }
        world.advance(SignedDuration::from_mins(1));
    }
    assert!(tries >= 2, "retried within its window: {tries} tries");
    assert!(tries <= budget, "{tries} dials of a callback with a budget of {budget}");
    let escalated = world.log.iter().any(|(_, c)| matches!(c, Command::CallbackEscalated { .. }));
    assert!(escalated, "escalated when its budget ran out");
}
