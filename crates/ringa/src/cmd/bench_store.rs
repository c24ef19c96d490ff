//! `ringa bench import` and `ringa bench select`: storage benchmarks that
//! print figures. Import: a generated CSV (default 1 000 000 rows) with
//! normalisation, dedupe and do-not-call washing. Select: next-contact
//! claims in a campaign of (default) 10 000 000 contacts.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use jiff::{SignedDuration, Timestamp};
use rand::{Rng, SeedableRng};
use ringa_core::{PhoneNumber, Region};
use ringa_store::import::{Bucket, DedupeScope, ImportOptions, import_bytes};
use ringa_store::{DncLoadOptions, NewContact, NewNumber, Store};

use super::import::runtime;

#[derive(Args, Debug)]
pub(crate) struct BenchArgs {
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// Every pacer on the standard simulated floors: utilization, waits, drops.
    Pacing(super::bench_pacing::PacingArgs),
    /// Telephony on loopback: call setup rate against SIPp, bridged calls with recording.
    Sip(super::bench_sip::SipArgs),
    /// Import a generated CSV into a fresh SQLite (or --db) store.
    Import {
        #[arg(long, default_value_t = 1_000_000)]
        rows: usize,
        /// Numbers on the global do-not-call list before the import.
        #[arg(long, default_value_t = 10_000)]
        dnc: usize,
        /// Database URL; default a SQLite file in a temporary directory.
        #[arg(long)]
        db: Option<String>,
    },
    /// Time next-contact claims in a campaign with many contacts.
    Select {
        #[arg(long, default_value_t = 10_000_000)]
        contacts: usize,
        #[arg(long, default_value_t = 4)]
        lists: usize,
        #[arg(long, default_value_t = 10_000)]
        samples: usize,
        /// Database URL; default a SQLite file in a temporary directory.
        /// An existing benchmark campaign in it is reused.
        #[arg(long)]
        db: Option<String>,
    },
}

pub(crate) fn run(args: BenchArgs) -> Result<()> {
    runtime()?.block_on(async {
        match args.command {
            BenchCommand::Pacing(args) => super::bench_pacing::run_bench(args),
            BenchCommand::Sip(args) => super::bench_sip::run(args).await,
            BenchCommand::Import { rows, dnc, db } => bench_import(rows, dnc, db).await,
            BenchCommand::Select { contacts, lists, samples, db } => {
                bench_select(contacts, lists, samples, db).await
            }
        }
    })
}

fn report(what: &str, latencies: &mut [std::time::Duration], store: &Store) {
    if latencies.is_empty() {
        return;
    }
    latencies.sort();
    let pick = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{what} over {} calls ({:?}): p50 {:?}, p90 {:?}, p99 {:?}, max {:?}",
        latencies.len(),
        store.backend(),
        pick(0.5),
        pick(0.9),
        pick(0.99),
        latencies[latencies.len() - 1]
    );
}

async fn open(db: Option<String>) -> Result<(Store, Option<tempfile::TempDir>)> {
    match db {
        Some(url) => Ok((Store::open(&url).await?, None)),
        None => {
            let dir = tempfile::tempdir().context("a temporary directory")?;
            let path: PathBuf = dir.path().join("bench.db");
            let store = Store::open(&format!("sqlite://{}", path.display())).await?;
            Ok((store, Some(dir)))
        }
    }
}

/// A valid Swedish mobile number from an index (070 range, unique below 10^7).
fn mobile(i: usize) -> String {
    format!("070{:07}", i % 10_000_000)
}

/// The same number as people write it, in one of several forms.
fn written(national: &str, form: usize) -> String {
    let rest = &national[1..];
    match form % 5 {
        0 => {
            format!("{}-{} {} {}", &national[..3], &national[3..6], &national[6..8], &national[8..])
        }
        1 => national.to_string(),
        2 => format!("+46 {} {} {} {}", &rest[..2], &rest[2..5], &rest[5..7], &rest[7..]),
        3 => format!("0046{rest}"),
        _ => format!("+46 (0){}-{}", &rest[..2], &rest[2..]),
    }
}

async fn bench_import(rows: usize, dnc: usize, db: Option<String>) -> Result<()> {
    let (store, _dir) = open(db).await?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let mut csv = String::with_capacity(rows * 60);
    csv.push_str("Namn;Telefon;Mobil;Postnummer;Kundnr\n");
    for i in 0..rows {
        let roll: f64 = rng.random();
        let phone = if roll < 0.005 {
            String::new()
        } else if roll < 0.01 {
            "12-34".to_string()
        } else if roll < 0.02 && i > 0 {
            written(&mobile(rng.random_range(0..i)), i + 1)
        } else {
            written(&mobile(i), i)
        };
        let second =
            if rng.random_bool(0.2) { written(&mobile(rows + i), i) } else { String::new() };
        let _ = writeln!(csv, "Kund {i};{phone};{second};{:03} {:02};K{i}", 100 + i % 900, i % 100);
    }
    let now = Timestamp::now();
    let campaign = store.ensure_campaign("bench-import", Region::SE, now).await?;
    let list = store.ensure_list(campaign.id, "generated", now).await?;
    let mut blocked = String::new();
    for k in 0..dnc {
        let _ = writeln!(blocked, "{}", mobile((k * 97) % rows.max(1)));
    }
    let options = DncLoadOptions {
        region: Region::SE,
        wash_date: None,
        replace: false,
        source: "bench".into(),
    };
    store.load_dnc_text(ringa_core::dnc::GLOBAL_DNC, &blocked, &options, now).await?;
    let options = ImportOptions {
        campaign: campaign.id,
        list: list.id,
        region: Region::SE,
        mapping: Vec::new(),
        delimiter: None,
        encoding: None,
        dedupe: DedupeScope::Campaign,
    };
    println!("importing {rows} generated rows ({} MB) ...", csv.len() / 1_000_000);
    let started = Instant::now();
    let report = import_bytes(&store, csv.as_bytes(), &options, &|_, _| {}, now).await?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "import: {} rows in {secs:.2} s = {:.0} rows/s ({:?})",
        report.total(),
        report.total() as f64 / secs,
        store.backend()
    );
    for bucket in Bucket::ALL {
        println!("  {:<14} {:>9}", bucket.as_str(), report.count(bucket));
    }
    store.close().await;
    Ok(())
}

async fn bench_select(
    contacts: usize,
    lists: usize,
    samples: usize,
    db: Option<String>,
) -> Result<()> {
    let (store, _dir) = open(db).await?;
    let start = Timestamp::now() - SignedDuration::from_hours(1);
    let campaign = match store.campaign_by_name("bench-select").await? {
        Some(c) => c,
        None => {
            let c = store.ensure_campaign("bench-select", Region::SE, start).await?;
            let started = Instant::now();
            // Selection never looks at the numbers: a pool of distinct parsed
            // numbers is reused so that generation is not dominated by parsing.
            let pool: Vec<PhoneNumber> = (0..contacts.clamp(1, 100_000))
                .map(|i| {
                    PhoneNumber::from_e164(&format!("+4670{i:07}"))
                        .expect("generated numbers are valid Swedish mobiles")
                })
                .collect();
            let lists = lists.max(1);
            let per_list = contacts.div_ceil(lists);
            let mut made = 0;
            for l in 0..lists {
                let list = store.ensure_list(c.id, &format!("list-{l}"), start).await?;
                store.set_list_mix(list.id, (l + 1) as u32, 0).await?;
                let mut done = 0;
                while done < per_list && made < contacts {
                    let n = (per_list - done).min(contacts - made).min(100_000);
                    let batch: Vec<NewContact> = (made..made + n)
                        .map(|i| {
                            let number = pool[i % pool.len()].clone();
                            NewContact {
                                name: Some(format!("Kund {i}")),
                                numbers: vec![NewNumber {
                                    raw: number.as_str().to_string(),
                                    number,
                                    label: "main".into(),
                                }],
                                ..NewContact::default()
                            }
                        })
                        .collect();
                    store.insert_contacts(&list, &batch, start).await?;
                    done += n;
                    made += n;
                }
                eprintln!("list {l}: {done} contacts ({:.0} s)", started.elapsed().as_secs_f64());
            }
            println!("generated {made} contacts in {:.1} s", started.elapsed().as_secs_f64());
            c
        }
    };
    let now = Timestamp::now();
    // The selection query alone (what the engine runs to find the next
    // contact), then selection with the claim committed.
    let mut select = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t = Instant::now();
        let next = store.peek_next_contact(campaign.id, now).await?;
        select.push(t.elapsed());
        if next.is_none() {
            println!("nothing to select");
            break;
        }
    }
    report("select (no claim)", &mut select, &store);
    let mut claims = Vec::with_capacity(samples);
    for i in 0..samples {
        let t = Instant::now();
        let claim = store.next_contact(campaign.id, "bench", now).await?;
        claims.push(t.elapsed());
        if claim.is_none() {
            println!("the campaign ran out of contacts after {i} claims");
            break;
        }
    }
    report("next_contact (select + claim, committed)", &mut claims, &store);
    store.close().await;
    Ok(())
}
