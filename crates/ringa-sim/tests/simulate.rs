//! End-to-end tests of the simulator on the shipped scenarios: progressive
//! pacing against its closed form, the four dial modes against the
//! specification, determinism, and scenario errors that name their key.

use ringa_core::DialMode;
use ringa_sim::{Report, Scenario, ScenarioError, Simulation};

fn scenario(text: &str) -> Scenario {
    Scenario::from_toml(text).expect("shipped scenario parses")
}

fn run(scenario: &Scenario, pacer: &str, days: u32, seed: u64) -> Report {
    let pacer = ringa_pacer::by_name(pacer).expect("pacer exists");
    let mut sim = Simulation::new(scenario, pacer, seed);
    let report = sim.run(days, |_| {});
    assert_eq!(report.rejected, 0, "rejected agent actions: {:?}", report.rejected_reasons);
    report
}

/// Utilization of progressive dialing on the standard floor: each cycle an
/// agent waits 10 s for the live answer plus 25 s per failed call, of which
/// there are (1 − p)/p on average, then talks T.
fn closed_form(talk: f64, p: f64) -> f64 {
    talk / (talk + 10.0 + 25.0 * (1.0 - p) / p)
}

/// Standard error of the utilization measured over `agent_seconds` of
/// progressive work (the ratio estimator over independent cycles).
fn standard_error(talk: f64, p: f64, agent_seconds: f64) -> f64 {
    let u = closed_form(talk, p);
    let cycle = talk / u;
    // The overhead D: Exp(10) plus F ~ Geometric failures of Exp(25) each.
    let mean_f = (1.0 - p) / p;
    let var_f = (1.0 - p) / (p * p);
    let var_d = 100.0 + mean_f * 625.0 + var_f * 625.0;
    let var = (1.0 - u).powi(2) * talk * talk + u * u * var_d;
    let cycles = agent_seconds / cycle;
    var.sqrt() / cycle / cycles.sqrt()
}

fn progressive_matches_closed_form(text: &str, p: f64, days: u32) {
    let mut s = scenario(text);
    s.campaign.mode = DialMode::Progressive;
    let report = run(&s, "progressive", days, 11);
    let expected = closed_form(120.0, p);
    let se = standard_error(120.0, p, report.logged_in_hours * 3600.0);
    // Enough simulated time that one point is more than three standard
    // errors: the test does not fail by chance.
    assert!(se < 0.0033, "too little simulated time: standard error {se}");
    assert!(
        (report.utilization - expected).abs() < 0.01,
        "p = {p}: utilization {} against closed form {expected} (se {se})",
        report.utilization
    );
    assert_eq!(report.drops, 0);
    assert!(report.max_lines_per_agent <= 1);
}

#[test]
fn progressive_matches_the_closed_form_at_p_0_5() {
    progressive_matches_closed_form(
        include_str!("../../../scenarios/standard-n50-p50.toml"),
        0.5,
        2,
    );
}

#[test]
fn progressive_matches_the_closed_form_at_p_0_2() {
    progressive_matches_closed_form(
        include_str!("../../../scenarios/standard-n50-p20.toml"),
        0.2,
        3,
    );
}

#[test]
fn progressive_matches_the_closed_form_at_p_0_1() {
    progressive_matches_closed_form(
        include_str!("../../../scenarios/standard-n50-p10.toml"),
        0.1,
        4,
    );
}

#[test]
fn preview_never_dials_without_a_click() {
    let s = scenario(include_str!("../../../scenarios/mode-preview.toml"));
    let r = run(&s, "progressive", 1, 3);
    assert!(r.originates > 500, "too few calls: {}", r.originates);
    assert_eq!(r.originates, r.agent_dials, "every preview call follows exactly one click");
    assert_eq!(r.originates_without_click, 0);
    assert!(r.max_lines_per_agent <= 1);
    assert_eq!(r.drops, 0);
}

#[test]
fn progressive_uses_one_line_per_agent_and_never_drops() {
    let s = scenario(include_str!("../../../scenarios/mode-progressive.toml"));
    let r = run(&s, "progressive", 1, 4);
    assert!(r.originates > 500);
    assert_eq!(r.agent_dials, 0, "progressive needs no clicks");
    assert_eq!(r.max_lines_per_agent, 1);
    assert!(r.max_lines_per_working_agent <= 1.0 + 1e-9);
    assert_eq!(r.drops, 0);
    assert_eq!(r.drop_rate, 0.0);
}

#[test]
fn power_uses_the_configured_lines_and_never_drops() {
    let mut s = scenario(include_str!("../../../scenarios/mode-power.toml"));
    let one = run(&s, "progressive", 1, 5);
    assert!(one.originates > 500);
    assert_eq!(one.max_lines_per_agent, 1);
    assert_eq!(one.drops, 0);
    assert!(one.machines_filtered > 0, "power mode skips detected machines");

    s.campaign.power_lines = 2;
    let two = run(&s, "progressive", 1, 5);
    assert_eq!(two.max_lines_per_agent, 2, "power_lines = 2 uses two lines");
    assert!(two.max_lines_per_working_agent <= 2.0 + 1e-9);
    assert_eq!(two.drops, 0);
}

#[test]
fn predictive_never_connects_a_paused_agent() {
    let s = scenario(include_str!("../../../scenarios/mode-predictive.toml"));
    let r = run(&s, "predictive", 1, 6);
    assert!(r.connects > 500, "too few connects: {}", r.connects);
    assert!(r.paused_hours > 1.0, "agents took their breaks: {}", r.paused_hours);
    assert_eq!(r.connects_to_unavailable, 0);
    assert!(r.drop_rate < 0.1, "drop rate {}", r.drop_rate);
}

#[test]
fn the_realistic_floor_runs_with_machines_and_amd_errors() {
    let mut s = scenario(include_str!("../../../scenarios/realistic.toml"));
    s.run.hours_per_day = 4.0;
    s.agents.shifts.truncate(1);
    let r = run(&s, "progressive", 1, 7);
    assert!(r.machines_filtered > 0);
    assert!(r.machines_to_agents > 0, "AMD misses some machines");
    assert!(r.agent_time_lost_to_machines_s > 0.0);
    assert!(r.amd_false_positives > 0, "AMD hangs up on a few people");
    assert_eq!(r.connects_to_unavailable, 0);
}

#[test]
fn the_same_seed_gives_the_same_report() {
    let mut s = scenario(include_str!("../../../scenarios/standard-n10-p20.toml"));
    s.run.hours_per_day = 3.0;
    let a = run(&s, "progressive", 1, 42).without_wall_time();
    let b = run(&s, "progressive", 1, 42).without_wall_time();
    let c = run(&s, "progressive", 1, 43).without_wall_time();
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_ne!(a.placed, 0);
}

#[test]
fn the_fate_oracle_sees_calls_in_flight() {
    let mut s = scenario(include_str!("../../../scenarios/standard-n5-p20.toml"));
    s.run.hours_per_day = 1.0;
    let mut seen = None;
    let mut sim = Simulation::with_oracle(&s, 9, |oracle| {
        seen = Some(oracle);
        ringa_pacer::by_name("progressive").expect("pacer exists")
    });
    let oracle = seen.expect("the pacer factory was called");
    let report = sim.run(1, |_| {});
    assert!(report.placed > 0);
    // The run is over: every call ended and left the oracle.
    assert!(oracle.is_empty(), "{} fates left behind", oracle.len());
    let ctx = ringa_sim::CallContext {
        attempt: 1,
        hour: 10,
        multiplier: 1.0,
        ring_timeout_s: 600.0,
        amd: false,
        traits: None,
    };
    let first = ringa_sim::fate_of(&s, 9, ringa_core::CallId(1), &ctx);
    let again = ringa_sim::fate_of(&s, 9, ringa_core::CallId(1), &ctx);
    assert_eq!(first, again);
}

fn error_of(text: &str) -> String {
    match Scenario::from_toml(text) {
        Ok(_) => panic!("scenario should be refused:\n{text}"),
        Err(e) => e.to_string(),
    }
}

const GOOD: &str = r#"
[agents]
count = 3
talk = { kind = "exponential", mean = 120 }

[population]
live_by_attempt = [0.2]
live_after = { kind = "exponential", mean = 10 }

[campaign]
mode = "progressive"
"#;

#[test]
fn scenario_errors_name_the_key() {
    assert!(Scenario::from_toml(GOOD).is_ok());
    let unknown = GOOD.replace("count = 3", "cuont = 3");
    assert!(error_of(&unknown).contains("cuont"), "{}", error_of(&unknown));
    let wrong_type = GOOD.replace("count = 3", "count = \"three\"");
    assert!(error_of(&wrong_type).contains("count"), "{}", error_of(&wrong_type));
    let bad_prob = GOOD.replace("[0.2]", "[0.2, 1.5]");
    assert!(error_of(&bad_prob).contains("population.live_by_attempt[1]"));
    let bad_dist = GOOD.replace("mean = 120", "mean = -1");
    assert!(error_of(&bad_dist).contains("agents.talk"));
    let bad_mode = GOOD.replace("\"progressive\"", "\"telepathic\"");
    assert!(error_of(&bad_mode).contains("mode"), "{}", error_of(&bad_mode));
    let bad_hour =
        GOOD.replace("live_by_attempt", "live_by_hour = { \"25\" = 1.0 }\nlive_by_attempt");
    assert!(error_of(&bad_hour).contains("population.live_by_hour.25"));
    let bad_outcome = GOOD.replace("count = 3", "count = 3\noutcomes = { bought_a_car = 1.0 }");
    assert!(error_of(&bad_outcome).contains("agents.outcomes.bought_a_car"));
    let missing = GOOD.replace("live_after = { kind = \"exponential\", mean = 10 }\n", "");
    assert!(error_of(&missing).contains("live_after"), "{}", error_of(&missing));
    assert!(matches!(
        Scenario::from_toml(&GOOD.replace("count = 3", "count = 0")),
        Err(ScenarioError::Invalid { key, .. }) if key == "agents.count"
    ));
}

#[test]
fn every_shipped_scenario_parses() {
    for text in [
        include_str!("../../../scenarios/realistic.toml"),
        include_str!("../../../scenarios/mode-preview.toml"),
        include_str!("../../../scenarios/mode-progressive.toml"),
        include_str!("../../../scenarios/mode-power.toml"),
        include_str!("../../../scenarios/mode-predictive.toml"),
        include_str!("../../../scenarios/standard-n5-p10.toml"),
        include_str!("../../../scenarios/standard-n20-p30.toml"),
    ] {
        scenario(text);
    }
}

#[test]
fn a_break_running_past_the_shift_end_ends_with_the_shift() {
    let mut s = scenario(include_str!("../../../scenarios/mode-progressive.toml"));
    s.run.hours_per_day = 2.0;
    s.agents.count = 4;
    s.agents.breaks = vec![ringa_sim::scenario::BreakSpec {
        after_hours: 1.9,
        minutes: 30.0,
        stagger_minutes: 0.0,
    }];
    let r = run(&s, "progressive", 2, 8);
    assert!(r.paused_hours > 0.0, "the agents took the break");
    assert!(r.logged_in_hours < 4.0 * 2.0 * 2.0 + 1.0, "logged out at the shift end");
    assert!(r.connects > 0);
}
