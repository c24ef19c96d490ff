//! The command line's import defaults and user management: a file imported
//! again into another list of the same campaign creates nothing new, numbers
//! written with a label or a comment are read, and `ringa user list`,
//! `disable` and `enable` show and change who may log in: a generated
//! password is one-time, and `ringa user disable` ends the sessions of a
//! running server at once.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

fn ringa(db: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ringa"))
        .args(args)
        .args(["--db", db])
        .env_remove("RINGA_DB")
        .env_remove("RINGA_PASSWORD")
        .output()
        .expect("ringa runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn succeeded(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}{}",
        stdout(output),
        String::from_utf8_lossy(&output.stderr)
    );
    stdout(output)
}

/// The count of one bucket in the import's table (`created      4`).
fn bucket(report: &str, name: &str) -> u64 {
    report
        .lines()
        .find_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some(name)).then(|| words.next()?.parse().ok())?
        })
        .unwrap_or_else(|| panic!("no {name} line in {report}"))
}

fn sqlite(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("ringa.db").display())
}

#[test]
fn a_second_list_of_the_campaign_gets_no_duplicates_and_labelled_numbers_are_read() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = sqlite(dir.path());
    let file = dir.path().join("kunder.csv");
    std::fs::write(
        &file,
        "Namn;Telefon\n\
         Anna;070-174 06 05\n\
         Bo;tel: 018-12 34 56\n\
         Cecilia;070-1234567 (kväll)\n\
         David;070-1234567 kväll\n",
    )
    .expect("the file is written");
    let file = file.to_str().expect("a UTF-8 path");

    let first = succeeded(&ringa(&db, &["import", file, "--campaign", "C", "--list", "A"]));
    assert_eq!(bucket(&first, "created"), 3, "{first}");
    assert_eq!(bucket(&first, "invalid"), 1, "{first}");
    assert!(first.contains("characters that are not part of a phone number"), "{first}");

    // The same file into another list: the campaign already has the numbers.
    let second = succeeded(&ringa(&db, &["import", file, "--campaign", "C", "--list", "B"]));
    assert_eq!(bucket(&second, "created"), 0, "{second}");
    assert_eq!(bucket(&second, "duplicate"), 3, "{second}");

    // Asked for, the list scope still imports them again.
    let args = ["import", file, "--campaign", "C", "--list", "D", "--dedupe", "list"];
    let third = succeeded(&ringa(&db, &args));
    assert_eq!(bucket(&third, "created"), 3, "{third}");
}

#[test]
fn users_are_listed_disabled_and_enabled_again() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = sqlite(dir.path());
    succeeded(&ringa(&db, &["user", "add", "anna", "--role", "agent", "--name", "Anna Lind"]));
    succeeded(&ringa(&db, &["user", "add", "bo", "--role", "supervisor"]));

    let row = |list: &str, login: &str| -> Vec<String> {
        let line = list
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(login))
            .unwrap_or_else(|| panic!("{login} is not listed: {list}"));
        line.split_whitespace().map(str::to_string).collect()
    };
    let list = succeeded(&ringa(&db, &["user", "list"]));
    assert_eq!(row(&list, "anna")[2..4], ["agent", "enabled"], "{list}");
    assert_eq!(row(&list, "bo")[2..4], ["supervisor", "enabled"], "{list}");
    assert!(row(&list, "anna").contains(&"Lind".to_string()), "{list}");

    let disabled = succeeded(&ringa(&db, &["user", "disable", "anna"]));
    assert!(disabled.contains("disabled user anna"), "{disabled}");
    let list = succeeded(&ringa(&db, &["user", "list"]));
    assert_eq!(row(&list, "anna")[3], "disabled", "{list}");
    assert_eq!(row(&list, "bo")[3], "enabled", "{list}");

    let enabled = succeeded(&ringa(&db, &["user", "enable", "anna"]));
    assert!(enabled.contains("enabled user anna"), "{enabled}");
    let list = succeeded(&ringa(&db, &["user", "list"]));
    assert_eq!(row(&list, "anna")[3], "enabled", "{list}");

    let unknown = ringa(&db, &["user", "disable", "cecilia"]);
    assert!(!unknown.status.success());
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(stderr.contains("no user \"cecilia\"") && stderr.contains("anna, bo"), "{stderr}");
}

/// A running `ringa serve`, stopped (by its pid) when dropped.
struct Served {
    child: Child,
    addr: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Serves `db` on a free loopback port; waits until it listens.
fn serve(db: &str) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringa"))
        .args(["serve", "--db", db, "--listen", "127.0.0.1:0", "--sim-profile", "quick"])
        .env_remove("RINGA_DB")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("ringa serve starts");
    let out = child.stdout.take().expect("piped");
    let mut lines = BufReader::new(out).lines();
    let addr = lines
        .find_map(|line| {
            let line = line.ok()?;
            let rest = line.strip_prefix("ringa serving on http://")?;
            Some(rest.trim_end_matches('/').to_string())
        })
        .expect("the server says where it listens");
    // The rest of its output is not needed; keep the pipe drained.
    std::thread::spawn(move || lines.for_each(drop));
    Served { child, addr }
}

/// One HTTP/1.1 request on a fresh connection: the status, the session
/// cookie it set (if any) and the body.
fn http(
    served: &Served,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    body: Option<&str>,
) -> (u16, Option<String>, String) {
    let mut stream = TcpStream::connect(&served.addr).expect("the server accepts");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("a timeout");
    let body = body.unwrap_or("");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n",
        served.addr,
        body.len()
    );
    if let Some(cookie) = cookie {
        request.push_str(&format!("Cookie: {cookie}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).expect("the request is sent");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("an answer");
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let cookie = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("set-cookie").then(|| value.split(';').next())?
    });
    (status, cookie.map(|c| c.trim().to_string()), body.to_string())
}

/// Logs in; returns the session cookie and the login answer.
fn log_in(served: &Served, login: &str, password: &str) -> (String, String) {
    let body = format!(r#"{{"login":"{login}","password":"{password}"}}"#);
    let (status, cookie, answer) = http(served, "POST", "/api/v1/login", None, Some(&body));
    assert_eq!(status, 200, "login of {login}: {answer}");
    (cookie.expect("a session cookie"), answer)
}

/// The password `ringa user add` generates is one-time: the first login
/// may only replace it. One given in RINGA_PASSWORD is not. A session
/// opened before `ringa user disable` (another process, same database) is
/// refused at its next request.
#[test]
fn a_generated_password_is_one_time_and_disable_ends_live_sessions() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = sqlite(dir.path());
    let added = succeeded(&ringa(&db, &["user", "add", "anna", "--role", "agent"]));
    let generated = added
        .lines()
        .find_map(|l| l.split_once("one-time password (shown once").map(|(_, rest)| rest))
        .and_then(|rest| rest.split_once("): ").map(|(_, password)| password))
        .unwrap_or_else(|| panic!("no generated password in {added}"))
        .trim()
        .to_string();
    let given = Command::new(env!("CARGO_BIN_EXE_ringa"))
        .args(["user", "add", "bo", "--role", "agent", "--db", &db])
        .env_remove("RINGA_DB")
        .env("RINGA_PASSWORD", "bo-password-1")
        .output()
        .expect("ringa runs");
    let given = succeeded(&given);
    assert!(!given.contains("password"), "{given}");

    let served = serve(&db);
    let (anna, answer) = log_in(&served, "anna", &generated);
    assert!(answer.contains(r#""must_change_password":true"#), "{answer}");
    let (status, _, body) = http(&served, "GET", "/api/v1/campaigns", Some(&anna), None);
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("/api/v1/me/password"), "{body}");
    let (bo, answer) = log_in(&served, "bo", "bo-password-1");
    assert!(answer.contains(r#""must_change_password":false"#), "{answer}");
    let (status, _, body) = http(&served, "GET", "/api/v1/campaigns", Some(&bo), None);
    assert_eq!(status, 200, "{body}");

    let disabled = succeeded(&ringa(&db, &["user", "disable", "bo"]));
    assert!(disabled.contains("disabled user bo"), "{disabled}");
    let (status, _, body) = http(&served, "GET", "/api/v1/me", Some(&bo), None);
    assert_eq!(status, 401, "{body}");
    let (status, _, _) = http(&served, "GET", "/api/v1/me", Some(&anna), None);
    assert_eq!(status, 200, "another user's session stays");
}
