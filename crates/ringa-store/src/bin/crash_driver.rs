//! A small dialing loop for the crash test: claims contacts, journals
//! attempts at start and end and schedules callbacks against a SQLite file,
//! forever, until it is killed. After each step the store confirmed, it
//! appends a line to a journal file, so the test can check after a SIGKILL
//! that nothing the store confirmed was lost.
//!
//! Usage: `ringa-store-crash-driver DB_PATH JOURNAL_PATH CAMPAIGN_ID SEED`

use std::io::Write;

use jiff::civil::DateTime;
use jiff::{SignedDuration, Timestamp};
use rand::{Rng, SeedableRng};
use ringa_core::{CallResult, CampaignId, ZoneName};
use ringa_store::{AttemptEnd, AttemptStart, CallbackRequest, NextStep, Store};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        eprintln!("usage: ringa-store-crash-driver DB_PATH JOURNAL_PATH CAMPAIGN_ID SEED");
        std::process::exit(2);
    }
    let campaign = match args[3].parse::<u64>() {
        Ok(id) => CampaignId(id),
        Err(err) => {
            eprintln!("campaign id: {err}");
            std::process::exit(2);
        }
    };
    let seed = args[4].parse::<u64>().unwrap_or(1);
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("runtime: {err}");
            std::process::exit(1);
        }
    };
    if let Err(err) = runtime.block_on(drive(&args[1], &args[2], campaign, seed)) {
        eprintln!("crash driver stopped: {err}");
        std::process::exit(1);
    }
}

async fn drive(
    db: &str,
    journal: &str,
    campaign: CampaignId,
    seed: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    let store = Store::open(db).await?;
    let mut log = std::fs::OpenOptions::new().create(true).append(true).open(journal)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let zone = ZoneName::parse("Europe/Stockholm")?;
    let worker = format!("driver-{seed}");
    loop {
        let now = Timestamp::now();
        let Some(claim) = store.next_contact(campaign, &worker, now).await? else {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            continue;
        };
        let start = AttemptStart {
            number: claim.numbers[0].number.clone(),
            caller_id: Some("+46850000000".into()),
            agent: None,
            amd: serde_json::json!({"enabled": rng.random_bool(0.5)}),
        };
        let attempt = store.begin_attempt(&claim, &start, now).await?;
        log.write_all(
            format!("begin {} {} {}\n", attempt.0, claim.contact.0, claim.version).as_bytes(),
        )?;
        // The call "rings" for a moment.
        if rng.random_bool(0.6) {
            tokio::time::sleep(std::time::Duration::from_millis(rng.random_range(0..6))).await;
        }
        let later = Timestamp::now();
        let roll: f64 = rng.random();
        let (result, outcome, next) = if roll < 0.3 {
            let local: DateTime = later.to_zoned_datetime(zone.tz()).datetime()
                + SignedDuration::from_secs(rng.random_range(1..5));
            let request = CallbackRequest {
                campaign,
                contact: claim.contact,
                owner: None,
                local,
                zone: zone.clone(),
                window_before: SignedDuration::ZERO,
                window_after: SignedDuration::from_mins(15),
                note: None,
            };
            (CallResult::Connected, Some("callback".to_string()), NextStep::Callback(request))
        } else if roll < 0.95 {
            let at = later + SignedDuration::from_millis(rng.random_range(0..20));
            (CallResult::NoAnswer, None, NextStep::Retry { at })
        } else {
            (CallResult::Connected, Some("not_interested".to_string()), NextStep::Close)
        };
        let end = AttemptEnd {
            result,
            sip_code: Some(if result == CallResult::NoAnswer { 480 } else { 200 }),
            outcome: outcome.clone(),
            agent: None,
            answered_at: (result == CallResult::Connected).then_some(later),
            next,
        };
        let report = store.finish_attempt(attempt, &end, later).await?;
        let code = outcome.unwrap_or_else(|| result.as_str().to_string());
        log.write_all(format!("end {} {}\n", attempt.0, code).as_bytes())?;
        if let Some(cb) = report.callback {
            let row = store.callback(cb).await?;
            log.write_all(
                format!("callback {} {} {}\n", cb.0, claim.contact.0, row.due_at.as_millisecond())
                    .as_bytes(),
            )?;
        }
    }
}
