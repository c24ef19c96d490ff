//! Two workers dialing one campaign at once, each through its own
//! connection pool, never hold two live attempts for one contact.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use ringa_core::{CallResult, CampaignId, Region};
use ringa_store::{AttemptEnd, AttemptStart, NextStep, Store};

async fn worker(
    store: Store,
    campaign: CampaignId,
    name: String,
    steps: usize,
    live: Arc<Mutex<HashSet<u64>>>,
) -> usize {
    let mut dialed = 0;
    for step in 0..steps {
        let now = Timestamp::now();
        let Some(claim) = store.next_contact(campaign, &name, now).await.expect("claim works")
        else {
            tokio::task::yield_now().await;
            continue;
        };
        let start = AttemptStart {
            number: claim.numbers[0].number.clone(),
            caller_id: None,
            agent: None,
            amd: serde_json::json!({}),
        };
        let attempt = store.begin_attempt(&claim, &start, now).await.expect("the claim holds");
        assert!(
            live.lock().unwrap().insert(claim.contact.0),
            "{} holds a live attempt for a contact another worker is dialing",
            name
        );
        dialed += 1;
        if step % 3 == 0 {
            tokio::task::yield_now().await;
        }
        live.lock().unwrap().remove(&claim.contact.0);
        let end = AttemptEnd {
            result: CallResult::NoAnswer,
            sip_code: Some(480),
            outcome: None,
            agent: None,
            answered_at: None,
            next: NextStep::Retry { at: Timestamp::now() },
        };
        store.finish_attempt(attempt, &end, Timestamp::now()).await.expect("the attempt closes");
    }
    dialed
}

async fn two_workers(first: Store, second: Store, contacts: usize, steps: usize) {
    let now = Timestamp::now() - SignedDuration::from_secs(1);
    let campaign =
        first.create_campaign("race", Region::SE, &serde_json::json!({}), now).await.unwrap();
    let list = first.ensure_list(campaign, "main", now).await.unwrap();
    let rows: Vec<_> =
        (0..contacts).map(|i| common::contact("c", &format!("0701{:06}", 740000 + i))).collect();
    first.insert_contacts(&list, &rows, now).await.unwrap();
    let live = Arc::new(Mutex::new(HashSet::new()));
    let a = tokio::spawn(worker(first.clone(), campaign, "w1".into(), steps, live.clone()));
    let b = tokio::spawn(worker(second.clone(), campaign, "w2".into(), steps, live.clone()));
    let dialed = a.await.unwrap() + b.await.unwrap();
    let attempts = first.all_attempts().await.unwrap();
    assert_eq!(attempts.len(), dialed);
    assert!(attempts.iter().all(|a| !a.open));
    let mut claims = HashSet::new();
    for a in &attempts {
        assert!(claims.insert((a.contact, a.claim_version)), "one attempt per claim");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]
    #[test]
    fn two_postgres_workers_never_share_a_live_contact(
        contacts in 1usize..12,
        steps in 5usize..40,
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let url = std::env::var("RINGA_TEST_PG_URL").unwrap_or_default();
            let Some(first) = common::pg_store().await else { return };
            // The second worker has its own pool on the same schema.
            let schema = first.current_schema().await.expect("the schema is known");
            let second = Store::open_postgres_in_schema(&url, &schema)
                .await
                .expect("a second pool opens");
            two_workers(first.clone(), second.clone(), contacts, steps).await;
            first.close().await;
            second.close().await;
        });
    }

    #[test]
    fn two_sqlite_workers_never_share_a_live_contact(contacts in 1usize..12, steps in 5usize..40) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (first, dir) = common::sqlite_store().await;
            let url = format!("sqlite://{}", dir.path().join("ringa.db").display());
            let second = Store::open(&url).await.unwrap();
            two_workers(first, second, contacts, steps).await;
        });
    }
}
