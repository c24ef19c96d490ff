//! `ringa order`: sale cancellations from the command line: one order by
//! its number, or every order a client's cancellation file names (by order
//! number or by the customer's phone number).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use jiff::Timestamp;
use ringa_store::{Store, StoreError};

use super::import::{DbArg, runtime};
use super::lookup;

#[derive(Args, Debug)]
pub(crate) struct OrderArgs {
    #[command(subcommand)]
    command: OrderCommand,
}

#[derive(Subcommand, Debug)]
enum OrderCommand {
    /// Cancel one order (the customer regretted the sale).
    Cancel {
        /// The order's number (the `order` column of `ringa export orders`).
        #[arg(value_parser = clap::value_parser!(i64).range(1..))]
        id: i64,
        /// Why; kept with the order and shown in exports.
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        db: DbArg,
    },
    /// Cancel the orders of a client's file: one a line (the first column
    /// of a CSV), an order number (`17` or `order-17`) or the customer's
    /// phone number (the latest order of that number in the campaign).
    /// Lines that name no order are listed.
    CancelFile {
        file: PathBuf,
        /// The campaign's name or id.
        #[arg(long)]
        campaign: String,
        /// Why; kept with each order and shown in exports (default: the file's name).
        #[arg(long)]
        reason: Option<String>,
        /// The file's text encoding (utf-8, windows-1252, latin1, utf-16le,
        /// utf-16be); detected when not given.
        #[arg(long)]
        encoding: Option<String>,
        #[command(flatten)]
        db: DbArg,
    },
}

pub(crate) fn run(args: OrderArgs) -> Result<()> {
    runtime()?.block_on(run_async(args))
}

async fn run_async(args: OrderArgs) -> Result<()> {
    match args.command {
        OrderCommand::Cancel { id, reason, db } => {
            let reason = reason.unwrap_or_else(|| "cancelled with `ringa order cancel`".into());
            let store = db.open().await?;
            let result = cancel(&store, id, &reason).await;
            store.close().await;
            result
        }
        OrderCommand::CancelFile { file, campaign, reason, encoding, db } => {
            // The file is read and decoded first: a wrong path or encoding
            // is told before the database is touched.
            let text = read_text(&file, encoding.as_deref())?;
            let reason =
                reason.unwrap_or_else(|| format!("cancellation file {}", file_name(&file)));
            let store = db.open().await?;
            let result = cancel_file(&store, &file, &text, &campaign, &reason).await;
            store.close().await;
            result
        }
    }
}

async fn cancel(store: &Store, id: i64, reason: &str) -> Result<()> {
    match store.cancel_order(id, reason, Timestamp::now()).await {
        Ok(true) => println!("order {id} cancelled ({reason})"),
        Ok(false) => println!("order {id} was cancelled already; nothing changed"),
        Err(StoreError::NotFound(_)) => bail!(
            "no order {id}; `ringa export orders --from DATE --to DATE` lists the orders \
             with their numbers"
        ),
        Err(err) => return Err(err).with_context(|| format!("cancelling order {id}")),
    }
    Ok(())
}

async fn cancel_file(
    store: &Store,
    file: &Path,
    text: &str,
    campaign: &str,
    reason: &str,
) -> Result<()> {
    let campaign = lookup::campaign(store, campaign).await?;
    let report = store
        .cancel_orders_from_text(campaign.id, text, reason, Timestamp::now())
        .await
        .with_context(|| format!("cancelling the orders of {}", file.display()))?;
    println!("{} (campaign {}):", file.display(), campaign.name);
    println!("cancelled: {}", report.cancelled);
    println!("cancelled already: {}", report.already_cancelled);
    println!("lines naming no order: {}", report.not_found.len());
    for (line, item, why) in &report.not_found {
        println!("  line {line}: {item:?}: {why}");
    }
    Ok(())
}

/// The file's text, decoded as an import decodes a contact file: a byte
/// order mark, UTF-16, valid UTF-8 or a confident guess; bytes that do not
/// fit are an error, never replaced.
fn read_text(file: &Path, encoding: Option<&str>) -> Result<String> {
    let bytes = std::fs::read(file)
        .with_context(|| format!("reading {}; check the file's path", file.display()))?;
    let decoded = ringa_store::import::decode(&bytes, encoding)
        .with_context(|| format!("reading {}", file.display()))?;
    Ok(decoded.text)
}

fn file_name(file: &Path) -> String {
    file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}
