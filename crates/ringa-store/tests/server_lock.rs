//! One server per database: a second handle cannot claim the server role
//! while the first lives (SQLite lock file, PostgreSQL advisory lock), and
//! can once the first is gone.

mod common;

use ringa_store::{Store, StoreError};

async fn one_server_at_a_time(first: Store, second: Store, reopen: impl AsyncFn() -> Store) {
    first.claim_server().await.expect("the first server claims the database");
    let refused = second.claim_server().await;
    match refused {
        Err(StoreError::Conflict(message)) => {
            assert!(message.contains("another `ringa serve` is already running"), "{message}")
        }
        other => panic!("a second server was let in: {other:?}"),
    }
    // The command-line tools keep working next to the server.
    assert!(second.campaign_by_name("none").await.unwrap().is_none());
    first.close().await;
    drop(first);
    let third = reopen().await;
    third.claim_server().await.expect("the lock goes with the first server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_is_refused_on_sqlite() {
    let (first, dir) = common::sqlite_store().await;
    let url = format!("sqlite://{}", dir.path().join("ringa.db").display());
    let second = Store::open(&url).await.unwrap();
    one_server_at_a_time(first, second, async || Store::open(&url).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_is_refused_on_postgres() {
    let Ok(url) = std::env::var("RINGA_TEST_PG_URL") else {
        assert_eq!(std::env::var("RINGA_SKIP_PG").as_deref(), Ok("1"), "RINGA_TEST_PG_URL unset");
        return;
    };
    let schema = format!("lock{}_{}", std::process::id(), rand::random::<u32>());
    let first = Store::open_postgres_in_schema(&url, &schema).await.unwrap();
    let second = Store::open_postgres_in_schema(&url, &schema).await.unwrap();
    let reopen = async || Store::open_postgres_in_schema(&url, &schema).await.unwrap();
    one_server_at_a_time(first, second, reopen).await;
}
