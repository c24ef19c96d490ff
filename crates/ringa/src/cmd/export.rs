//! `ringa export`: orders, attempts and statistics for a period as CSV or
//! JSON, on demand, and the scheduled exports (add one, run those due).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use jiff::{SignedDuration, Timestamp};
use ringa_store::export::{
    Destination, EmailTarget, ExportFormat, ExportKind, ExportRequest, ExportSchedule, export,
    run_due_exports,
};

use super::import::{DbArg, runtime};

#[derive(Args, Debug)]
pub(crate) struct ExportArgs {
    #[command(subcommand)]
    command: ExportCommand,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    Csv,
    Json,
}

impl From<Format> for ExportFormat {
    fn from(f: Format) -> Self {
        match f {
            Format::Csv => ExportFormat::Csv,
            Format::Json => ExportFormat::Json,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Kind {
    Orders,
    Attempts,
    Stats,
}

impl From<Kind> for ExportKind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Orders => ExportKind::Orders,
            Kind::Attempts => ExportKind::Attempts,
            Kind::Stats => ExportKind::Stats,
        }
    }
}

#[derive(Args, Debug)]
struct PeriodArgs {
    /// Start of the period: an RFC 3339 instant or a date (midnight UTC).
    #[arg(long)]
    from: String,
    /// End of the period (excluded).
    #[arg(long)]
    to: String,
    #[arg(long, value_enum, default_value = "csv")]
    format: Format,
    /// Write here instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Only this campaign.
    #[arg(long)]
    campaign: Option<String>,
    #[command(flatten)]
    db: DbArg,
}

#[derive(Subcommand, Debug)]
enum ExportCommand {
    /// Sales (orders), with cancellations.
    Orders(PeriodArgs),
    /// Every attempt with its SIP code, result and outcome.
    Attempts(PeriodArgs),
    /// Counts and rates per campaign, with their formulas.
    Stats(PeriodArgs),
    /// Add or replace a scheduled export.
    Schedule {
        name: String,
        #[arg(value_enum)]
        kind: Kind,
        #[arg(long, value_enum, default_value = "csv")]
        format: Format,
        /// Run every this many hours.
        #[arg(long, default_value_t = 24)]
        every_hours: i64,
        /// Cover the hours before each run.
        #[arg(long, default_value_t = 24)]
        period_hours: i64,
        /// First run (RFC 3339 or a date); default now.
        #[arg(long)]
        first_run: Option<String>,
        #[arg(long)]
        campaign: Option<String>,
        /// Deliver into this folder.
        #[arg(long)]
        folder: Option<PathBuf>,
        /// Deliver by HTTP POST to this http:// URL.
        #[arg(long)]
        post: Option<String>,
        /// Deliver by e-mail to this address (repeat for several).
        #[arg(long)]
        mail_to: Vec<String>,
        /// SMTP server HOST:PORT for --mail-to.
        #[arg(long, default_value = "127.0.0.1:25")]
        smtp: String,
        /// Sender address for --mail-to.
        #[arg(long, default_value = "ringa@localhost")]
        mail_from: String,
        #[command(flatten)]
        db: DbArg,
    },
    /// Run every scheduled export that is due now (call it from cron or a timer).
    RunDue {
        #[command(flatten)]
        db: DbArg,
    },
}

fn instant(text: &str) -> Result<Timestamp> {
    if let Ok(t) = text.parse::<Timestamp>() {
        return Ok(t);
    }
    let date: jiff::civil::Date =
        text.parse().with_context(|| format!("{text:?} is neither an instant nor a date"))?;
    Ok(date.to_zoned_datetime(jiff::tz::TimeZone::UTC)?.timestamp())
}

pub(crate) fn run(args: ExportArgs) -> Result<()> {
    runtime()?.block_on(run_async(args))
}

async fn run_async(args: ExportArgs) -> Result<()> {
    let (kind, period) = match args.command {
        ExportCommand::Orders(p) => (ExportKind::Orders, p),
        ExportCommand::Attempts(p) => (ExportKind::Attempts, p),
        ExportCommand::Stats(p) => (ExportKind::Stats, p),
        ExportCommand::RunDue { db } => {
            let store = db.open().await?;
            let mut failed = Vec::new();
            for (name, outcome) in run_due_exports(&store, Timestamp::now()).await? {
                match outcome {
                    Ok(place) => println!("{name}: delivered to {place}"),
                    Err(err) => {
                        println!("{name}: FAILED: {err}");
                        failed.push(format!("{name}: {err}"));
                    }
                }
            }
            store.close().await;
            // A failed delivery is an error for cron and scripts: the exit
            // status says so, with the reasons.
            if !failed.is_empty() {
                anyhow::bail!("{} of the due exports failed: {}", failed.len(), failed.join("; "));
            }
            return Ok(());
        }
        ExportCommand::Schedule {
            name,
            kind,
            format,
            every_hours,
            period_hours,
            first_run,
            campaign,
            folder,
            post,
            mail_to,
            smtp,
            mail_from,
            db,
        } => {
            let destination = match (folder, post, mail_to.is_empty()) {
                (Some(path), None, true) => Destination::Folder { path },
                (None, Some(url), true) => Destination::Http { url },
                (None, None, false) => {
                    let (host, port) = smtp.rsplit_once(':').context("--smtp is HOST:PORT")?;
                    Destination::Email(EmailTarget {
                        host: host.to_string(),
                        port: port.parse().context("--smtp port")?,
                        from: mail_from,
                        to: mail_to,
                        username: None,
                        password: None,
                    })
                }
                _ => bail!("give exactly one of --folder, --post or --mail-to"),
            };
            let store = db.open().await?;
            let campaign = match campaign {
                Some(c) => Some(super::lookup::campaign(&store, &c).await?.id),
                None => None,
            };
            let schedule = ExportSchedule {
                name: name.clone(),
                kind: kind.into(),
                format: format.into(),
                campaign,
                destination,
                every: SignedDuration::from_hours(every_hours),
                period: SignedDuration::from_hours(period_hours),
            };
            let first = match first_run {
                Some(t) => instant(&t)?,
                None => Timestamp::now(),
            };
            store.add_export_schedule(&schedule, first).await?;
            println!("scheduled {name}, first run {first}");
            store.close().await;
            return Ok(());
        }
    };
    let store = period.db.open().await?;
    let campaign = match &period.campaign {
        Some(c) => Some(super::lookup::campaign(&store, c).await?.id),
        None => None,
    };
    let req = ExportRequest {
        kind,
        format: period.format.into(),
        from: instant(&period.from)?,
        to: instant(&period.to)?,
        campaign,
    };
    let bytes = export(&store, &req).await?;
    match &period.out {
        Some(path) => {
            std::fs::write(path, &bytes).with_context(|| format!("writing {}", path.display()))?;
            println!("{} bytes written to {}", bytes.len(), path.display());
        }
        None => {
            use std::io::Write;
            // A reader that stops early (`| head`) is not an error.
            match std::io::stdout().write_all(&bytes) {
                Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => {
                    return Err(err).context("writing standard output");
                }
                _ => {}
            }
        }
    }
    store.close().await;
    Ok(())
}
