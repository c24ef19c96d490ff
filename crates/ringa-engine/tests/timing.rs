//! When contacts are dialed: retry intervals, calling windows in the
//! contact's own zone, windows that cross midnight.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use ringa_core::dnc::DncIndex;
use ringa_core::eligibility::{DialCheck, DialKind, Refusal, may_dial};
use ringa_core::zone::UnknownZone;
use ringa_core::{AgentId, CallResult, CallingWindows, ContactId, DialMode, OutcomeCode, RuleSet};
use ringa_engine::{AnsweredBy, CallEvent, Input};

use crate::support::{World, at, campaign, contact, zone};

fn retry_run(tick: Option<SignedDuration>) -> (Timestamp, Timestamp) {
    let start = at("2026-12-07T09:00:00+01:00");
    let mut world = World::new(start);
    let mut config = campaign(1, DialMode::Progressive, RuleSet::None);
    config.rules.retry.busy = Some(SignedDuration::from_secs(300));
    world.add_campaign(config, vec![contact(1, "+46701740601")]);
    world.login(1, &[1]);
    let first = world.last_originate();
    let t0 = world.now;
    world.fail(first.call, CallResult::Busy, 486);
    let until = t0 + SignedDuration::from_mins(20);
    match tick {
        Some(step) => world.tick_every(step, until),
        None => world.advance_to(until),
    }
    let second = world.originates().into_iter().nth(1).expect("the retry was placed");
    (t0, second.at)
}

#[test]
fn a_retry_comes_at_the_first_opportunity_after_its_interval() {
    let interval = SignedDuration::from_secs(300);
    let (t0, retry) = retry_run(None);
    assert_eq!(retry, t0 + interval, "woken exactly when the interval ends");
    for secs in [7, 60, 113] {
        let step = SignedDuration::from_secs(secs);
        let (t0, retry) = retry_run(Some(step));
        assert!(retry >= t0 + interval, "tick {secs}s: retry before the interval ended");
        assert!(
            retry < t0 + interval + step,
            "tick {secs}s: retry later than the first tick after"
        );
    }
}

fn window_campaign() -> ringa_core::Campaign {
    let mut config = campaign(1, DialMode::Progressive, RuleSet::None);
    config.rules.windows =
        CallingWindows::parse("mon-fri 08:00-13:00, mon-fri 14:30-18:00, wed 20:00-02:00").unwrap();
    config
}

fn local(t: Timestamp) -> jiff::civil::DateTime {
    TimeZone::get("Europe/Stockholm").unwrap().to_datetime(t)
}

#[test]
fn a_contact_due_just_before_the_window_closes_waits_for_the_next_window() {
    // Wednesday 2026-12-09.
    let mut world = World::new(at("2026-12-09T12:50:00+01:00"));
    let mut due = contact(2, "+46701740602");
    due.history.attempts = 1;
    due.history.retry_at = Some(at("2026-12-09T12:59:50+01:00"));
    world.add_campaign(window_campaign(), vec![contact(1, "+46701740601"), due]);
    world.login(1, &[1]);

    // The only agent talks until 13:00:30.
    let first = world.last_originate();
    assert_eq!(first.contact, ContactId(1));
    world.call_event(first.call, CallEvent::Answered { by: AnsweredBy::Human });
    world.advance_to(at("2026-12-09T13:00:30+01:00"));
    world.call_event(first.call, CallEvent::HungUp { by_customer: true });
    world.input(Input::AgentOutcome {
        agent: AgentId(1),
        outcome: OutcomeCode::new("not_interested"),
        callback: None,
        note: None,
    });
    world.advance_to(at("2026-12-09T14:29:59+01:00"));
    assert_eq!(world.originates().len(), 1, "nothing is dialed while the window is closed");

    // Dialing resumes by itself when the afternoon window opens.
    world.advance_to(at("2026-12-09T15:00:00+01:00"));
    let second = world.last_originate();
    assert_eq!(second.contact, ContactId(2));
    assert_eq!(local(second.at), jiff::civil::date(2026, 12, 9).at(14, 30, 0, 0));
}

#[test]
fn a_window_across_midnight_dials_from_20_to_02_only() {
    let mut world = World::new(at("2026-12-09T19:00:00+01:00"));
    let mut config = window_campaign();
    config.rules.retry.busy = Some(SignedDuration::from_mins(20));
    config.rules.max_attempts = 12;
    world.add_campaign(config, (1..=3).map(|i| contact(i, &format!("+4670174060{i}"))).collect());
    world.login(1, &[1]);
    let end = at("2026-12-10T08:30:00+01:00");
    while world.now < end {
        for call in world.open_calls() {
            world.fail(call.call, CallResult::Busy, 486);
        }
        let next = world.engine.poll_timeout().unwrap_or(end).min(end);
        world.advance_to(next);
    }
    let times: Vec<_> = world.originates().iter().map(|o| local(o.at)).collect();
    assert!(times.iter().any(|t| t.hour() == 20), "dialing starts at 20:00: {times:?}");
    assert!(times.iter().any(|t| t.hour() == 1), "dialing goes on after midnight");
    for t in &times {
        let evening = t.day() == 9 && t.hour() >= 20;
        let night = t.day() == 10 && t.hour() < 2;
        let morning = t.day() == 10 && t.hour() >= 8;
        assert!(evening || night || morning, "dialed at {t}");
    }
    let night_calls = times.iter().filter(|t| t.day() == 10 && (2..8).contains(&t.hour()));
    assert_eq!(night_calls.count(), 0);
}

#[test]
fn a_retry_due_inside_the_current_window_is_dialed_in_it() {
    let mut world = World::new(at("2026-12-07T10:00:00+01:00"));
    let mut config = window_campaign();
    config.rules.retry.busy = Some(SignedDuration::from_mins(30));
    world.add_campaign(config, vec![contact(1, "+46701740601")]);
    world.login(1, &[1]);
    let first = world.last_originate();
    world.fail(first.call, CallResult::Busy, 486);
    world.advance_to(at("2026-12-07T12:00:00+01:00"));
    let second = world.originates().into_iter().nth(1).expect("retried in the same window");
    assert_eq!(local(second.at), jiff::civil::date(2026, 12, 7).at(10, 30, 0, 0));
}

fn check_at(
    now: &str,
    contact_zone: Option<&str>,
    number: &str,
    unknown: UnknownZone,
) -> Result<(), Refusal> {
    let mut rules = campaign(1, DialMode::Predictive, RuleSet::None).rules;
    rules.windows = CallingWindows::parse("all 09:00-20:00").unwrap();
    rules.unknown_zone = unknown;
    let mut entry = contact(1, number);
    entry.contact.zone = contact_zone.map(zone);
    let dnc = DncIndex::new();
    let check = DialCheck {
        now: at(now),
        rules: &rules,
        contact: &entry.contact,
        number: &entry.contact.numbers[0].number,
        history: &entry.history,
        dnc: &dnc,
        kind: DialKind::Regular,
        agent_reserved: false,
    };
    may_dial(&check)
}

#[test]
fn quiet_hours_are_checked_in_each_contact_zone_not_the_servers() {
    let fallback = UnknownZone::Default(zone("Europe/Stockholm"));
    // July: 07:30 UTC is 09:30 in Stockholm and 10:30 in Helsinki.
    let july = "2026-07-15T07:30:00Z";
    assert_eq!(check_at(july, Some("Europe/Stockholm"), "+46701740601", fallback.clone()), Ok(()));
    assert_eq!(check_at(july, Some("Europe/Helsinki"), "+46701740601", fallback.clone()), Ok(()));
    // January: 07:30 UTC is 08:30 in Stockholm, 09:30 in Helsinki.
    let january = "2027-01-15T07:30:00Z";
    let stockholm = check_at(january, Some("Europe/Stockholm"), "+46701740601", fallback.clone());
    assert!(matches!(stockholm, Err(Refusal::OutsideWindow { .. })), "{stockholm:?}");
    assert_eq!(
        check_at(january, Some("Europe/Helsinki"), "+46701740601", fallback.clone()),
        Ok(())
    );
    // Without a hint the zone comes from the number.
    let finnish_number = check_at(january, None, "+358401234567", fallback);
    assert_eq!(finnish_number, Ok(()));
}

#[test]
fn an_unresolvable_zone_uses_the_intersection_of_the_campaigns_zones() {
    let both = UnknownZone::AllOf(vec![zone("America/New_York"), zone("America/Los_Angeles")]);
    // 17:30 UTC in January: 12:30 in New York, 09:30 in Los Angeles.
    assert_eq!(check_at("2027-01-15T17:30:00Z", None, "+12025550143", both.clone()), Ok(()));
    // 15:30 UTC: 10:30 in New York but 07:30 in Los Angeles.
    let early = check_at("2027-01-15T15:30:00Z", None, "+12025550143", both.clone());
    let Err(Refusal::OutsideWindow { next_open: Some(next) }) = early else {
        panic!("expected a closed window, got {early:?}");
    };
    assert_eq!(next, at("2027-01-15T17:00:00Z"), "opens when both zones are open");
    // 02:30 UTC: 21:30 in New York, 18:30 in Los Angeles.
    let late = check_at("2027-01-16T02:30:00Z", None, "+12025550143", both);
    assert!(late.is_err(), "{late:?}");
}
