//! The list, contact and order commands on a temporary SQLite database:
//! `ringa list show|enable|disable|mix|cap|reset`, `ringa contact
//! deactivate|activate|erase` and `ringa order cancel|cancel-file`, checked
//! through their output and by reading the store; unknown ids, a weight of
//! 0, a missing file and an undecodable file are refused with what to do.

use std::path::Path;
use std::process::{Command, Output};

use jiff::{SignedDuration, Timestamp};
use ringa_core::{AttemptId, CallResult, CampaignId, ContactId, ListId};
use ringa_store::{AttemptEnd, AttemptStart, NextStep, Store};

fn ringa(db: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ringa"))
        .args(args)
        .args(["--db", db])
        .env_remove("RINGA_DB")
        .env("RUST_BACKTRACE", "0")
        .env("RUST_LIB_BACKTRACE", "0")
        .output()
        .expect("ringa runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn succeeded(output: &Output) -> String {
    assert!(output.status.success(), "{}{}", stdout(output), stderr(output));
    stdout(output)
}

/// The error of a command that must fail.
fn failed(output: &Output) -> String {
    assert!(!output.status.success(), "succeeded: {}", stdout(output));
    stderr(output)
}

fn sqlite(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("ringa.db").display())
}

/// Imports `rows` (`name;number` lines) into a list of campaign `C`.
fn import(dir: &Path, db: &str, list: &str, rows: &[&str]) {
    let file = dir.join(format!("{list}.csv"));
    let text = format!("Namn;Telefon\n{}\n", rows.join("\n"));
    std::fs::write(&file, text).expect("the file is written");
    let file = file.to_str().expect("a UTF-8 path");
    let report = succeeded(&ringa(db, &["import", file, "--campaign", "C", "--list", list]));
    assert!(report.contains("created"), "{report}");
}

/// Runs `work` on the store, closed again before the next command runs.
fn with_store<T>(db: &str, work: impl AsyncFnOnce(&Store) -> T) -> T {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let store = Store::open(db).await.expect("the database opens");
        let out = work(&store).await;
        store.close().await;
        out
    })
}

/// The contacts of a list, by id.
async fn contacts_of(store: &Store, list: &str) -> Vec<ContactId> {
    let campaign = store.campaign_by_name("C").await.unwrap().expect("campaign C");
    let lists = store.lists(campaign.id).await.unwrap();
    let list = lists.iter().find(|l| l.name == list).expect("the list").id;
    let mut found = Vec::new();
    for id in 1..=50 {
        if let Ok(row) = store.contact(ContactId(id)).await
            && row.list == list
        {
            found.push(row.id);
        }
    }
    found
}

/// Dials a contact and ends the call with `outcome`.
async fn call(store: &Store, contact: ContactId, outcome: &str, next: NextStep) -> AttemptId {
    let now = Timestamp::now();
    let claim = store.claim_contact(contact, "test", now).await.unwrap().expect("claimable");
    let start = AttemptStart {
        number: claim.numbers[0].number.clone(),
        caller_id: None,
        agent: None,
        amd: serde_json::json!({}),
    };
    let attempt = store.begin_attempt(&claim, &start, now).await.unwrap();
    let end = AttemptEnd {
        result: CallResult::Connected,
        sip_code: Some(200),
        outcome: Some(outcome.to_string()),
        agent: None,
        answered_at: Some(now),
        next,
    };
    store.finish_attempt(attempt, &end, now).await.unwrap();
    attempt
}

/// The words of the `ringa list show` row of list `id`:
/// id, enabled, weight, priority, new/day, name.
fn row(show: &str, id: u64) -> Vec<String> {
    let line = show
        .lines()
        .find(|l| l.split_whitespace().next() == Some(id.to_string().as_str()))
        .unwrap_or_else(|| panic!("list {id} is not shown: {show}"));
    line.split_whitespace().map(str::to_string).collect()
}

/// The figure of a `label: N` line.
fn figure(report: &str, label: &str) -> u64 {
    report
        .lines()
        .find_map(|l| l.strip_prefix(label)?.strip_prefix(": ")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {label:?} line in {report}"))
}

fn list_ids(db: &str) -> (u64, u64) {
    with_store(db, async |store: &Store| {
        let campaign = store.campaign_by_name("C").await.unwrap().expect("campaign C");
        let lists = store.lists(campaign.id).await.unwrap();
        let id = |name: &str| lists.iter().find(|l| l.name == name).expect("the list").id.0;
        (id("A"), id("B"))
    })
}

#[test]
fn lists_are_shown_enabled_disabled_mixed_capped_and_reset() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = sqlite(dir.path());
    import(dir.path(), &db, "A", &["Anna;0701740601", "Bo;0701740602", "Cecilia;0701740603"]);
    import(dir.path(), &db, "B", &["David;0701740604"]);
    let (a, b) = list_ids(&db);

    let show = succeeded(&ringa(&db, &["list", "show", "--campaign", "C"]));
    assert_eq!(row(&show, a)[1..], ["yes", "1", "0", "-", "A"], "{show}");
    assert_eq!(row(&show, b)[1..], ["yes", "1", "0", "-", "B"], "{show}");
    assert!(show.contains("contacts of the campaign: 4 (4 ready)"), "{show}");
    // The campaign's id names it as well as its name.
    let by_id = with_store(&db, async |s: &Store| s.campaign_by_name("C").await.unwrap().unwrap());
    let by_id = succeeded(&ringa(&db, &["list", "show", "--campaign", &by_id.id.0.to_string()]));
    assert_eq!(by_id, show);

    let disabled = succeeded(&ringa(&db, &["list", "disable", &a.to_string()]));
    assert!(disabled.contains(&format!("list {a} (A) of campaign C disabled")), "{disabled}");
    let show = succeeded(&ringa(&db, &["list", "show", "--campaign", "C"]));
    assert_eq!(row(&show, a)[1], "no", "{show}");
    assert_eq!(row(&show, b)[1], "yes", "{show}");
    let again = succeeded(&ringa(&db, &["list", "disable", &a.to_string()]));
    assert!(again.contains("already disabled"), "{again}");
    succeeded(&ringa(&db, &["list", "enable", &a.to_string()]));
    let show = succeeded(&ringa(&db, &["list", "show", "--campaign", "C"]));
    assert_eq!(row(&show, a)[1], "yes", "{show}");

    let mix = succeeded(&ringa(&db, &["list", "mix", &b.to_string(), "--weight", "3"]));
    assert!(mix.contains("weight 3, priority 0 (was weight 1, priority 0)"), "{mix}");
    let args = ["list", "mix", &b.to_string(), "--weight", "4", "--priority", "-2"];
    succeeded(&ringa(&db, &args));
    // Without --priority the priority is kept.
    succeeded(&ringa(&db, &["list", "mix", &b.to_string(), "--weight", "5"]));
    let show = succeeded(&ringa(&db, &["list", "show", "--campaign", "C"]));
    assert_eq!(row(&show, b)[2..4], ["5", "-2"], "{show}");
    assert_eq!(row(&show, a)[2..4], ["1", "0"], "{show}");

    let cap = succeeded(&ringa(&db, &["list", "cap", &a.to_string(), "--per-day", "10"]));
    assert!(cap.contains("at most 10 new contacts a day"), "{cap}");
    let show = succeeded(&ringa(&db, &["list", "show", "--campaign", "C"]));
    assert_eq!(row(&show, a)[4], "10", "{show}");
    with_store(&db, async |s: &Store| {
        assert_eq!(s.list(ListId(a)).await.unwrap().new_per_day, Some(10));
    });
    succeeded(&ringa(&db, &["list", "cap", &a.to_string(), "--none"]));
    let show = succeeded(&ringa(&db, &["list", "show", "--campaign", "C"]));
    assert_eq!(row(&show, a)[4], "-", "{show}");

    // Three finished contacts: one not interested, one asked not to be
    // called, one deactivated.
    let ids = with_store(&db, async |s: &Store| {
        let ids = contacts_of(s, "A").await;
        call(s, ids[0], "not_interested", NextStep::Close).await;
        call(s, ids[1], "do_not_call", NextStep::Close).await;
        ids
    });
    succeeded(&ringa(&db, &["contact", "deactivate", &ids[2].0.to_string()]));
    let show = succeeded(&ringa(&db, &["list", "show", "--campaign", "C"]));
    assert!(show.contains("1 done"), "{show}");

    let args = ["list", "reset", &a.to_string(), "--outcome", "not_interested"];
    let reset = succeeded(&ringa(&db, &args));
    assert!(reset.contains("reset (not_interested)"), "{reset}");
    assert_eq!(figure(&reset, "reopened"), 1, "{reset}");
    assert_eq!(figure(&reset, "kept closed, do-not-call or final-by-rule outcome"), 0);
    assert_eq!(figure(&reset, "kept closed, inactive or erased"), 0, "{reset}");
    with_store(&db, async |s: &Store| {
        let first = s.contact(ids[0]).await.unwrap();
        assert_eq!((first.state, first.attempts), ("ready", 0));
    });

    let reset = succeeded(&ringa(&db, &["list", "reset", &a.to_string()]));
    assert!(reset.contains("reset (every outcome)"), "{reset}");
    assert_eq!(figure(&reset, "reopened"), 0, "{reset}");
    assert_eq!(figure(&reset, "kept closed, do-not-call or final-by-rule outcome"), 1);
    assert_eq!(figure(&reset, "kept closed, inactive or erased"), 1, "{reset}");
    with_store(&db, async |s: &Store| {
        assert_eq!(s.contact(ids[1]).await.unwrap().state, "blocked");
        assert_eq!(s.contact(ids[2]).await.unwrap().state, "blocked");
    });
}

#[test]
fn a_contact_is_deactivated_and_activated_again() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = sqlite(dir.path());
    import(dir.path(), &db, "A", &["Anna;0701740601"]);
    let id = with_store(&db, async |s: &Store| contacts_of(s, "A").await[0]);
    let text = id.0.to_string();

    let off = succeeded(&ringa(&db, &["contact", "deactivate", &text]));
    assert!(off.contains(&format!("contact {text} deactivated (state blocked)")), "{off}");
    let row = with_store(&db, async |s: &Store| s.contact(id).await.unwrap());
    assert_eq!((row.active, row.state), (false, "blocked"));
    // An inactive contact is not dialed.
    let claimed = with_store(&db, async |s: &Store| {
        s.next_contact(row.campaign, "test", Timestamp::now()).await.unwrap()
    });
    assert!(claimed.is_none(), "{claimed:?}");
    let again = succeeded(&ringa(&db, &["contact", "deactivate", &text]));
    assert!(again.contains("already inactive"), "{again}");

    let on = succeeded(&ringa(&db, &["contact", "activate", &text]));
    assert!(on.contains(&format!("contact {text} activated (state ready)")), "{on}");
    let row = with_store(&db, async |s: &Store| s.contact(id).await.unwrap());
    assert_eq!((row.active, row.state), (true, "ready"));
    let again = succeeded(&ringa(&db, &["contact", "activate", &text]));
    assert!(again.contains("already active"), "{again}");

    for verb in ["deactivate", "activate", "erase"] {
        let err = failed(&ringa(&db, &["contact", verb, "999"]));
        assert!(err.contains("no contact 999"), "{verb}: {err}");
    }
}

#[test]
fn erasing_a_contact_asks_for_yes_and_reports_what_went() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = sqlite(dir.path());
    import(dir.path(), &db, "A", &["Anna Lind;0701740601", "Bo;0701740602"]);
    let recording = dir.path().join("call.wav");
    std::fs::write(&recording, b"RIFF").expect("the recording is written");
    let path = recording.to_str().expect("a UTF-8 path").to_string();
    let (id, other) = with_store(&db, async |s: &Store| {
        let ids = contacts_of(s, "A").await;
        let attempt = call(s, ids[0], "not_interested", NextStep::Close).await;
        s.add_recording(attempt, ids[0], &path, Timestamp::now()).await.unwrap();
        (ids[0], ids[1])
    });
    let text = id.0.to_string();

    let refused = ringa(&db, &["contact", "erase", &text]);
    let err = failed(&refused);
    assert!(err.contains("1 numbers and 1 recordings"), "{err}");
    assert!(err.contains(&format!("ringa contact erase {text} --yes")), "{err}");
    assert!(!err.contains("Anna"), "the confirmation shows no personal data: {err}");
    assert!(recording.exists());
    let row = with_store(&db, async |s: &Store| s.contact(id).await.unwrap());
    assert_eq!((row.name.as_deref(), row.erased), (Some("Anna Lind"), false));

    let erased = succeeded(&ringa(&db, &["contact", "erase", &text, "--yes"]));
    assert!(erased.contains(&format!("contact {text} erased")), "{erased}");
    assert_eq!(figure(&erased, "numbers kept only as one-way hashes (still blocked)"), 1);
    assert_eq!(figure(&erased, "callbacks cancelled"), 0, "{erased}");
    assert_eq!(figure(&erased, "recordings removed"), 1, "{erased}");
    assert!(erased.contains(&path), "{erased}");
    assert!(!recording.exists());
    let (row, untouched) =
        with_store(&db, async |s: &Store| (s.contact(id).await.unwrap(), s.contact(other).await));
    assert!(row.erased && !row.active && row.name.is_none() && row.numbers.is_empty(), "{row:?}");
    assert_eq!(untouched.unwrap().name.as_deref(), Some("Bo"));

    // The number stays blocked, and the contact cannot come back.
    let check = succeeded(&ringa(&db, &["dnc", "check", "0701740601", "--campaign", "C"]));
    assert!(check.contains("erased contact"), "{check}");
    let err = failed(&ringa(&db, &["contact", "activate", &text]));
    assert!(err.contains("erased on request"), "{err}");
    let again = succeeded(&ringa(&db, &["contact", "erase", &text, "--yes"]));
    assert!(again.contains("erased already"), "{again}");
}

#[test]
fn orders_are_cancelled_one_by_one_and_from_a_file() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = sqlite(dir.path());
    import(dir.path(), &db, "A", &["Anna;0701740601", "Bo;0701740602", "Cecilia;0701740603"]);
    let orders = with_store(&db, async |s: &Store| {
        for id in contacts_of(s, "A").await {
            call(s, id, "sale", NextStep::Close).await;
        }
        let now = Timestamp::now();
        let hour = SignedDuration::from_hours(1);
        s.orders(now - hour, now + hour).await.unwrap()
    });
    assert_eq!(orders.len(), 3);
    let first = orders[0].id.to_string();

    let one = succeeded(&ringa(&db, &["order", "cancel", &first, "--reason", "regret"]));
    assert!(one.contains(&format!("order {first} cancelled (regret)")), "{one}");
    let again = succeeded(&ringa(&db, &["order", "cancel", &first]));
    assert!(again.contains("cancelled already"), "{again}");

    // A client's file in Windows-1252: a header, the order already
    // cancelled, a phone number, an order number, and two lines naming none.
    let by_number = orders.iter().find(|o| o.number == "+46701740602").expect("Bo's order");
    let third = orders.iter().find(|o| o.number == "+46701740603").expect("Cecilia's order");
    let mut file = b"order;kommentar\n".to_vec();
    file.extend(format!("{first};\n070-174 06 02;").bytes());
    file.extend(b"\xe5ngrat\n");
    file.extend(format!("order-{};\n", third.id).bytes());
    file.extend(b"0701740699;\nabc;\n# \xe5ngrade 2026\n");
    let path = dir.path().join("avbokningar.csv");
    std::fs::write(&path, &file).expect("the file is written");
    let path = path.to_str().expect("a UTF-8 path");

    let report = succeeded(&ringa(&db, &["order", "cancel-file", path, "--campaign", "C"]));
    assert_eq!(figure(&report, "cancelled"), 2, "{report}");
    assert_eq!(figure(&report, "cancelled already"), 1, "{report}");
    assert_eq!(figure(&report, "lines naming no order"), 2, "{report}");
    assert!(report.contains("line 5: \"0701740699\": no order of this campaign matches"));
    assert!(report.contains("line 6: \"abc\""), "{report}");

    let orders = with_store(&db, async |s: &Store| {
        let now = Timestamp::now();
        let hour = SignedDuration::from_hours(1);
        s.orders(now - hour, now + hour).await.unwrap()
    });
    assert!(orders.iter().all(|o| o.cancelled_at.is_some()), "{orders:?}");
    let reason = |id: i64| orders.iter().find(|o| o.id == id).unwrap().cancel_reason.clone();
    assert_eq!(reason(orders[0].id).as_deref(), Some("regret"));
    assert_eq!(reason(by_number.id).as_deref(), Some("cancellation file avbokningar.csv"));
    assert_eq!(reason(third.id).as_deref(), Some("cancellation file avbokningar.csv"));
}

#[test]
fn bad_input_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = sqlite(dir.path());
    import(dir.path(), &db, "A", &["Anna;0701740601"]);
    let (a, _) = {
        import(dir.path(), &db, "B", &["Bo;0701740602"]);
        list_ids(&db)
    };

    // Unknown list ids, whatever the command.
    let commands: [&[&str]; 7] = [
        &["list", "enable", "4242"],
        &["list", "disable", "4242"],
        &["list", "mix", "4242", "--weight", "2"],
        &["list", "cap", "4242", "--per-day", "5"],
        &["list", "cap", "4242", "--none"],
        &["list", "reset", "4242"],
        &["list", "reset", "4242", "--outcome", "sale"],
    ];
    for args in commands {
        let err = failed(&ringa(&db, args));
        assert!(
            err.contains("no list 4242") && err.contains("ringa list show --campaign"),
            "{args:?}: {err}"
        );
    }

    // A weight of 0 changes nothing.
    let err = failed(&ringa(&db, &["list", "mix", &a.to_string(), "--weight", "0"]));
    assert!(err.contains("--weight 0") && err.contains("at least 1"), "{err}");
    assert!(err.contains(&format!("ringa list disable {a}")), "{err}");
    let list = with_store(&db, async |s: &Store| s.list(ListId(a)).await.unwrap());
    assert_eq!((list.weight, list.priority), (1, 0));

    // --per-day and --none exclude each other, and one is needed.
    failed(&ringa(&db, &["list", "cap", &a.to_string()]));
    failed(&ringa(&db, &["list", "cap", &a.to_string(), "--none", "--per-day", "3"]));

    // An outcome code no contact can carry.
    let err = failed(&ringa(&db, &["list", "reset", &a.to_string(), "--outcome", "sael"]));
    assert!(err.contains("\"sael\"") && err.contains("not_interested"), "{err}");

    // Unknown campaigns, orders and ids that are not numbers.
    let err = failed(&ringa(&db, &["list", "show", "--campaign", "Nope"]));
    assert!(err.contains("no campaign \"Nope\"") && err.contains("C (1)"), "{err}");
    let err = failed(&ringa(&db, &["list", "show", "--campaign", "77"]));
    assert!(err.contains("no campaign \"77\""), "{err}");
    let err = failed(&ringa(&db, &["order", "cancel", "4242"]));
    assert!(err.contains("no order 4242") && err.contains("ringa export orders"), "{err}");
    failed(&ringa(&db, &["order", "cancel", "0"]));
    failed(&ringa(&db, &["list", "enable", "first"]));

    // Cancellation files: missing, a directory, undecodable, binary.
    let missing = dir.path().join("missing.csv");
    let missing = missing.to_str().expect("a UTF-8 path");
    let err = failed(&ringa(&db, &["order", "cancel-file", missing, "--campaign", "C"]));
    assert!(err.contains("missing.csv") && err.contains("check the file's path"), "{err}");
    let folder = dir.path().to_str().expect("a UTF-8 path");
    let err = failed(&ringa(&db, &["order", "cancel-file", folder, "--campaign", "C"]));
    assert!(err.contains("reading"), "{err}");

    let broken = dir.path().join("broken.csv");
    std::fs::write(&broken, b"\xef\xbb\xbforder\n17\n\xff\xfe\xfd\n").expect("written");
    let broken = broken.to_str().expect("a UTF-8 path");
    let err = failed(&ringa(&db, &["order", "cancel-file", broken, "--campaign", "C"]));
    assert!(err.contains("not valid UTF-8") && err.contains("--encoding"), "{err}");
    let binary = dir.path().join("binary.csv");
    std::fs::write(&binary, [0u8, 1, 2, 3, 0x89, b'P', b'N', b'G', 0, 0]).expect("written");
    let binary = binary.to_str().expect("a UTF-8 path");
    let err = failed(&ringa(&db, &["order", "cancel-file", binary, "--campaign", "C"]));
    assert!(err.contains("binary.csv") && err.contains("--encoding"), "{err}");
    let args = ["order", "cancel-file", broken, "--campaign", "C", "--encoding", "klingon"];
    let err = failed(&ringa(&db, &args));
    assert!(err.contains("unknown encoding"), "{err}");

    // A good file for a campaign that does not exist.
    let good = dir.path().join("good.csv");
    std::fs::write(&good, "17\n").expect("written");
    let good = good.to_str().expect("a UTF-8 path");
    let err = failed(&ringa(&db, &["order", "cancel-file", good, "--campaign", "Nope"]));
    assert!(err.contains("no campaign \"Nope\""), "{err}");

    // Nothing above touched the campaign's contacts.
    let states = with_store(&db, async |s: &Store| {
        s.contact_states(CampaignId(1)).await.unwrap().get("ready").copied()
    });
    assert_eq!(states, Some(2));
}

/// A deactivation and an activation give a contact back the state it had:
/// one finished with a do-not-call or final outcome stays closed, a ready
/// one is ready again.
#[test]
fn deactivating_and_activating_a_contact_gives_back_its_state() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = sqlite(dir.path());
    import(dir.path(), &db, "A", &["Anna;0701740601", "Bo;0701740602", "Cid;0701740603"]);
    let ids = with_store(&db, async |s: &Store| {
        let ids = contacts_of(s, "A").await;
        call(s, ids[0], "do_not_call", NextStep::Close).await;
        call(s, ids[1], "not_interested", NextStep::Close).await;
        ids
    });
    let before = with_store(&db, async |s: &Store| {
        let mut states = Vec::new();
        for id in &ids {
            states.push(s.contact(*id).await.unwrap().state);
        }
        states
    });
    assert_eq!(before[2], "ready");
    for id in &ids {
        succeeded(&ringa(&db, &["contact", "deactivate", &id.0.to_string()]));
    }
    let inactive = with_store(&db, async |s: &Store| {
        s.contact_states(CampaignId(1)).await.unwrap().get("skipped: inactive").copied()
    });
    assert_eq!(inactive, Some(3), "every deactivated contact is counted as inactive");
    for id in &ids {
        succeeded(&ringa(&db, &["contact", "activate", &id.0.to_string()]));
    }
    let after = with_store(&db, async |s: &Store| {
        let mut states = Vec::new();
        for id in &ids {
            states.push(s.contact(*id).await.unwrap().state);
        }
        states
    });
    assert_eq!(after, before, "the states before the deactivation come back");
    assert_ne!(after[0], "ready", "a do-not-call outcome is not reopened");
    assert_ne!(after[1], "ready", "a final outcome is not reopened");
}

/// Every command that takes `--campaign` takes a name or an id, and a
/// campaign that does not exist is named along with the ones that do.
#[test]
fn campaigns_are_named_by_name_or_id_everywhere() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = sqlite(dir.path());
    import(dir.path(), &db, "A", &["Anna;0701740601"]);
    let campaign = with_store(&db, async |s: &Store| {
        let ids = contacts_of(s, "A").await;
        s.contact(ids[0]).await.unwrap().campaign
    });
    let id = campaign.0.to_string();
    let out = succeeded(&ringa(&db, &["dnc", "check", "0701740601", "--campaign", &id]));
    assert!(out.contains("not blocked"), "{out}");
    let day = ["--from", "2026-01-01", "--to", "2100-01-01"];
    let mut args = vec!["export", "attempts", "--campaign", id.as_str()];
    args.extend(day);
    succeeded(&ringa(&db, &args));
    for command in [&["dnc", "check", "0701740601"][..], &["export", "attempts"][..]] {
        let mut args = command.to_vec();
        args.extend(["--campaign", "Nope"]);
        if command[0] == "export" {
            args.extend(day);
        }
        let err = failed(&ringa(&db, &args));
        assert!(
            err.contains("no campaign \"Nope\"") && err.contains("existing campaigns"),
            "{err}"
        );
    }
}
