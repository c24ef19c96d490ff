//! `ringa simulate SCENARIO`: runs a simulated call center on the real
//! engine and prints its figures as a table, or as one JSON object.

use std::io::IsTerminal as _;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ringa_sim::{Report, Scenario, Simulation};

#[derive(Args, Debug)]
pub(crate) struct SimulateArgs {
    /// The scenario file (TOML, see docs/scenarios.md).
    scenario: PathBuf,
    /// The pacer of predictive campaigns (`predictive`, `progressive`,
    /// `ratio:R`, ...).
    #[arg(long, default_value = ringa_pacer::DEFAULT)]
    pacer: String,
    /// Simulated days (default: the scenario's `run.days`).
    #[arg(long)]
    days: Option<u32>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Answering-machine methods 2 and 3 for this run, overriding the
    /// scenario: `none`, `history`, `ringtime`, `all`, or `compare` to run
    /// all four on the same seed and print them side by side.
    #[arg(long, value_parser = ["none", "history", "ringtime", "all", "compare"])]
    amd_methods: Option<String>,
}

/// The four combinations of methods 2 and 3: (name, history, ring time).
const METHODS: [(&str, bool, bool); 4] = [
    ("none", false, false),
    ("history", true, false),
    ("ringtime", false, true),
    ("all", true, true),
];

pub(crate) fn run(args: SimulateArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.scenario)
        .with_context(|| format!("reading {}", args.scenario.display()))?;
    let mut scenario = Scenario::from_toml(&text)
        .with_context(|| format!("in scenario file {}", args.scenario.display()))?;
    let days = args.days.unwrap_or(scenario.run.days);
    match args.amd_methods.as_deref() {
        Some("compare") => return compare(&args, &scenario, days),
        Some(name) => {
            if let Some(&(_, history, ring_time)) = METHODS.iter().find(|m| m.0 == name) {
                scenario.campaign.amd_history = history;
                scenario.campaign.amd_ring_time = ring_time;
            }
        }
        None => {}
    }
    let pacer = ringa_pacer::by_name(&args.pacer)?;
    let bar = ProgressBar::new(1000);
    if args.json || !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("simulating {bar:40} {percent}% {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut sim = Simulation::new(&scenario, pacer, args.seed);
    let report = sim.run(days, |done| bar.set_position((done * 1000.0) as u64));
    bar.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", table(&report));
    }
    Ok(())
}

/// Runs the scenario with each combination of methods 2 and 3 on the same
/// seed and prints the figures that compare them.
fn compare(args: &SimulateArgs, scenario: &Scenario, days: u32) -> Result<()> {
    let mut rows = Vec::new();
    for (name, history, ring_time) in METHODS {
        let mut scenario = scenario.clone();
        scenario.campaign.amd_history = history;
        scenario.campaign.amd_ring_time = ring_time;
        let pacer = ringa_pacer::by_name(&args.pacer)?;
        let report = Simulation::new(&scenario, pacer, args.seed).run(days, |_| {});
        rows.push((name, report));
    }
    if args.json {
        let map: serde_json::Map<String, serde_json::Value> = rows
            .iter()
            .map(|(name, r)| Ok((name.to_string(), serde_json::to_value(r)?)))
            .collect::<Result<_>>()?;
        println!("{}", serde_json::Value::Object(map));
        return Ok(());
    }
    let first = &rows[0].1;
    println!(
        "{}: {} agents, {} day(s), seed {}, {} / {}",
        first.scenario, first.agents, first.days, first.seed, first.mode, first.pacer
    );
    println!(
        "{:<9} {:>8} {:>10} {:>8} {:>8} {:>8} {:>7} {:>7} {:>8} {:>8}",
        "methods",
        "machines",
        "agent min",
        "avoided",
        "live",
        "convers.",
        "drop",
        "placed",
        "moved",
        "people"
    );
    println!(
        "{:<9} {:>8} {:>10} {:>8} {:>8} {:>8} {:>7} {:>7} {:>8} {:>8}",
        "", "to agent", "to machine", "voicem.", "answers", "", "rate", "", "history", "cut ring"
    );
    for (name, r) in &rows {
        println!(
            "{:<9} {:>8} {:>10.1} {:>8} {:>8} {:>8} {:>7} {:>7} {:>8} {:>8}",
            name,
            r.machines_to_agents,
            r.agent_time_lost_to_machines_s / 60.0,
            r.avoided_voicemail,
            r.live_answers,
            r.conversations,
            pct(r.drop_rate),
            r.placed,
            r.history_retimed + r.history_skipped,
            r.people_rang_out,
        );
    }
    Ok(())
}

fn pct(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

/// The report as a readable two-column table.
fn table(r: &Report) -> String {
    let opt = |x: Option<f64>| x.map_or_else(|| "n/a".to_string(), pct);
    let mut rows: Vec<(String, String)> = vec![
        ("scenario".into(), r.scenario.clone()),
        ("mode / pacer".into(), format!("{} / {}", r.mode, r.pacer)),
        ("agents, days, seed".into(), format!("{}, {}, {}", r.agents, r.days, r.seed)),
        ("utilization".into(), pct(r.utilization)),
        ("mean wait between calls".into(), format!("{:.1} s", r.mean_wait_s)),
        ("p90 wait between calls".into(), format!("{:.1} s", r.p90_wait_s)),
        ("calls placed".into(), r.placed.to_string()),
        ("live answers".into(), r.live_answers.to_string()),
        ("connects".into(), r.connects.to_string()),
        ("drops".into(), r.drops.to_string()),
        ("drop rate".into(), format!("{} (target {})", pct(r.drop_rate), pct(r.drop_target))),
        (
            format!("worst {} drop rate (>= {} live)", r.drop_window, r.min_window_live),
            opt(r.worst_window_drop_rate),
        ),
        ("24 h windows over target".into(), opt(r.windows_24h_over_target)),
        ("connects per agent-hour".into(), format!("{:.2}", r.connects_per_agent_hour)),
        ("attempts per contact".into(), format!("{:.2}", r.attempts_per_contact)),
        ("contacts used".into(), r.contacts_used.to_string()),
        ("machines filtered".into(), r.machines_filtered.to_string()),
        ("machines to agents".into(), r.machines_to_agents.to_string()),
        ("agent time lost to machines".into(), format!("{:.0} s", r.agent_time_lost_to_machines_s)),
        ("AMD false positives".into(), r.amd_false_positives.to_string()),
        ("conversations".into(), r.conversations.to_string()),
        ("avoided voicemail".into(), r.avoided_voicemail.to_string()),
        (
            "dials moved by history (retimed / skipped)".into(),
            format!("{} / {}", r.history_retimed, r.history_skipped),
        ),
        ("people cut short by ring timeout".into(), r.people_rang_out.to_string()),
        ("rejected agent actions".into(), r.rejected.to_string()),
        ("max lines per reserved agent".into(), r.max_lines_per_agent.to_string()),
        ("simulated / wall".into(), format!("{:.0} s / {:.2} s", r.simulated_s, r.wall_s)),
    ];
    for (reason, n) in &r.refused {
        rows.push((format!("refused: {reason}"), n.to_string()));
    }
    for (code, n) in &r.outcomes {
        rows.push((format!("outcome: {code}"), n.to_string()));
    }
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    rows.iter().map(|(k, v)| format!("{k:<width$}  {v}\n")).collect()
}
