//! Runs a scenario file with a pacer and prints the report as JSON, for
//! quick measurements without building the whole `ringa` binary:
//! `cargo run --release -p ringa-sim --example simulate -- FILE [PACER] [DAYS] [SEED]`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).ok_or("usage: simulate FILE [PACER] [DAYS] [SEED]")?;
    let scenario = ringa_sim::Scenario::from_toml(&std::fs::read_to_string(path)?)?;
    let pacer = ringa_pacer::by_name(args.get(2).map_or("progressive", String::as_str))?;
    let days = args.get(3).map_or(Ok(scenario.run.days), |d| d.parse())?;
    let seed = args.get(4).map_or(Ok(1), |s| s.parse())?;
    let mut sim = ringa_sim::Simulation::new(&scenario, pacer, seed);
    let report = sim.run(days, |_| {});
    println!("{report:#?}");
    Ok(())
}
