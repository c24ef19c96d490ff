//! `ringa engine --stdio` fed junk: bytes that are not UTF-8, a line far
//! too long, times outside the engine's era and durations that would
//! overflow the clock. Each gets an `error` line and the engine keeps
//! answering the lines after it.

use std::io::Write;
use std::process::{Command, Stdio};

/// Runs the engine over `input` and returns its exit status and output lines.
fn run(input: &[u8]) -> (std::process::ExitStatus, Vec<serde_json::Value>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringa"))
        .args(["engine", "--stdio"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("the engine ends");
    writer.join().expect("the writer thread ends");
    let lines = String::from_utf8(out.stdout)
        .expect("the engine writes UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("every output line is JSON"))
        .collect();
    (out.status, lines, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn campaign(ring_timeout: i64, retry: i64) -> String {
    serde_json::json!({
        "at": "2026-12-07T09:00:00Z", "type": "campaign",
        "campaign": {
            "id": 1, "name": "x", "mode": "progressive", "region": "SE",
            "drop_target": 0.03, "ring_timeout": ring_timeout,
            "outcomes": [{"code": "sale", "label": "Sale", "sale": true, "final": true}],
            "rules": {
                "rule_set": "none", "max_attempts": 3, "max_callback_attempts": 2,
                "retry": {"default": retry},
                "windows": {"spans": [{"days": "all", "start": "00:00", "end": "00:00"}]},
                "unknown_zone": {"policy": "default", "zone": "Europe/Stockholm"}
            }
        }
    })
    .to_string()
}

const TICK: &str = r#"{"at":"2026-12-07T09:00:05Z","type":"tick"}"#;

#[test]
fn junk_lines_get_errors_and_the_engine_keeps_running() {
    let mut input = Vec::new();
    input.extend_from_slice(b"\xff\xfe not utf-8 \xc3\n");
    input.extend_from_slice(&vec![b'x'; (64 << 20) + 10]);
    input.push(b'\n');
    input.extend_from_slice(b"{\"at\":\"9999-12-30T00:00:00Z\",\"type\":\"tick\"}\n");
    input.extend_from_slice(b"{\"at\":\"-009999-01-01T00:00:00Z\",\"type\":\"tick\"}\n");
    input.extend_from_slice(campaign(i64::MAX, 3600).as_bytes());
    input.push(b'\n');
    input.extend_from_slice(campaign(22, 1_000_000_000_000).as_bytes());
    input.push(b'\n');
    input.extend_from_slice(campaign(-5, 3600).as_bytes());
    input.push(b'\n');
    input.extend_from_slice(TICK.as_bytes());
    let (status, lines, stderr) = run(&input);
    assert!(status.success(), "the engine exits cleanly at the end: {stderr}");

    let errors: Vec<_> = lines.iter().filter(|l| l["type"] == "error").collect();
    let message = |i: usize| errors[i]["message"].as_str().unwrap_or_default().to_string();
    assert_eq!(errors.len(), 7, "{lines:?}");
    assert!(message(0).contains("not UTF-8"), "{}", message(0));
    assert!(message(1).contains("longer than"), "{}", message(1));
    assert_eq!(errors[1]["line"], 2);
    assert!(message(2).contains("outside 1900-2200"), "{}", message(2));
    for i in 4..7 {
        assert!(message(i).contains("out of range"), "{}", message(i));
    }
    assert_eq!(lines.last().map(|l| l["type"].clone()), Some("ready".into()), "{lines:?}");
}

#[test]
fn counters_at_their_maximum_in_a_contacts_history_do_not_stop_the_engine() {
    let agent = |kind: &str| {
        format!(r#"{{"at":"2026-12-07T09:00:01Z","type":"{kind}","agent":3,"campaigns":[1]}}"#)
    };
    let lead = serde_json::json!({
        "at": "2026-12-07T09:00:02Z", "type": "lead", "campaign": 1,
        "entry": {
            "contact": {
                "id": 7, "list": 1, "numbers": [{"number": "+46701740605", "label": "main"}]
            },
            "history": {"attempts": u32::MAX, "callback_attempts": u32::MAX}
        }
    });
    let input = [campaign(22, 3600), agent("agent_login"), agent("agent_ready"), lead.to_string()]
        .join("\n");
    let (status, lines, stderr) = run(format!("{input}\n{TICK}\n").as_bytes());
    assert!(status.success(), "the engine survives: {stderr}");
    assert!(lines.iter().all(|l| l["type"] != "error"), "{lines:?}");
    assert_eq!(lines.last().map(|l| l["type"].clone()), Some("ready".into()), "{lines:?}");
}

#[test]
fn a_callback_due_at_the_end_of_time_is_refused_not_a_crash() {
    let callback = serde_json::json!({
        "at": "2026-12-07T09:00:00Z", "type": "callback",
        "callback": {
            "id": 1, "campaign": 1, "contact": 5, "kind": "agreed",
            "due": "9999-12-30T21:59:50Z", "local": "9999-12-30T22:59:50",
            "zone": "Europe/Stockholm", "owner": 1, "state": "pending", "tries": 0,
            "created_at": "2026-12-07T09:00:00Z"
        }
    });
    let login = r#"{"at":"2026-12-07T09:00:01Z","type":"agent_login","agent":1,"campaigns":[1]}"#;
    let input = [campaign(22, 3600), login.to_string(), callback.to_string(), TICK.to_string()];
    let (status, lines, stderr) = run(format!("{}\n", input.join("\n")).as_bytes());
    assert!(status.success(), "the engine survives: {stderr}");
    let errors: Vec<_> = lines.iter().filter(|l| l["type"] == "error").collect();
    assert_eq!(errors.len(), 1, "{lines:?}");
    assert_eq!(errors[0]["line"], 3);
    assert!(errors[0]["message"].as_str().unwrap_or_default().contains("9999-12-30"));
    assert_eq!(lines.last().map(|l| l["type"].clone()), Some("ready".into()), "{lines:?}");
}
