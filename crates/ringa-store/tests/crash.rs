//! Crash safety: a dialing loop is killed with SIGKILL at random moments,
//! restarted and recovered again and again; nothing the store confirmed is
//! lost, no contact holds two attempts for one claim, callbacks keep their
//! times and attempts in flight end as interrupted.

mod common;

use std::collections::{HashMap, HashSet};
use std::process::{Command, Stdio};
use std::time::Duration;

use jiff::Timestamp;
use rand::{Rng, SeedableRng};
use ringa_core::{AttemptId, CallbackId, Region};
use ringa_store::{NewContact, Store};

struct Journal {
    begun: HashMap<u64, (u64, i64)>,
    ended: HashMap<u64, String>,
    callbacks: HashMap<u64, (u64, i64)>,
}

fn read_journal(path: &std::path::Path) -> Journal {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut journal =
        Journal { begun: HashMap::new(), ended: HashMap::new(), callbacks: HashMap::new() };
    for line in text.lines() {
        let parts: Vec<&str> = line.split(' ').collect();
        let num = |i: usize| parts[i].parse::<i64>().expect("journal numbers are numbers");
        match parts.first().copied() {
            Some("begin") if parts.len() == 4 => {
                journal.begun.insert(num(1) as u64, (num(2) as u64, num(3)));
            }
            Some("end") if parts.len() == 3 => {
                journal.ended.insert(num(1) as u64, parts[2].to_string());
            }
            Some("callback") if parts.len() == 4 => {
                journal.callbacks.insert(num(1) as u64, (num(2) as u64, num(3)));
            }
            // A line cut by the kill is not a confirmed step.
            _ => {}
        }
    }
    journal
}

fn journal_lines(path: &std::path::Path) -> usize {
    std::fs::read(path).map_or(0, |bytes| bytes.iter().filter(|b| **b == b'\n').count())
}

async fn check_before_recovery(store: &Store, journal: &Journal) -> HashSet<AttemptId> {
    let attempts = store.all_attempts().await.unwrap();
    let by_id: HashMap<u64, &ringa_store::AttemptRow> =
        attempts.iter().map(|a| (a.id.0, a)).collect();
    for (id, (contact, version)) in &journal.begun {
        let row = by_id.get(id).unwrap_or_else(|| panic!("journaled attempt {id} was lost"));
        assert_eq!((row.contact.0, row.claim_version), (*contact, *version));
    }
    for (id, outcome) in &journal.ended {
        let row = by_id[id];
        assert!(!row.open, "attempt {id} was closed but is open again");
        assert_eq!(row.outcome.as_deref(), Some(outcome.as_str()));
    }
    let mut per_claim = HashSet::new();
    let mut open_per_contact: HashMap<u64, u32> = HashMap::new();
    let mut numbers: HashMap<u64, Vec<u32>> = HashMap::new();
    for a in &attempts {
        assert!(per_claim.insert((a.contact.0, a.claim_version)), "two attempts for one claim");
        if a.open {
            *open_per_contact.entry(a.contact.0).or_default() += 1;
        }
        numbers.entry(a.contact.0).or_default().push(a.attempt_no);
    }
    assert!(open_per_contact.values().all(|n| *n <= 1), "two attempts in flight for a contact");
    for (contact, mut nos) in numbers {
        nos.sort();
        let expected: Vec<u32> = (1..=nos.len() as u32).collect();
        assert_eq!(nos, expected, "attempt numbers of contact {contact} have a gap");
    }
    for (id, (contact, due)) in &journal.callbacks {
        let row = store.callback(CallbackId(*id)).await.expect("a journaled callback exists");
        assert_eq!(row.contact.0, *contact);
        assert_eq!(row.due_at.as_millisecond(), *due, "callback {id} lost its time");
    }
    attempts.iter().filter(|a| a.open).map(|a| a.id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_dialing_loops_lose_nothing_and_recover_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let url = format!("sqlite://{}", db.display());
    let journal_path = dir.path().join("journal.log");
    let campaign = {
        let store = Store::open(&url).await.unwrap();
        let now = Timestamp::now();
        let campaign =
            store.create_campaign("crash", Region::SE, &serde_json::json!({}), now).await.unwrap();
        let list = store.ensure_list(campaign, "main", now).await.unwrap();
        let contacts: Vec<NewContact> =
            (0..60).map(|i| common::contact("c", &format!("0701{:06}", 740000 + i))).collect();
        store.insert_contacts(&list, &contacts, now).await.unwrap();
        store.close().await;
        campaign
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut kills = 0;
    let mut interrupted_total = 0;
    let mut last_attempts = 0;
    for round in 0..24u64 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ringa-store-crash-driver"))
            .arg(&url)
            .arg(&journal_path)
            .arg(campaign.0.to_string())
            .arg(round.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the crash driver starts");
        // Kill at a random moment after the driver has done some work, so a
        // slow machine (the process takes long to start) still sees a kill
        // in the middle of dialing, not before it.
        let lines_before = journal_lines(&journal_path);
        let started = std::time::Instant::now();
        while journal_lines(&journal_path) <= lines_before
            && started.elapsed() < Duration::from_secs(60)
            && matches!(child.try_wait(), Ok(None))
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..300))).await;
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut stderr) = child.stderr.take() {
                use std::io::Read;
                let _ = stderr.read_to_string(&mut err);
            }
            panic!("the driver stopped by itself ({status}): {err}");
        }
        // SIGKILL: no chance to clean up.
        child.kill().expect("the driver can be killed");
        child.wait().expect("the killed driver is reaped");
        kills += 1;

        let store = Store::open(&url).await.unwrap();
        let journal = read_journal(&journal_path);
        let open = check_before_recovery(&store, &journal).await;
        let callbacks_before: HashMap<CallbackId, Timestamp> =
            store.all_callbacks().await.unwrap().into_iter().map(|c| (c.id, c.due_at)).collect();
        let report = store.recover(None, Timestamp::now()).await.unwrap();
        let recovered: HashSet<AttemptId> = report.interrupted.iter().copied().collect();
        assert_eq!(recovered, open, "exactly the attempts in flight are closed");
        interrupted_total += recovered.len();
        let attempts = store.all_attempts().await.unwrap();
        assert!(attempts.iter().all(|a| !a.open));
        for a in attempts.iter().filter(|a| recovered.contains(&a.id)) {
            assert_eq!(a.result.as_deref(), Some("interrupted"));
        }
        let states = store.contact_states(campaign).await.unwrap();
        assert_eq!(states.get("claimed"), None, "claims are released");
        for cb in store.all_callbacks().await.unwrap() {
            assert_eq!(
                Some(&cb.due_at),
                callbacks_before.get(&cb.id),
                "callbacks keep their times"
            );
        }
        assert!(attempts.len() >= last_attempts);
        last_attempts = attempts.len();
        store.close().await;
    }
    assert!(kills >= 20);
    // Every round waited for at least one journal line, and a begin comes
    // before its end: at least one attempt per two rounds.
    assert!(last_attempts >= 12, "the driver made progress: {last_attempts} attempts");
    eprintln!("{kills} kills, {last_attempts} attempts, {interrupted_total} interrupted");
}
