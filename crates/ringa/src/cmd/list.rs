//! `ringa list`: a campaign's lists from the command line: show them,
//! enable or disable one, set its weight and priority in the mix, cap its
//! new contacts a day, and reset it (make finished contacts dialable again).

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use jiff::Timestamp;
use ringa_core::ListId;
use ringa_store::{ListRow, Store, StoreError};

use super::import::{DbArg, runtime};
use super::lookup;

#[derive(Args, Debug)]
pub(crate) struct ListArgs {
    #[command(subcommand)]
    command: ListCommand,
}

#[derive(Subcommand, Debug)]
enum ListCommand {
    /// Show a campaign's lists: id, whether enabled, weight, priority, cap
    /// of new contacts a day and name; then the campaign's contacts by state.
    Show {
        /// The campaign's name or id.
        #[arg(long)]
        campaign: String,
        #[command(flatten)]
        db: DbArg,
    },
    /// Enable a list: its contacts are dialed.
    Enable {
        /// The list's id (see `ringa list show`).
        id: u64,
        #[command(flatten)]
        db: DbArg,
    },
    /// Disable a list: its contacts are not dialed until it is enabled again.
    Disable {
        /// The list's id (see `ringa list show`).
        id: u64,
        #[command(flatten)]
        db: DbArg,
    },
    /// Set a list's place in the campaign's mix: lists of a higher priority
    /// are dialed first, lists of the same priority share by weight.
    Mix {
        /// The list's id (see `ringa list show`).
        id: u64,
        /// The list's share among lists of the same priority (1 or more).
        #[arg(long)]
        weight: u32,
        /// Lists of a higher priority are dialed before lower ones; kept
        /// when not given.
        #[arg(long, allow_negative_numbers = true)]
        priority: Option<i32>,
        #[command(flatten)]
        db: DbArg,
    },
    /// Cap how many never-dialed contacts of a list start a day, or remove the cap.
    Cap {
        /// The list's id (see `ringa list show`).
        id: u64,
        /// At most this many new contacts a day (0: none, only those already dialed).
        #[arg(long, required_unless_present = "none", conflicts_with = "none")]
        per_day: Option<u32>,
        /// No cap.
        #[arg(long)]
        none: bool,
        #[command(flatten)]
        db: DbArg,
    },
    /// Make a list's finished contacts dialable again with a fresh attempt
    /// budget. Do-not-call and final-by-rule outcomes, numbers on a
    /// do-not-call list and inactive or erased contacts stay closed.
    Reset {
        /// The list's id (see `ringa list show`).
        id: u64,
        /// Only contacts whose last outcome or call result is this code
        /// (repeat for several); every outcome when not given.
        #[arg(long = "outcome", value_name = "CODE")]
        outcomes: Vec<String>,
        #[command(flatten)]
        db: DbArg,
    },
}

pub(crate) fn run(args: ListArgs) -> Result<()> {
    runtime()?.block_on(run_async(args))
}

async fn run_async(args: ListArgs) -> Result<()> {
    // Checked before the database is opened: the reason is the value,
    // whatever the list.
    if let ListCommand::Mix { id, weight: 0, .. } = &args.command {
        bail!(
            "--weight 0: a list's weight must be at least 1; to stop dialing a list, \
             disable it with `ringa list disable {id}`"
        );
    }
    let store = args.command.db().open().await?;
    let result = run_on(&store, args.command).await;
    store.close().await;
    result
}

impl ListCommand {
    fn db(&self) -> &DbArg {
        match self {
            ListCommand::Show { db, .. }
            | ListCommand::Enable { db, .. }
            | ListCommand::Disable { db, .. }
            | ListCommand::Mix { db, .. }
            | ListCommand::Cap { db, .. }
            | ListCommand::Reset { db, .. } => db,
        }
    }
}

async fn run_on(store: &Store, command: ListCommand) -> Result<()> {
    match command {
        ListCommand::Show { campaign, .. } => show(store, &campaign).await,
        ListCommand::Enable { id, .. } => set_enabled(store, id, true).await,
        ListCommand::Disable { id, .. } => set_enabled(store, id, false).await,
        ListCommand::Mix { id, weight, priority, .. } => set_mix(store, id, weight, priority).await,
        ListCommand::Cap { id, per_day, .. } => set_cap(store, id, per_day).await,
        ListCommand::Reset { id, outcomes, .. } => reset(store, id, outcomes).await,
    }
}

async fn show(store: &Store, given: &str) -> Result<()> {
    let campaign = lookup::campaign(store, given).await?;
    let lists = store.lists(campaign.id).await.context("reading the lists")?;
    if lists.is_empty() {
        println!(
            "campaign {} ({}) has no lists; `ringa import FILE --campaign {} --list NAME` \
             creates one",
            campaign.name, campaign.id.0, campaign.name
        );
        return Ok(());
    }
    println!("lists of campaign {} ({}):", campaign.name, campaign.id.0);
    println!(
        "{:>4}  {:<8} {:>6} {:>8} {:>7}  name",
        "id", "enabled", "weight", "priority", "new/day"
    );
    for list in &lists {
        let cap = list.new_per_day.map(|n| n.to_string()).unwrap_or_else(|| "-".to_string());
        println!(
            "{:>4}  {:<8} {:>6} {:>8} {:>7}  {}",
            list.id.0,
            if list.enabled { "yes" } else { "no" },
            list.weight,
            list.priority,
            cap,
            list.name
        );
    }

    // The store counts contacts per campaign, not per list.
    let states = store.contact_states(campaign.id).await.context("counting the contacts")?;
    let mut states: Vec<(&str, u64)> = states.into_iter().filter(|(_, n)| *n > 0).collect();
    states.sort();
    let total: u64 = states.iter().map(|(_, n)| n).sum();
    let parts: Vec<String> = states.iter().map(|(name, n)| format!("{n} {name}")).collect();
    if parts.is_empty() {
        println!("contacts of the campaign: none");
    } else {
        println!("contacts of the campaign: {total} ({})", parts.join(", "));
    }
    Ok(())
}

/// How a list is named in messages: `list 3 (March) of campaign Spring`.
async fn describe(store: &Store, list: &ListRow) -> String {
    let campaign = lookup::campaign_name(store, list.campaign).await;
    format!("list {} ({}) of campaign {campaign}", list.id.0, list.name)
}

async fn set_enabled(store: &Store, id: u64, enabled: bool) -> Result<()> {
    let list = lookup::list(store, id).await?;
    let name = describe(store, &list).await;
    let word = if enabled { "enabled" } else { "disabled" };
    if list.enabled == enabled {
        println!("{name} is already {word}");
        return Ok(());
    }
    store
        .set_list_enabled(ListId(id), enabled)
        .await
        .with_context(|| format!("updating {name}"))?;
    println!("{name} {word}");
    Ok(())
}

async fn set_mix(store: &Store, id: u64, weight: u32, priority: Option<i32>) -> Result<()> {
    let list = lookup::list(store, id).await?;
    let name = describe(store, &list).await;
    let priority = priority.unwrap_or(list.priority);
    store
        .set_list_mix(ListId(id), weight, priority)
        .await
        .with_context(|| format!("updating {name}"))?;
    println!(
        "{name}: weight {weight}, priority {priority} (was weight {}, priority {})",
        list.weight, list.priority
    );
    Ok(())
}

async fn set_cap(store: &Store, id: u64, per_day: Option<u32>) -> Result<()> {
    let list = lookup::list(store, id).await?;
    let name = describe(store, &list).await;
    store.set_list_cap(ListId(id), per_day).await.with_context(|| format!("updating {name}"))?;
    match per_day {
        Some(0) => println!("{name}: no new contacts a day (only contacts already dialed)"),
        Some(n) => println!("{name}: at most {n} new contacts a day"),
        None => println!("{name}: no cap on new contacts a day"),
    }
    Ok(())
}

async fn reset(store: &Store, id: u64, outcomes: Vec<String>) -> Result<()> {
    let list = lookup::list(store, id).await?;
    let name = describe(store, &list).await;

    let report = match store.reset_list(ListId(id), &outcomes, Timestamp::now()).await {
        Err(StoreError::Invalid(why)) => bail!("--outcome {why}"),
        other => other.with_context(|| format!("resetting {name}"))?,
    };
    let which = if outcomes.is_empty() { "every outcome".to_string() } else { outcomes.join(", ") };
    println!("{name} reset ({which})");
    println!("reopened: {}", report.reset);
    println!("kept closed, number on a do-not-call list: {}", report.kept_dnc);
    println!("kept closed, do-not-call or final-by-rule outcome: {}", report.kept_final);
    println!("kept closed, inactive or erased: {}", report.kept_inactive);
    Ok(())
}
