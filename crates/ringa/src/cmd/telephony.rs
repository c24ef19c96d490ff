//! `ringa telephony --config FILE`: runs one campaign from a TOML file against a SIP trunk
//! through the live telephony driver and prints each attempt's result, SIP code and caller
//! ID. Agents are simulated: each connected call is hung up after `talk_seconds`. The run
//! ends once every contact has had one attempt; retries the engine schedules are not waited
//! for.
//! The file's `[[agent_phone]]` sections, recordings directory and messages are used as
//! `ringa serve --telephony` uses them, so an answered call is bridged to the phone of the
//! simulated agent it is connected to.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use ringa_core::campaign::{CallerId, CallerIdPool, Campaign};
use ringa_core::contact::Contact;
use ringa_core::{
    AgentId, CallResult, CallingWindows, CampaignId, ContactId, DialMode, ListId, OutcomeCode,
    PhoneNumber, RuleSet,
};
use ringa_engine::{Command, ContactEntry, Engine, EngineConfig, Input};
use ringa_sip::config::TelephonyConfig;
use ringa_sip::driver::{DriverOptions, Telephony};
use serde::Deserialize;
use tokio::sync::mpsc;

/// Arguments of `ringa telephony`.
#[derive(Args)]
pub(crate) struct TelephonyArgs {
    /// The TOML file: `[[trunk]]` sections and a `[campaign]` section.
    #[arg(long)]
    config: PathBuf,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300)]
    max_seconds: u64,
}

/// The `[campaign]` section.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CampaignSection {
    #[serde(default = "default_mode")]
    mode: DialMode,
    caller_ids: Vec<String>,
    #[serde(default)]
    numbers: Vec<String>,
    /// A CSV file whose first column holds E.164 numbers (a header line is skipped).
    #[serde(default)]
    numbers_csv: Option<PathBuf>,
    #[serde(default = "default_agents")]
    agents: u64,
    #[serde(default = "default_talk")]
    talk_seconds: u64,
    #[serde(default = "default_outcome")]
    outcome: String,
}

fn default_mode() -> DialMode {
    DialMode::Progressive
}
fn default_agents() -> u64 {
    1
}
fn default_talk() -> u64 {
    3
}
/// The outcome the simulated agents set: one of the default outcomes.
fn default_outcome() -> String {
    "not_interested".to_string()
}

#[derive(Deserialize)]
struct FileConfig {
    #[serde(default = "default_bind")]
    sip_bind: SocketAddr,
    #[serde(default = "default_media")]
    media: SocketAddr,
    campaign: CampaignSection,
}

fn default_bind() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}
fn default_media() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 40_000))
}

fn contact(id: u64, number: PhoneNumber) -> ContactEntry {
    ContactEntry::fresh(Contact::with_numbers(ContactId(id), ListId(1), [number]))
}

pub(crate) fn run(args: TelephonyArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let telephony = TelephonyConfig::from_toml(&text)?;
    // Agents' phones, recordings and messages as `ringa serve --telephony` reads them; the
    // media address of this command's own `media` key unless `media_ip` is given.
    let mut options = telephony.driver_options()?;
    let file: FileConfig = toml::from_str(&text).context("reading the [campaign] section")?;
    if telephony.media_ip.is_none() {
        options.media_ip = file.media.ip();
    }
    let Some(trunk) = telephony.trunks.first().cloned() else {
        bail!("the configuration has no [[trunk]]");
    };
    let c = file.campaign;
    let mut numbers = c.numbers.clone();
    if let Some(csv) = &c.numbers_csv {
        let body =
            std::fs::read_to_string(csv).with_context(|| format!("reading {}", csv.display()))?;
        for line in body.lines() {
            let first = line.split(',').next().unwrap_or("").trim().trim_matches('"');
            if first.starts_with('+') {
                numbers.push(first.to_string());
            }
        }
    }
    let mut contacts = Vec::new();
    for (i, n) in numbers.iter().enumerate() {
        let number = PhoneNumber::from_e164(n).with_context(|| format!("number {}", i + 1))?;
        contacts.push(contact(i as u64 + 1, number));
    }
    let mut campaign = Campaign::new(CampaignId(1), "telephony", c.mode, RuleSet::None);
    campaign.rules.windows = CallingWindows::always();
    let mut pool = Vec::new();
    for id in &c.caller_ids {
        pool.push(CallerId { number: PhoneNumber::from_e164(id)?, daily_cap: None });
    }
    campaign.caller_ids = CallerIdPool { numbers: pool, rotation: Default::default() };
    if campaign.outcome(&c.outcome).is_none() {
        let known: Vec<&str> = campaign.outcomes.iter().map(|o| o.code.as_str()).collect();
        bail!(
            "outcome {:?} in [campaign] is not one of the campaign's outcomes: use one of {}",
            c.outcome,
            known.join(", ")
        );
    }

    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(drive(args.max_seconds, trunk, file.sip_bind, options, campaign, contacts, c))
}

async fn drive(
    max_seconds: u64,
    trunk: ringa_sip::config::TrunkConfig,
    sip_bind: SocketAddr,
    options: DriverOptions,
    campaign: Campaign,
    mut pending: Vec<ContactEntry>,
    c: CampaignSection,
) -> anyhow::Result<()> {
    let total = pending.len();
    let (tx, mut commands) = mpsc::unbounded_channel();
    let engine = Engine::new(EngineConfig::default());
    let telephony = Telephony::start_with(trunk, sip_bind, engine, tx, options).await?;
    telephony.input(Input::Campaign { campaign: Box::new(campaign) });
    telephony.input(Input::CampaignActive { campaign: CampaignId(1), active: true });
    for a in 1..=c.agents {
        telephony.input(Input::AgentLogin { agent: AgentId(a), campaigns: vec![CampaignId(1)] });
        telephony.input(Input::AgentReady { agent: AgentId(a) });
    }
    let (hangups_tx, mut hangups) = mpsc::unbounded_channel::<AgentId>();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(max_seconds);
    let mut done = HashSet::new();
    println!("contact\tattempt\tresult\tsip_code\tcaller_id");
    while done.len() < total {
        tokio::select! {
            command = commands.recv() => {
                let Some(command) = command else { break };
                match command {
                    Command::FetchContacts { campaign, want } => {
                        let n = (want as usize).min(pending.len());
                        let contacts: Vec<_> = pending.drain(..n).collect();
                        let exhausted = pending.is_empty();
                        telephony.input(Input::Contacts { campaign, contacts, exhausted });
                    }
                    Command::Connect { agent, .. } => {
                        let tx = hangups_tx.clone();
                        let talk = Duration::from_secs(c.talk_seconds);
                        tokio::spawn(async move {
                            tokio::time::sleep(talk).await;
                            let _ = tx.send(agent);
                        });
                    }
                    // A connected attempt ends twice, at the hangup and with the outcome:
                    // one line, the last.
                    Command::AttemptEnded { record }
                        if record.result.is_some_and(|r| r != CallResult::Connected)
                            || record.outcome.is_some() =>
                    {
                        done.insert(record.contact);
                        let result = record.result.map(|r| r.as_str()).unwrap_or("-");
                        println!(
                            "{}\t{}\t{}\t{}\t{}",
                            record.contact,
                            record.attempt_no,
                            result,
                            record.sip_code.map_or("-".to_string(), |c| c.to_string()),
                            record.caller_id.as_ref().map_or("-", |c| c.as_str()),
                        );
                    }
                    _ => {}
                }
            }
            Some(agent) = hangups.recv() => {
                telephony.input(Input::AgentHangup { agent });
                telephony.input(Input::AgentOutcome {
                    agent,
                    outcome: OutcomeCode::new(&c.outcome),
                    callback: None,
                    note: None,
                });
            }
            () = tokio::time::sleep_until(deadline) => {
                let dialled = done.len();
                eprintln!("stopped after {max_seconds} s: {dialled} of {total} contacts dialled");
                break;
            }
        }
    }
    telephony.stop().await?;
    Ok(())
}
