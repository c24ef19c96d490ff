//! Failures the command line must report through its exit status: a
//! scheduled export that could not be delivered, a second `ringa serve`
//! on a database another server already runs on, and telephony files that
//! cannot be used.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn ringa() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ringa"))
}

#[test]
fn run_due_exits_non_zero_when_a_delivery_fails() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = format!("sqlite://{}", dir.path().join("ringa.db").display());
    // Nothing listens on port 1 of loopback: the POST is refused.
    let schedule = ringa()
        .args(["export", "schedule", "nightly", "orders", "--post", "http://127.0.0.1:1/in"])
        .args(["--db", &db])
        .output()
        .expect("ringa runs");
    assert!(schedule.status.success(), "{}", String::from_utf8_lossy(&schedule.stderr));
    let run = ringa().args(["export", "run-due", "--db", &db]).output().expect("ringa runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "a failed delivery exits 0: {stdout} {stderr}");
    assert!(stdout.contains("nightly: FAILED"), "{stdout}");
    assert!(stderr.contains("1 of the due exports failed: nightly"), "{stderr}");
}

#[test]
fn a_second_server_on_one_sqlite_database_is_refused() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = format!("sqlite://{}", dir.path().join("ringa.db").display());
    let mut first = ringa()
        .args(["serve", "--db", &db, "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the first server starts");
    // Wait until the first server listens (it has taken the lock by then).
    let mut out = first.stdout.take().expect("piped");
    let started = Instant::now();
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("ringa serving on")
        && started.elapsed() < Duration::from_secs(60)
    {
        let mut buf = [0u8; 256];
        match std::io::Read::read(&mut out, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    assert!(String::from_utf8_lossy(&seen).contains("ringa serving on"));
    let mut second = ringa()
        .args(["serve", "--db", &db, "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ringa runs");
    // A second server that starts keeps running: give it a bounded time.
    let started = Instant::now();
    let status = loop {
        match second.try_wait() {
            Ok(Some(status)) => break Some(status),
            _ if started.elapsed() > Duration::from_secs(30) => break None,
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    if status.is_none() {
        let _ = second.kill();
        let _ = second.wait();
    }
    let _ = first.kill();
    let _ = first.wait();
    let mut stderr = String::new();
    if let Some(mut err) = second.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut err, &mut stderr);
    }
    assert!(status.is_some_and(|s| !s.success()), "the second server started: {stderr}");
    assert!(stderr.contains("another `ringa serve` is already running"), "{stderr}");
}

#[test]
fn telephony_refuses_an_outcome_the_campaign_does_not_have() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = dir.path().join("check.toml");
    // Nothing is dialed: the configuration is refused before any SIP traffic.
    let body = "[[trunk]]\nname = \"local\"\naddress = \"127.0.0.1:9\"\nline_limit = 1\n\
                cps = 1.0\n\n[campaign]\ncaller_ids = [\"+46101234567\"]\n\
                numbers = [\"+46701740605\"]\n";
    std::fs::write(&config, format!("{body}outcome = \"done\"\n")).unwrap();
    let run = ringa()
        .args(["telephony", "--config"])
        .arg(&config)
        .args(["--max-seconds", "1"])
        .output()
        .expect("ringa runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "{stderr}");
    assert!(stderr.contains("outcome \"done\" in [campaign] is not one of"), "{stderr}");
    assert!(stderr.contains("not_interested"), "{stderr}");
    // The default outcome is one of the campaign's: the same file without
    // `outcome` passes the check (and then fails only on the missing peer
    // or the one-second limit, never on the outcome).
    std::fs::write(&config, body).unwrap();
    let run = ringa()
        .args(["telephony", "--config"])
        .arg(&config)
        .args(["--max-seconds", "1"])
        .output()
        .expect("ringa runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!stderr.contains("is not one of the campaign's outcomes"), "{stderr}");
}

#[test]
fn a_register_loaded_for_a_campaign_records_its_wash_date() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("ringa.db");
    let db = format!("sqlite://{}", path.display());
    let nix = dir.path().join("nix.txt");
    std::fs::write(&nix, "0701740605\n4670174*\n").unwrap();
    let load = ringa()
        .args(["dnc", "load"])
        .arg(&nix)
        .args(["--list", "NIX", "--register", "--wash-date", "2026-12-01"])
        .args(["--campaign", "Spring", "--db", &db])
        .output()
        .expect("ringa runs");
    let stdout = String::from_utf8_lossy(&load.stdout);
    assert!(load.status.success(), "{stdout} {}", String::from_utf8_lossy(&load.stderr));
    assert!(stdout.contains("Spring: register wash recorded as 2026-12-01"), "{stdout}");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let campaign = runtime.block_on(async {
        let store = ringa_store::Store::open(&db).await.unwrap();
        let row = store.campaign_by_name("Spring").await.unwrap().expect("the campaign");
        store.close().await;
        ringa_web::floor::campaign_of(&row)
    });
    assert_eq!(
        campaign.rules.register_washed.map(|d| d.to_string()).as_deref(),
        Some("2026-12-01")
    );
}

#[test]
fn dnc_add_refuses_an_unknown_list_unless_asked_to_create_it() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = format!("sqlite://{}", dir.path().join("ringa.db").display());
    let add = ringa()
        .args(["dnc", "add", "0709990000", "--list", "nosuchlist", "--db", &db])
        .output()
        .expect("ringa runs");
    let stdout = String::from_utf8_lossy(&add.stdout);
    let stderr = String::from_utf8_lossy(&add.stderr);
    assert!(!add.status.success(), "an unknown list is accepted: {stdout} {stderr}");
    assert!(stderr.contains("no do-not-call list named \"nosuchlist\""), "{stderr}");
    assert!(stderr.contains("existing lists: global"), "{stderr}");
    assert!(stderr.contains("--create-list"), "{stderr}");
    let lists = ringa().args(["dnc", "lists", "--db", &db]).output().expect("ringa runs");
    let listed = String::from_utf8_lossy(&lists.stdout);
    assert!(!listed.contains("nosuchlist"), "the refused list was created: {listed}");
    let global = ringa()
        .args(["dnc", "add", "0709990000", "--list", "global", "--db", &db])
        .output()
        .expect("ringa runs");
    assert!(global.status.success(), "{}", String::from_utf8_lossy(&global.stderr));
    let create = ringa()
        .args(["dnc", "add", "0709990000", "--list", "mine", "--create-list", "--db", &db])
        .output()
        .expect("ringa runs");
    let stdout = String::from_utf8_lossy(&create.stdout);
    assert!(create.status.success(), "{}", String::from_utf8_lossy(&create.stderr));
    assert!(stdout.contains("added on mine"), "{stdout}");
}

#[test]
fn user_add_refuses_a_taken_login_and_an_unknown_campaign() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = format!("sqlite://{}", dir.path().join("ringa.db").display());
    let add = |login: &str, extra: &[&str]| {
        ringa()
            .args(["user", "add", login, "--db", &db])
            .args(extra)
            .env("RINGA_PASSWORD", "a-long-password")
            .env_remove("RUST_BACKTRACE")
            .output()
            .expect("ringa runs")
    };
    let first = add("anna", &[]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let again = add("anna", &[]);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success(), "a second anna is accepted");
    assert!(stderr.contains("anna already exists"), "{stderr}");
    assert!(!stderr.to_lowercase().contains("unique"), "{stderr}");
    let unknown = add("eva", &["--campaigns", "99"]);
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(!unknown.status.success(), "campaign 99 is accepted");
    assert!(stderr.contains("no campaign 99; existing campaigns: none"), "{stderr}");
    // Nothing was created: eva can be added once the mistake is fixed.
    let eva = add("eva", &[]);
    assert!(eva.status.success(), "{}", String::from_utf8_lossy(&eva.stderr));
}

#[test]
fn serve_refuses_a_telephony_file_it_cannot_use_before_opening_anything() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = format!("sqlite://{}", dir.path().join("ringa.db").display());
    let trunk =
        "[[trunk]]\nname = \"t\"\naddress = \"127.0.0.1:5999\"\nline_limit = 2\ncps = 1.0\n";
    let cases = [
        ("missing.toml", None, "missing.toml"),
        ("typo.toml", Some(format!("{trunk}line_limt = 3\n")), "line_limt"),
        ("top.toml", Some(format!("recording = \"/tmp/r\"\n{trunk}")), "recording"),
        ("none.toml", Some("sip_bind = \"127.0.0.1:0\"\n".to_string()), "no [[trunk]]"),
        ("any.toml", Some(format!("sip_bind = \"0.0.0.0:5060\"\n{trunk}")), "not 0.0.0.0"),
        (
            "wav.toml",
            Some(format!("drop_message = \"{}\"\n{trunk}", dir.path().join("no.wav").display())),
            "drop_message",
        ),
    ];
    for (name, body, says) in cases {
        let path = dir.path().join(name);
        if let Some(body) = body {
            std::fs::write(&path, body).expect("writable");
        }
        let out = ringa()
            .args(["serve", "--db", &db, "--listen", "127.0.0.1:0", "--telephony"])
            .arg(&path)
            .output()
            .expect("ringa runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name} was accepted");
        assert!(stderr.contains(says), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
    // Simulated agents have no phones.
    let path = dir.path().join("ok.toml");
    std::fs::write(&path, format!("sip_bind = \"127.0.0.1:0\"\n{trunk}")).expect("writable");
    let out = ringa()
        .args(["serve", "--db", &db, "--listen", "127.0.0.1:0", "--sim-agents", "2"])
        .arg("--telephony")
        .arg(&path)
        .output()
        .expect("ringa runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("--sim-agents works only without --telephony"), "{stderr}");
    // Nothing was opened: no database file was created.
    assert!(!dir.path().join("ringa.db").exists());
}
