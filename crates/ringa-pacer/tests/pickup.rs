//! A call picked up whose answering-machine verdict is still pending is far
//! likelier to need an agent in the next seconds than one still ringing: the
//! predictive pacer learns that share and the verdict time from its own
//! calls and places fewer new calls while such verdicts are due. States
//! saved before it learned them still load.

use jiff::{SignedDuration, Timestamp};
use ringa_core::{AgentId, CallId, CallResult};
use ringa_pacer::{
    AgentActivity, AgentView, CallFeatures, CallView, DropBudget, FloorView, Pacer, PacerEvent,
    PacerState, Predictive,
};

fn t0() -> Timestamp {
    Timestamp::from_second(1_800_000_000).expect("valid instant")
}

fn secs(s: f64) -> SignedDuration {
    SignedDuration::from_secs_f64(s)
}

/// A pacer that has seen 400 calls: a third picked up after 10 s, of which
/// three in four were people judged 3 s later and the rest machines judged
/// 9 s later; the others rang out at 25 s.
fn trained() -> Predictive {
    let mut pacer = Predictive::default();
    let features = CallFeatures { attempt: 1, ..Default::default() };
    for i in 0..400u64 {
        let call = CallId(i);
        let at = t0() + secs(i as f64 * 30.0);
        pacer.observe(at, &PacerEvent::Placed { call, features: features.clone(), p_human: 0.3 });
        if i % 3 == 0 {
            pacer.observe(at, &PacerEvent::PickedUp { call, after: secs(10.0) });
            if i % 4 == 0 {
                let result = CallResult::Machine;
                pacer.observe(at, &PacerEvent::Unanswered { call, result, after: secs(19.0) });
            } else {
                pacer.observe(at, &PacerEvent::Answered { call, after: secs(13.0) });
            }
        } else {
            let result = CallResult::NoAnswer;
            pacer.observe(at, &PacerEvent::Unanswered { call, result, after: secs(25.0) });
        }
    }
    pacer
}

/// New calls the pacer places with four agents ready, two talking for a
/// minute, and three calls placed 11 s ago, picked up a second ago or not.
fn placed_with(picked_up: bool) -> u32 {
    let state = trained().export_state().expect("the predictive pacer learns");
    let mut pacer = Predictive::default();
    pacer.import_state(state).expect("its own state loads");
    let now = t0() + secs(100_000.0);
    let placed_at = now - secs(11.0);
    let features = CallFeatures { attempt: 1, ..Default::default() };
    let calls: Vec<CallView> = (1000..1003u64)
        .map(|i| {
            let call = CallId(i);
            let placed = PacerEvent::Placed { call, features: features.clone(), p_human: 0.3 };
            pacer.observe(placed_at, &placed);
            if picked_up {
                pacer.observe(now - secs(1.0), &PacerEvent::PickedUp { call, after: secs(10.0) });
            }
            CallView {
                call,
                placed_at,
                waiting_for_agent: false,
                p_human: 0.3,
                ring_timeout: secs(25.0),
            }
        })
        .collect();
    let agents: Vec<AgentView> = (0..6u64)
        .map(|i| AgentView {
            agent: AgentId(i),
            activity: if i < 4 { AgentActivity::Ready } else { AgentActivity::InCall },
            since: now - secs(60.0),
            leaves_at: None,
            shared: false,
        })
        .collect();
    let candidates = vec![0.3; 30];
    let view = FloorView {
        now,
        agents: &agents,
        calls: &calls,
        candidates: &candidates,
        budget: DropBudget { target: 0.03, live_answers: 5000, drops: 50.0, placed: 20_000 },
        max_new: 30,
    };
    pacer.decide(&view)
}

#[test]
fn pending_verdicts_hold_back_new_calls() {
    let ringing = placed_with(false);
    let picked = placed_with(true);
    assert!(ringing > 0, "with four agents ready and three calls ringing the pacer dials");
    assert!(picked < ringing, "{picked} new calls with three verdicts due, {ringing} without");
}

#[test]
fn a_state_saved_before_pickups_were_learned_still_loads() {
    let state = trained().export_state().expect("the predictive pacer learns");
    let mut old = serde_json::to_value(&state).expect("the state serialises");
    let fields = old.as_object_mut().expect("the state is an object");
    for key in ["verdict_delay", "other_verdict_delay", "picked_up", "picked_up_people"] {
        assert!(fields.remove(key).is_some(), "{key} is saved");
    }
    let old: PacerState = serde_json::from_value(old).expect("an older state still reads");
    let mut pacer = Predictive::default();
    pacer.import_state(old).expect("and loads");
    let features = CallFeatures { attempt: 1, ..Default::default() };
    assert!((pacer.p_human(&features) - trained().p_human(&features)).abs() < 1e-9);
}
