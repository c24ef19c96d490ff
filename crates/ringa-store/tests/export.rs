//! Exports: statistics by their documented formulas, the same totals in
//! every format, and delivery to a folder, an HTTP endpoint and an SMTP
//! server (both local sinks the tests start on 127.0.0.1).

mod common;

use std::sync::{Arc, Mutex};

use common::{campaign_with, t};
use jiff::SignedDuration;
use ringa_core::{AgentId, CallResult, PhoneNumber, Region};
use ringa_store::export::{
    Destination, EmailTarget, ExportFormat, ExportKind, ExportRequest, ExportSchedule, deliver,
    export, run_due_exports,
};
use ringa_store::{AttemptEnd, AttemptStart, InboundStart, NextStep, Store};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// Ten attempts: 3 connected, 1 dropped, 2 machines, 2 busy, 2 no answer;
/// one connected call is a sale.
async fn ten_known_attempts(store: &Store) -> ringa_core::CampaignId {
    let now = t("2026-03-02T08:00:00Z");
    let contacts: Vec<(String, String)> =
        (0..10).map(|i| (format!("c{i}"), format!("07017406{i:02}"))).collect();
    let refs: Vec<(&str, &str)> = contacts.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let (campaign, _, _) = campaign_with(store, "kpi", &refs, now).await;
    let plan = [
        (CallResult::Connected, 200, Some("sale")),
        (CallResult::Connected, 200, Some("not_interested")),
        (CallResult::Connected, 200, Some("not_interested")),
        (CallResult::Dropped, 200, None),
        (CallResult::Machine, 200, Some("answering_machine")),
        (CallResult::Machine, 200, Some("answering_machine")),
        (CallResult::Busy, 486, None),
        (CallResult::Busy, 486, None),
        (CallResult::NoAnswer, 480, None),
        (CallResult::NoAnswer, 480, None),
    ];
    for (i, (result, sip, outcome)) in plan.iter().enumerate() {
        let at = now + SignedDuration::from_mins(i as i64);
        let claim = store.next_contact(campaign, "w", at).await.unwrap().unwrap();
        let start = AttemptStart {
            number: claim.numbers[0].number.clone(),
            caller_id: None,
            agent: None,
            amd: serde_json::json!({}),
        };
        let attempt = store.begin_attempt(&claim, &start, at).await.unwrap();
        let answered =
            matches!(result, CallResult::Connected | CallResult::Dropped | CallResult::Machine);
        let end = AttemptEnd {
            result: *result,
            sip_code: Some(*sip),
            outcome: outcome.map(str::to_string),
            agent: None,
            answered_at: answered.then(|| at + SignedDuration::from_secs(5)),
            next: NextStep::Close,
        };
        store.finish_attempt(attempt, &end, at + SignedDuration::from_secs(185)).await.unwrap();
    }
    campaign
}

fn day() -> ExportRequest {
    ExportRequest {
        kind: ExportKind::Stats,
        format: ExportFormat::Json,
        from: t("2026-03-02T00:00:00Z"),
        to: t("2026-03-03T00:00:00Z"),
        campaign: None,
    }
}

async fn statistics_follow_the_documented_definitions(store: Store) {
    let campaign = ten_known_attempts(&store).await;
    let req = day();
    let stats = store.stats(req.from, req.to, Some(campaign)).await.unwrap();
    let s = &stats[0];
    assert_eq!(s.attempts, 10);
    assert_eq!(s.live_answers, 4);
    assert_eq!(s.connects, 3);
    assert_eq!(s.drops, 1);
    assert_eq!(s.drop_rate, Some(0.25));
    assert_eq!(s.per_result.get("machine"), Some(&2));
    assert_eq!(s.per_result.get("busy"), Some(&2));
    assert_eq!(s.per_result.get("no_answer"), Some(&2));
    assert_eq!(s.per_outcome.get("not_interested"), Some(&2));
    assert_eq!(s.conversations, 3);
    assert_eq!(s.sales, 1);
    assert_eq!(s.hit_rate, Some(1.0 / 3.0));
    assert_eq!(s.talk_seconds, 3 * 180);
    assert_eq!(s.orders_per_hour, Some(1.0 / (540.0 / 3600.0)));

    // The JSON export shows the same figures with their formulas.
    let json: serde_json::Value =
        serde_json::from_slice(&export(&store, &req).await.unwrap()).unwrap();
    assert_eq!(json["campaigns"][0]["attempts"], 10);
    assert_eq!(json["campaigns"][0]["drop_rate"], 0.25);
    assert_eq!(json["formulas"]["drop_rate"], "drops / live_answers");
    // The CSV export has the same totals.
    let csv_req = ExportRequest { format: ExportFormat::Csv, ..req.clone() };
    let csv = String::from_utf8(export(&store, &csv_req).await.unwrap()).unwrap();
    assert!(csv.contains("attempts,10,"), "{csv}");
    assert!(csv.contains("drop_rate,0.2500,drops / live_answers"), "{csv}");
    // Attempts: one row each, every one with its SIP code.
    let attempts_req =
        ExportRequest { kind: ExportKind::Attempts, format: ExportFormat::Csv, ..req.clone() };
    let csv = String::from_utf8(export(&store, &attempts_req).await.unwrap()).unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 10);
    assert!(rows.iter().all(|r| !r[11].is_empty()), "every attempt has its SIP code");
    // Orders, with a cancellation counted.
    let orders_req = ExportRequest { kind: ExportKind::Orders, ..req.clone() };
    let orders: serde_json::Value =
        serde_json::from_slice(&export(&store, &orders_req).await.unwrap()).unwrap();
    assert_eq!(orders.as_array().unwrap().len(), 1);
    let id = orders[0]["order"].as_i64().unwrap();
    store.cancel_order(id, "regret", t("2026-03-02T12:00:00Z")).await.unwrap();
    let s = &store.stats(req.from, req.to, None).await.unwrap()[0];
    assert_eq!((s.sales, s.cancelled_sales, s.net_sales), (1, 1, 0));
}

/// Two calls back, one a sale: counted apart from the dialer's attempts, with their
/// conversation, sale and talk time in the campaign's totals and the sale an order.
async fn calls_back_are_their_own_figures_and_a_sale_on_one_is_an_order(store: Store) {
    let campaign = ten_known_attempts(&store).await;
    let contact = store.attempts_between(day().from, day().to, None).await.unwrap()[0].contact;
    let at = t("2026-03-02T10:00:00Z");
    let start = InboundStart {
        campaign,
        contact: Some(contact),
        number: Some(PhoneNumber::parse("0701740600", Region::SE).unwrap()),
        agent: Some(AgentId(7)),
    };
    let sale = store.begin_inbound(&start, "w", at).await.unwrap();
    let end = at + SignedDuration::from_secs(240);
    store.finish_inbound(sale, None, None, end).await.unwrap();
    store
        .finish_inbound(sale, Some("sale"), None, end + SignedDuration::from_secs(5))
        .await
        .unwrap();
    let other = store.begin_inbound(&start, "w", at).await.unwrap();
    store
        .finish_inbound(other, Some("not_interested"), None, at + SignedDuration::from_secs(60))
        .await
        .unwrap();

    let req = day();
    let s = &store.stats(req.from, req.to, Some(campaign)).await.unwrap()[0];
    // The dialer's figures are those of the ten attempts alone.
    assert_eq!((s.attempts, s.live_answers, s.connects, s.drops), (10, 4, 3, 1));
    assert_eq!(s.drop_rate, Some(0.25));
    assert_eq!(s.inbound_connected, 2);
    assert_eq!(s.inbound_conversations, 2);
    assert_eq!(s.inbound_sales, 1);
    assert_eq!(s.inbound_talk_seconds, 240 + 60);
    assert_eq!((s.conversations, s.sales, s.net_sales), (5, 2, 2));
    assert_eq!(s.talk_seconds, 3 * 180 + 300);
    assert_eq!(s.hit_rate, Some(2.0 / 5.0));

    let csv_req = ExportRequest { format: ExportFormat::Csv, ..req.clone() };
    let csv = String::from_utf8(export(&store, &csv_req).await.unwrap()).unwrap();
    assert!(csv.contains("inbound_connected,2,"), "{csv}");
    assert!(csv.contains("inbound_sales,1,"), "{csv}");
    let orders_req = ExportRequest { kind: ExportKind::Orders, ..req.clone() };
    let orders: serde_json::Value =
        serde_json::from_slice(&export(&store, &orders_req).await.unwrap()).unwrap();
    let orders = orders.as_array().unwrap();
    assert_eq!(orders.len(), 2, "{orders:?}");
    let back = orders.iter().find(|o| o["inbound_call"] == sale).expect("the call back's order");
    assert_eq!(back["attempt"], serde_json::Value::Null);
    assert_eq!((back["contact"].as_u64(), back["agent"].as_u64()), (Some(contact.0), Some(7)));
    assert_eq!(back["campaign"].as_u64(), Some(campaign.0));
    assert_eq!(back["number"], "+46701740600");
    assert_eq!(back["created_at"], (end + SignedDuration::from_secs(5)).to_string());
    let csv_orders = ExportRequest { format: ExportFormat::Csv, ..orders_req };
    let csv = String::from_utf8(export(&store, &csv_orders).await.unwrap()).unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    assert_eq!(&reader.headers().unwrap()[10], "inbound_call");
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert!(rows.iter().any(|r| r[1].is_empty() && r[10] == sale.to_string()), "{csv}");
}

/// A one-shot HTTP server on 127.0.0.1 that records the request it gets.
async fn http_sink(status: u16) -> (String, Arc<Mutex<Vec<u8>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = seen.clone();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut data = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            let n = socket.read(&mut buf).await.unwrap();
            data.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&data).to_string();
            if let Some(head_end) = text.find("\r\n\r\n") {
                let length: usize = text
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if data.len() >= head_end + 4 + length {
                    break;
                }
            }
            if n == 0 {
                break;
            }
        }
        *keep.lock().unwrap() = data;
        let answer =
            format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        socket.write_all(answer.as_bytes()).await.unwrap();
    });
    (format!("http://{addr}/exports/in"), seen)
}

/// A minimal SMTP server on 127.0.0.1 that accepts one message.
async fn smtp_sink() -> (u16, Arc<Mutex<String>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(String::new()));
    let keep = seen.clone();
    tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let (read, mut write) = socket.into_split();
        let mut lines = BufReader::new(read).lines();
        write.write_all(b"220 sink ESMTP\r\n").await.unwrap();
        let mut in_data = false;
        let mut message = String::new();
        while let Ok(Some(line)) = lines.next_line().await {
            if in_data {
                if line == "." {
                    in_data = false;
                    write.write_all(b"250 2.0.0 queued\r\n").await.unwrap();
                } else {
                    message.push_str(&line);
                    message.push('\n');
                }
                continue;
            }
            let upper = line.to_ascii_uppercase();
            let reply: &[u8] = if upper.starts_with("EHLO") {
                b"250-sink\r\n250 8BITMIME\r\n"
            } else if upper.starts_with("DATA") {
                in_data = true;
                b"354 go ahead\r\n"
            } else if upper.starts_with("QUIT") {
                write.write_all(b"221 bye\r\n").await.unwrap();
                break;
            } else {
                b"250 ok\r\n"
            };
            write.write_all(reply).await.unwrap();
        }
        *keep.lock().unwrap() = message;
    });
    (port, seen)
}

#[tokio::test]
async fn exports_reach_a_folder_an_http_endpoint_and_a_mailbox() {
    let (store, dir) = common::sqlite_store().await;
    ten_known_attempts(&store).await;
    let req = ExportRequest { kind: ExportKind::Orders, format: ExportFormat::Csv, ..day() };
    let bytes = export(&store, &req).await.unwrap();

    let folder = dir.path().join("out");
    let target = Destination::Folder { path: folder.clone() };
    deliver(&target, &req.file_name(), req.format, &bytes).await.unwrap();
    assert_eq!(std::fs::read(folder.join(req.file_name())).unwrap(), bytes);

    let (url, seen) = http_sink(200).await;
    deliver(&Destination::Http { url }, &req.file_name(), req.format, &bytes).await.unwrap();
    let request = String::from_utf8(seen.lock().unwrap().clone()).unwrap();
    assert!(request.starts_with("POST /exports/in HTTP/1.1\r\n"), "{request}");
    assert!(request.contains("Content-Type: text/csv"));
    assert!(request.ends_with(std::str::from_utf8(&bytes).unwrap()));
    let (url, _) = http_sink(500).await;
    let refused = deliver(&Destination::Http { url }, "x.csv", req.format, &bytes).await;
    assert!(refused.is_err(), "a 500 answer is a failed delivery");

    let (port, seen) = smtp_sink().await;
    let mail = Destination::Email(EmailTarget {
        host: "127.0.0.1".into(),
        port,
        from: "ringa@example.invalid".parse().unwrap(),
        to: vec!["boss@example.invalid".into()],
        username: None,
        password: None,
    });
    deliver(&mail, &req.file_name(), req.format, &bytes).await.unwrap();
    let message = seen.lock().unwrap().clone();
    assert!(message.contains("Subject: ringa export orders-"), "{message}");
    assert!(message.contains(&req.file_name()));
}

#[tokio::test]
async fn scheduled_exports_run_when_due_and_record_failures() {
    let (store, dir) = common::sqlite_store().await;
    ten_known_attempts(&store).await;
    let folder = dir.path().join("daily");
    let schedule = ExportSchedule {
        name: "daily-stats".into(),
        kind: ExportKind::Stats,
        format: ExportFormat::Json,
        campaign: None,
        destination: Destination::Folder { path: folder.clone() },
        every: SignedDuration::from_hours(24),
        period: SignedDuration::from_hours(24),
    };
    store.add_export_schedule(&schedule, t("2026-03-03T00:00:00Z")).await.unwrap();
    let broken = ExportSchedule {
        name: "broken".into(),
        destination: Destination::Http { url: "https://127.0.0.1:9/x".into() },
        ..schedule.clone()
    };
    store.add_export_schedule(&broken, t("2026-03-03T00:00:00Z")).await.unwrap();
    assert!(run_due_exports(&store, t("2026-03-02T23:59:00Z")).await.unwrap().is_empty());
    let ran = run_due_exports(&store, t("2026-03-03T00:00:10Z")).await.unwrap();
    assert_eq!(ran.len(), 2);
    let files: Vec<_> =
        std::fs::read_dir(&folder).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(files.len(), 1);
    let rows = store.export_schedules().await.unwrap();
    let broken_row = rows.iter().find(|r| r.schedule.name == "broken").unwrap();
    assert!(broken_row.last_error.as_deref().unwrap().contains("only http://"));
    assert_eq!(broken_row.next_run_at, t("2026-03-04T00:00:00Z"));
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join(files[0].clone())).unwrap()).unwrap();
    assert_eq!(json["campaigns"][0]["attempts"], 10);
}

on_both_backends! {
    statistics_follow_the_documented_definitions => statistics_follow_the_documented_definitions;
    calls_back_are_their_own_figures_and_a_sale_on_one_is_an_order =>
        calls_back_are_their_own_figures_and_a_sale_on_one_is_an_order;
}
