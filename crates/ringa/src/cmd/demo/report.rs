//! The demo's figures: gathered from the store (what `ringa serve` shows)
//! and the engine (agents' time), printed as tables and written as one
//! self-contained HTML file with inline SVG charts.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::Result;
use jiff::Timestamp;
use jiff::civil::Date;
use ringa_core::campaign::Campaign;
use ringa_core::{AgentId, ZoneName};
use ringa_engine::Engine;
use ringa_store::Store;
use ringa_store::export::CampaignStats;
use ringa_store::import::{Bucket, ImportReport};

/// Conversations and sales of a group of attempts.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Rate {
    pub attempts: u64,
    pub pickups: u64,
    pub conversations: u64,
    pub sales: u64,
}

impl Rate {
    /// Sales over conversations.
    pub(crate) fn hit_rate(&self) -> Option<f64> {
        (self.conversations > 0).then(|| self.sales as f64 / self.conversations as f64)
    }
}

/// One agent's day.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct AgentKpi {
    pub agent: AgentId,
    pub name: String,
    pub rate: Rate,
    pub talk_s: f64,
    pub logged_in_h: f64,
    /// Ready and reserved time over pickups.
    pub mean_wait_s: Option<f64>,
}

impl AgentKpi {
    /// The figures as printed: name, pickups, conversations, sales, hit
    /// rate, orders per talk hour, mean wait.
    pub(crate) fn cells(&self) -> [String; 7] {
        [
            self.name.clone(),
            self.rate.pickups.to_string(),
            self.rate.conversations.to_string(),
            self.rate.sales.to_string(),
            format!("{:.1}%", pct(self.rate.hit_rate())),
            format!("{:.2}", self.orders_per_hour().unwrap_or(0.0)),
            format!("{:.1} s", self.mean_wait_s.unwrap_or(0.0)),
        ]
    }

    /// Sales per hour of talk, as the store's statistics define it.
    pub(crate) fn orders_per_hour(&self) -> Option<f64> {
        (self.talk_s > 0.0).then(|| self.rate.sales as f64 / (self.talk_s / 3600.0))
    }
}

/// Everything the demo reports on the day.
pub(crate) struct Figures {
    /// The store's statistics of the campaign for the day.
    pub campaign: CampaignStats,
    /// The simulator's own figures (pacing, utilization).
    pub sim: ringa_sim::Report,
    pub agents: Vec<AgentKpi>,
    pub by_attempt: BTreeMap<u32, Rate>,
    pub by_hour: BTreeMap<u32, Rate>,
}

impl Figures {
    pub(crate) async fn gather(
        store: &Store,
        campaign: &Campaign,
        engine: &Engine,
        sim: &ringa_sim::Report,
        (from, to): (Timestamp, Timestamp),
        zone: &ZoneName,
    ) -> Result<Figures> {
        let stats = store.stats(from, to, Some(campaign.id)).await?;
        let Some(stats) = stats.into_iter().next() else {
            anyhow::bail!("the store holds no attempts of the demo campaign for the day");
        };
        let names: BTreeMap<AgentId, String> =
            store.users().await?.into_iter().map(|u| (u.id, u.display_name)).collect();
        let conversation = |code: &str| campaign.outcome(code).is_some_and(|o| o.conversation);
        let sale = |code: &str| campaign.outcome(code).is_some_and(|o| o.sale);

        let mut agents: BTreeMap<AgentId, AgentKpi> = BTreeMap::new();
        let mut by_attempt: BTreeMap<u32, Rate> = BTreeMap::new();
        let mut by_hour: BTreeMap<u32, Rate> = BTreeMap::new();
        for a in store.all_attempts().await? {
            if a.campaign != campaign.id || a.started_at < from || a.started_at >= to {
                continue;
            }
            let picked = a.result.as_deref() == Some("connected");
            let outcome = a.outcome.as_deref().unwrap_or("");
            let add = |r: &mut Rate| {
                r.attempts += 1;
                r.pickups += u64::from(picked);
                r.conversations += u64::from(conversation(outcome));
                r.sales += u64::from(sale(outcome));
            };
            add(by_attempt.entry(a.attempt_no).or_default());
            let hour = zone.tz().to_datetime(a.started_at).hour() as u32;
            add(by_hour.entry(hour).or_default());
            if let (Some(agent), true) = (a.agent, picked) {
                let kpi = agents.entry(agent).or_insert_with(|| AgentKpi {
                    agent,
                    name: names.get(&agent).cloned().unwrap_or_else(|| agent.to_string()),
                    rate: Rate::default(),
                    talk_s: 0.0,
                    logged_in_h: 0.0,
                    mean_wait_s: None,
                });
                add(&mut kpi.rate);
                if let (Some(answered), Some(ended)) = (a.answered_at, a.ended_at) {
                    kpi.talk_s += ended.duration_since(answered).as_secs_f64().max(0.0);
                }
            }
        }
        for (id, agent) in engine.agents() {
            let times = agent.times_at(to);
            if let Some(kpi) = agents.get_mut(&id) {
                kpi.logged_in_h = times.logged_in() / 3600.0;
                let waited = times.ready + times.reserved;
                kpi.mean_wait_s = (kpi.rate.pickups > 0).then(|| waited / kpi.rate.pickups as f64);
            }
        }
        Ok(Figures {
            campaign: stats,
            sim: sim.clone(),
            agents: agents.into_values().collect(),
            by_attempt,
            by_hour,
        })
    }

    pub(crate) fn print(&self) {
        let s = &self.sim;
        let c = &self.campaign;
        println!("\nPacing ({} pacer, rule set se, window: {}):", s.pacer, s.drop_window);
        println!("  calls placed         {:>8}", c.attempts);
        println!("  answered by a person {:>8}", c.live_answers);
        println!("  connected to agents  {:>8}", c.connects);
        println!("  dropped              {:>8}", c.drops);
        println!(
            "  drop rate            {:>7.2}%   target {:.1}%: {}",
            pct(c.drop_rate),
            s.drop_target * 100.0,
            if c.drop_rate.unwrap_or(0.0) <= s.drop_target { "under target" } else { "OVER" }
        );
        println!(
            "  agent utilization    {:>7.1}%   (talk and wrap-up over working time)",
            s.utilization * 100.0
        );
        println!(
            "  mean wait            {:>7.1} s (p90 {:.1} s) between calls",
            s.mean_wait_s, s.p90_wait_s
        );
        println!("  answering machines   {:>8} filtered by AMD", s.machines_filtered);
        println!(
            "  conversations {}, sales {}, hit rate {:.1}%, orders per talk hour {:.2}",
            c.conversations,
            c.sales,
            pct(c.hit_rate),
            c.orders_per_hour.unwrap_or(0.0)
        );

        println!("\nAgents:");
        println!(
            "  {:<10} {:>8} {:>14} {:>6} {:>9} {:>10} {:>10}",
            "agent", "pickups", "conversations", "sales", "hit rate", "orders/h", "mean wait"
        );
        for a in &self.agents {
            let [name, pickups, conversations, sales, hit, orders, wait] = a.cells();
            println!(
                "  {name:<10} {pickups:>8} {conversations:>14} {sales:>6} {hit:>9} {orders:>10} \
                 {wait:>10}"
            );
        }
        println!("  (orders/h: sales per hour of talk; mean wait: ready time per pickup)");

        println!("\nHit rate by attempt number:");
        print_rates("attempt", &self.by_attempt);
        println!("\nHit rate by hour of day:");
        print_rates("hour", &self.by_hour);
    }
}

fn print_rates(label: &str, rates: &BTreeMap<u32, Rate>) {
    println!(
        "  {label:<8} {:>8} {:>8} {:>14} {:>6} {:>9}",
        "calls", "pickups", "conversations", "sales", "hit rate"
    );
    for (key, r) in rates {
        println!(
            "  {key:<8} {:>8} {:>8} {:>14} {:>6} {:>8.1}%",
            r.attempts,
            r.pickups,
            r.conversations,
            r.sales,
            pct(r.hit_rate())
        );
    }
}

fn pct(share: Option<f64>) -> f64 {
    share.unwrap_or(0.0) * 100.0
}

/// The day's report as one HTML file: no scripts, no external assets.
pub(crate) fn html(f: &Figures, import: &ImportReport, day: Date) -> String {
    let c = &f.campaign;
    let s = &f.sim;
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>ringa demo: {day}</title><style>{CSS}</style></head><body>\
         <h1>ringa demo: a simulated working day, {day}</h1>\
         <p>Campaign <b>{}</b>: predictive, rule set <code>se</code>, {} agents. \
         Every attempt below is in <code>ringa.db</code>; <code>ringa serve</code> shows \
         the same data.</p>",
        esc(&c.name),
        s.agents
    );
    out.push_str("<h2>Pacing</h2><table class=\"kv\">");
    let rows = [
        ("Calls placed", c.attempts.to_string()),
        ("Answered by a person", c.live_answers.to_string()),
        ("Connected to agents", c.connects.to_string()),
        ("Dropped", c.drops.to_string()),
        ("Drop rate", format!("{:.2}% (target {:.1}%)", pct(c.drop_rate), s.drop_target * 100.0)),
        ("Agent utilization", format!("{:.1}%", s.utilization * 100.0)),
        ("Mean wait between calls", format!("{:.1} s", s.mean_wait_s)),
        ("Conversations", c.conversations.to_string()),
        ("Sales", c.sales.to_string()),
        ("Hit rate", format!("{:.1}%", pct(c.hit_rate))),
    ];
    for (k, v) in rows {
        let _ = write!(out, "<tr><th>{k}</th><td>{v}</td></tr>");
    }
    out.push_str("</table>");

    out.push_str("<h2>Charts</h2><div class=\"charts\">");
    let by_hour: Vec<(String, f64)> =
        f.by_hour.iter().map(|(h, r)| (format!("{h:02}"), pct(r.hit_rate()))).collect();
    out.push_str(&bar_chart("hit-rate-by-hour", "Hit rate by hour (%)", &by_hour, "%"));
    let calls: Vec<(String, f64)> =
        f.by_hour.iter().map(|(h, r)| (format!("{h:02}"), r.attempts as f64)).collect();
    out.push_str(&bar_chart("calls-by-hour", "Calls placed by hour", &calls, ""));
    let by_attempt: Vec<(String, f64)> = f
        .by_attempt
        .iter()
        .map(|(n, r)| (format!("{n} (n={})", r.conversations), pct(r.hit_rate())))
        .collect();
    out.push_str(&bar_chart(
        "hit-rate-by-attempt",
        "Hit rate by attempt number (%)",
        &by_attempt,
        "%",
    ));
    let sales: Vec<(String, f64)> = f
        .agents
        .iter()
        .map(|a| (a.name.trim_start_matches("Agent ").to_string(), a.rate.sales as f64))
        .collect();
    out.push_str(&bar_chart("sales-by-agent", "Sales by agent", &sales, ""));
    out.push_str("</div>");

    out.push_str(
        "<h2>Agents</h2><table><tr><th>Agent</th><th>Pickups</th><th>Conversations</th>\
         <th>Sales</th><th>Hit rate</th><th>Orders per talk hour</th><th>Mean wait</th></tr>",
    );
    for a in &f.agents {
        out.push_str("<tr>");
        for cell in a.cells() {
            let _ = write!(out, "<td>{}</td>", esc(&cell));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");

    out.push_str("<h2>Import of the example list</h2><table class=\"kv\">");
    for bucket in Bucket::ALL {
        let _ =
            write!(out, "<tr><th>{}</th><td>{}</td></tr>", bucket.as_str(), import.count(bucket));
    }
    let _ = write!(out, "<tr><th>total rows</th><td>{}</td></tr></table>", import.total());
    out.push_str("</body></html>\n");
    out
}

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:70em}\
    table{border-collapse:collapse;margin:.5em 0}td,th{padding:.2em .8em;text-align:right;\
    border-bottom:1px solid #ddd}th{text-align:left}.charts{display:flex;flex-wrap:wrap;gap:1em}\
    svg{background:#fafafa;border:1px solid #ddd}";

/// A bar chart as inline SVG: one bar a value, labelled.
fn bar_chart(id: &str, title: &str, data: &[(String, f64)], unit: &str) -> String {
    let (w, h, left, bottom, top) = (480.0, 260.0, 40.0, 30.0, 30.0);
    let max = data.iter().map(|d| d.1).fold(0.0_f64, f64::max).max(1e-9);
    let n = data.len().max(1) as f64;
    let slot = (w - left - 10.0) / n;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg id=\"{id}\" class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" \
         height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\"><title>{t}</title>\
         <text x=\"{left}\" y=\"18\" font-size=\"14\" font-weight=\"bold\">{t}</text>\
         <line x1=\"{left}\" y1=\"{y0}\" x2=\"{x1}\" y2=\"{y0}\" stroke=\"#888\"/>",
        t = esc(title),
        y0 = h - bottom,
        x1 = w - 10.0,
    );
    for (i, (label, value)) in data.iter().enumerate() {
        let bar_h = (h - bottom - top) * value / max;
        let x = left + slot * i as f64 + slot * 0.15;
        let y = h - bottom - bar_h;
        let _ = write!(
            svg,
            "<rect class=\"bar\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bw:.1}\" \
             height=\"{bar_h:.1}\" fill=\"#3b7dd8\"><title>{l}: {value:.1}{unit}</title></rect>\
             <text x=\"{cx:.1}\" y=\"{ly:.1}\" font-size=\"11\" text-anchor=\"middle\">{l}</text>\
             <text x=\"{cx:.1}\" y=\"{vy:.1}\" font-size=\"10\" text-anchor=\"middle\">\
             {value:.0}</text>",
            bw = slot * 0.7,
            l = esc(label),
            cx = x + slot * 0.35,
            ly = h - bottom + 14.0,
            vy = y - 3.0,
        );
    }
    svg.push_str("</svg>");
    svg
}

fn esc(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
