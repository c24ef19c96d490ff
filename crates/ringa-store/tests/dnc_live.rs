//! Do-not-call entries written by another process while a node runs: the
//! node's in-memory lists are stale, yet the number is never dialed,
//! because the journal's start of an attempt re-checks the database in the
//! transaction that holds the claim; `refresh_dnc` then brings memory up to
//! date (new entries, new lists and their campaigns).

mod common;

use common::{campaign_with, se, t};
use ringa_core::dnc::GLOBAL_DNC;
use ringa_store::{AttemptStart, DncKind, DncLoadOptions, Store, StoreError};

fn start(number: &ringa_core::PhoneNumber) -> AttemptStart {
    AttemptStart {
        number: number.clone(),
        caller_id: Some("+46850000000".into()),
        agent: None,
        amd: serde_json::json!({"enabled": false}),
    }
}

/// Two handles on one database: the server's and the `ringa dnc` command's.
async fn two_processes(body: impl AsyncFn(Store, Store)) {
    let (server, dir) = common::sqlite_store().await;
    let url = format!("sqlite://{}", dir.path().join("ringa.db").display());
    let cli = Store::open(&url).await.expect("a second handle opens");
    body(server, cli).await;
    if let Ok(url) = std::env::var("RINGA_TEST_PG_URL")
        && !url.is_empty()
    {
        let schema = format!("dnclive{}_{}", std::process::id(), rand::random::<u32>());
        let server = Store::open_postgres_in_schema(&url, &schema).await.expect("PostgreSQL");
        let cli = Store::open_postgres_in_schema(&url, &schema).await.expect("PostgreSQL");
        body(server.clone(), cli.clone()).await;
        server.close().await;
        cli.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_number_added_by_another_process_is_never_dialed() {
    two_processes(async |server: Store, cli: Store| {
        let now = t("2026-03-02T08:00:00Z");
        let (campaign, _list, ids) = campaign_with(
            &server,
            "live",
            &[("A", "0701740601"), ("B", "0701740602"), ("C", "0701740699")],
            now,
        )
        .await;
        // The server has claimed all three contacts for its engine.
        let mut claims = Vec::new();
        for _ in 0..3 {
            claims.push(server.next_contact(campaign, "web", now).await.unwrap().unwrap());
        }
        claims.sort_by_key(|c| c.contact);
        assert_eq!(claims.iter().map(|c| c.contact).collect::<Vec<_>>(), ids);

        // `ringa dnc add`: one number on the global list.
        assert!(cli.add_dnc(GLOBAL_DNC, &se("0701740601"), "cli", now).await.unwrap());
        // `ringa dnc load` into a new register list the campaign honours,
        // a prefix that covers the second number.
        let nix = cli.create_dnc_list("nix", DncKind::Register, None, now).await.unwrap();
        cli.attach_dnc_list(campaign, nix).await.unwrap();
        let options = DncLoadOptions {
            region: ringa_core::Region::SE,
            wash_date: Some("2026-03-01".into()),
            replace: false,
            source: "nix file".into(),
        };
        cli.load_dnc_text(nix, "4670174060*\n", &options, now).await.unwrap();

        // The server's memory has not seen any of it yet ...
        assert!(server.dnc_check(&se("0701740601"), Some(campaign)).is_none());
        // ... but the dial is refused for both blocked numbers.
        for claim in &claims[..2] {
            let number = claim.numbers[0].number.clone();
            let refused = server.begin_attempt(claim, &start(&number), now).await;
            assert!(matches!(refused, Err(StoreError::DoNotCall(_))), "{refused:?}");
            let row = server.contact(claim.contact).await.unwrap();
            assert_eq!(row.state, "blocked");
            assert_eq!(row.attempts, 0);
            assert_eq!(row.last_outcome.as_deref(), Some("suppressed: do-not-call"));
        }
        assert!(server.attempts_of_contact(claims[0].contact).await.unwrap().is_empty());
        // The third number is not blocked: it is dialed.
        let third = claims[2].numbers[0].number.clone();
        let dialed = server.begin_attempt(&claims[2], &start(&third), now).await;
        assert!(dialed.is_ok(), "{dialed:?}");

        // A refresh brings the server's memory up to date, lists included.
        server.refresh_dnc().await.unwrap();
        let block = server.dnc_check(&se("0701740601"), Some(campaign)).unwrap();
        assert_eq!(block.list_name, "global");
        let block = server.dnc_check(&se("0701740602"), Some(campaign)).unwrap();
        assert_eq!(block.list_name, "nix");
        assert!(block.prefix);
        assert_eq!(block.wash_date.as_deref(), Some("2026-03-01"));
    })
    .await;
}
