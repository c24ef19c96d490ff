//! `ringa demo` end to end: runs the demo in a fresh directory, checks that
//! its import report accounts for every row of the example list, that the
//! drop rate stayed under the target, that the orders CSV and the HTML
//! report hold the day, and that `ringa serve` on the same database shows
//! the campaign, its contacts, attempts and statistics over the API.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/contacts.csv");

/// The number after `label` on the first line that holds it.
fn number_after(text: &str, label: &str) -> f64 {
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no line {label:?} in:\n{text}"));
    line.trim_start()[label.len()..]
        .split_whitespace()
        .next()
        .and_then(|w| w.trim_end_matches('%').parse().ok())
        .unwrap_or_else(|| panic!("no number after {label:?} in {line:?}"))
}

/// Stops the server when the test ends, passed or not.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn demo_imports_dials_reports_and_serves_the_day() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = Command::new(env!("CARGO_BIN_EXE_ringa"))
        .arg("demo")
        .current_dir(dir.path())
        .env_remove("RINGA_DB")
        .env_remove("RINGA_LOG")
        .output()
        .expect("ringa demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "ringa demo failed:\n{stdout}\n{stderr}");
    // A clean day hands its claims back without a warning that reads like a crash.
    assert!(!stderr.contains("WARN"), "a clean demo warns:\n{stderr}");

    // Every data row of the file is in exactly one bucket.
    let text = std::fs::read(EXAMPLE).expect("the example list");
    let rows = text.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count() as f64 - 1.0;
    assert!(rows >= 5000.0, "the example list has {rows} rows");
    let buckets: f64 = ["created", "duplicate", "invalid", "missing_phone", "blocked_dnc"]
        .iter()
        .map(|b| number_after(&stdout, b))
        .sum();
    assert_eq!(buckets, rows, "{stdout}");
    assert_eq!(number_after(&stdout, "total"), rows);
    for bucket in ["duplicate", "invalid", "missing_phone", "blocked_dnc"] {
        assert!(number_after(&stdout, bucket) > 0.0, "no {bucket} rows:\n{stdout}");
    }
    let created = number_after(&stdout, "created");

    // Pacing: a real day's volume, the drop rate under the 3% target.
    let placed = number_after(&stdout, "calls placed");
    let drop_rate = number_after(&stdout, "drop rate");
    assert!(placed > 2000.0, "{stdout}");
    assert!(drop_rate < 3.0, "drop rate {drop_rate}%:\n{stdout}");
    assert!(number_after(&stdout, "agent utilization") > 50.0, "{stdout}");
    assert!(stdout.contains("Agent 20"), "per-agent KPIs:\n{stdout}");
    assert!(stdout.contains("Hit rate by attempt number") && stdout.contains("Hit rate by hour"));

    // The orders CSV has one line per sale the figures count.
    let orders =
        std::fs::read_to_string(dir.path().join("ringa-demo-orders.csv")).expect("the orders file");
    let sales = stdout
        .lines()
        .find_map(|l| l.split("sales ").nth(1))
        .and_then(|s| s.split(',').next())
        .and_then(|s| s.trim().parse::<usize>().ok())
        .expect("the sales figure");
    assert!(sales > 0, "{stdout}");
    assert_eq!(orders.lines().count(), sales + 1, "header and one line per order");
    assert!(orders.lines().nth(1).is_some_and(|l| l.contains("+46")), "{orders}");

    // The report is self-contained and has its four charts with bars.
    let html =
        std::fs::read_to_string(dir.path().join("ringa-demo-report.html")).expect("the report");
    for chart in ["hit-rate-by-hour", "calls-by-hour", "hit-rate-by-attempt", "sales-by-agent"] {
        assert!(html.contains(&format!("<svg id=\"{chart}\"")), "chart {chart} missing");
    }
    assert!(html.matches("<rect class=\"bar\"").count() > 20);
    assert!(!html.contains("<script") && !html.contains("src=\"http"), "no external assets");

    // Running it again does not overwrite the database.
    let again = Command::new(env!("CARGO_BIN_EXE_ringa"))
        .arg("demo")
        .current_dir(dir.path())
        .output()
        .expect("ringa demo runs");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));

    let password = stdout
        .lines()
        .skip_while(|l| !l.contains("log in as \"admin\""))
        .nth(1)
        .map(str::trim)
        .expect("the admin password is printed")
        .to_string();
    serve_shows_the_day(dir.path(), &password, &orders, (created, placed, drop_rate));
}

/// `ringa serve` on the demo's database: the campaign, a contact with its
/// attempts, and the day's statistics.
fn serve_shows_the_day(dir: &Path, password: &str, orders: &str, figures: (f64, f64, f64)) {
    let (created, placed, drop_rate) = figures;
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringa"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir)
        .env_remove("RINGA_DB")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("ringa serve starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let server = Server(child);
    // Read the address, then keep draining: a closed pipe would end the
    // server at its next line of output.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("ringa serving on ") {
                let _ = tx.send(url.trim_end_matches('/').to_string());
            }
        }
    });
    let base = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("ringa serve prints its address");

    let addr = base.trim_start_matches("http://").to_string();
    let (status, headers, _) = http(
        &addr,
        "POST",
        "/api/v1/login",
        None,
        Some(&json!({ "login": "admin", "password": password })),
    );
    assert_eq!(status, 200, "admin login");
    let cookie = headers
        .lines()
        .filter_map(|l| l.strip_prefix("set-cookie: ").or_else(|| l.strip_prefix("Set-Cookie: ")))
        .map(|c| c.split(';').next().unwrap_or_default().to_string())
        .collect::<Vec<_>>()
        .join("; ");
    assert!(!cookie.is_empty(), "no session cookie in {headers}");
    let get = |path: String| {
        let (status, _, body) = http(&addr, "GET", &format!("/api/v1{path}"), Some(&cookie), None);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str::<Value>(&body).expect("JSON")
    };
    {
        let campaigns = get("/campaigns".to_string());
        let list = campaigns.as_array().cloned().unwrap_or_default();
        let campaign = list
            .iter()
            .find(|c| c["name"].as_str().is_some_and(|n| n.starts_with("Demo")))
            .unwrap_or_else(|| panic!("no demo campaign in {campaigns}"));
        let id = campaign["id"].as_u64().expect("an id");

        // Every imported contact is in one of the campaign's states.
        let states = get(format!("/campaigns/{id}/diagnostics"));
        let contacts: f64 = ["dialable_now", "quarantined", "list_disabled", "claimed"]
            .iter()
            .chain(&["waiting_callback", "done", "blocked"])
            .map(|k| states[k].as_f64().unwrap_or(0.0))
            .sum();
        assert_eq!(contacts, created, "contacts by state: {states}");
        assert!(states["done"].as_f64().is_some_and(|d| d > 0.0), "{states}");

        // The first contacts have their attempts on the card.
        let mut dialed = 0;
        for contact in 1..=10 {
            let card = get(format!("/campaigns/{id}/contacts/{contact}"));
            let history = card["history"].as_array().cloned().unwrap_or_default();
            assert_eq!(card["attempts"].as_u64(), Some(history.len() as u64), "{card}");
            dialed += usize::from(!history.is_empty());
        }
        assert!(dialed >= 5, "only {dialed} of the first 10 contacts were dialed");

        // Orders name a number of their own contact.
        for line in orders.lines().skip(1).take(5) {
            let cells: Vec<&str> = line.split(',').collect();
            let card = get(format!("/campaigns/{id}/contacts/{}", cells[2]));
            let numbers = card["numbers"].as_array().cloned().unwrap_or_default();
            assert!(
                numbers.iter().any(|n| n["number"] == cells[5]),
                "order {line} names a number not on its contact: {card}"
            );
        }

        let day = "from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z";
        let stats = get(format!("/campaigns/{id}/stats?{day}"));
        let figures = &stats["campaigns"][0];
        assert_eq!(figures["attempts"].as_f64(), Some(placed), "{stats}");
        let rate = figures["drop_rate"].as_f64().expect("a drop rate") * 100.0;
        assert!((rate - drop_rate).abs() < 0.01, "{rate} against {drop_rate}");
        assert!(figures["sales"].as_u64().is_some_and(|s| s > 0), "{stats}");

        // What the campaign learned during the day was kept: it serves warm.
        let learned = get(format!("/campaigns/{id}/learned-state"));
        assert!(learned["saved"]["updated_at"].is_string(), "never saved: {learned}");
        let seen = learned["live"]["outcomes_seen"].as_f64().unwrap_or(0.0);
        assert!(seen > 1000.0, "the served campaign starts cold: {learned}");
    }
    drop(server);
}

/// One HTTP/1.1 request over a fresh connection: status, headers, body.
fn http(
    addr: &str,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    body: Option<&Value>,
) -> (u16, String, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to ringa serve");
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(cookie) = cookie {
        request.push_str(&format!("Cookie: {cookie}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    stream.write_all(request.as_bytes()).expect("send the request");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("read the answer");
    let answer = String::from_utf8_lossy(&answer).to_string();
    let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("a status");
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, head.to_string(), body)
}

/// The body of a chunked answer.
fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || tail.len() < size {
            break;
        }
        out.push_str(&tail[..size]);
        rest = tail[size..].trim_start_matches("\r\n");
    }
    out
}
