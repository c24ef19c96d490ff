//! Which contacts are dialed: inactive contacts, the attempt budget,
//! caller IDs on every kind of attempt, do-not-call changes after staging.

use jiff::SignedDuration;
use ringa_core::{AgentId, CallResult, CampaignId, ContactId, DialMode, DncListId, RuleSet};
use ringa_engine::{AnsweredBy, AttemptKind, CallEvent, Command, Input};

use crate::support::{World, at, campaign, contact, number};

#[test]
fn an_inactive_contact_never_reaches_the_dial_queue_of_any_campaign() {
    let mut world = World::new(at("2026-12-07T09:00:00+01:00"));
    let mut b = contact(2, "+46701740602");
    b.contact.active = false;
    let list = vec![contact(1, "+46701740601"), b, contact(3, "+46701740603")];
    world.add_campaign(campaign(1, DialMode::Progressive, RuleSet::None), list.clone());
    world.add_campaign(campaign(2, DialMode::Predictive, RuleSet::None), list);
    for agent in 1..=4 {
        world.login(agent, &[1, 2]);
    }
    for _ in 0..10 {
        for call in world.open_calls().iter().map(|o| o.call) {
            world.fail(call, CallResult::Busy, 486);
        }
        world.advance(SignedDuration::from_hours(3));
    }

    let dialed: Vec<ContactId> = world.originates().iter().map(|o| o.contact).collect();
    assert!(dialed.contains(&ContactId(1)) && dialed.contains(&ContactId(3)), "{dialed:?}");
    assert!(!dialed.contains(&ContactId(2)), "the inactive contact was dialed");
    for id in [1, 2] {
        let stats = world.engine.stats(CampaignId(id)).unwrap();
        assert_eq!(stats.refused.get("inactive"), Some(&1), "campaign {id}: {:?}", stats.refused);
    }
}

#[test]
fn outcome_retry_rules_never_add_to_the_attempt_budget() {
    let mut world = World::new(at("2026-12-07T09:00:00+01:00"));
    let mut config = campaign(1, DialMode::Progressive, RuleSet::None);
    config.rules.max_attempts = 2;
    config.rules.retry.no_answer = Some(SignedDuration::from_mins(10));
    config.rules.retry.busy = Some(SignedDuration::from_mins(5));
    config.rules.retry.congestion = Some(SignedDuration::from_mins(1));
    world.add_campaign(config, vec![contact(1, "+46701740601")]);
    world.login(1, &[1]);

    let first = world.last_originate();
    world.fail(first.call, CallResult::NoAnswer, 480);
    world.advance(SignedDuration::from_mins(10));
    let second = world.last_originate();
    assert_ne!(first.call, second.call, "the retry after 480 was not placed");
    world.fail(second.call, CallResult::Busy, 486);
    world.advance(SignedDuration::from_hours(4));

    assert_eq!(world.originates().len(), 2, "exactly two attempts in total");
    let closed = world.log.iter().any(|(_, c)| {
        matches!(c, Command::ContactClosed { contact, reason }
            if *contact == ContactId(1)
                && *reason == ringa_core::contact::Closure::MaxAttempts)
    });
    assert!(closed, "the contact closes as max attempts");
}

#[test]
fn a_congestion_failure_does_not_use_the_budget_by_default() {
    let mut world = World::new(at("2026-12-07T09:00:00+01:00"));
    let mut config = campaign(1, DialMode::Progressive, RuleSet::None);
    config.rules.max_attempts = 2;
    config.rules.retry.congestion = Some(SignedDuration::from_mins(1));
    config.rules.retry.no_answer = Some(SignedDuration::from_mins(1));
    world.add_campaign(config, vec![contact(1, "+46701740601")]);
    world.login(1, &[1]);

    let first = world.last_originate();
    world.fail(first.call, CallResult::Congestion, 503);
    world.advance(SignedDuration::from_mins(2));
    let second = world.last_originate();
    world.fail(second.call, CallResult::NoAnswer, 480);
    world.advance(SignedDuration::from_mins(2));
    let third = world.last_originate();
    world.fail(third.call, CallResult::NoAnswer, 480);
    world.advance(SignedDuration::from_hours(2));
    assert_eq!(world.originates().len(), 3, "503 + two counted attempts");
}

#[test]
fn a_number_opted_out_after_staging_is_not_dialed() {
    let mut world = World::new(at("2026-12-07T09:00:00+01:00"));
    let contacts = (1..=50).map(|i| contact(i, &format!("+467017406{i:02}"))).collect();
    world.add_campaign(campaign(1, DialMode::Predictive, RuleSet::None), contacts);
    // The contacts are staged in the working set; then another campaign's
    // customer asks never to be called again.
    let opted_out = number("+46701740605");
    world.input(Input::Dnc { number: opted_out.clone(), list: DncListId(1) });
    for agent in 1..=5 {
        world.login(agent, &[1]);
    }
    for _ in 0..30 {
        for call in world.open_calls().iter().map(|o| o.call) {
            world.fail(call, CallResult::NoAnswer, 480);
        }
        world.advance(SignedDuration::from_mins(1));
    }
    assert!(world.originates().len() >= 45, "the rest of the list was dialed");
    assert!(world.originates().iter().all(|o| o.number != opted_out));
    let refused = world.refusals();
    assert!(refused.contains(&(ContactId(5), "do_not_call".to_string())), "{refused:?}");
}

#[test]
fn every_attempt_presents_a_caller_id_from_the_pool() {
    let mut world = World::new(at("2026-12-07T09:00:00+01:00"));
    let mut config = campaign(1, DialMode::Predictive, RuleSet::Se);
    config.rules.retry.no_answer = Some(SignedDuration::from_mins(5));
    config.rules.daily_cap_per_number = Some(10);
    config.min_agents_predictive = 1;
    let pool: Vec<_> = config.caller_ids.numbers.iter().map(|c| c.number.clone()).collect();
    world.add_campaign(config, (1..=6).map(|i| contact(i, &format!("+4670174060{i}"))).collect());
    world.login(1, &[1]);

    // First attempts, retries, and a connected call with an agreed callback.
    let mut answered = false;
    let end = at("2026-12-07T12:00:00+01:00");
    while world.now < end {
        for (i, open) in world.open_calls().into_iter().enumerate() {
            if !answered && i == 0 && world.originates().len() >= 3 {
                answered = true;
                world.call_event(open.call, CallEvent::Answered { by: AnsweredBy::Human });
                world.call_event(open.call, CallEvent::HungUp { by_customer: true });
                let request = ringa_engine::CallbackRequest {
                    local: jiff::civil::date(2026, 12, 7).at(11, 0, 0, 0),
                    zone: crate::support::zone("Europe/Stockholm"),
                    around: None,
                    personal: false,
                };
                world.input(Input::AgentOutcome {
                    agent: AgentId(1),
                    outcome: ringa_core::OutcomeCode::new("callback"),
                    callback: Some(request),
                    note: None,
                });
            } else {
                world.fail(open.call, CallResult::NoAnswer, 480);
            }
        }
        world.advance(SignedDuration::from_mins(1));
    }
    let kinds: Vec<_> = world
        .log
        .iter()
        .filter_map(|(_, c)| match c {
            Command::AttemptStarted { record } => Some(record.kind),
            _ => None,
        })
        .collect();
    assert!(kinds.contains(&AttemptKind::Callback), "{kinds:?}");
    assert!(world.originates().len() > 6, "retries were placed");
    for o in world.originates() {
        let presented = o.caller_id.expect("every attempt presents a caller ID");
        assert!(pool.contains(&presented), "{presented} is not from the pool");
    }
    // The journaled attempt carries the same number as the dial command.
    for (_, c) in &world.log {
        if let Command::AttemptStarted { record } = c {
            let dialed = world.originates().into_iter().find(|o| o.call == record.call).unwrap();
            assert_eq!(record.caller_id, dialed.caller_id);
        }
    }
}

/// Places calls for three ready agents, answers four of them at once, and
/// returns the world with one call dropped.
fn one_drop(rule_set: RuleSet) -> (World, ContactId) {
    let mut world = World::new(at("2026-12-07T09:00:00+01:00"));
    let mut config = campaign(1, DialMode::Predictive, rule_set);
    config.rules.windows = ringa_core::CallingWindows::always();
    config.rules.retry.dropped = Some(SignedDuration::from_hours(1));
    config.min_agents_predictive = 1;
    world
        .add_campaign(config, (1..=30).map(|i| contact(i, &format!("+467017406{i:02}"))).collect());
    world.engine.set_pacer(CampaignId(1), ringa_pacer::by_name("ratio:2").unwrap());
    for agent in 1..=2 {
        world.login(agent, &[1]);
    }
    let open = world.open_calls();
    assert!(open.len() >= 3, "dialed ahead: {}", open.len());
    for o in &open[..3] {
        world.call_event(o.call, CallEvent::Answered { by: AnsweredBy::Human });
    }
    world.advance(SignedDuration::from_secs(3));
    let dropped = world
        .log
        .iter()
        .find_map(|(_, c)| match c {
            Command::AttemptEnded { record } if record.result == Some(CallResult::Dropped) => {
                Some(record.contact)
            }
            _ => None,
        })
        .expect("the third answer had no agent");
    for o in world.open_calls() {
        world.fail(o.call, CallResult::NoAnswer, 480);
    }
    for agent in 1..=2 {
        world.input(Input::AgentHangup { agent: AgentId(agent) });
        world.input(Input::AgentOutcome {
            agent: AgentId(agent),
            outcome: ringa_core::OutcomeCode::new("not_interested"),
            callback: None,
            note: None,
        });
    }
    (world, dropped)
}

#[test]
fn a_drop_under_the_swedish_rules_is_redialed_one_to_one_after_15_minutes() {
    let (mut world, dropped) = one_drop(RuleSet::Se);
    let drop_time = world.now - SignedDuration::from_secs(3);
    let end = drop_time + SignedDuration::from_mins(20);
    while world.now < end {
        for o in world.open_calls() {
            if o.contact != dropped {
                world.fail(o.call, CallResult::NoAnswer, 480);
            }
        }
        world.advance(SignedDuration::from_secs(30));
    }
    let redials: Vec<_> = world.originates().into_iter().filter(|o| o.contact == dropped).collect();
    assert!(redials.len() >= 2, "the first call and a redial: {redials:?}");
    let redial = &redials[1];
    assert!(redial.at >= drop_time + SignedDuration::from_mins(15), "redialed at {}", redial.at);
    assert!(redial.agent.is_some(), "one-to-one: an agent is reserved");
    // The redial presents a number of the campaign's pool, like every other
    // attempt.
    let pool: Vec<_> = campaign(1, DialMode::Predictive, RuleSet::Se)
        .caller_ids
        .numbers
        .into_iter()
        .map(|c| c.number)
        .collect();
    for o in &redials {
        let shown = o.caller_id.as_ref().expect("every attempt presents a number");
        assert!(pool.contains(shown), "{shown:?} is not in the campaign's pool");
    }
}

#[test]
fn a_drop_under_the_us_rules_plays_the_identification_message() {
    let (world, _) = one_drop(RuleSet::Us);
    let message = world.log.iter().any(|(_, c)| matches!(c, Command::Drop { message: true, .. }));
    assert!(message, "a drop gets the identification message");
}

#[test]
fn a_drop_under_the_uk_rules_locks_the_contact_for_72_hours() {
    let (mut world, dropped) = one_drop(RuleSet::Uk);
    let drop_time = world.now - SignedDuration::from_secs(3);
    let end = drop_time + SignedDuration::from_hours(73);
    while world.now < end {
        for o in world.open_calls() {
            world.fail(o.call, CallResult::Busy, 486);
        }
        world.advance(SignedDuration::from_mins(10));
    }
    let lockout = world.refusals().iter().any(|(c, code)| *c == dropped && code == "drop_lockout");
    assert!(lockout, "the retry due after an hour was refused for the lockout");
    let redials: Vec<_> = world.originates().into_iter().filter(|o| o.contact == dropped).collect();
    assert!(redials.len() >= 2, "dialed again once the lockout ended");
    assert!(redials[1].at >= drop_time + SignedDuration::from_hours(72), "at {}", redials[1].at);
}

#[test]
fn the_new_contacts_cap_spreads_a_list_over_days() {
    let mut world = World::new(at("2026-12-07T09:00:00+01:00"));
    let mut config = campaign(1, DialMode::Progressive, RuleSet::None);
    config.new_per_day = Some(2);
    config.rules.max_attempts = 1;
    world.add_campaign(config, (1..=5).map(|i| contact(i, &format!("+4670174060{i}"))).collect());
    world.login(1, &[1]);
    let end = at("2026-12-09T12:00:00+01:00");
    while world.now < end {
        for o in world.open_calls() {
            world.fail(o.call, CallResult::Busy, 486);
        }
        world.advance(SignedDuration::from_mins(30));
    }
    let tz = jiff::tz::TimeZone::get("Europe/Stockholm").unwrap();
    let mut per_day = std::collections::BTreeMap::new();
    for o in world.originates() {
        *per_day.entry(tz.to_datetime(o.at).date()).or_insert(0) += 1;
    }
    let counts: Vec<u32> = per_day.values().copied().collect();
    assert_eq!(counts, vec![2, 2, 1], "two new contacts a day: {per_day:?}");
}

#[test]
fn a_connected_call_the_telephony_reports_gone_sends_its_agent_to_wrap_up_then_ready() {
    let mut world = World::new(at("2026-12-07T09:00:00+01:00"));
    world.add_campaign(
        campaign(1, DialMode::Progressive, RuleSet::None),
        vec![contact(1, "+46701740601")],
    );
    world.login(1, &[1]);
    let call = world.last_originate().call;
    world.call_event(call, CallEvent::Answered { by: AnsweredBy::Human });
    let agent = AgentId(1);
    let in_call = |w: &World| {
        matches!(
            w.engine.agent(agent).map(|a| &a.state),
            Some(ringa_engine::AgentState::InCall { .. })
        )
    };
    assert!(in_call(&world));
    // Just connected: left out of the check while its media starts.
    assert!(world.engine.connected_calls(world.now - SignedDuration::from_secs(2)).is_empty());
    world.advance(SignedDuration::from_mins(3));
    assert_eq!(world.engine.connected_calls(world.now - SignedDuration::from_secs(2)), vec![call]);

    // The telephony no longer carries it (its BYE was lost): reported gone.
    world.call_event(call, CallEvent::HungUp { by_customer: false });
    assert!(world.engine.connected_calls(world.now).is_empty());
    let state = world.engine.agent(agent).map(|a| a.state.clone());
    assert!(matches!(state, Some(ringa_engine::AgentState::WrapUp { .. })), "{state:?}");
    world.input(Input::AgentOutcome {
        agent,
        outcome: ringa_core::OutcomeCode::new("not_interested"),
        callback: None,
        note: None,
    });
    let state = world.engine.agent(agent).map(|a| a.state.clone());
    assert!(!in_call(&world), "{state:?}");
    assert!(
        matches!(
            state,
            Some(ringa_engine::AgentState::Ready | ringa_engine::AgentState::Reserved { .. })
        ),
        "{state:?}"
    );
}
