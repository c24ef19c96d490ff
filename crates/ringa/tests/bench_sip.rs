//! `ringa bench sip` at small numbers, so the telephony benchmark cannot rot: a few calls
//! set up against SIPp (from `scripts/test-deps`) and a few bridged calls with recording.
//! Every call must complete and the relayed audio must come back and be recorded.

use std::process::Command;

#[test]
fn the_telephony_benchmark_completes_its_calls_and_records_them() {
    let out = Command::new(env!("CARGO_BIN_EXE_ringa"))
        .args(["bench", "sip", "--cps", "20", "--seconds", "1", "--hold-ms", "200"])
        .args(["--bridges", "4", "--bridge-seconds", "1", "--json"])
        .output()
        .expect("ringa runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    let figures: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON object");

    let setup = &figures["setup"];
    assert_eq!(setup["calls"], 20, "{setup}");
    assert_eq!(setup["answered"], 20, "{setup}");
    assert_eq!(setup["completed"], 20, "{setup}");
    assert_eq!(setup["failed"], 0, "{setup}");
    assert_eq!(setup["sipp_exit"], 0, "SIPp saw a failed call: {setup}");

    let bridge = &figures["bridge"];
    let sent = bridge["packets_sent"].as_u64().expect("a count");
    let received = bridge["packets_received"].as_u64().expect("a count");
    // 4 calls, two legs, 50 packets a second each.
    assert_eq!(sent, 400, "{bridge}");
    assert!(received * 10 >= sent * 9, "most relayed packets come back: {bridge}");
    assert_eq!(bridge["recordings"], 4, "{bridge}");
    let frames = bridge["recording_frames_min"].as_u64().expect("a count");
    assert!(frames >= 6000, "a second of stereo audio per call: {bridge}");
    assert!(bridge["latency_ms_p50"].as_f64().expect("a figure") > 0.0, "{bridge}");
}
