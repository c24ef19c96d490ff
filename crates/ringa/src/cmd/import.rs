//! `ringa import`: contacts from a delimited text file into a campaign's
//! list, with a progress bar and a report of every row's bucket. Also holds
//! the helpers the storage subcommands share (database URL, runtime).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use jiff::Timestamp;
use ringa_core::Region;
use ringa_store::Store;
use ringa_store::import::{
    Bucket, DedupeScope, ImportOptions, import_bytes, parse_delimiter, parse_mapping,
};

/// Where the database is: `--db`, else `RINGA_DB`, else `sqlite://ringa.db`
/// in the working directory.
#[derive(Args, Debug, Clone)]
pub(crate) struct DbArg {
    /// Database URL (`sqlite://FILE` or `postgres://...`); default `RINGA_DB`
    /// or `sqlite://ringa.db`.
    #[arg(long)]
    db: Option<String>,
}

impl DbArg {
    pub(crate) fn url(&self) -> String {
        self.db
            .clone()
            .or_else(|| std::env::var("RINGA_DB").ok().filter(|v| !v.is_empty()))
            .unwrap_or_else(|| "sqlite://ringa.db".to_string())
    }

    pub(crate) async fn open(&self) -> Result<Store> {
        let url = self.url();
        Store::open(&url).await.with_context(|| format!("opening the database {url}"))
    }
}

/// A runtime for the storage subcommands.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

#[derive(Args, Debug)]
pub(crate) struct ImportArgs {
    /// The file: CSV or other delimited text, any common encoding.
    file: PathBuf,
    /// The campaign (created when missing).
    #[arg(long)]
    campaign: String,
    /// The list in the campaign (created when missing).
    #[arg(long)]
    list: String,
    /// Column rules `HEADER=TARGET,...` (targets: phone, phone:LABEL, mobile,
    /// name, first_name, last_name, address, postal_code, zone, field:NAME, ignore).
    #[arg(long)]
    map: Option<String>,
    /// Use a saved mapping (rules from --map override it per column).
    #[arg(long)]
    template: Option<String>,
    /// Save the mapping used under this name.
    #[arg(long)]
    save_template: Option<String>,
    /// Column separator (`,` `;` `tab` `|`); detected when not given.
    #[arg(long)]
    delimiter: Option<String>,
    /// Text encoding (utf-8, windows-1252, latin1, utf-16le, utf-16be); detected when not given.
    #[arg(long)]
    encoding: Option<String>,
    /// Country of numbers written in national form.
    #[arg(long, default_value = "SE")]
    region: String,
    /// Where duplicates are looked for: list, campaign (the default, as on the web) or system.
    #[arg(long, default_value = "campaign")]
    dedupe: String,
    /// Write every row's bucket to this CSV file.
    #[arg(long)]
    report_csv: Option<PathBuf>,
    #[command(flatten)]
    db: DbArg,
}

pub(crate) fn run(args: ImportArgs) -> Result<()> {
    runtime()?.block_on(run_async(args))
}

async fn run_async(args: ImportArgs) -> Result<()> {
    let region = Region::parse(&args.region).context("--region")?;
    let dedupe = DedupeScope::parse(&args.dedupe)?;
    let delimiter = args.delimiter.as_deref().map(parse_delimiter).transpose()?;
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let store = args.db.open().await?;
    let now = Timestamp::now();
    let campaign = store.ensure_campaign(&args.campaign, region, now).await?;
    let list = store.ensure_list(campaign.id, &args.list, now).await?;
    let mut mapping = match &args.template {
        Some(name) => store.import_template(name).await?,
        None => Vec::new(),
    };
    if let Some(spec) = &args.map {
        for rule in parse_mapping(spec)? {
            mapping.retain(|r| !r.header.eq_ignore_ascii_case(&rule.header));
            mapping.push(rule);
        }
    }
    if let Some(name) = &args.save_template {
        store.save_import_template(name, &mapping, now).await?;
    }
    let options = ImportOptions {
        campaign: campaign.id,
        list: list.id,
        region,
        mapping,
        delimiter,
        encoding: args.encoding.clone(),
        dedupe,
    };
    let bar = ProgressBar::new(bytes.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {elapsed} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    let progress = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let report = import_bytes(&store, &bytes, &options, &progress, now).await?;
    bar.finish_and_clear();
    // The per-row report is written before anything is printed, so that a
    // closed standard output (`| head`) cannot lose it.
    if let Some(path) = &args.report_csv {
        let file =
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        report.write_csv(std::io::BufWriter::new(file))?;
    }
    println!(
        "{}: {} rows in {:.1} s (encoding {}, separator {})",
        args.file.display(),
        report.total(),
        started.elapsed().as_secs_f64(),
        report.encoding,
        report.delimiter
    );
    println!("columns:");
    for (header, target) in &report.columns {
        println!("  {header:<24} -> {target}");
    }
    print!("{}", report.table());
    let problems: Vec<_> = report.rows.iter().filter(|r| r.bucket != Bucket::Created).collect();
    for row in problems.iter().take(20) {
        println!("  row {} (line {}): {} - {}", row.row, row.line, row.bucket.as_str(), row.detail);
    }
    if problems.len() > 20 {
        println!("  ... {} more; see --report-csv for every row", problems.len() - 20);
    }
    if let Some(path) = &args.report_csv {
        println!("report written to {}", path.display());
    }
    store.close().await;
    Ok(())
}
