//! `ringa dnc`: do-not-call lists from the command line: load a register
//! extract or a list file, add a number, check where a number is blocked.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use jiff::Timestamp;
use ringa_core::{PhoneNumber, Region};
use ringa_store::{DncKind, DncLoadOptions};

use super::import::{DbArg, runtime};

#[derive(Args, Debug)]
pub(crate) struct DncArgs {
    #[command(subcommand)]
    command: DncCommand,
}

#[derive(Subcommand, Debug)]
enum DncCommand {
    /// Load a file with one number or prefix (`4670174*`) a line.
    Load {
        file: PathBuf,
        /// The list (created when missing; `global` is the global list).
        #[arg(long)]
        list: String,
        /// The list is a national register (its entries are replaced by the file).
        #[arg(long)]
        register: bool,
        /// The date of the register extract.
        #[arg(long)]
        wash_date: Option<String>,
        /// Keep the list's entries and add the file's.
        #[arg(long)]
        append: bool,
        /// Attach the list to this campaign.
        #[arg(long)]
        campaign: Option<String>,
        #[arg(long, default_value = "SE")]
        region: String,
        #[command(flatten)]
        db: DbArg,
    },
    /// Block one number on a list.
    Add {
        number: String,
        /// An existing list (see `ringa dnc lists`; `global` is the global list).
        #[arg(long)]
        list: String,
        /// Create the list when it does not exist (attached to no campaign
        /// until `ringa dnc load --campaign` attaches it).
        #[arg(long)]
        create_list: bool,
        #[arg(long, default_value = "SE")]
        region: String,
        #[arg(long, default_value = "command line")]
        source: String,
        #[command(flatten)]
        db: DbArg,
    },
    /// Tell which lists block a number, and since when.
    Check {
        number: String,
        /// Only the lists this campaign honours.
        #[arg(long)]
        campaign: Option<String>,
        #[arg(long, default_value = "SE")]
        region: String,
        #[command(flatten)]
        db: DbArg,
    },
    /// List the do-not-call lists.
    Lists {
        #[command(flatten)]
        db: DbArg,
    },
}

pub(crate) fn run(args: DncArgs) -> Result<()> {
    runtime()?.block_on(run_async(args))
}

async fn run_async(args: DncArgs) -> Result<()> {
    let now = Timestamp::now();
    match args.command {
        DncCommand::Load { file, list, register, wash_date, append, campaign, region, db } => {
            let region = Region::parse(&region).context("--region")?;
            let store = db.open().await?;
            let kind = if register { DncKind::Register } else { DncKind::Campaign };
            let row = store.ensure_dnc_list(&list, kind, now).await?;
            let mut washed_campaign = None;
            if let Some(name) = campaign {
                let campaign = store.ensure_campaign(&name, region, now).await?;
                store.attach_dnc_list(campaign.id, row.id).await?;
                washed_campaign = Some(campaign);
            }
            let options = DncLoadOptions {
                region,
                wash_date,
                replace: register && !append,
                source: format!("file {}", file.display()),
            };
            let report = store.load_dnc_file(row.id, &file, &options, now).await?;
            println!(
                "{}: {} numbers, {} prefixes, {} invalid, {} blank or comment lines",
                row.name,
                report.numbers,
                report.prefixes,
                report.invalid.len(),
                report.skipped
            );
            for (line, text, why) in report.invalid.iter().take(20) {
                println!("  line {line}: {text:?}: {why}");
            }
            // A register extract with its date, loaded for a campaign, is
            // that campaign's register wash: rule sets that require one
            // (se: NIX) let it dial from then on.
            if register && let (Some(row), Some(date)) = (washed_campaign, &options.wash_date) {
                let date: jiff::civil::Date =
                    date.trim().parse().context("--wash-date is YYYY-MM-DD")?;
                let mut config = ringa_web::floor::campaign_of(&row);
                config.rules.register_washed = Some(date);
                store.set_campaign_config(row.id, &serde_json::to_value(&config)?).await?;
                println!("{}: register wash recorded as {date}", row.name);
            }
            store.close().await;
        }
        DncCommand::Add { number, list, create_list, region, source, db } => {
            let region = Region::parse(&region).context("--region")?;
            let number = PhoneNumber::parse(&number, region).context("the number")?;
            let store = db.open().await?;
            let row = match store.dnc_list_by_name(&list) {
                Some(row) => row,
                None if create_list => store.ensure_dnc_list(&list, DncKind::Campaign, now).await?,
                None => {
                    let names: Vec<String> =
                        store.dnc_lists().into_iter().map(|l| l.name).collect();
                    store.close().await;
                    bail!(
                        "no do-not-call list named {list:?}; existing lists: {}; \
                         pass --create-list to create it (it blocks nothing until a \
                         campaign honours it: `ringa dnc load --list NAME --campaign C`)",
                        names.join(", ")
                    );
                }
            };
            let added = store.add_dnc(row.id, &number, &source, now).await?;
            println!("{} {} on {}", number, if added { "added" } else { "already" }, row.name);
            store.close().await;
        }
        DncCommand::Check { number, campaign, region, db } => {
            let region = Region::parse(&region).context("--region")?;
            let number = PhoneNumber::parse(&number, region).context("the number")?;
            let store = db.open().await?;
            let blocks = match campaign {
                Some(name) => {
                    let campaign = super::lookup::campaign(&store, &name).await?;
                    store.dnc_check(&number, Some(campaign.id)).into_iter().collect()
                }
                None => store.dnc_blocks(&number),
            };
            if blocks.is_empty() {
                println!("{number}: not blocked");
            }
            for b in blocks {
                let added = b.added_at.map(|t| t.to_string()).unwrap_or_else(|| "-".into());
                let what = if b.erased {
                    "erased contact"
                } else if b.prefix {
                    "prefix"
                } else {
                    "number"
                };
                let wash = b.wash_date.map(|d| format!(", washed {d}")).unwrap_or_default();
                println!(
                    "{number}: blocked by {} ({}, {what}), added {added}{wash}",
                    b.list_name,
                    b.kind.as_str()
                );
            }
            store.close().await;
        }
        DncCommand::Lists { db } => {
            let store = db.open().await?;
            for list in store.dnc_lists() {
                println!(
                    "{:>4} {:<20} {:<9} {}",
                    list.id.0,
                    list.name,
                    list.kind.as_str(),
                    list.wash_date.unwrap_or_default()
                );
            }
            store.close().await;
        }
    }
    Ok(())
}
