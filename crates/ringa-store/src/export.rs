//! Exports of orders, attempts and statistics for a period, as CSV or
//! JSON, on demand or on a schedule, delivered to a folder, an HTTP endpoint
//! (POST) or by e-mail (SMTP).
//!
//! Statistics use these definitions (also written into every stats export):
//! live answers = attempts a person answered (connected + dropped);
//! drop rate = dropped / live answers; hit rate = sales / conversations;
//! orders per hour = net sales / connected talk hours. Calls back (customers who called a
//! caller ID and reached an agent) are never attempts, live answers, connects or drops: they
//! are counted apart (`inbound_*`), and their conversations, sales and talk time are also in
//! the campaign's conversations, sales and talk time, as on the wall.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use ringa_core::CampaignId;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::db::{RowExt, on_db};
use crate::time::{ms, opt_ts, ts};
use crate::{Store, StoreError};

/// What to export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportKind {
    Orders,
    Attempts,
    Stats,
}

impl ExportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ExportKind::Orders => "orders",
            ExportKind::Attempts => "attempts",
            ExportKind::Stats => "stats",
        }
    }
}

/// The file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    Csv,
    Json,
}

impl ExportFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Json => "json",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Json => "application/json",
        }
    }
}

/// One export: a kind, a format, a period `[from, to)` and optionally one campaign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportRequest {
    pub kind: ExportKind,
    pub format: ExportFormat,
    pub from: Timestamp,
    pub to: Timestamp,
    pub campaign: Option<CampaignId>,
}

impl ExportRequest {
    /// A file name that says what the file holds.
    pub fn file_name(&self) -> String {
        let stamp = |t: Timestamp| t.strftime("%Y%m%dT%H%M%SZ").to_string();
        format!(
            "{}-{}-{}.{}",
            self.kind.as_str(),
            stamp(self.from),
            stamp(self.to),
            self.format.extension()
        )
    }
}

/// The figures of one campaign for a period.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CampaignStats {
    pub campaign: CampaignId,
    pub name: String,
    pub attempts: u64,
    pub live_answers: u64,
    pub connects: u64,
    pub drops: u64,
    pub machines: u64,
    pub per_result: BTreeMap<String, u64>,
    pub per_outcome: BTreeMap<String, u64>,
    pub conversations: u64,
    pub sales: u64,
    pub cancelled_sales: u64,
    pub net_sales: u64,
    pub talk_seconds: i64,
    /// Calls back an agent took.
    pub inbound_connected: u64,
    /// Calls back whose outcome is a conversation (also in `conversations`).
    pub inbound_conversations: u64,
    /// Orders made on calls back (also in `sales`).
    pub inbound_sales: u64,
    /// Talk time of calls back (also in `talk_seconds`).
    pub inbound_talk_seconds: i64,
    pub drop_rate: Option<f64>,
    pub hit_rate: Option<f64>,
    pub orders_per_hour: Option<f64>,
}

/// The formulas shown next to the figures.
pub const FORMULAS: [(&str, &str); 5] = [
    ("live_answers", "connects + drops (attempts a person answered; calls back are not attempts)"),
    ("drop_rate", "drops / live_answers"),
    ("hit_rate", "sales / conversations (both with calls back)"),
    (
        "orders_per_hour",
        "net_sales / (talk_seconds / 3600), talk on connected calls and calls back",
    ),
    ("inbound_connected", "calls back an agent took, counted apart from attempts"),
];

impl Store {
    /// The statistics of every campaign (or one) for `[from, to)`.
    pub async fn stats(
        &self,
        from: Timestamp,
        to: Timestamp,
        campaign: Option<CampaignId>,
    ) -> Result<Vec<CampaignStats>, StoreError> {
        let filter = if campaign.is_some() { " AND a.campaign_id = $3" } else { "" };
        let sql = format!(
            "SELECT a.campaign_id, a.result, a.outcome, a.answered_at, a.ended_at, \
             COALESCE(o.conversation, 0) AS conversation, COALESCE(o.sale, 0) AS sale \
             FROM attempts a LEFT JOIN outcomes o ON o.campaign_id = a.campaign_id \
             AND o.code = a.outcome WHERE a.started_at >= $1 AND a.started_at < $2{filter}"
        );
        let rows = self
            .rows_in_window(&sql, from, to, campaign, |r| {
                Ok((
                    r.int("campaign_id")?,
                    r.opt_text("result")?,
                    r.opt_text("outcome")?,
                    r.opt_int("answered_at")?,
                    r.opt_int("ended_at")?,
                    r.flag("conversation")?,
                    r.flag("sale")?,
                ))
            })
            .await?;
        let mut by_campaign: BTreeMap<i64, CampaignStats> = BTreeMap::new();
        for (c, result, outcome, answered, ended, conversation, _sale) in rows {
            let s = by_campaign.entry(c).or_insert_with(|| empty_stats(c));
            s.attempts += 1;
            let result = result.unwrap_or_else(|| "in_flight".to_string());
            match result.as_str() {
                "connected" => {
                    s.connects += 1;
                    if let (Some(a), Some(e)) = (answered, ended) {
                        s.talk_seconds += (e - a).max(0) / 1000;
                    }
                }
                "dropped" => s.drops += 1,
                "machine" => s.machines += 1,
                _ => {}
            }
            *s.per_result.entry(result).or_default() += 1;
            if let Some(outcome) = outcome {
                *s.per_outcome.entry(outcome).or_default() += 1;
            }
            s.conversations += u64::from(conversation);
        }
        for (c, started, ended, conversation) in self.inbound_figures(from, to, campaign).await? {
            let s = by_campaign.entry(c).or_insert_with(|| empty_stats(c));
            s.inbound_connected += 1;
            if let Some(e) = ended {
                let talk = (e - started).max(0) / 1000;
                s.inbound_talk_seconds += talk;
                s.talk_seconds += talk;
            }
            s.inbound_conversations += u64::from(conversation);
            s.conversations += u64::from(conversation);
        }
        for order in self.orders(from, to).await? {
            if campaign.is_some_and(|c| c != order.campaign) {
                continue;
            }
            let s = by_campaign
                .entry(order.campaign.0 as i64)
                .or_insert_with(|| empty_stats(order.campaign.0 as i64));
            s.sales += 1;
            s.inbound_sales += u64::from(order.inbound.is_some());
            if order.cancelled_at.is_some() {
                s.cancelled_sales += 1;
            }
        }
        let mut out = Vec::new();
        for (c, mut s) in by_campaign {
            s.name = self.campaign(CampaignId(c as u64)).await.map(|r| r.name).unwrap_or_default();
            s.live_answers = s.connects + s.drops;
            s.net_sales = s.sales - s.cancelled_sales;
            s.drop_rate = ratio(s.drops, s.live_answers);
            s.hit_rate = ratio(s.sales, s.conversations);
            s.orders_per_hour =
                (s.talk_seconds > 0).then(|| s.net_sales as f64 / (s.talk_seconds as f64 / 3600.0));
            out.push(s);
        }
        Ok(out)
    }

    /// Each call back started in `[from, to)`: campaign, start and end (ms) and whether its
    /// outcome is a conversation.
    async fn inbound_figures(
        &self,
        from: Timestamp,
        to: Timestamp,
        campaign: Option<CampaignId>,
    ) -> Result<Vec<(i64, i64, Option<i64>, bool)>, StoreError> {
        let filter = if campaign.is_some() { " AND i.campaign_id = $3" } else { "" };
        let sql = format!(
            "SELECT i.campaign_id, i.started_at, i.ended_at, \
             COALESCE(o.conversation, 0) AS conversation FROM inbound_calls i \
             LEFT JOIN outcomes o ON o.campaign_id = i.campaign_id AND o.code = i.outcome \
             WHERE i.started_at >= $1 AND i.started_at < $2{filter}"
        );
        self.rows_in_window(&sql, from, to, campaign, |r| {
            Ok((
                r.int("campaign_id")?,
                r.int("started_at")?,
                r.opt_int("ended_at")?,
                r.flag("conversation")?,
            ))
        })
        .await
    }

    /// The rows of `sql` (whose `$1` and `$2` are the window `[from, to)` in ms and whose
    /// `$3`, there only with `campaign`, is that campaign), each read by `read`.
    async fn rows_in_window<T>(
        &self,
        sql: &str,
        from: Timestamp,
        to: Timestamp,
        campaign: Option<CampaignId>,
        read: impl Fn(&dyn RowExt) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        Ok(on_db!(self, pool => {
            let mut q = sqlx::query(sql).bind(ms(from)).bind(ms(to));
            if let Some(c) = campaign {
                q = q.bind(c.0 as i64);
            }
            q.fetch_all(pool)
                .await?
                .iter()
                .map(|r| read(r))
                .collect::<Result<Vec<_>, StoreError>>()?
        }))
    }
}

fn empty_stats(campaign: i64) -> CampaignStats {
    CampaignStats {
        campaign: CampaignId(campaign as u64),
        name: String::new(),
        attempts: 0,
        live_answers: 0,
        connects: 0,
        drops: 0,
        machines: 0,
        per_result: BTreeMap::new(),
        per_outcome: BTreeMap::new(),
        conversations: 0,
        sales: 0,
        cancelled_sales: 0,
        net_sales: 0,
        talk_seconds: 0,
        inbound_connected: 0,
        inbound_conversations: 0,
        inbound_sales: 0,
        inbound_talk_seconds: 0,
        drop_rate: None,
        hit_rate: None,
        orders_per_hour: None,
    }
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn csv_bytes(header: &[&str], rows: Vec<Vec<String>>) -> Result<Vec<u8>, StoreError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| StoreError::Invalid(format!("CSV: {e}"));
    w.write_record(header).map_err(err)?;
    for row in rows {
        w.write_record(row).map_err(err)?;
    }
    w.into_inner().map_err(|e| StoreError::Invalid(format!("CSV: {e}")))
}

fn json_bytes<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec_pretty(value).map_err(|e| StoreError::Invalid(format!("JSON: {e}")))
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// Produces an export's bytes.
pub async fn export(store: &Store, req: &ExportRequest) -> Result<Vec<u8>, StoreError> {
    match req.kind {
        ExportKind::Orders => {
            let orders: Vec<_> = store
                .orders(req.from, req.to)
                .await?
                .into_iter()
                .filter(|o| req.campaign.is_none_or(|c| c == o.campaign))
                .collect();
            match req.format {
                ExportFormat::Json => {
                    let items: Vec<serde_json::Value> = orders
                        .iter()
                        .map(|o| {
                            serde_json::json!({
                                "order": o.id, "attempt": o.attempt.map(|a| a.0),
                                "inbound_call": o.inbound, "contact": o.contact.0,
                                "campaign": o.campaign.0, "agent": o.agent.map(|a| a.0),
                                "number": o.number, "outcome": o.outcome,
                                "created_at": o.created_at.to_string(),
                                "cancelled_at": o.cancelled_at.map(|t| t.to_string()),
                                "cancel_reason": o.cancel_reason,
                            })
                        })
                        .collect();
                    json_bytes(&items)
                }
                ExportFormat::Csv => csv_bytes(
                    &[
                        "order",
                        "attempt",
                        "contact",
                        "campaign",
                        "agent",
                        "number",
                        "outcome",
                        "created_at",
                        "cancelled_at",
                        "cancel_reason",
                        "inbound_call",
                    ],
                    orders
                        .iter()
                        .map(|o| {
                            vec![
                                o.id.to_string(),
                                opt(o.attempt.map(|a| a.0)),
                                o.contact.0.to_string(),
                                o.campaign.0.to_string(),
                                opt(o.agent.map(|a| a.0)),
                                o.number.clone(),
                                o.outcome.clone(),
                                o.created_at.to_string(),
                                opt(o.cancelled_at),
                                o.cancel_reason.clone().unwrap_or_default(),
                                opt(o.inbound),
                            ]
                        })
                        .collect(),
                ),
            }
        }
        ExportKind::Attempts => {
            let attempts = store.attempts_between(req.from, req.to, req.campaign).await?;
            match req.format {
                ExportFormat::Json => {
                    let items: Vec<serde_json::Value> = attempts
                        .iter()
                        .map(|a| {
                            serde_json::json!({
                                "attempt": a.id.0, "contact": a.contact.0, "campaign": a.campaign.0,
                                "list": a.list.0, "attempt_no": a.attempt_no, "number": a.number,
                                "caller_id": a.caller_id, "agent": a.agent.map(|x| x.0),
                                "started_at": a.started_at.to_string(),
                                "answered_at": a.answered_at.map(|t| t.to_string()),
                                "ended_at": a.ended_at.map(|t| t.to_string()),
                                "sip_code": a.sip_code, "result": a.result, "outcome": a.outcome,
                                "amd": a.amd, "open": a.open,
                            })
                        })
                        .collect();
                    json_bytes(&items)
                }
                ExportFormat::Csv => csv_bytes(
                    &[
                        "attempt",
                        "contact",
                        "campaign",
                        "list",
                        "attempt_no",
                        "number",
                        "caller_id",
                        "agent",
                        "started_at",
                        "answered_at",
                        "ended_at",
                        "sip_code",
                        "result",
                        "outcome",
                        "amd",
                    ],
                    attempts
                        .iter()
                        .map(|a| {
                            vec![
                                a.id.0.to_string(),
                                a.contact.0.to_string(),
                                a.campaign.0.to_string(),
                                a.list.0.to_string(),
                                a.attempt_no.to_string(),
                                a.number.clone(),
                                a.caller_id.clone().unwrap_or_default(),
                                opt(a.agent.map(|x| x.0)),
                                a.started_at.to_string(),
                                opt(a.answered_at),
                                opt(a.ended_at),
                                opt(a.sip_code),
                                a.result.clone().unwrap_or_default(),
                                a.outcome.clone().unwrap_or_default(),
                                a.amd.to_string(),
                            ]
                        })
                        .collect(),
                ),
            }
        }
        ExportKind::Stats => {
            let stats = store.stats(req.from, req.to, req.campaign).await?;
            match req.format {
                ExportFormat::Json => {
                    let formulas: BTreeMap<&str, &str> = FORMULAS.iter().copied().collect();
                    json_bytes(&serde_json::json!({
                        "from": req.from.to_string(),
                        "to": req.to.to_string(),
                        "formulas": formulas,
                        "campaigns": stats,
                    }))
                }
                ExportFormat::Csv => {
                    let mut rows = Vec::new();
                    for s in &stats {
                        let mut put = |metric: String, value: String, formula: &str| {
                            rows.push(vec![
                                s.campaign.0.to_string(),
                                s.name.clone(),
                                metric,
                                value,
                                formula.to_string(),
                            ]);
                        };
                        let formula = |m: &str| {
                            FORMULAS.iter().find(|(k, _)| *k == m).map_or("", |(_, f)| *f)
                        };
                        let rate =
                            |v: Option<f64>| v.map(|v| format!("{v:.4}")).unwrap_or_default();
                        put("attempts".into(), s.attempts.to_string(), "");
                        put(
                            "live_answers".into(),
                            s.live_answers.to_string(),
                            formula("live_answers"),
                        );
                        put("connects".into(), s.connects.to_string(), "");
                        put("drops".into(), s.drops.to_string(), "");
                        put("drop_rate".into(), rate(s.drop_rate), formula("drop_rate"));
                        put("conversations".into(), s.conversations.to_string(), "");
                        put("sales".into(), s.sales.to_string(), "");
                        put("cancelled_sales".into(), s.cancelled_sales.to_string(), "");
                        put("net_sales".into(), s.net_sales.to_string(), "");
                        put("hit_rate".into(), rate(s.hit_rate), formula("hit_rate"));
                        put("talk_seconds".into(), s.talk_seconds.to_string(), "");
                        put(
                            "orders_per_hour".into(),
                            rate(s.orders_per_hour),
                            formula("orders_per_hour"),
                        );
                        put(
                            "inbound_connected".into(),
                            s.inbound_connected.to_string(),
                            formula("inbound_connected"),
                        );
                        put(
                            "inbound_conversations".into(),
                            s.inbound_conversations.to_string(),
                            "",
                        );
                        put("inbound_sales".into(), s.inbound_sales.to_string(), "");
                        put("inbound_talk_seconds".into(), s.inbound_talk_seconds.to_string(), "");
                        for (k, v) in &s.per_result {
                            put(format!("result:{k}"), v.to_string(), "");
                        }
                        for (k, v) in &s.per_outcome {
                            put(format!("outcome:{k}"), v.to_string(), "");
                        }
                    }
                    csv_bytes(&["campaign", "name", "metric", "value", "formula"], rows)
                }
            }
        }
    }
}

impl Store {
    /// Attempts started in `[from, to)`, oldest first.
    pub async fn attempts_between(
        &self,
        from: Timestamp,
        to: Timestamp,
        campaign: Option<CampaignId>,
    ) -> Result<Vec<crate::AttemptRow>, StoreError> {
        Ok(self
            .all_attempts_in(from, to)
            .await?
            .into_iter()
            .filter(|a| campaign.is_none_or(|c| c == a.campaign))
            .collect())
    }
}

// ---------------------------------------------------------------- delivery

/// An SMTP destination.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailTarget {
    pub host: String,
    pub port: u16,
    pub from: String,
    pub to: Vec<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
}

/// Where an export goes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Destination {
    /// Written into this folder (atomically: a temporary file, then renamed).
    Folder { path: PathBuf },
    /// POSTed to this `http://` URL.
    Http { url: String },
    /// Mailed as an attachment.
    Email(EmailTarget),
}

/// Delivers an export; returns where it went.
pub async fn deliver(
    destination: &Destination,
    file_name: &str,
    format: ExportFormat,
    bytes: &[u8],
) -> Result<String, StoreError> {
    match destination {
        Destination::Folder { path } => {
            tokio::fs::create_dir_all(path).await?;
            let target = path.join(file_name);
            let temp = path.join(format!(".{file_name}.part"));
            tokio::fs::write(&temp, bytes).await?;
            tokio::fs::rename(&temp, &target).await?;
            Ok(target.display().to_string())
        }
        Destination::Http { url } => {
            let status = http_post(url, format.content_type(), file_name, bytes).await?;
            if (200..300).contains(&status) {
                Ok(format!("{url} (HTTP {status})"))
            } else {
                Err(StoreError::Delivery(format!("{url} answered HTTP {status}")))
            }
        }
        Destination::Email(target) => send_mail(target, file_name, format, bytes).await,
    }
}

/// A plain HTTP/1.1 POST. Only `http://` URLs: put a TLS-terminating proxy
/// in front of an `https://` endpoint.
async fn http_post(
    url: &str,
    content_type: &str,
    file_name: &str,
    body: &[u8],
) -> Result<u16, StoreError> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        StoreError::Invalid(format!("{url}: only http:// URLs are supported for export delivery"))
    })?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (
            h.trim_start_matches('[').trim_end_matches(']'),
            p.parse::<u16>().map_err(|_| StoreError::Invalid(format!("{url}: bad port")))?,
        ),
        _ => (authority, 80),
    };
    let timeout = Duration::from_secs(30);
    let fail = |what: &str, err: &dyn std::fmt::Display| {
        StoreError::Delivery(format!("{url}: {what}: {err}"))
    };
    let mut stream = tokio::time::timeout(timeout, tokio::net::TcpStream::connect((host, port)))
        .await
        .map_err(|e| fail("connect", &e))?
        .map_err(|e| fail("connect", &e))?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nContent-Disposition: attachment; filename=\"{file_name}\"\r\n\
         User-Agent: ringa/{}\r\nConnection: close\r\n\r\n",
        body.len(),
        env!("CARGO_PKG_VERSION")
    );
    let send = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body).await?;
        stream.flush().await?;
        let mut response = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            response.extend_from_slice(&buf[..n]);
            if response.windows(4).any(|w| w == b"\r\n\r\n") || response.len() > 65536 {
                break;
            }
        }
        Ok::<Vec<u8>, std::io::Error>(response)
    };
    let response = tokio::time::timeout(timeout, send)
        .await
        .map_err(|e| fail("send", &e))?
        .map_err(|e| fail("send", &e))?;
    let text = String::from_utf8_lossy(&response);
    let status = text
        .lines()
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| StoreError::Delivery(format!("{url}: no HTTP status in the answer")))?;
    Ok(status)
}

async fn send_mail(
    target: &EmailTarget,
    file_name: &str,
    format: ExportFormat,
    bytes: &[u8],
) -> Result<String, StoreError> {
    use lettre::message::header::ContentType;
    use lettre::message::{Attachment, MultiPart, SinglePart};
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

    let bad =
        |what: &str, err: &dyn std::fmt::Display| StoreError::Invalid(format!("{what}: {err}"));
    let mut builder = Message::builder()
        .from(target.from.parse().map_err(|e| bad("sender address", &e))?)
        .subject(format!("ringa export {file_name}"));
    for to in &target.to {
        builder = builder.to(to.parse().map_err(|e| bad("recipient address", &e))?);
    }
    let content_type =
        ContentType::parse(format.content_type()).map_err(|e| bad("content type", &e))?;
    let message = builder
        .multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::plain(format!("The export {file_name} is attached.\n")))
                .singlepart(
                    Attachment::new(file_name.to_string()).body(bytes.to_vec(), content_type),
                ),
        )
        .map_err(|e| bad("message", &e))?;
    let mut transport =
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(target.host.as_str())
            .port(target.port);
    if let (Some(user), Some(password)) = (&target.username, &target.password) {
        transport = transport.credentials(Credentials::new(user.clone(), password.clone()));
    }
    transport
        .timeout(Some(Duration::from_secs(30)))
        .build()
        .send(message)
        .await
        .map_err(|e| StoreError::Delivery(format!("SMTP {}:{}: {e}", target.host, target.port)))?;
    Ok(format!("mail to {}", target.to.join(", ")))
}

// ---------------------------------------------------------------- schedules

/// An export that runs by itself every `every`, covering the `period` that
/// ends at its run time (for example every day, the last 24 hours).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportSchedule {
    pub name: String,
    pub kind: ExportKind,
    pub format: ExportFormat,
    pub campaign: Option<CampaignId>,
    pub destination: Destination,
    #[serde(with = "millis")]
    pub every: SignedDuration,
    #[serde(with = "millis")]
    pub period: SignedDuration,
}

mod millis {
    use jiff::SignedDuration;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &SignedDuration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(d.as_millis() as i64)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SignedDuration, D::Error> {
        Ok(SignedDuration::from_millis(i64::deserialize(d)?))
    }
}

/// A stored schedule with its run times.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleRow {
    pub schedule: ExportSchedule,
    pub next_run_at: Timestamp,
    pub last_run_at: Option<Timestamp>,
    pub last_error: Option<String>,
}

impl Store {
    /// Adds (or replaces, by name) a scheduled export, first run at `first_run`.
    pub async fn add_export_schedule(
        &self,
        schedule: &ExportSchedule,
        first_run: Timestamp,
    ) -> Result<(), StoreError> {
        if schedule.every <= SignedDuration::ZERO {
            return Err(StoreError::Invalid("an export schedule needs a positive interval".into()));
        }
        check_schedule(schedule)?;
        if first_run.checked_add(schedule.every).is_err() {
            return Err(StoreError::Invalid(format!(
                "first run {first_run} is too far in the future for its interval"
            )));
        }
        let spec = serde_json::to_string(schedule).expect("a schedule always serialises");
        on_db!(self, pool => {
            sqlx::query(
                "INSERT INTO export_schedules (name, spec, every_ms, next_run_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, \
                 every_ms = excluded.every_ms, next_run_at = excluded.next_run_at",
            )
            .bind(&schedule.name)
            .bind(&spec)
            .bind(schedule.every.as_millis() as i64)
            .bind(ms(first_run))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Every scheduled export.
    pub async fn export_schedules(&self) -> Result<Vec<ScheduleRow>, StoreError> {
        on_db!(self, pool => {
            sqlx::query(
                "SELECT spec, next_run_at, last_run_at, last_error FROM export_schedules \
                 ORDER BY name",
            )
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| {
                let spec = r.text("spec")?;
                Ok(ScheduleRow {
                    schedule: serde_json::from_str(&spec)
                        .map_err(|e| StoreError::Corrupt(format!("export schedule: {e}")))?,
                    next_run_at: ts(r.int("next_run_at")?)?,
                    last_run_at: opt_ts(r.opt_int("last_run_at")?)?,
                    last_error: r.opt_text("last_error")?,
                })
            })
            .collect()
        })
    }

    async fn all_attempts_in(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<crate::AttemptRow>, StoreError> {
        self.attempts_started_between(from, to).await
    }
}

/// The longest interval and period a schedule may have: ten years.
pub const MAX_SCHEDULE_SPAN: SignedDuration = SignedDuration::from_hours(10 * 366 * 24);

/// Refuses intervals and periods that are negative or longer than
/// [`MAX_SCHEDULE_SPAN`]: they mean a typo, and times computed from them
/// would overflow.
fn check_schedule(schedule: &ExportSchedule) -> Result<(), StoreError> {
    for (what, span) in [("interval", schedule.every), ("period", schedule.period)] {
        if span < SignedDuration::ZERO || span > MAX_SCHEDULE_SPAN {
            return Err(StoreError::Invalid(format!(
                "an export schedule's {what} must be from 0 to 87840 hours (ten years), not {} \
                 hours",
                span.as_hours()
            )));
        }
    }
    Ok(())
}

/// The first run time after `now` on the schedule's grid, without walking
/// it one interval at a time.
fn next_run(row: &ScheduleRow, now: Timestamp) -> Result<Timestamp, StoreError> {
    let every = row.schedule.every.as_millis();
    let behind = now.as_millisecond() as i128 - row.next_run_at.as_millisecond() as i128;
    let steps = behind.div_euclid(every.max(1)) + 1;
    let ahead = i64::try_from(steps.saturating_mul(every)).unwrap_or(i64::MAX);
    row.next_run_at.checked_add(SignedDuration::from_millis(ahead)).map_err(|err| {
        StoreError::Invalid(format!("the schedule's next run is out of range: {err}"))
    })
}

/// Runs every scheduled export that is due at `now`; a failed delivery is
/// recorded on its schedule and retried at the next interval. A schedule
/// stored with an interval or period out of range fails alone, with the
/// reason recorded, and stops running.
pub async fn run_due_exports(
    store: &Store,
    now: Timestamp,
) -> Result<Vec<(String, Result<String, StoreError>)>, StoreError> {
    let mut results = Vec::new();
    for row in store.export_schedules().await? {
        if row.next_run_at > now {
            continue;
        }
        let s = &row.schedule;
        let checked = check_schedule(s).and_then(|()| {
            let from = now.checked_sub(s.period).map_err(|err| {
                StoreError::Invalid(format!("the schedule's period is out of range: {err}"))
            })?;
            Ok((from, next_run(&row, now)?))
        });
        let (outcome, next) = match checked {
            Ok((from, next)) => {
                let req = ExportRequest {
                    kind: s.kind,
                    format: s.format,
                    from,
                    to: now,
                    campaign: s.campaign,
                };
                let outcome = match export(store, &req).await {
                    Ok(bytes) => deliver(&s.destination, &req.file_name(), s.format, &bytes).await,
                    Err(err) => Err(err),
                };
                (outcome, next)
            }
            // Parked at the end of time: it never comes due again.
            Err(err) => (Err(err), Timestamp::MAX),
        };
        let error = outcome.as_ref().err().map(|e| e.to_string());
        on_db!(store, pool => {
            sqlx::query(
                "UPDATE export_schedules SET next_run_at = $1, last_run_at = $2, last_error = $3 \
                 WHERE name = $4",
            )
            .bind(ms(next))
            .bind(ms(now))
            .bind(error.as_deref())
            .bind(&s.name)
            .execute(pool)
            .await?;
        });
        if let Err(err) = &outcome {
            tracing::warn!(schedule = %s.name, error = %err, "scheduled export failed");
        }
        results.push((s.name.clone(), outcome));
    }
    Ok(results)
}
