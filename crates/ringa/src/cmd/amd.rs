//! `ringa amd`: the answering-machine detection corpus generator and
//! evaluator.

mod audio;
mod corpus;
mod eval;
mod texts;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use ringa_amd::{AmdConfig, MachineAction};

pub(crate) use corpus::VoiceSet;

/// Arguments of `ringa amd`.
#[derive(Debug, Args)]
pub(crate) struct AmdArgs {
    #[command(subcommand)]
    command: AmdCommand,
}

#[derive(Debug, Subcommand)]
enum AmdCommand {
    /// Generate a labelled corpus of call openings (needs espeak-ng and sox).
    Corpus {
        /// Seed; the same seed, count and voices give the same corpus.
        #[arg(long)]
        seed: u64,
        /// Number of clips.
        #[arg(long)]
        count: usize,
        /// Output directory (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Voices to use: development (tuning), evaluation (held out) or all.
        #[arg(long, value_enum, default_value = "evaluation")]
        voices: VoiceSet,
        /// Worker threads.
        #[arg(long, default_value_t = 2)]
        jobs: usize,
    },
    /// Print the standard detector settings as JSON (a starting point for
    /// `eval --config`).
    Config,
    /// Run the detectors over a corpus and print their figures.
    Eval {
        /// Corpus directory.
        dir: PathBuf,
        /// Only this detector (ringa or baseline); both by default.
        #[arg(long)]
        detector: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Worker threads.
        #[arg(long, default_value_t = 2)]
        jobs: usize,
        /// Also print one line per clip and detector: verdict, time, reason.
        #[arg(long)]
        verbose: bool,
        /// Settings for the ringa detector as JSON (an `AmdConfig`, as stored
        /// with attempts); the standard settings by default.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

/// Runs `ringa amd ...`.
pub(crate) fn run(args: AmdArgs) -> anyhow::Result<()> {
    match args.command {
        AmdCommand::Corpus { seed, count, out, voices, jobs } => {
            let started = std::time::Instant::now();
            let opts = corpus::CorpusOptions { seed, count, out: out.clone(), voices, jobs };
            let written = corpus::generate(&opts)?;
            tracing::info!(clips = written, dir = %out.display(), "corpus written");
            eprintln!(
                "wrote {written} clips to {} in {:.1} s",
                out.display(),
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        AmdCommand::Config => {
            let config = AmdConfig::standard(MachineAction::HangUp);
            println!("{}", serde_json::to_string_pretty(&config)?);
            Ok(())
        }
        AmdCommand::Eval { dir, detector, json, jobs, verbose, config } => {
            let names: Vec<&str> = match &detector {
                Some(name) => vec![name.as_str()],
                None => eval::DETECTORS.to_vec(),
            };
            let config = match &config {
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    serde_json::from_str(&text)
                        .with_context(|| format!("parsing {}", path.display()))?
                }
                None => AmdConfig::standard(MachineAction::HangUp),
            };
            let reports = eval::evaluate(&dir, &names, &config, jobs, verbose)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&reports)?);
            } else {
                eval::print_text(&reports);
            }
            Ok(())
        }
    }
}
