//! The storage suite: claims, the attempt journal, recovery, callbacks,
//! The storage suite: claims, the attempt journal, recovery, callbacks,
//! do-not-call scopes, erasure, list operations, calls back and each campaign's
//! learned state, run on SQLite and on PostgreSQL alike.

mod common;

use common::{campaign_with, contact, se, t};
use jiff::SignedDuration;
use jiff::civil::date;
use ringa_core::{CallResult, Region, ZoneName};
use ringa_store::{
    AttemptEnd, AttemptStart, CallbackFate, CallbackRequest, CallbackState, ClaimSource,
    DNC_CANCEL_REASON, DncKind, InboundStart, NextStep, Store, StoreError,
};

fn start(number: &ringa_core::PhoneNumber) -> AttemptStart {
    AttemptStart {
        number: number.clone(),
        caller_id: Some("+46850000000".into()),
        agent: None,
        amd: serde_json::json!({"enabled": true, "max_greeting_ms": 1500}),
    }
}

fn end(result: CallResult, outcome: Option<&str>, next: NextStep) -> AttemptEnd {
    AttemptEnd {
        result,
        sip_code: Some(if result == CallResult::Busy { 486 } else { 200 }),
        outcome: outcome.map(str::to_string),
        agent: None,
        answered_at: None,
        next,
    }
}

async fn attempt_journal_records_start_and_end(store: Store) {
    let now = t("2026-03-02T08:00:00Z");
    let (campaign, _list, ids) =
        campaign_with(&store, "c", &[("A", "0701740601"), ("B", "0701740602")], now).await;
    let claim = store.next_contact(campaign, "w1", now).await.unwrap().expect("a contact is due");
    assert!(ids.contains(&claim.contact));
    assert!(matches!(claim.source, ClaimSource::List(_)));
    assert!(claim.fresh);
    let attempt = store.begin_attempt(&claim, &start(&claim.numbers[0].number), now).await.unwrap();
    let open = store.attempt(attempt).await.unwrap();
    assert!(open.open);
    assert_eq!(open.number, claim.numbers[0].number.as_str());
    assert_eq!(open.caller_id.as_deref(), Some("+46850000000"));
    assert_eq!(open.amd["max_greeting_ms"], 1500);
    let later = now + SignedDuration::from_hours(48);
    let end = AttemptEnd {
        sip_code: Some(486),
        ..end(CallResult::Busy, None, NextStep::Retry { at: later })
    };
    store.finish_attempt(attempt, &end, now + SignedDuration::from_secs(20)).await.unwrap();
    let closed = store.attempt(attempt).await.unwrap();
    assert!(!closed.open);
    assert_eq!(closed.sip_code, Some(486));
    assert_eq!(closed.result.as_deref(), Some("busy"));
    assert_eq!(closed.attempt_no, 1);
    let contact = store.contact(claim.contact).await.unwrap();
    assert_eq!(contact.attempts, 1);
    assert_eq!(contact.state, "ready");
    assert_eq!(contact.next_at, later);
    // The retried contact is not due yet: the other one comes next.
    let next = store.next_contact(campaign, "w1", now).await.unwrap().unwrap();
    assert_ne!(next.contact, claim.contact);
    assert!(store.next_contact(campaign, "w1", now).await.unwrap().is_none());
}

async fn a_claimed_contact_is_held_by_one_worker_and_one_attempt(store: Store) {
    let now = t("2026-03-02T08:00:00Z");
    let (campaign, _list, ids) = campaign_with(&store, "c", &[("A", "0701740601")], now).await;
    let claim = store.next_contact(campaign, "w1", now).await.unwrap().unwrap();
    assert!(store.next_contact(campaign, "w2", now).await.unwrap().is_none());
    assert!(store.claim_contact(ids[0], "w2", now).await.unwrap().is_none());
    let number = claim.numbers[0].number.clone();
    store.begin_attempt(&claim, &start(&number), now).await.unwrap();
    let again = store.begin_attempt(&claim, &start(&number), now).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    assert_eq!(store.attempts_of_contact(ids[0]).await.unwrap().len(), 1);
}

async fn recovery_closes_in_flight_attempts_and_keeps_callback_times(store: Store) {
    let now = t("2026-03-02T08:00:00Z");
    let (campaign, _list, ids) =
        campaign_with(&store, "c", &[("A", "0701740601"), ("B", "0701740602")], now).await;
    let cb = CallbackRequest {
        campaign,
        contact: ids[1],
        owner: None,
        local: date(2026, 3, 5).at(15, 0, 0, 0),
        zone: ZoneName::parse("Europe/Stockholm").unwrap(),
        window_before: SignedDuration::from_mins(15),
        window_after: SignedDuration::from_mins(15),
        note: None,
    };
    let cb_id = store.schedule_callback(&cb, now).await.unwrap();
    let before = store.callback(cb_id).await.unwrap();
    let claim = store.next_contact(campaign, "w1", now).await.unwrap().unwrap();
    assert_eq!(claim.contact, ids[0]);
    let attempt = store.begin_attempt(&claim, &start(&claim.numbers[0].number), now).await.unwrap();
    let report = store.recover(None, now + SignedDuration::from_secs(5)).await.unwrap();
    assert_eq!(report.interrupted, vec![attempt]);
    assert_eq!(report.released, 1);
    let row = store.attempt(attempt).await.unwrap();
    assert!(!row.open);
    assert_eq!(row.result.as_deref(), Some("interrupted"));
    assert_eq!(store.contact(ids[0]).await.unwrap().state, "ready");
    let after = store.callback(cb_id).await.unwrap();
    assert_eq!(after.due_at, before.due_at);
    assert_eq!(after.state, CallbackState::Pending);
    assert_eq!(after.due_at, t("2026-03-05T14:00:00Z"));
    // The old claim is dead: its attempt cannot be closed again or restarted.
    let late =
        store.finish_attempt(attempt, &end(CallResult::NoAnswer, None, NextStep::Close), now).await;
    assert!(matches!(late, Err(StoreError::Conflict(_))));
    assert!(store.begin_attempt(&claim, &start(&claim.numbers[0].number), now).await.is_err());
    assert!(store.recover(None, now).await.unwrap().interrupted.is_empty());
}

async fn due_callbacks_come_before_leads_and_leads_before_lists(store: Store) {
    let now = t("2026-03-02T08:00:00Z");
    let (campaign, list, ids) = campaign_with(&store, "c", &[("A", "0701740601")], now).await;
    let mut lead = contact("Lead", "0701740602");
    lead.lead = true;
    let lead_id = store.insert_contacts(&list, &[lead], now).await.unwrap()[0];
    let cb_contact =
        store.insert_contacts(&list, &[contact("Cb", "0701740603")], now).await.unwrap()[0];
    let cb = CallbackRequest {
        campaign,
        contact: cb_contact,
        owner: None,
        local: date(2026, 3, 2).at(9, 0, 30, 0),
        zone: ZoneName::parse("Europe/Stockholm").unwrap(),
        window_before: SignedDuration::ZERO,
        window_after: SignedDuration::from_mins(15),
        note: Some("wants the offer".into()),
    };
    let cb_id = store.schedule_callback(&cb, now).await.unwrap();
    // Not due yet: the lead first, then the list.
    let first = store.next_contact(campaign, "w", now).await.unwrap().unwrap();
    assert_eq!((first.contact, first.source), (lead_id, ClaimSource::Lead));
    let second = store.next_contact(campaign, "w", now).await.unwrap().unwrap();
    assert_eq!(second.contact, ids[0]);
    assert!(store.next_contact(campaign, "w", now).await.unwrap().is_none());
    let due = t("2026-03-02T08:00:30Z");
    let third = store.next_contact(campaign, "w", due).await.unwrap().unwrap();
    assert_eq!((third.contact, third.source), (cb_contact, ClaimSource::Callback(cb_id)));
    let attempt = store.begin_attempt(&third, &start(&third.numbers[0].number), due).await.unwrap();
    store
        .finish_attempt(
            attempt,
            &end(CallResult::Connected, Some("not_interested"), NextStep::Close),
            due,
        )
        .await
        .unwrap();
    assert_eq!(store.callback(cb_id).await.unwrap().state, CallbackState::Done);
}

async fn callback_lifecycle_reschedule_dnc_retry_and_escalation(store: Store) {
    let now = t("2026-03-02T08:00:00Z");
    let (campaign, _list, ids) =
        campaign_with(&store, "c", &[("A", "0701740601"), ("B", "0701740602")], now).await;
    let agent = store.create_user("anna", "Anna", "agent", None, now).await.unwrap();
    let zone = ZoneName::parse("Europe/Stockholm").unwrap();
    let mut req = CallbackRequest {
        campaign,
        contact: ids[0],
        owner: Some(agent),
        local: date(2026, 3, 3).at(10, 0, 0, 0),
        zone: zone.clone(),
        window_before: SignedDuration::ZERO,
        window_after: SignedDuration::from_mins(15),
        note: None,
    };
    let first = store.schedule_callback(&req, now).await.unwrap();
    req.local = date(2026, 3, 3).at(14, 30, 0, 0);
    let second = store.schedule_callback(&req, now).await.unwrap();
    assert_eq!(first, second);
    let all = store.callbacks_of_contact(ids[0]).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].due_at, t("2026-03-03T13:30:00Z"));
    assert_eq!(store.personal_callbacks(agent).await.unwrap().len(), 1);

    // The owner is absent: others get it only after the campaign's delay.
    let due = t("2026-03-03T13:30:00Z");
    assert!(
        store.next_contact(campaign, "w", due).await.unwrap().is_some_and(|c| c.contact != ids[0])
    );
    let offered = store
        .next_contact(campaign, "w", due + SignedDuration::from_mins(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(offered.source, ClaimSource::Callback(first));
    // The trunk answers 503: retried inside the window, then escalated.
    let a = store.begin_attempt(&offered, &start(&offered.numbers[0].number), due).await.unwrap();
    let failed = AttemptEnd {
        sip_code: Some(503),
        ..end(CallResult::Congestion, None, NextStep::Retry { at: due })
    };
    let report =
        store.finish_attempt(a, &failed, due + SignedDuration::from_mins(10)).await.unwrap();
    assert!(matches!(report.callback_fate, Some(CallbackFate::Retry { .. })));
    assert_eq!(store.callback(first).await.unwrap().state, CallbackState::Pending);
    let fate = store
        .callback_try_failed(
            first,
            due + SignedDuration::from_mins(14),
            SignedDuration::from_mins(2),
        )
        .await
        .unwrap();
    assert_eq!(fate, CallbackFate::Escalated);
    let escalated = store.callbacks_in_state(campaign, CallbackState::Escalated).await.unwrap();
    assert_eq!(escalated.iter().map(|c| c.id).collect::<Vec<_>>(), vec![first]);

    // Contact B has a pending callback; B then asks not to be called.
    let cb_b = store
        .schedule_callback(&CallbackRequest { contact: ids[1], owner: None, ..req.clone() }, now)
        .await
        .unwrap();
    let (list, cancelled) =
        store.record_dnc_request(campaign, &se("0701740602"), "agent anna", now).await.unwrap();
    assert_eq!(list, ringa_core::dnc::GLOBAL_DNC);
    assert_eq!(cancelled, 1);
    let row = store.callback(cb_b).await.unwrap();
    assert_eq!(row.state, CallbackState::Cancelled);
    assert_eq!(row.cancel_reason.as_deref(), Some(DNC_CANCEL_REASON));
}

async fn callbacks_keep_wall_clock_time_across_daylight_saving(store: Store) {
    let now = t("2026-03-20T08:00:00Z");
    let (campaign, _list, ids) = campaign_with(&store, "c", &[("A", "0701740601")], now).await;
    // Booked in winter time for a day after the switch to summer time.
    let req = CallbackRequest {
        campaign,
        contact: ids[0],
        owner: None,
        local: date(2026, 3, 30).at(15, 0, 0, 0),
        zone: ZoneName::parse("Europe/Stockholm").unwrap(),
        window_before: SignedDuration::ZERO,
        window_after: SignedDuration::ZERO,
        note: None,
    };
    let id = store.schedule_callback(&req, now).await.unwrap();
    let row = store.callback(id).await.unwrap();
    assert_eq!(row.due_at, t("2026-03-30T13:00:00Z"));
    assert_eq!(row.local, date(2026, 3, 30).at(15, 0, 0, 0));
}

async fn dnc_lists_apply_to_their_campaigns_and_global_to_all(store: Store) {
    let now = t("2026-03-02T08:00:00Z");
    let (c1, _, _) = campaign_with(&store, "C1", &[("A", "0701740605")], now).await;
    let (c2, _, _) = campaign_with(&store, "C2", &[("A", "0701740605")], now).await;
    let c1_only = store.create_dnc_list("C1-only", DncKind::Campaign, Some(c1), now).await.unwrap();
    let other = se("0701740606");
    store.add_dnc(c1_only, &other, "test", now).await.unwrap();
    assert_eq!(store.dnc_check(&other, Some(c1)).map(|b| b.list_name), Some("C1-only".into()));
    assert!(store.dnc_check(&other, Some(c2)).is_none());

    // A request during a C1 call goes to the default target, global.
    let number = se("070-174 06 05");
    let claim = store.next_contact(c1, "w", now).await.unwrap().unwrap();
    let attempt = store.begin_attempt(&claim, &start(&number), now).await.unwrap();
    let later = now + SignedDuration::from_secs(90);
    let report = store
        .finish_attempt(
            attempt,
            &end(CallResult::Connected, Some("do_not_call"), NextStep::Close),
            later,
        )
        .await
        .unwrap();
    assert_eq!(report.dnc_list, Some(ringa_core::dnc::GLOBAL_DNC));
    for campaign in [c1, c2] {
        let block = store.dnc_check(&number, Some(campaign)).expect("blocked everywhere");
        assert_eq!(block.list_name, "global");
        assert_eq!(block.added_at, Some(later));
    }
    assert_eq!(store.contact(claim.contact).await.unwrap().state, "blocked");
    // The other campaign's copy of the number can still be claimed (a claim
    // does not wash); the live check made immediately before every dial
    // refuses it, naming the global list.
    let c2_claim = store.next_contact(c2, "w", later).await.unwrap().expect("C2's contact");
    assert_eq!(c2_claim.numbers[0].number, number);
    let block = store.dnc_check(&c2_claim.numbers[0].number, Some(c2)).expect("refused");
    assert_eq!(block.list_name, "global");
    // A register with a prefix blocks a range for campaigns that attach it.
    let nix = store.create_dnc_list("NIX", DncKind::Register, None, now).await.unwrap();
    let options = ringa_store::DncLoadOptions {
        region: Region::SE,
        wash_date: Some("2026-03-01".into()),
        replace: true,
        source: "NIX extract".into(),
    };
    let text = "# extract\n0701740607\n4670175*\nnot a number\n\n";
    let loaded = store.load_dnc_text(nix, text, &options, now).await.unwrap();
    assert_eq!((loaded.numbers, loaded.prefixes, loaded.invalid.len()), (1, 1, 1));
    assert!(store.dnc_check(&se("0701750000"), Some(c2)).is_none());
    store.attach_dnc_list(c2, nix).await.unwrap();
    let block = store.dnc_check(&se("0701750000"), Some(c2)).unwrap();
    assert!(block.prefix);
    assert_eq!(block.wash_date.as_deref(), Some("2026-03-01"));
    assert_eq!(store.dnc_blocks(&se("0701740607")).len(), 1);
}

async fn a_number_blocked_after_staging_is_not_dialed(store: Store) {
    let now = t("2026-03-02T08:00:00Z");
    let (campaign, _list, ids) = campaign_with(&store, "P", &[("L", "0701740605")], now).await;
    let (other, _, _) = campaign_with(&store, "Other", &[], now).await;
    let staged = store.next_contact(campaign, "engine", now).await.unwrap().unwrap();
    assert_eq!(staged.contact, ids[0]);
    let number = staged.numbers[0].number.clone();
    assert!(store.dnc_check(&number, Some(campaign)).is_none());
    // Another campaign's agent records the opt-out meanwhile.
    store.record_dnc_request(other, &number, "agent on Other", now).await.unwrap();
    let block = store.dnc_check(&number, Some(campaign)).expect("the live lookup sees it");
    assert_eq!(block.list_name, "global");
    store
        .release_claim(&staged, &NextStep::Block, Some("suppressed: do-not-call"), now)
        .await
        .unwrap();
    let contact = store.contact(ids[0]).await.unwrap();
    assert_eq!(contact.attempts, 0);
    assert_eq!(contact.state, "blocked");
    assert_eq!(contact.last_outcome.as_deref(), Some("suppressed: do-not-call"));
    // A second store on the same database learns the entry by syncing.
    assert!(store.next_contact(campaign, "engine", now).await.unwrap().is_none());
}

async fn inactive_and_erased_contacts_never_reach_the_queue(store: Store) {
    let now = t("2026-03-02T08:00:00Z");
    let (campaign, _list, ids) = campaign_with(
        &store,
        "c",
        &[("A", "0701740601"), ("B", "0701740602"), ("C", "0701740603")],
        now,
    )
    .await;
    store.set_contact_active(ids[1], false, now).await.unwrap();
    store.erase_contact(ids[2], now).await.unwrap();
    let mut seen = Vec::new();
    while let Some(claim) = store.next_contact(campaign, "w", now).await.unwrap() {
        seen.push(claim.contact);
    }
    assert_eq!(seen, vec![ids[0]]);
    let states = store.contact_states(campaign).await.unwrap();
    assert_eq!(states.get("skipped: inactive"), Some(&1));
    assert_eq!(states.get("skipped: erased"), Some(&1));
    // Erasure removed the personal data but the number stays blocked.
    let erased = store.contact(ids[2]).await.unwrap();
    assert!(erased.erased && erased.name.is_none() && erased.numbers.is_empty());
    let block = store.dnc_check(&se("0701740603"), None).unwrap();
    assert!(block.erased);
    assert!(store.dnc_check(&se("0701740603"), Some(campaign)).is_some());
    // A second campaign given the same people holds records of its own: the
    // erased person's number stays blocked for it (the hash is global), while
    // being inactive belongs to the first campaign's record.
    let (second, _, _) = campaign_with(
        &store,
        "c2",
        &[("A", "0701740601"), ("B", "0701740602"), ("C", "0701740603")],
        now,
    )
    .await;
    assert!(store.dnc_check(&se("0701740603"), Some(second)).is_some_and(|b| b.erased));
    assert!(store.dnc_check(&se("0701740602"), Some(second)).is_none());
}

async fn a_deactivation_and_an_activation_give_back_the_state(store: Store) {
    let now = t("2026-03-02T08:00:00Z");
    let people =
        [("A", "0701740601"), ("B", "0701740602"), ("C", "0701740603"), ("D", "0701740604")];
    let (campaign, _list, ids) = campaign_with(&store, "c", &people, now).await;
    // D is taken for dialing and made inactive before its call: the dial is
    // refused, the claim given back, and D comes back ready later.
    let d = store.claim_contact(ids[3], "w", now).await.unwrap().unwrap();
    store.set_contact_active(ids[3], false, now).await.unwrap();
    let refused = store.begin_attempt(&d, &start(&d.numbers[0].number), now).await;
    assert!(matches!(refused, Err(StoreError::Conflict(_))), "{refused:?}");
    store.release_claim(&d, &NextStep::Close, None, now).await.unwrap();
    assert_eq!(store.contact(ids[3]).await.unwrap().attempts, 0);
    // A is sold (closed), B ends with a retry while it is made inactive
    // during its call, C waits untouched.
    let a = store.claim_contact(ids[0], "w", now).await.unwrap().unwrap();
    let attempt = store.begin_attempt(&a, &start(&a.numbers[0].number), now).await.unwrap();
    let end_a = end(CallResult::Connected, Some("sale"), NextStep::Close);
    store.finish_attempt(attempt, &end_a, now).await.unwrap();
    let b = store.claim_contact(ids[1], "w", now).await.unwrap().unwrap();
    let attempt = store.begin_attempt(&b, &start(&b.numbers[0].number), now).await.unwrap();
    store.set_contact_active(ids[1], false, now).await.unwrap();
    let later = now + SignedDuration::from_mins(30);
    let retry = NextStep::Retry { at: later };
    store.finish_attempt(attempt, &end(CallResult::NoAnswer, None, retry), now).await.unwrap();
    assert_eq!(store.contact(ids[1]).await.unwrap().state, "blocked", "inactive after its call");
    let closed = store.contact(ids[0]).await.unwrap().state;
    assert_ne!(closed, "ready");

    for id in [ids[0], ids[2]] {
        store.set_contact_active(id, false, now).await.unwrap();
        // A second deactivation keeps the first one's state.
        store.set_contact_active(id, false, now).await.unwrap();
    }
    let states = store.contact_states(campaign).await.unwrap();
    assert_eq!(states.get("skipped: inactive"), Some(&4), "{states:?}");
    assert!(store.next_contact(campaign, "w", later).await.unwrap().is_none());

    for id in &ids {
        store.set_contact_active(*id, true, now).await.unwrap();
        // Activating an active contact changes nothing.
        store.set_contact_active(*id, true, now).await.unwrap();
    }
    assert_eq!(store.contact(ids[0]).await.unwrap().state, closed, "the sale stays closed");
    assert_eq!(store.contact(ids[1]).await.unwrap().state, "ready", "its retry comes back");
    assert_eq!(store.contact(ids[2]).await.unwrap().state, "ready");
    assert_eq!(store.contact(ids[3]).await.unwrap().state, "ready", "never dialed: ready");
    let mut claimed = Vec::new();
    while let Some(claim) = store.next_contact(campaign, "w", later).await.unwrap() {
        claimed.push(claim.contact);
    }
    claimed.sort();
    assert_eq!(claimed, vec![ids[1], ids[2], ids[3]]);
}

async fn erasure_removes_personal_data_and_recordings(store: Store) {
    let now = t("2026-03-02T08:00:00Z");
    let (campaign, _list, ids) = campaign_with(&store, "c", &[("Åsa", "0701740605")], now).await;
    let claim = store.next_contact(campaign, "w", now).await.unwrap().unwrap();
    let attempt = store.begin_attempt(&claim, &start(&claim.numbers[0].number), now).await.unwrap();
    store
        .finish_attempt(attempt, &end(CallResult::Connected, Some("sale"), NextStep::Close), now)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let recording = dir.path().join("call.wav");
    std::fs::write(&recording, b"RIFF").unwrap();
    store.add_recording(attempt, ids[0], recording.to_str().unwrap(), now).await.unwrap();
    // A file already gone, and one that cannot be removed (a folder stands
    // in its place): the erasure goes on and says so.
    let gone = dir.path().join("gone.wav");
    store.add_recording(attempt, ids[0], gone.to_str().unwrap(), now).await.unwrap();
    let stuck = dir.path().join("stuck.wav");
    std::fs::create_dir(&stuck).unwrap();
    store.add_recording(attempt, ids[0], stuck.to_str().unwrap(), now).await.unwrap();
    let report = store.erase_contact(ids[0], now).await.unwrap();
    assert_eq!(report.numbers_hashed, 1);
    assert_eq!(report.recordings_removed, vec![recording.to_string_lossy().into_owned()]);
    assert_eq!(report.recordings_missing, vec![gone.to_string_lossy().into_owned()]);
    assert_eq!(report.recordings_left.len(), 1, "{report:?}");
    assert_eq!(report.recordings_left[0].0, stuck.to_string_lossy());
    assert!(!recording.exists());
    assert_eq!(store.attempt(attempt).await.unwrap().number, "erased");
    let orders = store.orders(now, now + SignedDuration::from_hours(1)).await.unwrap();
    assert_eq!(orders[0].number, "erased");
    let number = se("0701740605");
    assert!(store.dnc_check(&number, Some(campaign)).is_some_and(|b| b.erased));
    // The hash is salted per installation: not the bare SHA-256 of the number.
    assert_ne!(store.number_hash(&number).len(), 0);
    assert!(!store.number_hash(&number).contains("46701740605"));
}

async fn list_mix_follows_enable_weight_and_daily_cap(store: Store) {
    let now = t("2026-03-02T08:00:00Z");
    let campaign =
        store.create_campaign("mix", Region::SE, &serde_json::json!({}), now).await.unwrap();
    let heavy = store.ensure_list(campaign, "heavy", now).await.unwrap();
    let light = store.ensure_list(campaign, "light", now).await.unwrap();
    let off = store.ensure_list(campaign, "off", now).await.unwrap();
    let make = |base: u32| -> Vec<ringa_store::NewContact> {
        (0..40).map(|i| contact("x", &format!("07017{:05}", base + i))).collect()
    };
    store.insert_contacts(&heavy, &make(10000), now).await.unwrap();
    store.insert_contacts(&light, &make(20000), now).await.unwrap();
    store.insert_contacts(&off, &make(30000), now).await.unwrap();
    store.set_list_mix(heavy.id, 3, 0).await.unwrap();
    store.set_list_mix(light.id, 1, 0).await.unwrap();
    store.set_list_enabled(off.id, false).await.unwrap();
    store.set_list_cap(light.id, Some(5)).await.unwrap();
    let mut per_list = std::collections::HashMap::new();
    for _ in 0..24 {
        let claim = store.next_contact(campaign, "w", now).await.unwrap().unwrap();
        *per_list.entry(claim.list).or_insert(0) += 1;
    }
    assert_eq!(per_list.get(&off.id), None);
    assert_eq!(per_list.get(&heavy.id).copied().unwrap_or(0) + per_list[&light.id], 24);
    assert_eq!(per_list[&light.id], 5, "the daily cap of new contacts holds");
    // A higher priority list is emptied first.
    store.set_list_enabled(off.id, true).await.unwrap();
    store.set_list_mix(off.id, 1, 10).await.unwrap();
    let claim = store.next_contact(campaign, "w", now).await.unwrap().unwrap();
    assert_eq!(claim.list, off.id);
}

async fn list_reset_reopens_only_resettable_contacts(store: Store) {
    let now = t("2026-03-02T08:00:00Z");
    let (campaign, list, ids) = campaign_with(
        &store,
        "c",
        &[("A", "0701740601"), ("B", "0701740602"), ("C", "0701740603"), ("D", "0701740604")],
        now,
    )
    .await;
    let outcomes = ["not_interested", "do_not_call", "not_interested", "not_interested"];
    for _ in 0..4 {
        let claim = store.next_contact(campaign, "w", now).await.unwrap().unwrap();
        let i = ids.iter().position(|id| *id == claim.contact).unwrap();
        let a = store.begin_attempt(&claim, &start(&claim.numbers[0].number), now).await.unwrap();
        store
            .finish_attempt(a, &end(CallResult::Connected, Some(outcomes[i]), NextStep::Close), now)
            .await
            .unwrap();
    }
    store.add_dnc(ringa_core::dnc::GLOBAL_DNC, &se("0701740603"), "test", now).await.unwrap();
    store.set_contact_active(ids[3], false, now).await.unwrap();
    // A code no contact can carry would reset nothing: refused, nothing changed.
    let typo = store.reset_list(list.id, &["not_intrested".to_string()], now).await;
    match typo {
        Err(StoreError::Invalid(why)) => {
            assert!(why.contains("not_intrested") && why.contains("not_interested"), "{why}")
        }
        other => panic!("a typing error was taken: {other:?}"),
    }
    assert_ne!(store.contact(ids[0]).await.unwrap().state, "ready", "nothing reopened");
    let busy = store.reset_list(list.id, &["busy".to_string()], now).await.unwrap();
    assert_eq!(busy.reset, 0, "a call result is a code too, and no contact here ended busy");
    let report = store
        .reset_list(list.id, &["not_interested".to_string(), "do_not_call".to_string()], now)
        .await
        .unwrap();
    assert_eq!(report.reset, 1);
    assert_eq!(report.kept_final, 1);
    assert_eq!(report.kept_dnc, 1);
    assert_eq!(report.kept_inactive, 1);
    let a = store.contact(ids[0]).await.unwrap();
    assert_eq!((a.state, a.attempts), ("ready", 0));
    assert_eq!(store.contact(ids[1]).await.unwrap().state, "blocked");
}

async fn sales_become_orders_and_can_be_cancelled(store: Store) {
    let now = t("2026-03-02T08:00:00Z");
    let (campaign, _list, _ids) =
        campaign_with(&store, "c", &[("A", "0701740601"), ("B", "0701740602")], now).await;
    for _ in 0..2 {
        let claim = store.next_contact(campaign, "w", now).await.unwrap().unwrap();
        let a = store.begin_attempt(&claim, &start(&claim.numbers[0].number), now).await.unwrap();
        let r = store
            .finish_attempt(a, &end(CallResult::Connected, Some("sale"), NextStep::Close), now)
            .await
            .unwrap();
        assert!(r.order.is_some());
    }
    let orders = store.orders(now, now + SignedDuration::from_hours(1)).await.unwrap();
    assert_eq!(orders.len(), 2);
    assert!(store.cancel_order(orders[0].id, "regret", now).await.unwrap());
    assert!(!store.cancel_order(orders[0].id, "regret", now).await.unwrap());
    let file = format!("order\n{}\n070-174 06 02\n0701740699\nabc\n", orders[0].id);
    let report = store.cancel_orders_from_text(campaign, &file, "client file", now).await.unwrap();
    assert_eq!(report.cancelled, 1);
    assert_eq!(report.already_cancelled, 1);
    assert_eq!(report.not_found.len(), 2);
    let orders = store.orders(now, now + SignedDuration::from_hours(1)).await.unwrap();
    assert!(orders.iter().all(|o| o.cancelled_at.is_some()));
}

async fn a_retried_callback_keeps_its_row(store: Store) {
    let now = t("2026-03-02T08:00:00Z");
    let (campaign, _list, ids) = campaign_with(&store, "c", &[("A", "0701740601")], now).await;
    let req = CallbackRequest {
        campaign,
        contact: ids[0],
        owner: None,
        local: date(2026, 3, 3).at(10, 0, 0, 0),
        zone: ZoneName::parse("Europe/Stockholm").unwrap(),
        window_before: SignedDuration::ZERO,
        window_after: SignedDuration::from_mins(15),
        note: None,
    };
    let id = store.schedule_callback(&req, now).await.unwrap();
    // The engine dials the callback twice without an answer and asks for the
    // same agreed callback again each time (as the floor's journal passes it).
    let mut at = t("2026-03-03T09:00:00Z");
    for tries in 1..=2u32 {
        let claim = store.next_contact(campaign, "w", at).await.unwrap().unwrap();
        assert_eq!(claim.source, ClaimSource::Callback(id));
        let a = store.begin_attempt(&claim, &start(&claim.numbers[0].number), at).await.unwrap();
        let again = end(CallResult::NoAnswer, None, NextStep::Callback(req.clone()));
        let report = store.finish_attempt(a, &again, at).await.unwrap();
        assert_eq!(report.callback, Some(id));
        let all = store.callbacks_of_contact(ids[0]).await.unwrap();
        assert_eq!(all.len(), 1, "one row for the one agreed callback: {all:?}");
        assert_eq!(all[0].id, id);
        assert_eq!(all[0].state, CallbackState::Pending);
        assert_eq!(all[0].tries, tries);
        at += SignedDuration::from_mins(3);
    }
    // Reached at last: the same row is done and nothing new is booked.
    let claim = store.next_contact(campaign, "w", at).await.unwrap().unwrap();
    let a = store.begin_attempt(&claim, &start(&claim.numbers[0].number), at).await.unwrap();
    store.finish_attempt(a, &end(CallResult::Connected, None, NextStep::Close), at).await.unwrap();
    let all = store.callbacks_of_contact(ids[0]).await.unwrap();
    assert_eq!(
        all.iter().map(|c| (c.id, c.state)).collect::<Vec<_>>(),
        [(id, CallbackState::Done)]
    );
}

async fn contacts_are_found_by_number_or_part_of_the_name(store: Store) {
    let now = t("2026-03-02T09:00:00Z");
    let (campaign, _list, ids) = campaign_with(
        &store,
        "Search",
        &[
            ("Anna Berg", "070-123 45 67"),
            ("Bo Lund", "070-765 43 21"),
            ("50% Rabatt_AB", "070-111 22 33"),
            ("500 Rabatt AB", "070-111 22 44"),
        ],
        now,
    )
    .await;
    let (other, _, _) =
        campaign_with(&store, "Other", &[("Anna Annan", "070-123 45 67")], now).await;
    let found = |q: &'static str| {
        let store = store.clone();
        async move {
            let rows = store.search_contacts(campaign, q, 50).await.unwrap();
            rows.iter().map(|r| r.id).collect::<Vec<_>>()
        }
    };
    // The number as written nationally, internationally and in E.164;
    // the other campaign's contact with the same number stays out.
    assert_eq!(found("070-123 45 67").await, [ids[0]]);
    assert_eq!(found("+46 70 123 45 67").await, [ids[0]]);
    assert_eq!(found("+46701234567").await, [ids[0]]);
    // The last four or more digits, however written, find every number
    // ending with them; fewer digits are read as part of a name.
    assert_eq!(found("4567").await, [ids[0]]);
    assert_eq!(found("45 67").await, [ids[0]]);
    assert_eq!(found("123 45 67").await, [ids[0]]);
    assert_eq!(found("22 44").await, [ids[3]]);
    assert_eq!(found("22 33").await, [ids[2]]);
    assert_eq!(found("9999").await, []);
    assert_eq!(found("567").await, []);
    // Part of the name, any case; wildcards are literal.
    assert_eq!(found("anna").await, [ids[0]]);
    assert_eq!(found("LUND").await, [ids[1]]);
    assert_eq!(found("50%").await, [ids[2]]);
    assert_eq!(found("t_a").await, [ids[2]]);
    assert_eq!(found("%").await, [ids[2]]);
    assert_eq!(found("rabatt").await, [ids[2], ids[3]]);
    // The limit holds; an empty query is refused.
    assert_eq!(store.search_contacts(campaign, "rabatt", 1).await.unwrap().len(), 1);
    let empty = store.search_contacts(campaign, "  ", 50).await;
    assert!(matches!(empty, Err(StoreError::Invalid(_))), "{empty:?}");
    let rows = store.search_contacts(other, "anna", 50).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].numbers[0].number.as_str(), "+46701234567");
    // An erased contact is no longer found.
    store.erase_contact(ids[1], now).await.unwrap();
    assert_eq!(found("lund").await, []);
}

/// Names are found in any case of any letter, not only ASCII: the stored
/// name and the query are folded alike (NFC, then lower case), also for a
/// name imported with a separate combining accent. An erased contact's
/// folded name is gone with its name.
async fn names_are_found_in_any_case_of_any_letter(store: Store) {
    let now = t("2026-03-02T09:00:00Z");
    let (campaign, _list, ids) = campaign_with(
        &store,
        "Unicode",
        &[
            ("Åsa Östlund", "070-200 00 01"),
            ("ÄNGLA ÖBERG", "070-200 00 02"),
            ("A\u{30a}ke Lind", "070-200 00 03"),
            ("Asa Ostlund", "070-200 00 04"),
        ],
        now,
    )
    .await;
    let found = |q: &'static str| {
        let store = store.clone();
        async move {
            let rows = store.search_contacts(campaign, q, 50).await.unwrap();
            rows.iter().map(|r| r.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(found("åsa").await, [ids[0]]);
    assert_eq!(found("ÅSA").await, [ids[0]]);
    assert_eq!(found("ÖSTLUND").await, [ids[0]]);
    assert_eq!(found("östlund").await, [ids[0]]);
    assert_eq!(found("ängla öberg").await, [ids[1]]);
    assert_eq!(found("Ängla").await, [ids[1]]);
    // A decomposed Å (A + combining ring) matches a typed Å, and back.
    assert_eq!(found("åke").await, [ids[2]]);
    assert_eq!(found("A\u{30a}KE").await, [ids[2]]);
    // Å is its own letter: `asa` is another name.
    assert_eq!(found("asa").await, [ids[3]]);
    assert_eq!(found("OSTLUND").await, [ids[3]]);
    store.erase_contact(ids[0], now).await.unwrap();
    assert_eq!(found("åsa").await, []);
}

/// The authority a request is checked against: the one-time flag, and an
/// epoch that every disable, enable, role change and password change
/// raises.
async fn every_change_of_a_users_authority_raises_its_epoch(store: Store) {
    let now = t("2026-03-02T09:00:00Z");
    let id = store.create_user("anna", "Anna", "agent", Some("hash-1"), now).await.unwrap();
    let auth = store.user_auth(id).await.unwrap().expect("the user exists");
    assert_eq!(
        (auth.active, auth.must_change_password, auth.role.as_str()),
        (true, false, "agent")
    );
    let mut epoch = auth.epoch;
    let mut raised = |auth: ringa_store::UserAuth| {
        assert!(auth.epoch > epoch, "{auth:?} after epoch {epoch}");
        epoch = auth.epoch;
        auth
    };

    store.set_user_active(id, false).await.unwrap();
    assert!(!raised(store.user_auth(id).await.unwrap().unwrap()).active);
    store.set_user_active(id, true).await.unwrap();
    assert!(raised(store.user_auth(id).await.unwrap().unwrap()).active);
    store.set_user_role(id, "supervisor").await.unwrap();
    assert_eq!(raised(store.user_auth(id).await.unwrap().unwrap()).role, "supervisor");
    let answered = store.set_password_hash(id, "hash-2", true).await.unwrap();
    let auth = raised(store.user_auth(id).await.unwrap().unwrap());
    assert_eq!(answered, auth.epoch);
    assert!(auth.must_change_password);
    let (_, hash) = store.user_for_login("anna").await.unwrap().unwrap();
    assert_eq!(hash.as_deref(), Some("hash-2"));

    // Clearing the flag alone leaves the sessions be.
    store.set_must_change_password(id, false).await.unwrap();
    let auth = store.user_auth(id).await.unwrap().unwrap();
    assert_eq!((auth.must_change_password, auth.epoch), (false, epoch));

    let missing = ringa_core::AgentId(id.0 + 100);
    assert!(store.user_auth(missing).await.unwrap().is_none());
    let refused = store.set_user_active(missing, false).await;
    assert!(matches!(refused, Err(StoreError::NotFound(_))), "{refused:?}");
    let refused = store.set_user_role(missing, "admin").await;
    assert!(matches!(refused, Err(StoreError::NotFound(_))), "{refused:?}");
}

/// A database written before the search columns existed (their values
/// missing, the migration's mark set) is filled in when it is opened.
#[tokio::test]
async fn search_columns_missing_from_older_rows_are_filled_in_on_open() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}", dir.path().join("old.db").display());
    let now = t("2026-03-02T09:00:00Z");
    let store = Store::open(&url).await.unwrap();
    let (campaign, _, ids) = campaign_with(
        &store,
        "Old",
        &[("Åsa Östlund", "070-300 00 01"), ("Bo Berg", "070-300 00 02")],
        now,
    )
    .await;
    store.close().await;

    // What an earlier build left: rows without the search columns.
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    for sql in [
        "UPDATE contacts SET name_search = NULL",
        "UPDATE contact_numbers SET digits_reversed = NULL",
        "INSERT INTO config (key, value) VALUES ('backfill.contact_search', 'pending')",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    pool.close().await;

    let store = Store::open(&url).await.unwrap();
    let found = store.search_contacts(campaign, "ÖSTLUND", 50).await.unwrap();
    assert_eq!(found.iter().map(|r| r.id).collect::<Vec<_>>(), [ids[0]]);
    let found = store.search_contacts(campaign, "0002", 50).await.unwrap();
    assert_eq!(found.iter().map(|r| r.id).collect::<Vec<_>>(), [ids[1]]);
    assert_eq!(store.config_get("backfill.contact_search").await.unwrap(), None);
    store.close().await;
}

async fn a_campaign_keeps_one_learned_state_the_last_saved(store: Store) {
    let now = t("2026-03-02T08:00:00Z");
    let (a, _, _) = campaign_with(&store, "a", &[("A", "0701740601")], now).await;
    let (b, _, _) = campaign_with(&store, "b", &[("B", "0701740602")], now).await;
    assert_eq!(store.learned_state(a).await.unwrap(), None, "nothing saved yet");

    store.save_learned_state(a, r#"{"version":1,"day":1}"#, now).await.unwrap();
    let later = now + SignedDuration::from_mins(5);
    store.save_learned_state(a, r#"{"version":1,"day":2}"#, later).await.unwrap();
    let row = store.learned_state(a).await.unwrap().expect("saved");
    assert_eq!(row.campaign, a);
    assert_eq!(row.document, r#"{"version":1,"day":2}"#, "the last one saved");
    assert_eq!(row.updated_at, later);
    assert_eq!(store.learned_state(b).await.unwrap(), None, "another campaign's is its own");

    // A large document (a busy campaign's pacer table) is kept whole.
    let large = format!(r#"{{"version":1,"pad":"{}"}}"#, "x".repeat(2_000_000));
    store.save_learned_state(b, &large, later).await.unwrap();
    let row = store.learned_state(b).await.unwrap().expect("saved");
    assert_eq!(row.document.len(), large.len());

    let missing = ringa_core::CampaignId(9_999);
    let err = store.save_learned_state(missing, "{}", now).await.expect_err("no such campaign");
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
    assert_eq!(store.learned_state(missing).await.unwrap(), None);
    assert_eq!(store.learned_state(ringa_core::CampaignId(u64::MAX)).await.unwrap(), None);
}

async fn calls_back_are_journaled_apart_from_attempts_and_erased_with_the_contact(store: Store) {
    let now = t("2026-03-02T08:00:00Z");
    let (campaign, _list, ids) = campaign_with(&store, "c", &[("Åsa", "0701740606")], now).await;
    let start = InboundStart {
        campaign,
        contact: Some(ids[0]),
        number: Some(se("0701740606")),
        agent: Some(ringa_core::AgentId(3)),
    };
    let id = store.begin_inbound(&start, "w", now).await.unwrap();
    let later = now + SignedDuration::from_mins(2);
    assert_eq!(store.finish_inbound(id, None, None, later).await.unwrap(), None, "no outcome");
    let sold = later + SignedDuration::from_mins(1);
    let order = store.finish_inbound(id, Some("sale"), Some("called back"), sold).await.unwrap();
    let order = order.expect("a sale on a call back makes an order");
    // The outcome set again (the floor journals the end, then the outcome) makes no second.
    assert_eq!(store.finish_inbound(id, Some("sale"), None, sold).await.unwrap(), None);
    let dir = tempfile::tempdir().unwrap();
    let recording = dir.path().join("back.wav");
    std::fs::write(&recording, b"RIFF").unwrap();
    store.add_inbound_recording(id, recording.to_str().unwrap()).await.unwrap();

    let rows = store.inbound_of_contact(ids[0]).await.unwrap();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!((row.campaign, row.contact, row.agent), (campaign, Some(ids[0]), start.agent));
    assert_eq!(row.number.as_deref(), Some("+46701740606"));
    assert_eq!((row.started_at, row.ended_at), (now, Some(later)), "the end is the hang-up");
    assert_eq!((row.outcome.as_deref(), row.note.as_deref()), (Some("sale"), Some("called back")));
    // Not a dial: no attempt, the contact's counters untouched; but the sale is an order of
    // the day, with the contact, agent, campaign, number and time.
    assert!(store.all_attempts().await.unwrap().is_empty());
    let orders = store.orders(now, later + SignedDuration::from_hours(1)).await.unwrap();
    assert_eq!(orders.len(), 1);
    let o = &orders[0];
    assert_eq!((o.id, o.attempt, o.inbound), (order, None, Some(id)));
    assert_eq!((o.contact, o.campaign, o.agent), (ids[0], campaign, start.agent));
    assert_eq!((o.number.as_str(), o.outcome.as_str()), ("+46701740606", "sale"));
    assert_eq!(o.created_at, sold);
    assert_eq!(store.contact(ids[0]).await.unwrap().attempts, 0);
    // A call back that ends without a sale, or by an unknown caller, makes none.
    let unknown = InboundStart { contact: None, number: None, ..start.clone() };
    let other = store.begin_inbound(&unknown, "w", now).await.unwrap();
    assert_eq!(store.finish_inbound(other, Some("sale"), None, sold).await.unwrap(), None);
    let plain = store.begin_inbound(&start, "w", now).await.unwrap();
    let not = Some("not_interested");
    assert_eq!(store.finish_inbound(plain, not, None, sold).await.unwrap(), None);
    assert_eq!(store.orders(now, sold + SignedDuration::from_secs(1)).await.unwrap().len(), 1);
    assert!(matches!(
        store.finish_inbound(id + 100, None, None, now).await,
        Err(StoreError::NotFound(_))
    ));

    let report = store.erase_contact(ids[0], later).await.unwrap();
    assert_eq!(report.recordings_removed.len(), 1);
    assert!(!recording.exists());
    let rows = store.inbound_of_contact(ids[0]).await.unwrap();
    assert_eq!((rows[0].number.as_deref(), rows[0].recording.as_deref()), (Some("erased"), None));
    let orders = store.orders(now, later + SignedDuration::from_hours(1)).await.unwrap();
    assert_eq!(orders[0].number, "erased");
}

on_both_backends! {
    calls_back_are_journaled_apart_from_attempts_and_erased_with_the_contact =>
        calls_back_are_journaled_apart_from_attempts_and_erased_with_the_contact;
    a_campaign_keeps_one_learned_state_the_last_saved =>
        a_campaign_keeps_one_learned_state_the_last_saved;
    attempt_journal_records_start_and_end => attempt_journal_records_start_and_end;
    a_claimed_contact_is_held_by_one_worker_and_one_attempt =>
        a_claimed_contact_is_held_by_one_worker_and_one_attempt;
    recovery_closes_in_flight_attempts_and_keeps_callback_times =>
        recovery_closes_in_flight_attempts_and_keeps_callback_times;
    due_callbacks_come_before_leads_and_leads_before_lists =>
        due_callbacks_come_before_leads_and_leads_before_lists;
    callback_lifecycle_reschedule_dnc_retry_and_escalation =>
        callback_lifecycle_reschedule_dnc_retry_and_escalation;
    callbacks_keep_wall_clock_time_across_daylight_saving =>
        callbacks_keep_wall_clock_time_across_daylight_saving;
    dnc_lists_apply_to_their_campaigns_and_global_to_all =>
        dnc_lists_apply_to_their_campaigns_and_global_to_all;
    a_number_blocked_after_staging_is_not_dialed => a_number_blocked_after_staging_is_not_dialed;
    inactive_and_erased_contacts_never_reach_the_queue =>
        inactive_and_erased_contacts_never_reach_the_queue;
    list_mix_follows_enable_weight_and_daily_cap => list_mix_follows_enable_weight_and_daily_cap;
    erasure_removes_personal_data_and_recordings => erasure_removes_personal_data_and_recordings;
    a_deactivation_and_an_activation_give_back_the_state =>
        a_deactivation_and_an_activation_give_back_the_state;
    list_reset_reopens_only_resettable_contacts => list_reset_reopens_only_resettable_contacts;
    sales_become_orders_and_can_be_cancelled => sales_become_orders_and_can_be_cancelled;
    a_retried_callback_keeps_its_row => a_retried_callback_keeps_its_row;
    contacts_are_found_by_number_or_part_of_the_name =>
        contacts_are_found_by_number_or_part_of_the_name;
    names_are_found_in_any_case_of_any_letter => names_are_found_in_any_case_of_any_letter;
    every_change_of_a_users_authority_raises_its_epoch =>
        every_change_of_a_users_authority_raises_its_epoch;
}
