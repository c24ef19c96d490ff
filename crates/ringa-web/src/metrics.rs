//! Prometheus metrics at `/metrics`: request counts and latencies of the
//! web layer and the live figures of the floor, in the text format.

use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::AppState;
use crate::auth::{Caller, Scope};
use crate::error::WebError;

/// Upper bounds of the latency histogram buckets, in seconds.
const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

/// Counters of the web layer.
#[derive(Default)]
pub struct Metrics {
    pub requests: AtomicU64,
    pub server_errors: AtomicU64,
    pub leads: AtomicU64,
    pub failed_logins: AtomicU64,
    /// Latency histogram: counts per bucket, then the sum of seconds. A
    /// mutex: updates are a few additions.
    latency: Mutex<([u64; BUCKETS.len() + 1], f64)>,
}

impl Metrics {
    fn observe(&self, secs: f64) {
        let mut h = self.latency.lock().expect("no metrics user panics while holding it");
        let idx = BUCKETS.iter().position(|b| secs <= *b).unwrap_or(BUCKETS.len());
        h.0[idx] += 1;
        h.1 += secs;
    }
}

/// Middleware: counts requests and their latency.
pub async fn count(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let response = next.run(req).await;
    state.metrics.requests.fetch_add(1, Ordering::Relaxed);
    if response.status().is_server_error() {
        state.metrics.server_errors.fetch_add(1, Ordering::Relaxed);
    }
    state.metrics.observe(start.elapsed().as_secs_f64());
    response
}

pub fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

async fn metrics(State(state): State<AppState>, caller: Caller) -> Result<Response, WebError> {
    caller.require(crate::auth::STAFF, Scope::Metrics)?;
    let m = &state.metrics;
    let mut out = String::new();
    let counter = |out: &mut String, name: &str, help: &str, v: u64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
    };
    counter(
        &mut out,
        "ringa_http_requests_total",
        "HTTP requests served.",
        m.requests.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "ringa_http_server_errors_total",
        "HTTP responses with a 5xx status.",
        m.server_errors.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "ringa_leads_total",
        "Leads accepted through intake.",
        m.leads.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "ringa_failed_logins_total",
        "Logins with a wrong password.",
        m.failed_logins.load(Ordering::Relaxed),
    );
    {
        let h = m.latency.lock().expect("no metrics user panics while holding it");
        let _ = writeln!(
            out,
            "# HELP ringa_http_request_seconds Request latency.\n\
             # TYPE ringa_http_request_seconds histogram"
        );
        let mut cumulative = 0;
        for (i, bound) in BUCKETS.iter().enumerate() {
            cumulative += h.0[i];
            let _ =
                writeln!(out, "ringa_http_request_seconds_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        cumulative += h.0[BUCKETS.len()];
        let _ = writeln!(out, "ringa_http_request_seconds_bucket{{le=\"+Inf\"}} {cumulative}");
        let _ = writeln!(
            out,
            "ringa_http_request_seconds_sum {}\nringa_http_request_seconds_count {cumulative}",
            h.1
        );
    }
    let snap = state.floor.snapshot();
    let gauges: [(&str, &str); 8] = [
        ("ringa_campaign_attempts", "Calls placed since the floor started."),
        ("ringa_campaign_live_answers", "Calls a person answered."),
        ("ringa_campaign_pickups", "Live answers connected to an agent."),
        ("ringa_campaign_drops", "Live answers no agent took in time."),
        ("ringa_campaign_drop_rate_window", "Drops over live answers in the rule set's window."),
        ("ringa_campaign_calls_ringing", "Calls placed and not answered yet."),
        ("ringa_campaign_calls_connected", "Calls bridged to an agent."),
        ("ringa_campaign_agents_logged_in", "Agents logged in to the campaign."),
    ];
    for (i, (name, help)) in gauges.iter().enumerate() {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for c in &snap.campaigns {
            let v = match i {
                0 => c.attempts as f64,
                1 => c.live_answers as f64,
                2 => c.pickups as f64,
                3 => c.drops as f64,
                4 => c.window_drop_rate.unwrap_or(0.0),
                5 => f64::from(c.ringing),
                6 => f64::from(c.connected),
                _ => f64::from(c.agents_logged_in),
            };
            let _ = writeln!(out, "{name}{{campaign=\"{}\"}} {v}", c.id.0);
        }
    }
    let mut by_state = std::collections::BTreeMap::new();
    for a in &snap.agents {
        *by_state.entry(a.state.clone()).or_insert(0u64) += 1;
    }
    let _ = writeln!(out, "# HELP ringa_agents Agents by state.\n# TYPE ringa_agents gauge");
    for (s, n) in by_state {
        let _ = writeln!(out, "ringa_agents{{state=\"{s}\"}} {n}");
    }
    Ok(([("content-type", "text/plain; version=0.0.4")], out).into_response())
}
