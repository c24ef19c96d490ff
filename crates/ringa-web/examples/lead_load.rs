//! Load benchmark of lead intake: serves ringa in-process on 127.0.0.1:0
//! with a temporary SQLite database, then sends `POST /api/v1/leads` at a
//! fixed rate (open loop) and prints the latency percentiles, measured from
//! each request's scheduled send time so that a stalled server cannot hide
//! its queueing.
//!
//! `cargo run --release -p ringa-web --example lead_load -- [RATE] [SECONDS]`
//! (defaults: 1000 requests/s for 10 s). With `serve` as the only argument
//! it sets up the same server, prints its leads URL, campaign and token, and
//! serves until killed, for an outside load generator such as wrk; with
//! `load URL CAMPAIGN TOKEN [RATE] [SECONDS]` it only generates the load, so
//! that client and server run in separate processes.

use std::time::{Duration, Instant};

use ringa_web::floor::FloorConfig;
use ringa_web::{AppState, WorldProfile};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.first().map(String::as_str) == Some("load") {
        let url = argv.get(1).ok_or("load URL CAMPAIGN TOKEN")?.clone();
        let campaign: u64 = argv.get(2).ok_or("load URL CAMPAIGN TOKEN")?.parse()?;
        let secret = argv.get(3).ok_or("load URL CAMPAIGN TOKEN")?.clone();
        let rate: u64 = argv.get(4).map(|a| a.parse()).transpose()?.unwrap_or(1000);
        let secs: u64 = argv.get(5).map(|a| a.parse()).transpose()?.unwrap_or(10);
        return load(&url, campaign, &secret, rate, secs).await;
    }
    let serve_only = std::env::args().nth(1).as_deref() == Some("serve");
    let mut args = std::env::args().skip(1).filter(|a| a != "serve");
    let rate: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1000);
    let secs: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(10);

    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = ringa_store::Store::open(&url).await?;
    let config = FloorConfig {
        sim_agents: 0,
        profile: WorldProfile::quick(),
        worker: "bench".into(),
        seed: 1,
    };
    let (state, first) = AppState::open(store, config).await?;
    let (_, password) = first.admin.ok_or("a fresh database has an administrator")?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/api/v1", listener.local_addr()?);
    tokio::spawn(ringa_web::run(listener, state, std::future::pending()));

    // Set up a campaign and a lead-intake token as an administrator would.
    let admin = reqwest::Client::builder().cookie_store(true).no_proxy().build()?;
    let login: Value = admin
        .post(format!("{base}/login"))
        .json(&json!({ "login": "admin", "password": password }))
        .send()
        .await?
        .json()
        .await?;
    let csrf = login["csrf"].as_str().ok_or("a CSRF token")?.to_string();
    // The first login replaces the one-time password, then logs in again.
    let user = login["user"].as_u64().ok_or("the admin's id")?;
    let own = "bench-password";
    admin
        .post(format!("{base}/users/{user}/password"))
        .header("x-csrf-token", &csrf)
        .json(&json!({ "password": own, "old_password": password }))
        .send()
        .await?
        .error_for_status()?;
    let login: Value = admin
        .post(format!("{base}/login"))
        .json(&json!({ "login": "admin", "password": own }))
        .send()
        .await?
        .json()
        .await?;
    let csrf = login["csrf"].as_str().ok_or("a CSRF token")?.to_string();
    let campaign: Value = admin
        .post(format!("{base}/campaigns"))
        .header("x-csrf-token", &csrf)
        .json(&json!({ "name": "Bench", "mode": "progressive", "rule_set": "none" }))
        .send()
        .await?
        .json()
        .await?;
    let token: Value = admin
        .post(format!("{base}/tokens"))
        .header("x-csrf-token", &csrf)
        .json(&json!({ "name": "bench", "scopes": ["leads"] }))
        .send()
        .await?
        .json()
        .await?;
    let secret = token["token"].as_str().ok_or("a token")?.to_string();
    let campaign = campaign["id"].as_u64().ok_or("a campaign id")?;

    if serve_only {
        println!("{base}/leads {campaign} {secret}");
        std::future::pending::<()>().await;
    }
    load(&format!("{base}/leads"), campaign, &secret, rate, secs).await
}

/// Sends leads at `rate` per second for `secs` seconds and prints the
/// latency percentiles.
async fn load(
    url: &str,
    campaign: u64,
    secret: &str,
    rate: u64,
    secs: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    let client = reqwest::Client::builder().no_proxy().pool_max_idle_per_host(512).build()?;
    let total = rate * secs;
    let gap = Duration::from_secs_f64(1.0 / rate as f64);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let start = Instant::now();
    for i in 0..total {
        let due = start + gap * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let (client, tx, secret) = (client.clone(), tx.clone(), secret.to_string());
        let url = url.to_string();
        tokio::spawn(async move {
            let phone = format!("+4670{:07}", 1_000_000 + i);
            let res = client
                .post(url)
                .bearer_auth(secret)
                .json(&json!({ "campaign": campaign, "phone": phone }))
                .send()
                .await;
            let failure = match res {
                Ok(r) if r.status().as_u16() == 202 => None,
                Ok(r) => Some(format!("HTTP {}", r.status())),
                Err(err) => Some(format!("{err}")),
            };
            let _ = tx.send((due.elapsed(), failure));
        });
    }
    drop(tx);
    let mut latencies = Vec::with_capacity(total as usize);
    let mut failed = 0;
    let mut failures: std::collections::BTreeMap<String, u64> = Default::default();
    while let Some((latency, failure)) = rx.recv().await {
        latencies.push(latency);
        if let Some(why) = failure {
            failed += 1;
            *failures.entry(why).or_default() += 1;
        }
    }
    let wall = start.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "POST /api/v1/leads: {total} requests at {rate}/s offered, {:.0}/s done, {failed} failed; \
         latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        total as f64 / wall,
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.90).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    for (why, n) in failures {
        println!("  failed {n}x: {why}");
    }
    Ok(())
}
