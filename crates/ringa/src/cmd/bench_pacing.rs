//! `ringa bench pacing`: every pacer on the standard floors, several seeds
//! and days each, printed as one table (utilization, mean wait, drop rate
//! overall and in the worst 24-hour window, connects per agent-hour), plus
//! the acceptance checks of the pacer: a hard floor (lognormal talk, answer
//! chances varying five times across contacts, a 1% target) against the best
//! tuned fixed ratio, a fresh campaign's first 50 live answers, the share of
//! 24-hour windows within the target, and the time of an 8-hour day with 100
//! agents. Runs use both cores.

mod floor;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use serde::Serialize;

use floor::{FloorScenario, Policy, RunResult, Talk, run};

/// Options of `ringa bench pacing`.
#[derive(Args, Debug)]
pub(crate) struct PacingArgs {
    /// Fewer seeds and days (a rough table in a minute or two).
    #[arg(long)]
    quick: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Directory of the standard scenario files.
    #[arg(long, default_value = "scenarios")]
    scenarios: std::path::PathBuf,
    /// Only the pacer-level floor model (no engine, no ringa-sim).
    #[arg(long)]
    floor_only: bool,
    /// Only time one 8-hour day with 100 agents (floor model, then engine
    /// and ringa-sim), by the wall clock and by the thread's CPU time.
    #[arg(long)]
    day_only: bool,
}

const PACERS: &[&str] = &["predictive", "adaptive-level", "progressive", "clairvoyant"];
const RATIOS: &[f64] = &[1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0];

/// One row of the table.
#[derive(Clone, Debug, Serialize)]
struct Row {
    scenario: String,
    pacer: String,
    days: usize,
    utilization: f64,
    /// Half-width of the 95% interval of the mean utilization (points).
    utilization_ci: f64,
    mean_wait_secs: f64,
    drop_rate: f64,
    worst_window: f64,
    windows_within_target: f64,
    connects_per_agent_hour: f64,
}

#[derive(Clone, Debug, Serialize)]
struct Report {
    rows: Vec<Row>,
    first50_within_target: BTreeMap<String, f64>,
    day_100_agents_secs: f64,
    seeds: usize,
    days_per_seed: usize,
    /// The same pacers through the engine and ringa-sim.
    sim: Option<SimReport>,
}

/// Figures of the runs through the engine and ringa-sim.
#[derive(Clone, Debug, Serialize)]
struct SimReport {
    seeds: usize,
    days: u32,
    rows: Vec<Row>,
    first50_within_target: BTreeMap<String, f64>,
    day_100_agents_secs: f64,
}

struct Job {
    key: (String, String),
    scenario: FloorScenario,
    pacer: String,
    seed: u64,
}

fn run_job(job: &Job) -> RunResult {
    if job.pacer == "clairvoyant" {
        return run(&job.scenario, Policy::Clairvoyant, job.seed);
    }
    let mut pacer = ringa_pacer::by_name(&job.pacer).expect("bench pacer names are valid");
    run(&job.scenario, Policy::Pacer(pacer.as_mut()), job.seed)
}

/// Runs jobs on `threads` threads; results keep the jobs' order.
fn run_all(jobs: &[Job], threads: usize) -> Vec<RunResult> {
    let next = Mutex::new(0usize);
    let results: Mutex<Vec<Option<RunResult>>> = Mutex::new(vec![None; jobs.len()]);
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                loop {
                    let i = {
                        let mut n = next.lock().expect("no worker panics while holding it");
                        let i = *n;
                        *n += 1;
                        i
                    };
                    let Some(job) = jobs.get(i) else { break };
                    let r = run_job(job);
                    results.lock().expect("no worker panics while holding it")[i] = Some(r);
                }
            });
        }
    });
    results
        .into_inner()
        .expect("workers finished")
        .into_iter()
        .map(|r| r.expect("every job ran"))
        .collect()
}

fn summarize(scenario: &str, pacer: &str, runs: &[&RunResult], target: f64, agents: usize) -> Row {
    let days: Vec<_> = runs.iter().flat_map(|r| r.days.iter()).collect();
    let utils: Vec<f64> = days.iter().map(|d| d.talk_secs / d.agent_secs).collect();
    let n = utils.len().max(1) as f64;
    let mean = utils.iter().sum::<f64>() / n;
    let var = utils.iter().map(|u| (u - mean) * (u - mean)).sum::<f64>() / (n - 1.0).max(1.0);
    let live: u64 = days.iter().map(|d| d.live).sum();
    let drops: u64 = days.iter().map(|d| d.drops).sum();
    let connects: u64 = days.iter().map(|d| d.connects).sum();
    let wait: f64 = days.iter().map(|d| d.wait_secs).sum();
    let agent_hours: f64 = days.iter().map(|d| d.agent_secs).sum::<f64>() / 3600.0;
    let windows: Vec<f64> = runs.iter().flat_map(|r| r.windows.iter().copied()).collect();
    let worst = windows.iter().copied().fold(0.0, f64::max);
    let within = windows.iter().filter(|&&w| w <= target + 1e-12).count() as f64
        / windows.len().max(1) as f64;
    let _ = agents;
    Row {
        scenario: scenario.to_string(),
        pacer: pacer.to_string(),
        days: days.len(),
        utilization: 100.0 * mean,
        utilization_ci: 100.0 * 1.96 * (var / n).sqrt(),
        mean_wait_secs: wait / connects.max(1) as f64,
        drop_rate: 100.0 * drops as f64 / live.max(1) as f64,
        worst_window: 100.0 * worst,
        windows_within_target: 100.0 * within,
        connects_per_agent_hour: connects as f64 / agent_hours.max(1e-9),
    }
}

pub(crate) fn run_bench(args: PacingArgs) -> Result<()> {
    if args.day_only {
        return time_one_day(&args);
    }
    let (seeds, days) = if args.quick { (2usize, 1usize) } else { (4, 3) };
    let threads = args.threads;
    let mut scenarios: Vec<(String, FloorScenario)> = Vec::new();
    for n in [5usize, 10, 20, 50] {
        for p in [0.1, 0.2, 0.3, 0.5] {
            let mut s = FloorScenario::standard(n, p);
            s.days = days;
            scenarios.push((format!("standard-n{n}-p{}", (p * 100.0).round()), s));
        }
    }
    let mut hard = FloorScenario::standard(20, 0.2);
    hard.talk = Talk::LogNormal { mean: 120.0, sigma: 0.8 };
    hard.spread = 5.0;
    hard.target = 0.01;
    hard.days = days;
    scenarios.push(("hard-n20-p20-lognormal-spread5-t1".to_string(), hard));

    // Tune the fixed ratio per scenario on separate seeds.
    let tune_jobs: Vec<Job> = scenarios
        .iter()
        .flat_map(|(name, s)| {
            RATIOS.iter().map(move |r| Job {
                key: (name.clone(), format!("ratio:{r}")),
                scenario: FloorScenario { days: days.min(2), ..s.clone() },
                pacer: format!("ratio:{r}"),
                seed: 9_000,
            })
        })
        .collect();
    eprintln!("tuning ratio:R on {} runs", tune_jobs.len());
    let tuned = run_all(&tune_jobs, threads);
    let mut best_ratio: BTreeMap<String, (f64, String)> = BTreeMap::new();
    for (job, r) in tune_jobs.iter().zip(&tuned) {
        let row = summarize(&job.key.0, &job.key.1, &[r], job.scenario.target, 0);
        if row.drop_rate <= 100.0 * job.scenario.target {
            let e = best_ratio.entry(job.key.0.clone()).or_insert((-1.0, job.pacer.clone()));
            if row.utilization > e.0 {
                *e = (row.utilization, job.pacer.clone());
            }
        }
    }

    let mut jobs = Vec::new();
    for (name, s) in &scenarios {
        let ratio = best_ratio.get(name).map_or("ratio:1".to_string(), |b| b.1.clone());
        for pacer in PACERS.iter().map(|p| p.to_string()).chain([ratio]) {
            for seed in 0..seeds {
                jobs.push(Job {
                    key: (name.clone(), pacer.clone()),
                    scenario: s.clone(),
                    pacer: pacer.clone(),
                    seed: seed as u64,
                });
            }
        }
    }
    eprintln!("running {} runs of {days} day(s)", jobs.len());
    let results = run_all(&jobs, threads);
    let mut grouped: BTreeMap<(String, String), Vec<&RunResult>> = BTreeMap::new();
    let mut order: Vec<(String, String, f64, usize)> = Vec::new();
    for (job, r) in jobs.iter().zip(&results) {
        if !grouped.contains_key(&job.key) {
            order.push((
                job.key.0.clone(),
                job.key.1.clone(),
                job.scenario.target,
                job.scenario.agents,
            ));
        }
        grouped.entry(job.key.clone()).or_default().push(r);
    }
    let rows: Vec<Row> = order
        .iter()
        .map(|(s, p, target, agents)| {
            summarize(s, p, &grouped[&(s.clone(), p.clone())], *target, *agents)
        })
        .collect();

    // A fresh campaign's first 50 live answers.
    let first_seeds = if args.quick { 20 } else { 100 };
    let mut first_jobs = Vec::new();
    for (n, p) in [(5usize, 0.2), (10, 0.2), (20, 0.2), (20, 0.5), (50, 0.3)] {
        let mut s = FloorScenario::standard(n, p);
        s.day_hours = 0.5;
        for seed in 0..first_seeds {
            first_jobs.push(Job {
                key: (format!("standard-n{n}-p{}", (p * 100.0).round()), "predictive".into()),
                scenario: s.clone(),
                pacer: "predictive".into(),
                seed: 50_000 + seed,
            });
        }
    }
    let first = run_all(&first_jobs, threads);
    let mut first50: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (job, r) in first_jobs.iter().zip(&first) {
        let e = first50.entry(job.key.0.clone()).or_insert((0, 0));
        e.1 += 1;
        // Within 3% of 50 answers: at most one drop.
        if (r.first50_drops as f64) <= 0.03 * 50.0 {
            e.0 += 1;
        }
    }
    let first50_within_target: BTreeMap<String, f64> =
        first50.into_iter().map(|(k, (ok, all))| (k, 100.0 * ok as f64 / all as f64)).collect();

    // One 8-hour day with 100 agents on one core.
    let mut big = FloorScenario::standard(100, 0.2);
    big.days = 1;
    let started = Instant::now();
    let mut pacer = ringa_pacer::by_name("predictive").expect("a known pacer");
    let big_run = run(&big, Policy::Pacer(pacer.as_mut()), 1);
    let day_100_agents_secs = started.elapsed().as_secs_f64();
    let _ = big_run;

    let sim = if args.floor_only { None } else { Some(sim_bench(&args, &best_ratio)?) };
    let report = Report {
        rows,
        first50_within_target,
        day_100_agents_secs,
        seeds,
        days_per_seed: days,
        sim,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    Ok(())
}

/// Every pacer through the engine on the standard scenario files.
fn sim_bench(args: &PacingArgs, best_ratio: &BTreeMap<String, (f64, String)>) -> Result<SimReport> {
    use anyhow::Context;
    use ringa_sim::{Scenario, Simulation};

    let (seeds, days) = if args.quick { (2usize, 1u32) } else { (3, 2) };
    let mut scenarios = Vec::new();
    for n in [5usize, 10, 20, 50] {
        for p in [10, 20, 30, 50] {
            let name = format!("standard-n{n}-p{p}");
            let path = args.scenarios.join(format!("{name}.toml"));
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let scenario = Scenario::from_toml(&text)
                .with_context(|| format!("parsing {}", path.display()))?;
            scenarios.push((name, scenario));
        }
    }
    struct SimJob {
        scenario: usize,
        pacer: String,
        seed: u64,
        days: u32,
    }
    let mut jobs = Vec::new();
    for (i, (name, _)) in scenarios.iter().enumerate() {
        let ratio = best_ratio.get(name).map_or("ratio:1".to_string(), |b| b.1.clone());
        for pacer in ["predictive", "adaptive-level", "progressive"]
            .into_iter()
            .map(str::to_string)
            .chain([ratio])
        {
            for seed in 0..seeds {
                jobs.push(SimJob { scenario: i, pacer: pacer.clone(), seed: seed as u64, days });
            }
        }
    }
    // First 50 live answers of fresh campaigns.
    let first_seeds = if args.quick { 20 } else { 40 };
    let mut first_jobs = Vec::new();
    for name in ["standard-n10-p20", "standard-n20-p50"] {
        let i = scenarios.iter().position(|(n, _)| n == name).expect("a standard scenario");
        for seed in 0..first_seeds {
            first_jobs.push(SimJob {
                scenario: i,
                pacer: "predictive".into(),
                seed: 70_000 + seed,
                days: 1,
            });
        }
    }
    eprintln!(
        "running {} engine runs of {days} day(s) and {} short ones",
        jobs.len(),
        first_jobs.len()
    );
    let run_one = |job: &SimJob, short: bool| {
        let mut scenario = scenarios[job.scenario].1.clone();
        if short {
            // About 60 live answers: long enough for the first 50.
            let n = f64::from(scenario.agent_count().max(1));
            scenario.run.hours_per_day = 60.0 * 160.0 / (n * 3600.0);
        }
        let pacer = ringa_pacer::by_name(&job.pacer).expect("bench pacer names are valid");
        let first = std::sync::Arc::new(Mutex::new((0u64, 0u64)));
        let pacer = Box::new(FirstAnswers { inner: pacer, seen: first.clone() });
        let mut sim = Simulation::new(&scenario, pacer, job.seed);
        let report = sim.run(job.days, |_| {});
        let (live, drops) = *first.lock().expect("the run is over");
        (report, if live >= 50 { Some(drops) } else { None })
    };
    let all: Vec<(bool, &SimJob)> =
        jobs.iter().map(|j| (false, j)).chain(first_jobs.iter().map(|j| (true, j))).collect();
    let next = Mutex::new(0usize);
    type Outcome = (ringa_sim::Report, Option<u64>);
    let results: Mutex<Vec<Option<Outcome>>> = Mutex::new(vec![None; all.len()]);
    std::thread::scope(|s| {
        for _ in 0..args.threads.max(1) {
            s.spawn(|| {
                loop {
                    let i = {
                        let mut n = next.lock().expect("no worker panics while holding it");
                        let i = *n;
                        *n += 1;
                        i
                    };
                    let Some(&(short, job)) = all.get(i) else { break };
                    let r = run_one(job, short);
                    results.lock().expect("no worker panics while holding it")[i] = Some(r);
                }
            });
        }
    });
    let results: Vec<Outcome> = results
        .into_inner()
        .expect("workers finished")
        .into_iter()
        .map(|r| r.expect("every job ran"))
        .collect();

    let mut rows = Vec::new();
    let mut first50: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut grouped: BTreeMap<(usize, String), Vec<&ringa_sim::Report>> = BTreeMap::new();
    let mut order = Vec::new();
    for (&(short, job), (r, first)) in all.iter().zip(&results) {
        if short {
            let e = first50.entry(scenarios[job.scenario].0.clone()).or_insert((0, 0));
            e.1 += 1;
            // 3% of 50 live answers is 1.5: at most one drop among them.
            if first.is_some_and(|drops| drops <= 1) {
                e.0 += 1;
            }
            continue;
        }
        let key = (job.scenario, job.pacer.clone());
        if !grouped.contains_key(&key) {
            order.push(key.clone());
        }
        grouped.entry(key).or_default().push(r);
    }
    for key in order {
        let runs = &grouped[&key];
        let n = runs.len() as f64;
        let utils: Vec<f64> = runs.iter().map(|r| r.utilization).collect();
        let mean = utils.iter().sum::<f64>() / n;
        let var = utils.iter().map(|u| (u - mean) * (u - mean)).sum::<f64>() / (n - 1.0).max(1.0);
        let live: u64 = runs.iter().map(|r| r.live_answers).sum();
        let drops: u64 = runs.iter().map(|r| r.drops).sum();
        let waits = runs.iter().map(|r| r.mean_wait_s).sum::<f64>() / n;
        let worst = runs.iter().filter_map(|r| r.worst_window_drop_rate).fold(0.0, f64::max);
        let over = runs.iter().filter_map(|r| r.windows_24h_over_target).sum::<f64>() / n;
        rows.push(Row {
            scenario: scenarios[key.0].0.clone(),
            pacer: key.1.clone(),
            days: runs.iter().map(|r| r.days as usize).sum(),
            utilization: 100.0 * mean,
            utilization_ci: 100.0 * 1.96 * (var / n).sqrt(),
            mean_wait_secs: waits,
            drop_rate: 100.0 * drops as f64 / live.max(1) as f64,
            worst_window: 100.0 * worst,
            windows_within_target: 100.0 * (1.0 - over),
            connects_per_agent_hour: runs.iter().map(|r| r.connects_per_agent_hour).sum::<f64>()
                / n,
        });
    }
    let first50_within_target =
        first50.into_iter().map(|(k, (ok, all))| (k, 100.0 * ok as f64 / all as f64)).collect();

    // An 8-hour day with 100 agents through the engine, on one core.
    let mut big = scenarios
        .iter()
        .find(|(n, _)| n == "standard-n50-p20")
        .expect("a standard scenario")
        .1
        .clone();
    big.agents.count = 100;
    let started = Instant::now();
    let pacer = ringa_pacer::by_name("predictive").expect("a known pacer");
    Simulation::new(&big, pacer, 1).run(1, |_| {});
    let day_100_agents_secs = started.elapsed().as_secs_f64();
    Ok(SimReport { seeds, days, rows, first50_within_target, day_100_agents_secs })
}

/// A pacer that counts the drops among the first 50 live answers it is told
/// about and otherwise does what the pacer inside it does.
struct FirstAnswers {
    inner: Box<dyn ringa_pacer::Pacer>,
    /// (live answers, drops among the first 50), read after the run.
    seen: std::sync::Arc<Mutex<(u64, u64)>>,
}

impl ringa_pacer::Pacer for FirstAnswers {
    fn name(&self) -> String {
        self.inner.name()
    }

    fn observe(&mut self, now: jiff::Timestamp, event: &ringa_pacer::PacerEvent) {
        use ringa_pacer::PacerEvent;
        if matches!(event, PacerEvent::Connected { .. } | PacerEvent::Dropped { .. }) {
            let mut seen = self.seen.lock().expect("no panic while holding it");
            if matches!(event, PacerEvent::Dropped { .. }) && seen.0 < 50 {
                seen.1 += 1;
            }
            seen.0 += 1;
        }
        self.inner.observe(now, event);
    }

    fn decide(&mut self, floor: &ringa_pacer::FloorView<'_>) -> u32 {
        self.inner.decide(floor)
    }

    fn p_human(&self, features: &ringa_pacer::CallFeatures) -> f64 {
        self.inner.p_human(features)
    }

    fn wants_decision(&self, now: jiff::Timestamp) -> bool {
        self.inner.wants_decision(now)
    }

    fn next_decision(&self) -> Option<jiff::Timestamp> {
        self.inner.next_decision()
    }
}

fn print_table(report: &Report) {
    println!(
        "{} seeds x {} day(s) of 8 h per scenario and pacer; drop windows: 24 h sliding (uk)\n",
        report.seeds, report.days_per_seed
    );
    println!(
        "| scenario | pacer | utilization % | mean wait s | drops % | worst 24 h window % | \
         windows within target % | connects / agent-hour |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for r in &report.rows {
        println!(
            "| {} | {} | {:.1} ± {:.1} | {:.1} | {:.2} | {:.2} | {:.0} | {:.1} |",
            r.scenario,
            r.pacer,
            r.utilization,
            r.utilization_ci,
            r.mean_wait_secs,
            r.drop_rate,
            r.worst_window,
            r.windows_within_target,
            r.connects_per_agent_hour
        );
    }
    println!("\nFresh campaign, first 50 live answers within 3% (predictive):\n");
    for (s, share) in &report.first50_within_target {
        println!("- {s}: {share:.0}% of seeds");
    }
    println!(
        "\nOne simulated 8-hour day, 100 agents, p = 0.2, predictive: {:.2} s",
        report.day_100_agents_secs
    );
    if let Some(sim) = &report.sim {
        println!(
            "\n## Through the engine (ringa-sim, scenarios/standard-*.toml): \
             {} seeds x {} day(s)\n",
            sim.seeds, sim.days
        );
        println!(
            "| scenario | pacer | utilization % | mean wait s | drops % | worst window % | \
             24 h windows within target % | connects / agent-hour |"
        );
        println!("|---|---|---|---|---|---|---|---|");
        for r in &sim.rows {
            println!(
                "| {} | {} | {:.1} ± {:.1} | {:.1} | {:.2} | {:.2} | {:.0} | {:.1} |",
                r.scenario,
                r.pacer,
                r.utilization,
                r.utilization_ci,
                r.mean_wait_secs,
                r.drop_rate,
                r.worst_window,
                r.windows_within_target,
                r.connects_per_agent_hour
            );
        }
        println!(
            "\nFresh campaign through the engine, at most one drop in the first 50 live answers:\n"
        );
        for (s, share) in &sim.first50_within_target {
            println!("- {s}: {share:.0}% of seeds");
        }
        println!(
            "\nOne 8-hour day, 100 agents, p = 0.2, predictive, engine + ringa-sim: {:.2} s",
            sim.day_100_agents_secs
        );
    }
}

/// CPU time this thread has used so far, from the kernel's scheduler
/// statistics; `None` where `/proc` does not offer it.
fn thread_cpu() -> Option<std::time::Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(std::time::Duration::from_nanos(nanos))
}

/// Times `work` by the wall clock and by this thread's CPU time. The CPU
/// time is the figure for "on one core": it does not grow when other
/// processes share the machine.
fn timed(work: impl FnOnce()) -> (f64, Option<f64>) {
    let cpu_before = thread_cpu();
    let started = Instant::now();
    work();
    let wall = started.elapsed().as_secs_f64();
    let cpu = thread_cpu().zip(cpu_before).map(|(after, before)| (after - before).as_secs_f64());
    (wall, cpu)
}

fn time_one_day(args: &PacingArgs) -> Result<()> {
    use anyhow::Context;

    let mut floor = FloorScenario::standard(100, 0.2);
    floor.days = 1;
    let (floor_wall, floor_cpu) = timed(|| {
        let mut pacer = ringa_pacer::by_name("predictive").expect("a known pacer");
        let _ = run(&floor, Policy::Pacer(pacer.as_mut()), 1);
    });
    let path = args.scenarios.join("standard-n50-p20.toml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut scenario = ringa_sim::Scenario::from_toml(&text)
        .with_context(|| format!("reading {}", path.display()))?;
    scenario.agents.count = 100;
    let (engine_wall, engine_cpu) = timed(|| {
        let pacer = ringa_pacer::by_name("predictive").expect("a known pacer");
        ringa_sim::Simulation::new(&scenario, pacer, 1).run(1, |_| {});
    });
    let show = |cpu: Option<f64>| cpu.map_or("unknown".to_string(), |c| format!("{c:.2} s"));
    println!("One 8-hour day, 100 agents, p = 0.2, predictive:");
    println!("- floor model: {floor_wall:.2} s wall, {} CPU", show(floor_cpu));
    println!("- engine + ringa-sim: {engine_wall:.2} s wall, {} CPU", show(engine_cpu));
    Ok(())
}
