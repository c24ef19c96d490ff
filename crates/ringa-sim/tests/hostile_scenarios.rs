//! Scenario files with absurd values (a break of 1e300 minutes, four
//! billion agents, a heavy-tailed talk time) end in an error that names the
//! key, never in a panic or an allocation that kills the process.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use ringa_sim::{Dist, Scenario, ScenarioError};

const BASE: &str = include_str!("../../../scenarios/mode-progressive.toml");

fn refused_key(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "the base scenario holds {from:?}");
    match Scenario::from_toml(&BASE.replacen(from, to, 1)) {
        Err(ScenarioError::Invalid { key, reason }) => {
            assert!(!reason.is_empty());
            key
        }
        Err(other) => panic!("{to:?}: expected an out-of-range error, got {other}"),
        Ok(_) => panic!("{to:?} must be refused"),
    }
}

#[test]
fn absurd_times_and_counts_are_refused_by_key() {
    assert!(Scenario::from_toml(BASE).is_ok(), "the base scenario is valid");
    let cases = [
        ("minutes = 15\n", "minutes = 1e300\n", "agents.breaks[0].minutes"),
        ("stagger_minutes = 2", "stagger_minutes = 1e20", "agents.breaks[0].stagger_minutes"),
        ("break_notice_minutes = 5", "break_notice_minutes = 1e19", "agents.break_notice_minutes"),
        ("count = 10", "count = 4000000000", "agents.count"),
        ("days = 1", "days = 100000000", "run.days"),
        ("ring_timeout_s = 25", "ring_timeout_s = 1e300", "campaign.ring_timeout_s"),
        ("default = 2880", "default = 1e300", "campaign.retry_minutes.default"),
        ("power_lines = 1", "power_lines = 4000000000", "campaign.power_lines"),
        ("mean = 150", "mean = 1e300", "agents.talk"),
    ];
    for (from, to, key) in cases {
        assert_eq!(refused_key(from, to), key, "{to}");
    }
}

#[test]
fn heavy_tailed_draws_always_fit_a_duration() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    // The longest mean allowed: a third of the draws exceed it.
    let wild = Dist::Exponential { mean: ringa_sim::dist::MAX_DRAW_SECS };
    assert!(wild.problem().is_none(), "a mean of a year is allowed");
    let draws: Vec<f64> = (0..2000).map(|_| wild.sample(&mut rng)).collect();
    let max = ringa_sim::dist::MAX_DRAW_SECS;
    assert!(draws.iter().all(|x| (0.0..=max).contains(x)), "draws are held to a year");
    assert!(draws.contains(&max), "the tail reaches the cap");
    for x in draws {
        let _ = jiff::SignedDuration::from_secs_f64(x);
    }
}
