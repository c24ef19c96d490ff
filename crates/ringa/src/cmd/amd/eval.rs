//! The evaluator: runs the listening detectors over a labelled corpus and
//! reports how often people are judged machines, how many machines are
//! caught, how often the detectors are unsure and how long they take.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, bail};
use ringa_amd::{AmdConfig, AmdDetector, BaselineConfig, BaselineDetector, Class, Detector};
use serde::{Deserialize, Serialize};

use super::corpus::ClipClass;

/// The detectors the evaluator knows.
pub(crate) const DETECTORS: [&str; 2] = ["ringa", "baseline"];

/// The part of a label the evaluator reads.
#[derive(Debug, Clone, Deserialize)]
struct EvalLabel {
    id: String,
    class: ClipClass,
    subtype: String,
}

/// One clip's result for one detector.
#[derive(Debug, Clone)]
struct Outcome {
    class: ClipClass,
    subtype: String,
    verdict: Class,
    at_ms: u32,
}

/// Verdict counts for one sub-type.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Confusion {
    human: usize,
    machine: usize,
    notsure: usize,
}

/// Decision-time figures in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Timing {
    median_ms: u32,
    p90_ms: u32,
}

/// The figures for one detector.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    detector: String,
    clips: usize,
    humans: usize,
    machines: usize,
    others: usize,
    /// Share of people judged machines.
    human_as_machine: f64,
    /// Share of answering machines judged machines.
    machine_recall: f64,
    /// Share of all clips judged NOTSURE.
    notsure_rate: f64,
    /// Share of people judged NOTSURE.
    human_notsure_rate: f64,
    /// Share of fax, SIT, IVR, music and dead-air clips judged machines.
    other_as_machine: f64,
    human_decision: Timing,
    machine_decision: Timing,
    confusion: BTreeMap<String, Confusion>,
}

fn run_one(
    name: &str,
    config: &AmdConfig,
    samples: &[i16],
) -> anyhow::Result<(Class, u32, String)> {
    let mut detector: Box<dyn AmdDetector> = match name {
        "ringa" => Box::new(Detector::new(*config)),
        "baseline" => Box::new(BaselineDetector::new(BaselineConfig::classic())),
        other => bail!("unknown detector {other} (known: {})", DETECTORS.join(", ")),
    };
    for chunk in samples.chunks(160) {
        detector.handle_audio(chunk);
        if !detector.wants_audio() {
            break;
        }
    }
    Ok(match detector.poll_verdict() {
        Some(v) => (v.class, v.at_ms, format!("{:?} {:?}", v.reason, v.features)),
        // The clip ended first: that counts as unsure at the clip's end.
        None => (Class::NotSure, detector.elapsed_ms(), "clip ended".to_string()),
    })
}

fn read_wav(path: &Path) -> anyhow::Result<Vec<i16>> {
    let mut reader =
        hound::WavReader::open(path).with_context(|| format!("opening {}", path.display()))?;
    let spec = reader.spec();
    if spec.sample_rate != 8_000 || spec.channels != 1 || spec.bits_per_sample != 16 {
        bail!("{} is not 8 kHz mono 16-bit", path.display());
    }
    reader.samples::<i16>().collect::<Result<_, _>>().context("reading samples")
}

fn percentile(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let idx = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[idx]
}

fn timing(outcomes: &[&Outcome]) -> Timing {
    let mut times: Vec<u32> = outcomes.iter().map(|o| o.at_ms).collect();
    times.sort_unstable();
    Timing { median_ms: percentile(&times, 0.5), p90_ms: percentile(&times, 0.9) }
}

fn share(part: usize, whole: usize) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

fn report(detector: &str, outcomes: &[Outcome]) -> Report {
    let of = |c: ClipClass| outcomes.iter().filter(|o| o.class == c).collect::<Vec<_>>();
    let (humans, machines, others) =
        (of(ClipClass::Human), of(ClipClass::Machine), of(ClipClass::Other));
    let count = |set: &[&Outcome], v: Class| set.iter().filter(|o| o.verdict == v).count();
    let mut confusion: BTreeMap<String, Confusion> = BTreeMap::new();
    for o in outcomes {
        let key = format!("{}/{}", class_name(o.class), o.subtype);
        let entry = confusion.entry(key).or_default();
        match o.verdict {
            Class::Human => entry.human += 1,
            Class::Machine => entry.machine += 1,
            Class::NotSure => entry.notsure += 1,
        }
    }
    Report {
        detector: detector.to_string(),
        clips: outcomes.len(),
        humans: humans.len(),
        machines: machines.len(),
        others: others.len(),
        human_as_machine: share(count(&humans, Class::Machine), humans.len()),
        machine_recall: share(count(&machines, Class::Machine), machines.len()),
        notsure_rate: share(
            outcomes.iter().filter(|o| o.verdict == Class::NotSure).count(),
            outcomes.len(),
        ),
        human_notsure_rate: share(count(&humans, Class::NotSure), humans.len()),
        other_as_machine: share(count(&others, Class::Machine), others.len()),
        human_decision: timing(&humans),
        machine_decision: timing(&machines),
        confusion,
    }
}

fn class_name(c: ClipClass) -> &'static str {
    match c {
        ClipClass::Human => "human",
        ClipClass::Machine => "machine",
        ClipClass::Other => "other",
    }
}

/// Evaluates `detectors` on the corpus in `dir` with `jobs` threads.
pub(crate) fn evaluate(
    dir: &Path,
    detectors: &[&str],
    config: &AmdConfig,
    jobs: usize,
    verbose: bool,
) -> anyhow::Result<Vec<Report>> {
    let mut labels: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    labels.sort();
    if labels.is_empty() {
        bail!("no labelled clips in {}", dir.display());
    }

    let next = AtomicUsize::new(0);
    let results: Vec<Vec<(usize, Vec<Outcome>)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..jobs.max(1))
            .map(|_| {
                scope.spawn(|| -> anyhow::Result<Vec<(usize, Vec<Outcome>)>> {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(path) = labels.get(i) else { return Ok(mine) };
                        let text = std::fs::read_to_string(path)?;
                        let label: EvalLabel = serde_json::from_str(&text)
                            .with_context(|| format!("parsing {}", path.display()))?;
                        let samples = read_wav(&path.with_file_name(format!("{}.wav", label.id)))?;
                        let mut per = Vec::new();
                        for name in detectors {
                            let (verdict, at_ms, reason) = run_one(name, config, &samples)?;
                            if verbose {
                                println!(
                                    "{} {} {} {verdict} {at_ms} {reason}",
                                    label.id, name, label.subtype
                                );
                            }
                            per.push(Outcome {
                                class: label.class,
                                subtype: label.subtype.clone(),
                                verdict,
                                at_ms,
                            });
                        }
                        mine.push((i, per));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().map_err(|_| anyhow::anyhow!("an evaluation worker panicked"))?)
            .collect::<anyhow::Result<_>>()
    })?;

    let mut rows: Vec<(usize, Vec<Outcome>)> = results.into_iter().flatten().collect();
    rows.sort_by_key(|(i, _)| *i);
    Ok(detectors
        .iter()
        .enumerate()
        .map(|(d, name)| {
            let outcomes: Vec<Outcome> = rows.iter().map(|(_, per)| per[d].clone()).collect();
            report(name, &outcomes)
        })
        .collect())
}

/// Prints reports as readable text.
pub(crate) fn print_text(reports: &[Report]) {
    for r in reports {
        println!(
            "detector {} ({} clips: {} people, {} machines, {} other)",
            r.detector, r.clips, r.humans, r.machines, r.others
        );
        println!("  human_as_machine   {:6.2}%", 100.0 * r.human_as_machine);
        println!("  machine_recall     {:6.2}%", 100.0 * r.machine_recall);
        println!("  notsure_rate       {:6.2}%", 100.0 * r.notsure_rate);
        println!("  human_notsure_rate {:6.2}%", 100.0 * r.human_notsure_rate);
        println!("  other_as_machine   {:6.2}%", 100.0 * r.other_as_machine);
        println!(
            "  decision people    median {} ms, p90 {} ms",
            r.human_decision.median_ms, r.human_decision.p90_ms
        );
        println!(
            "  decision machines  median {} ms, p90 {} ms",
            r.machine_decision.median_ms, r.machine_decision.p90_ms
        );
        println!("  {:<30} {:>6} {:>8} {:>8}", "sub-type", "HUMAN", "MACHINE", "NOTSURE");
        for (k, c) in &r.confusion {
            println!("  {:<30} {:>6} {:>8} {:>8}", k, c.human, c.machine, c.notsure);
        }
    }
}
