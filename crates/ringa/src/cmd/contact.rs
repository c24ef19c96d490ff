//! `ringa contact`: one contact from the command line: deactivate it (it is
//! no longer dialed), activate it again, or erase it on the person's request
//! (personal data and recordings go, the numbers stay blocked).

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use jiff::Timestamp;
use ringa_core::ContactId;
use ringa_store::Store;

use super::import::{DbArg, runtime};
use super::lookup;

#[derive(Args, Debug)]
pub(crate) struct ContactArgs {
    #[command(subcommand)]
    command: ContactCommand,
}

#[derive(Subcommand, Debug)]
enum ContactCommand {
    /// Deactivate a contact: it is not dialed in any campaign until activated.
    Deactivate {
        /// The contact's id.
        id: u64,
        #[command(flatten)]
        db: DbArg,
    },
    /// Activate a deactivated contact: it is dialed again.
    Activate {
        /// The contact's id.
        id: u64,
        #[command(flatten)]
        db: DbArg,
    },
    /// Erase a contact on request: name, address, fields, numbers and
    /// recordings are removed for good; a one-way hash of each number keeps
    /// it blocked everywhere.
    Erase {
        /// The contact's id.
        id: u64,
        /// Confirm the erasure (it cannot be undone).
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        db: DbArg,
    },
}

impl ContactCommand {
    fn db(&self) -> &DbArg {
        match self {
            ContactCommand::Deactivate { db, .. }
            | ContactCommand::Activate { db, .. }
            | ContactCommand::Erase { db, .. } => db,
        }
    }
}

pub(crate) fn run(args: ContactArgs) -> Result<()> {
    runtime()?.block_on(run_async(args))
}

async fn run_async(args: ContactArgs) -> Result<()> {
    let store = args.command.db().open().await?;
    let result = match args.command {
        ContactCommand::Deactivate { id, .. } => set_active(&store, id, false).await,
        ContactCommand::Activate { id, .. } => set_active(&store, id, true).await,
        ContactCommand::Erase { id, yes, .. } => erase(&store, id, yes).await,
    };
    store.close().await;
    result
}

async fn set_active(store: &Store, id: u64, active: bool) -> Result<()> {
    let contact = lookup::contact(store, id).await?;
    if contact.erased {
        if active {
            bail!("contact {id} was erased on request; it is never dialed again");
        }
        println!("contact {id} was erased on request and is inactive already");
        return Ok(());
    }
    if contact.active == active {
        let word = if active { "active" } else { "inactive" };
        println!("contact {id} is already {word}");
        return Ok(());
    }
    store
        .set_contact_active(ContactId(id), active, Timestamp::now())
        .await
        .with_context(|| format!("updating contact {id}"))?;
    let state = match store.contact(ContactId(id)).await {
        Ok(row) => row.state,
        Err(_) => "unknown",
    };
    if active {
        println!("contact {id} activated (state {state})");
    } else {
        println!(
            "contact {id} deactivated (state {state}): it is not dialed until \
             `ringa contact activate {id}`"
        );
    }
    Ok(())
}

async fn erase(store: &Store, id: u64, yes: bool) -> Result<()> {
    let contact = lookup::contact(store, id).await?;
    if contact.erased {
        println!("contact {id} was erased already");
        return Ok(());
    }
    if !yes {
        let recordings = store
            .recordings_of_contact(ContactId(id))
            .await
            .with_context(|| format!("reading the recordings of contact {id}"))?;
        let campaign = lookup::campaign_name(store, contact.campaign).await;
        bail!(
            "erasing contact {id} of campaign {campaign} removes its name, address, fields, \
             {} numbers and {} recordings for good (the numbers stay blocked); nothing was \
             changed: run `ringa contact erase {id} --yes` to erase it",
            contact.numbers.len(),
            recordings.len()
        );
    }
    let report = store
        .erase_contact(ContactId(id), Timestamp::now())
        .await
        .with_context(|| format!("erasing contact {id}"))?;
    println!("contact {id} erased");
    println!("numbers kept only as one-way hashes (still blocked): {}", report.numbers_hashed);
    println!("callbacks cancelled: {}", report.callbacks_cancelled);
    println!("recordings removed: {}", report.recordings_removed.len());
    for path in &report.recordings_removed {
        println!("  {path}");
    }
    if !report.recordings_missing.is_empty() {
        println!("recordings already gone: {}", report.recordings_missing.len());
    }
    if !report.recordings_left.is_empty() {
        for (path, why) in &report.recordings_left {
            eprintln!("could not remove the recording {path}: {why}");
        }
        bail!(
            "contact {id} is erased in the database, but {} recording file(s) could not be \
             removed: delete them by hand",
            report.recordings_left.len()
        );
    }
    Ok(())
}
