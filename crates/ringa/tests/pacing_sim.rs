//! End to end: the predictive pacer, learning online from a fresh start,
//! holds the 3% drop target through the real engine and simulator on two of
//! the standard floors, and keeps agents far busier than one call per agent.

use std::path::Path;

use ringa_sim::{Scenario, Simulation};

fn standard(name: &str, hours: f64) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios").join(name);
    let text = std::fs::read_to_string(&path).expect("the standard scenarios are in the tree");
    let mut scenario = Scenario::from_toml(&text).expect("the standard scenarios parse");
    scenario.run.hours_per_day = hours;
    scenario
}

#[test]
fn predictive_pacer_holds_the_drop_target_through_the_engine() {
    // (scenario, utilization of progressive dialing by its closed form
    // T / (T + 10 + 25 (1 − p) / p), to be clearly beaten).
    for (name, progressive) in [("standard-n10-p20.toml", 0.545), ("standard-n20-p30.toml", 0.655)]
    {
        let scenario = standard(name, 3.0);
        for seed in [1, 2] {
            let pacer = ringa_pacer::by_name("predictive").expect("a known pacer");
            let report = Simulation::new(&scenario, pacer, seed).run(1, |_| {});
            assert!(report.live_answers > 300, "{name} seed {seed}: {report:?}");
            assert!(
                report.drop_rate <= 0.03,
                "{name} seed {seed}: drop rate {:.4}",
                report.drop_rate
            );
            assert!(
                report.utilization > progressive + 0.1,
                "{name} seed {seed}: utilization {:.3}",
                report.utilization
            );
        }
    }
}
