//! The journal stores what the telephony saw of an answered attempt: the SIP code of the
//! answer and, when answering-machine detection ran, the detector's verdict and the settings
//! in force, in the attempt's `amd` record. A person connected to an agent keeps 200 too.

use jiff::Timestamp;
use ringa_core::{AgentId, AttemptId, CallId, CallResult, CampaignId, PhoneNumber, Region};
use ringa_engine::{AmdReport, AttemptKind, AttemptRecord};
use ringa_store::{NewContact, NewNumber, Store};
use ringa_web::journal::{Decision, Journal};
use serde_json::json;

fn record(attempt: u64, contact: ringa_core::ContactId, number: &PhoneNumber) -> AttemptRecord {
    AttemptRecord {
        attempt: AttemptId(attempt),
        call: CallId(attempt),
        campaign: CampaignId(1),
        contact,
        number: number.clone(),
        caller_id: None,
        attempt_no: 1,
        kind: AttemptKind::List,
        placed_at: "2026-12-04T09:00:00Z".parse().expect("an instant"),
        answered_at: None,
        connected_at: None,
        ended_at: None,
        agent: None,
        result: None,
        sip_code: None,
        outcome: None,
        note: None,
        amd: true,
        amd_report: None,
    }
}

#[tokio::test]
async fn verdicts_settings_and_the_answers_sip_code_are_stored_on_the_attempt() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let url = format!("sqlite://{}", dir.path().join("amd.db").display());
    let store = Store::open(&url).await.expect("the store opens");
    let now: Timestamp = "2026-12-04T09:00:00Z".parse().expect("an instant");
    let campaign =
        store.create_campaign("amd", Region::SE, &json!({}), now).await.expect("a campaign");
    let list = store.ensure_list(campaign, "main", now).await.expect("a list");
    let numbers: Vec<PhoneNumber> = ["+46701110001", "+46701110002"]
        .iter()
        .map(|n| PhoneNumber::from_e164(n).expect("a valid number"))
        .collect();
    let contacts: Vec<NewContact> = numbers
        .iter()
        .map(|number| NewContact {
            numbers: vec![NewNumber {
                raw: number.as_str().to_string(),
                number: number.clone(),
                label: "main".into(),
            }],
            ..NewContact::default()
        })
        .collect();
    let ids = store.insert_contacts(&list, &contacts, now).await.expect("contacts stored");
    let mut journal = Journal::new(store.clone(), "test");
    let settings = r#"{"on_machine":"hang_up","notsure_to_agent":true}"#;

    // A machine: hung up on after the verdict.
    let mut machine = record(1, ids[0], &numbers[0]);
    journal.started(&machine, now).await.expect("journaled");
    machine.answered_at = Some(now);
    machine.result = Some(CallResult::Machine);
    machine.sip_code = Some(200);
    machine.amd_report = Some(AmdReport {
        class: Some("MACHINE".into()),
        reason: Some("beep".into()),
        at_ms: Some(2_340),
        settings: settings.into(),
    });
    let window = jiff::SignedDuration::from_mins(15);
    journal.ended(&machine, Some(Decision::Closed), window, now).await.expect("journaled");

    // A person, connected to an agent.
    let mut person = record(2, ids[1], &numbers[1]);
    journal.started(&person, now).await.expect("journaled");
    person.answered_at = Some(now);
    person.agent = Some(AgentId(1));
    person.result = Some(CallResult::Connected);
    person.sip_code = Some(200);
    person.amd_report = Some(AmdReport {
        class: Some("HUMAN".into()),
        reason: Some("short_greeting_then_silence".into()),
        at_ms: Some(1_120),
        settings: settings.into(),
    });
    journal.ended(&person, Some(Decision::Closed), window, now).await.expect("journaled");

    let stored = store.all_attempts().await.expect("attempts");
    assert_eq!(stored.len(), 2, "{stored:?}");
    let machine_row = stored.iter().find(|a| a.contact == ids[0]).expect("the machine");
    assert_eq!(machine_row.sip_code, Some(200));
    assert_eq!(machine_row.result.as_deref(), Some("machine"));
    assert_eq!(machine_row.amd["enabled"], true);
    assert_eq!(machine_row.amd["class"], "MACHINE");
    assert_eq!(machine_row.amd["reason"], "beep");
    assert_eq!(machine_row.amd["at_ms"], 2_340);
    assert_eq!(machine_row.amd["settings"]["on_machine"], "hang_up");
    let person_row = stored.iter().find(|a| a.contact == ids[1]).expect("the person");
    assert_eq!(person_row.sip_code, Some(200));
    assert_eq!(person_row.result.as_deref(), Some("connected"));
    assert_eq!(person_row.amd["class"], "HUMAN");
    assert_eq!(person_row.amd["settings"]["notsure_to_agent"], true);
    store.close().await;
}
