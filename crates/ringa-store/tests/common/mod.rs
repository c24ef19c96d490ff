//! Shared helpers of the storage tests: a fresh SQLite file or PostgreSQL
//! schema per test, and a macro that runs one test body on both backends.

#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicU32, Ordering};

use jiff::Timestamp;
use ringa_core::{PhoneNumber, Region};
use ringa_store::{ListRow, NewContact, NewNumber, Store};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh SQLite store in a temporary directory (kept alive by the guard).
pub async fn sqlite_store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory can be made");
    let path = dir.path().join("ringa.db");
    let store = Store::open(&format!("sqlite://{}", path.display()))
        .await
        .expect("a new SQLite store opens");
    (store, dir)
}

/// A fresh PostgreSQL store in its own schema. Fails the test when
/// `RINGA_TEST_PG_URL` is unset, unless `RINGA_SKIP_PG=1` says to skip.
pub async fn pg_store() -> Option<Store> {
    match std::env::var("RINGA_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => {
            let schema = format!(
                "t{}_{}_{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed),
                rand::random::<u32>()
            );
            Some(
                Store::open_postgres_in_schema(&url, &schema)
                    .await
                    .expect("the PostgreSQL test database at RINGA_TEST_PG_URL opens"),
            )
        }
        _ if std::env::var("RINGA_SKIP_PG").as_deref() == Ok("1") => {
            eprintln!("RINGA_SKIP_PG=1: PostgreSQL test skipped");
            None
        }
        _ => panic!(
            "RINGA_TEST_PG_URL is not set. Start PostgreSQL with \
             `eval \"$(scripts/start-postgres)\"` (scripts/test does it), or set RINGA_SKIP_PG=1 \
             to skip the PostgreSQL tests explicitly."
        ),
    }
}

/// Runs an async test body `fn(Store)` on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident => $body:ident;)*) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (store, _dir) = $crate::common::sqlite_store().await;
                    super::$body(store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(store) = $crate::common::pg_store().await {
                        super::$body(store.clone()).await;
                        store.close().await;
                    }
                }
            )*
        }
    };
}

pub fn t(text: &str) -> Timestamp {
    text.parse().expect("a test instant is valid")
}

pub fn se(text: &str) -> PhoneNumber {
    PhoneNumber::parse(text, Region::SE).expect("a test number is valid")
}

pub fn contact(name: &str, number: &str) -> NewContact {
    NewContact {
        name: Some(name.to_string()),
        numbers: vec![NewNumber { number: se(number), label: "main".into(), raw: number.into() }],
        ..NewContact::default()
    }
}

/// A campaign with one list holding the given (name, number) contacts.
pub async fn campaign_with(
    store: &Store,
    name: &str,
    contacts: &[(&str, &str)],
    now: Timestamp,
) -> (ringa_core::CampaignId, ListRow, Vec<ringa_core::ContactId>) {
    let campaign = store
        .create_campaign(name, Region::SE, &serde_json::json!({}), now)
        .await
        .expect("campaign is created");
    let list = store.ensure_list(campaign, "main", now).await.expect("list is created");
    let rows: Vec<NewContact> = contacts.iter().map(|(n, p)| contact(n, p)).collect();
    let ids = store.insert_contacts(&list, &rows, now).await.expect("contacts are stored");
    (campaign, list, ids)
}
