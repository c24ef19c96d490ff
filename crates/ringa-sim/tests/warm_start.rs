//! A campaign warm-started from the pacer models it learned on a previous
//! day, through the engine's learned state: on the standard floor its
//! next day's first hour keeps agents busier than a cold start, within the
//! drop target.

use ringa_core::CampaignId;
use ringa_pacer::{Pacer, Predictive};
use ringa_sim::{Report, Scenario, Simulation};

fn scenario(hours: f64) -> Scenario {
    let text = include_str!("../../../scenarios/standard-n20-p10.toml");
    let mut scenario = Scenario::from_toml(text).expect("shipped scenario parses");
    scenario.run.hours_per_day = hours;
    scenario
}

fn first_hour(pacer: Predictive, seed: u64) -> Report {
    let mut sim = Simulation::new(&scenario(1.0), Box::new(pacer), seed);
    sim.run(1, |_| {})
}

#[test]
fn a_pacer_warm_started_from_yesterday_keeps_agents_busier_in_the_first_hour() {
    let mut yesterday = Simulation::new(&scenario(8.0), Box::new(Predictive::default()), 11);
    yesterday.run(1, |_| {});
    let learned = yesterday.engine().learned_state(CampaignId(1)).expect("the campaign ran");
    let text = learned.to_json().expect("the state serialises");
    eprintln!("the stored document: {} bytes", text.len());
    assert!(text.len() < 2_000_000, "a day's document stays small: {} bytes", text.len());
    let learned = ringa_engine::LearnedState::from_json(&text).expect("and reads back");
    let state = learned.pacer.expect("the predictive pacer learned").state;

    let mut gains = Vec::new();
    for seed in [21, 22, 23] {
        let cold = first_hour(Predictive::default(), seed);
        let mut warm_pacer = Predictive::default();
        warm_pacer.import_state(state.clone()).expect("the state fits");
        let warm = first_hour(warm_pacer, seed);
        eprintln!(
            "seed {seed}: utilization cold {:.3} warm {:.3}, drops cold {:.4} warm {:.4}",
            cold.utilization, warm.utilization, cold.drop_rate, warm.drop_rate
        );
        assert!(warm.drop_rate <= warm.drop_target, "seed {seed}: drops {}", warm.drop_rate);
        assert!(warm.utilization > cold.utilization, "seed {seed}: {warm:?} against {cold:?}");
        gains.push(warm.utilization - cold.utilization);
    }
    let mean = gains.iter().sum::<f64>() / gains.len() as f64;
    assert!(mean > 0.01, "the warm start gains {mean:.3} of utilization");
}
