//! `ringa demo`: the product end to end with no setup. Creates `ringa.db`
//! in the working directory, imports the bundled example list (Windows-1252,
//! `;`), loads the bundled NIX extract, creates a predictive campaign under
//! the `se` rule set, runs a simulated working day of 20 agents through the
//! real engine and pacer with every attempt journaled in the store, and
//! prints and writes the day's figures. `ringa serve` then opens the same
//! database.

mod report;

use std::path::Path;

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use ringa_core::campaign::{CallerId, Campaign};
use ringa_core::{CallId, CampaignId, DialMode, PhoneNumber, Region, RuleSet, ZoneName};
use ringa_engine::{Command, ContactEntry, Engine};
use ringa_sim::{ContactBook, Scenario, Simulation};
use ringa_store::export::{ExportFormat, ExportKind, ExportRequest};
use ringa_store::import::{Bucket, DedupeScope, ImportOptions, ImportReport, import_bytes};
use ringa_store::{DncKind, DncLoadOptions, OutcomeRow, Store};
use ringa_web::journal::Journal;

pub(crate) use report::Figures;

/// The example list: made-up Swedish contacts as a spreadsheet exports
/// them (see `examples/generate.py`).
pub(crate) const CONTACTS_CSV: &[u8] = include_bytes!("../../../../examples/contacts.csv");
/// The made-up NIX register extract the list is washed against.
pub(crate) const NIX_TXT: &str = include_str!("../../../../examples/nix.txt");

/// The database the demo writes: the one `ringa serve` opens by default.
const DB_FILE: &str = "ringa.db";
/// What the demo writes besides the database.
pub(crate) const REPORT_FILE: &str = "ringa-demo-report.html";
pub(crate) const ORDERS_FILE: &str = "ringa-demo-orders.csv";
pub(crate) const IMPORT_FILE: &str = "ringa-demo-import.csv";

const CAMPAIGN_NAME: &str = "Demo: bredband hösten";
const ZONE: &str = "Europe/Stockholm";
/// The working day: 09:00 to 17:00 with two short breaks and lunch.
const DAY_START_HOUR: i8 = 9;
const DAY_HOURS: f64 = 8.0;

#[derive(Args, Debug)]
pub(crate) struct DemoArgs {
    /// Replace an existing ringa.db (and the demo's report files) in the
    /// working directory.
    #[arg(long)]
    force: bool,
    /// Simulated agents.
    #[arg(long, default_value_t = 20)]
    agents: u32,
    /// Seeds the simulated floor.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// The simulated floor: the realistic consumer-list figures of
/// `scenarios/realistic.toml` with one team on one day under the `se` rules.
/// `{date}` and `{agents}` are filled in.
const SCENARIO: &str = r#"
name = "demo"

[run]
start = "{date}T09:00:00"
zone = "Europe/Stockholm"
days = 1
hours_per_day = 8
min_window_live = 100

[agents]
count = {agents}
break_notice_minutes = 5
talk = { kind = "lognormal", mean = 150, sigma = 0.8 }
wrap_up = { kind = "uniform", min = 10, max = 30 }
machine_handle = { kind = "uniform", min = 4, max = 10 }
preview_read = { kind = "uniform", min = 5, max = 20 }

[agents.outcomes]
not_interested = 0.70
sale = 0.13
callback = 0.08
wrong_person = 0.05
do_not_call = 0.04

[agents.talk_by_outcome]
sale = { kind = "lognormal", mean = 300, sigma = 0.6 }

[[agents.breaks]]
after_hours = 1.75
minutes = 15
stagger_minutes = 1

[[agents.breaks]]
after_hours = 3.5
minutes = 40
stagger_minutes = 2

[[agents.breaks]]
after_hours = 6
minutes = 15
stagger_minutes = 1

[population]
live_by_attempt = [0.30, 0.24, 0.19, 0.16, 0.14, 0.12]
live_by_hour = { "9" = 0.9, "12" = 0.75, "13" = 0.8, "16" = 1.1 }
heterogeneity_sigma = 0.5
machine = 0.25
busy = 0.06
invalid = 0.03
live_after = { kind = "lognormal", mean = 9, sigma = 0.5 }
machine_after = { kind = "uniform", min = 14, max = 24 }
busy_after = { kind = "constant", value = 3 }
invalid_after = { kind = "constant", value = 1.5 }
patience = { kind = "uniform", min = 0, max = 3 }

[telephony]
post_dial_delay = { kind = "uniform", min = 1, max = 3 }

[amd]
human_as_machine = 0.02
human_as_unsure = 0.03
machine_as_human = 0.15
machine_as_unsure = 0.05

[campaign]
mode = "predictive"
rule_set = "se"
drop_target = 0.03
ring_timeout_s = 25
amd = true
"#;

pub(crate) fn run(args: DemoArgs) -> Result<()> {
    let started = std::time::Instant::now();
    prepare_directory(args.force)?;
    let runtime = super::import::runtime()?;
    let store = runtime
        .block_on(Store::open(&format!("sqlite://{DB_FILE}")))
        .with_context(|| format!("creating {DB_FILE}"))?;
    let zone = ZoneName::parse(ZONE).context("the demo's zone")?;
    let day = demo_day(Timestamp::now(), &zone.tz());
    let day_start = zone
        .tz()
        .to_ambiguous_timestamp(day.at(DAY_START_HOUR, 0, 0, 0))
        .compatible()
        .context("the demo day's start")?;
    // The list arrived and was washed early in the morning of the day.
    let morning = day_start - SignedDuration::from_hours(2);

    println!("ringa demo: a simulated working day on {day}, {} agents\n", args.agents);
    let setup = runtime.block_on(set_up(&store, day, morning, args.agents))?;
    print_import(&setup.import);

    let scenario = Scenario::from_toml(
        &SCENARIO.replace("{date}", &day.to_string()).replace("{agents}", &args.agents.to_string()),
    )
    .context("the demo's scenario")?;
    let pacer = ringa_pacer::by_name(ringa_pacer::DEFAULT).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut sim = Simulation::with_campaign(&scenario, setup.campaign.clone(), pacer, args.seed);
    let book = StoreBook::new(runtime.handle().clone(), store.clone());
    let errors = book.errors.clone();
    sim.set_book(Box::new(book));

    println!("\nSimulating the day (real engine and pacer, virtual time):");
    let bar = ProgressBar::new(100);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos:>3}% {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let clock = |done: f64| {
        let t = day_start + SignedDuration::from_secs_f64(done * (DAY_HOURS + 0.5) * 3600.0);
        zone.tz().to_datetime(t).strftime("%H:%M").to_string()
    };
    let sim_report = sim.run_observed(1, |p| {
        bar.set_position((p.done * 100.0) as u64);
        bar.set_message(format!(
            "{}  calls {:>5}  pickups {:>4}  drop rate {:.2}%  utilization {:.0}%",
            clock(p.done),
            p.placed,
            p.connects,
            p.drop_rate * 100.0,
            p.utilization * 100.0
        ));
    });
    bar.finish();
    let failures = errors.load(std::sync::atomic::Ordering::Relaxed);
    if failures > 0 {
        bail!("{failures} store operations failed during the day (see the log above)");
    }

    let day_end = day_start + SignedDuration::from_secs_f64((DAY_HOURS + 1.0) * 3600.0);
    // The contacts the engine still held at the end of the day go back to
    // the store, so that `ringa serve` may dial them.
    let recovered = runtime.block_on(store.recover(Some("demo"), day_end))?;
    if !recovered.interrupted.is_empty() {
        bail!("{} attempts were still open after the day", recovered.interrupted.len());
    }
    // What the campaign learned during the day is kept, as `ringa serve`
    // keeps it: the served campaign starts warm.
    if let Some(state) = sim.engine().learned_state(setup.campaign.id)
        && !state.is_empty()
    {
        let document = state.to_json().context("the learned state as JSON")?;
        runtime
            .block_on(store.save_learned_state(setup.campaign.id, &document, day_end))
            .context("saving what the campaign learned")?;
    }
    let figures = runtime.block_on(Figures::gather(
        &store,
        &setup.campaign,
        sim.engine(),
        &sim_report,
        (day_start, day_end),
        &zone,
    ))?;
    figures.print();

    let html = report::html(&figures, &setup.import, day);
    std::fs::write(REPORT_FILE, html).with_context(|| format!("writing {REPORT_FILE}"))?;
    let orders = runtime.block_on(ringa_store::export::export(
        &store,
        &ExportRequest {
            kind: ExportKind::Orders,
            format: ExportFormat::Csv,
            from: day_start - SignedDuration::from_hours(1),
            to: day_end,
            campaign: Some(setup.campaign.id),
        },
    ))?;
    std::fs::write(ORDERS_FILE, orders).with_context(|| format!("writing {ORDERS_FILE}"))?;
    let file =
        std::fs::File::create(IMPORT_FILE).with_context(|| format!("creating {IMPORT_FILE}"))?;
    setup.import.write_csv(std::io::BufWriter::new(file))?;
    runtime.block_on(store.close());

    println!("\nWritten:");
    println!("  {DB_FILE:<28} the database: campaign, contacts, every attempt and outcome");
    println!("  {REPORT_FILE:<28} the day's report with charts (open it in a browser)");
    println!("  {ORDERS_FILE:<28} the day's {} orders", figures.campaign.sales);
    println!("  {IMPORT_FILE:<28} every row of the example list and what became of it");
    println!("\nOpen the same data in the web interface:\n");
    // `ringa serve` opens RINGA_DB when set: point it at the demo's file.
    let db = match std::env::var("RINGA_DB") {
        Ok(v) if !v.is_empty() => format!(" --db sqlite://{DB_FILE}"),
        _ => String::new(),
    };
    println!("    cargo run --release -p ringa -- serve{db}      (or: ringa serve{db})\n");
    println!("then go to http://127.0.0.1:8080/ and log in as \"admin\" with the password");
    println!("    {}", setup.admin_password);
    println!(
        "(the demo day's statistics over the API: /api/v1/campaigns/{}/stats?from={}&to={})",
        setup.campaign.id.0, day_start, day_end
    );
    println!("\nDone in {:.1} s.", started.elapsed().as_secs_f64());
    Ok(())
}

/// Refuses to overwrite a database unless asked to: a user who ran the
/// demo before may have worked in it since.
fn prepare_directory(force: bool) -> Result<()> {
    let leftovers: Vec<String> = [DB_FILE, "ringa.db-wal", "ringa.db-shm"]
        .into_iter()
        .filter(|f| Path::new(f).exists())
        .map(str::to_string)
        .collect();
    if leftovers.iter().any(|f| f == DB_FILE) && !force {
        let here = std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default();
        bail!(
            "{DB_FILE} already exists in {here}.\n\
             The demo writes a fresh database and will not overwrite one you may have used.\n\
             Run `ringa demo --force` to replace it, or run the demo in another directory."
        );
    }
    for file in leftovers {
        std::fs::remove_file(&file).with_context(|| format!("removing the old {file}"))?;
    }
    Ok(())
}

/// The most recent weekday whose working day has ended by `now` in `tz`:
/// every attempt of the demo lies in the past.
pub(crate) fn demo_day(now: Timestamp, tz: &TimeZone) -> Date {
    let local = tz.to_datetime(now);
    let end_hour = f64::from(DAY_START_HOUR) + DAY_HOURS + 1.0;
    let mut day = local.date();
    if f64::from(local.hour()) + f64::from(local.minute()) / 60.0 < end_hour {
        day = day.yesterday().unwrap_or(day);
    }
    while matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday) {
        day = day.yesterday().unwrap_or(day);
    }
    day
}

/// What the setup created.
struct Setup {
    campaign: Campaign,
    import: ImportReport,
    admin_password: String,
}

async fn set_up(store: &Store, day: Date, morning: Timestamp, agents: u32) -> Result<Setup> {
    // Agents first, so that the simulated agents 1..=N are users 1..=N and
    // the wall shows their names.
    let accounts = ringa_web::auth::Accounts::new(store.clone());
    for n in 1..=agents {
        let user = ringa_web::api::NewUser {
            login: format!("agent{n:02}"),
            name: Some(format!("Agent {n:02}")),
            role: "agent".to_string(),
            password: ringa_web::auth::random_token(9),
            campaigns: Vec::new(),
            must_change_password: false,
        };
        let id = ringa_web::api::create_user_with(store, &accounts, &user)
            .await
            .map_err(|e| anyhow::anyhow!("creating {}: {e}", user.login))?;
        if id.get() != u64::from(n) {
            bail!("the fresh database gave agent {n} the id {id}");
        }
    }
    let admin_password = ringa_web::auth::random_token(9);
    let admin = ringa_web::api::NewUser {
        login: "admin".to_string(),
        name: Some("Administrator".to_string()),
        role: "admin".to_string(),
        password: admin_password.clone(),
        campaigns: Vec::new(),
        // The demo's administrator is for looking at one day's results
        // right away, so its printed password is not one-time.
        must_change_password: false,
    };
    ringa_web::api::create_user_with(store, &accounts, &admin)
        .await
        .map_err(|e| anyhow::anyhow!("creating the administrator: {e}"))?;

    // The national register, washed the morning of the day.
    let nix = store.ensure_dnc_list("NIX", DncKind::Register, morning).await?;
    let options = DncLoadOptions {
        region: Region::SE,
        wash_date: Some(day.to_string()),
        replace: true,
        source: "examples/nix.txt".to_string(),
    };
    let loaded = store.load_dnc_text(nix.id, NIX_TXT, &options, morning).await?;
    println!(
        "Do-not-call: {} numbers of the bundled NIX extract loaded ({} unreadable)",
        loaded.numbers,
        loaded.invalid.len()
    );

    let mut campaign =
        Campaign::new(CampaignId(0), CAMPAIGN_NAME, DialMode::Predictive, RuleSet::Se);
    let id = store
        .create_campaign(CAMPAIGN_NAME, campaign.region, &serde_json::json!({}), morning)
        .await?;
    campaign.id = id;
    campaign.drop_target = 0.03;
    campaign.max_lines_per_agent = Some(4.0);
    campaign.amd = true;
    campaign.rules.register_washed = Some(day);
    campaign.rules.dnc_lists = vec![nix.id];
    campaign.caller_ids.numbers = ["+46812345600", "+46812345601", "+46812345602"]
        .iter()
        .map(|n| {
            PhoneNumber::from_e164(n)
                .map(|number| CallerId { number, daily_cap: None })
                .map_err(|e| anyhow::anyhow!("caller ID {n}: {e}"))
        })
        .collect::<Result<_>>()?;
    campaign.card_fields = ["Kundnr", "city", "Nuvarande abonnemang", "Födelseår", "Kommentar"]
        .map(str::to_string)
        .to_vec();
    campaign.script = "Hej, jag ringer från Exempelbolaget om vårt nya bredband. \
                       Har du en minut?"
        .to_string();
    let doc = serde_json::to_value(&campaign).context("the campaign document")?;
    store.set_campaign_config(id, &doc).await?;
    let outcomes: Vec<OutcomeRow> = campaign.outcomes.iter().map(OutcomeRow::from).collect();
    store.set_outcomes(id, &outcomes).await?;
    store.attach_dnc_list(id, nix.id).await?;

    let list = store.create_list(id, "Kundregister (examples/contacts.csv)", morning).await?;
    let options = ImportOptions {
        campaign: id,
        list,
        region: Region::SE,
        mapping: Vec::new(),
        delimiter: None,
        encoding: None,
        dedupe: DedupeScope::Campaign,
    };
    let import = import_bytes(store, CONTACTS_CSV, &options, &|_, _| {}, morning).await?;
    Ok(Setup { campaign, import, admin_password })
}

fn print_import(report: &ImportReport) {
    println!(
        "Import of examples/contacts.csv ({} bytes, encoding {}, separator {}):",
        CONTACTS_CSV.len(),
        report.encoding,
        report.delimiter
    );
    for (header, target) in &report.columns {
        println!("  {header:<24} -> {target}");
    }
    print!("{}", report.table());
    let accounted: u64 = Bucket::ALL.iter().map(|b| report.count(*b)).sum();
    println!(
        "every row accounted for: {accounted} of {} rows in one of the buckets above",
        report.total()
    );
    for bucket in [Bucket::Invalid, Bucket::Duplicate, Bucket::Blocked] {
        if let Some(row) = report.rows.iter().find(|r| r.bucket == bucket) {
            println!("  e.g. row {} ({}): {}", row.row, bucket.as_str(), row.detail);
        }
    }
}

/// The contacts come from the store and every attempt goes to it, through
/// the same journal the live floor uses.
struct StoreBook {
    runtime: tokio::runtime::Handle,
    journal: Journal,
    /// Store operations that failed; the demo fails when any did.
    errors: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl StoreBook {
    fn new(runtime: tokio::runtime::Handle, store: Store) -> StoreBook {
        StoreBook { runtime, journal: Journal::new(store, "demo"), errors: Default::default() }
    }
}

impl ContactBook for StoreBook {
    fn fetch(
        &mut self,
        now: Timestamp,
        campaign: CampaignId,
        want: u32,
    ) -> (Vec<ContactEntry>, bool) {
        match self.runtime.block_on(self.journal.fetch(campaign, want, now)) {
            Ok(found) => found,
            Err(err) => {
                tracing::error!(error = %err, "could not fetch contacts");
                self.errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                (Vec::new(), true)
            }
        }
    }

    fn journal(&mut self, now: Timestamp, engine: &Engine, commands: &[Command]) -> Vec<CallId> {
        let steps = Journal::plan(engine, commands);
        let suppressed = self.runtime.block_on(self.journal.carry(steps, now));
        if !suppressed.is_empty() {
            self.errors.fetch_add(suppressed.len() as u64, std::sync::atomic::Ordering::Relaxed);
        }
        suppressed
    }
}
