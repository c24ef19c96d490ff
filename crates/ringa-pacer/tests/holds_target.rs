//! The predictive pacer on the pacer crate's own small floor simulator: it
//! holds the drop target from a campaign's first calls on, keeps agents
//! busy, and its learned state survives a save and a restore (and a state
//! of another shape is refused, not used).

mod support {
    pub(crate) mod floor_sim;
}

use ringa_pacer::{Pacer, Predictive, StateError};
use support::floor_sim::{Scenario, run};

#[test]
fn first_fifty_live_answers_stay_under_target() {
    let mut scenario = Scenario::standard(10, 0.3);
    scenario.hours = 0.25;
    let mut over = 0;
    for seed in 0..20 {
        let mut pacer = Predictive::default();
        let out = run(&scenario, &mut pacer, 1000 + seed);
        assert!(out.live >= 50, "seed {seed}: only {} live answers", out.live);
        // 3% of 50 is 1.5: a second drop breaks the target.
        if out.first50_drops > 1 {
            over += 1;
        }
    }
    assert!(over <= 1, "{over} of 20 fresh campaigns broke the target in 50 answers");
}

#[test]
fn holds_target_and_keeps_agents_busy() {
    for (agents, p) in [(10, 0.2), (20, 0.3)] {
        let mut scenario = Scenario::standard(agents, p);
        scenario.hours = 3.0;
        let mut pacer = Predictive::default();
        let out = run(&scenario, &mut pacer, 7);
        assert!(out.drop_rate() <= 0.03, "N={agents} p={p}: drops {}", out.drop_rate());
        assert!(out.utilization() > 0.7, "N={agents} p={p}: util {}", out.utilization());
        let calibration = pacer.calibration();
        assert!(calibration.expected_calibration_error < 0.05, "{calibration:?}");
    }
}

#[test]
fn learned_state_survives_export_and_import() {
    let mut scenario = Scenario::standard(10, 0.25);
    scenario.hours = 0.5;
    let mut pacer = Predictive::default();
    run(&scenario, &mut pacer, 3);
    let state = pacer.export_state().expect("the predictive pacer learns");
    let text = serde_json::to_string(&state).expect("the state serialises");
    let back = serde_json::from_str(&text).expect("and reads back");
    let mut warm = Predictive::default();
    warm.import_state(back).expect("the predictive pacer takes state");
    let features = ringa_pacer::CallFeatures { attempt: 1, ..Default::default() };
    assert!((warm.p_human(&features) - pacer.p_human(&features)).abs() < 1e-6);
    assert!((warm.p_human(&features) - 0.25).abs() < 0.06, "{}", warm.p_human(&features));
    let cold = Predictive::default();
    assert!((cold.p_human(&features) - 0.5).abs() < 1e-9);
}

/// A change made to a stored state.
type Edit = fn(&mut serde_json::Value);

#[test]
fn a_state_of_another_shape_is_refused_and_the_pacer_stays_as_it_was() {
    let state = Predictive::default().export_state().expect("the predictive pacer learns");
    let good = serde_json::to_value(&state).expect("the state serialises");
    let features = ringa_pacer::CallFeatures { attempt: 1, ..Default::default() };
    let edits: [(&str, Edit); 4] = [
        ("no talk-time bins", |v| v["talk"]["events"] = serde_json::json!([])),
        ("a short level table", |v| v["answer"]["levels"] = serde_json::json!([[1.0, 1.0]])),
        ("negative calls", |v| v["answer"]["seen"] = serde_json::json!(-5.0)),
        ("more answers than calls", |v| v["answer"]["answered"] = serde_json::json!(9.0)),
    ];
    for (what, edit) in edits {
        let mut bad = good.clone();
        edit(&mut bad);
        let bad = serde_json::from_value(bad).expect("still the state's shape");
        let mut pacer = Predictive::default();
        let err = pacer.import_state(bad).expect_err(what);
        assert!(matches!(err, StateError::Invalid(_)), "{what}: {err}");
        assert!((pacer.p_human(&features) - 0.5).abs() < 1e-9, "{what}: the pacer changed");
    }
}
