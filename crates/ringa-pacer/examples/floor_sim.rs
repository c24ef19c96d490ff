//! Runs the pacer crate's small floor simulator for tuning:
//! `cargo run --release -p ringa-pacer --example floor_sim -- PACER N P [SEEDS] [SPREAD] [SIGMA]
//! [TARGET] [HOURS]`.

#[path = "../tests/support/floor_sim.rs"]
mod floor_sim;

use floor_sim::{Scenario, run};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let pacer = args.first().map_or("predictive", String::as_str);
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(20);
    let p: f64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(0.2);
    let seeds: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(4);
    let spread: f64 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let sigma: f64 = args.get(5).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    let target: f64 = args.get(6).and_then(|s| s.parse().ok()).unwrap_or(0.03);
    let hours: f64 = args.get(7).and_then(|s| s.parse().ok()).unwrap_or(8.0);
    let mut scenario = Scenario::standard(n, p);
    scenario.hours = hours;
    scenario.spread = spread;
    scenario.target = target;
    if sigma > 0.0 {
        scenario.talk = floor_sim::Talk::LogNormal { mean: 120.0, sigma };
    }
    let (mut util, mut drops, mut live, mut first) = (0.0, 0, 0, 0);
    for seed in 0..seeds {
        let out = if pacer == "predictive" {
            let mut p = ringa_pacer::Predictive::default();
            let out = run(&scenario, &mut p, seed);
            let cal = p.calibration();
            println!(
                "  drop ratio {:.2} spread {:.3} threshold {:.4} brier {:.4} ece {:.4}",
                p.drop_ratio(),
                p.state().spread,
                p.threshold(),
                cal.brier,
                cal.expected_calibration_error
            );
            out
        } else {
            let mut pacer = ringa_pacer::by_name(pacer).expect("a known pacer");
            run(&scenario, pacer.as_mut(), seed)
        };
        println!(
            "seed {seed}: util {:.1}% drops {:.2}% ({}/{}) first50 {} waits {:.1}s",
            100.0 * out.utilization(),
            100.0 * out.drop_rate(),
            out.drops,
            out.live,
            out.first50_drops,
            out.waits.iter().sum::<f64>() / out.waits.len().max(1) as f64
        );
        util += out.utilization();
        drops += out.drops;
        live += out.live;
        first += u64::from(out.first50_drops > 1);
    }
    println!(
        "{pacer} N={n} p={p}: util {:.2}% drops {:.2}% first50-over {first}/{seeds}",
        100.0 * util / seeds as f64,
        100.0 * drops as f64 / live as f64,
    );
}
