//! Hostile files for import and do-not-call loads: broken quoting that would
//! swallow rows, files that mix two encodings, lines ending in CR alone, a
//! register wash date that is no date. Each ends in a clear error or in rows
//! accounted for with the reason, never in rows stored inside another row's
//! field or in a value stored as given.

mod common;

use jiff::Timestamp;
use ringa_core::Region;
use ringa_store::import::{Bucket, DedupeScope, ImportError, ImportOptions, import_bytes};
use ringa_store::{DncKind, DncLoadOptions, Store, StoreError};

async fn setup(store: &Store) -> ImportOptions {
    let now = Timestamp::UNIX_EPOCH;
    let c = store.ensure_campaign("c", Region::SE, now).await.expect("campaign");
    let l = store.ensure_list(c.id, "l", now).await.expect("list");
    ImportOptions {
        campaign: c.id,
        list: l.id,
        region: Region::SE,
        mapping: Vec::new(),
        delimiter: None,
        encoding: None,
        dedupe: DedupeScope::List,
    }
}

#[tokio::test]
async fn a_stray_quote_never_stores_rows_inside_another_rows_field() {
    let (store, _dir) = common::sqlite_store().await;
    let options = setup(&store).await;

    // The quote opened on line 2 closes on line 4: lines 2-4 are one record.
    let file = "name,phone\n\"Bob,0701740605\nAnn,0701740606\nCid\",0701740607\nDan,0701740608\n";
    let report = import_bytes(&store, file.as_bytes(), &options, &|_, _| {}, Timestamp::UNIX_EPOCH)
        .await
        .expect("the import runs");
    assert_eq!(report.total(), 2, "{report:?}");
    assert_eq!(report.rows[0].bucket, Bucket::Invalid, "{report:?}");
    assert!(report.rows[0].detail.contains("line 2 to line 4"), "{:?}", report.rows[0]);
    assert!(report.rows[0].detail.contains("quote"), "{:?}", report.rows[0]);
    assert_eq!(report.rows[1].bucket, Bucket::Created);

    // A quote never closed swallows the rest of the file: refused with the lines.
    let file = "name;phone\n\"Eva;0701740611\nFia;0701740612\r\nGun;0701740613\n";
    let report = import_bytes(&store, file.as_bytes(), &options, &|_, _| {}, Timestamp::UNIX_EPOCH)
        .await
        .expect("the import runs");
    assert_eq!(report.total(), 1);
    assert_eq!(report.rows[0].bucket, Bucket::Invalid);
    assert!(report.rows[0].detail.contains("line 2 to line 5"), "{:?}", report.rows[0]);
    assert_eq!(report.count(Bucket::Created), 0);
}

#[tokio::test]
async fn a_quoted_address_over_two_lines_still_imports() {
    let (store, _dir) = common::sqlite_store().await;
    let options = setup(&store).await;
    let file = "name,address,phone\nAnn,\"Storgatan 1\nStockholm\",0701740621\n";
    let report = import_bytes(&store, file.as_bytes(), &options, &|_, _| {}, Timestamp::UNIX_EPOCH)
        .await
        .expect("the import runs");
    assert_eq!(report.count(Bucket::Created), 1, "{report:?}");
}

#[tokio::test]
async fn a_file_mixing_utf8_and_latin1_is_refused_with_its_lines() {
    let (store, _dir) = common::sqlite_store().await;
    let options = setup(&store).await;
    let mut file = "namn;telefon\nÅsa;0701740631\n".as_bytes().to_vec();
    let (latin, _, _) = encoding_rs::WINDOWS_1252.encode("Örjan;0701740632\n");
    file.extend_from_slice(&latin);
    let err = import_bytes(&store, &file, &options, &|_, _| {}, Timestamp::UNIX_EPOCH).await;
    match err {
        Err(ImportError::Encoding(why)) => {
            assert!(why.contains("line 2 is UTF-8 but line 3 is not"), "{why}")
        }
        other => panic!("mixed encodings must be refused, got {other:?}"),
    }
    // Forcing one encoding is the user's way out.
    let forced = ImportOptions { encoding: Some("windows-1252".into()), ..options };
    let report = import_bytes(&store, &file, &forced, &|_, _| {}, Timestamp::UNIX_EPOCH)
        .await
        .expect("a forced encoding imports");
    assert_eq!(report.count(Bucket::Created), 2);
}

#[tokio::test]
async fn lines_ending_in_cr_alone_pick_the_separator_of_every_line() {
    let (store, _dir) = common::sqlite_store().await;
    let options = setup(&store).await;
    // Commas inside names outnumber the separators on the file as a whole.
    let file = "name;phone\rSmith, John, Jr;0701740641\rBo, Ann, Lee;0701740642\r";
    let report = import_bytes(&store, file.as_bytes(), &options, &|_, _| {}, Timestamp::UNIX_EPOCH)
        .await
        .expect("the import runs");
    assert_eq!(report.delimiter, ";");
    assert_eq!(report.count(Bucket::Created), 2, "{report:?}");
}

#[tokio::test]
async fn a_register_wash_date_that_is_no_date_is_refused_before_any_entry() {
    let (store, _dir) = common::sqlite_store().await;
    let now = Timestamp::UNIX_EPOCH;
    let nix = store.create_dnc_list("NIX", DncKind::Register, None, now).await.expect("list");
    for bad in ["2026-13-45", "garbage", "", "01/03/2026"] {
        let options = DncLoadOptions {
            region: Region::SE,
            wash_date: Some(bad.into()),
            replace: true,
            source: "extract".into(),
        };
        let err = store.load_dnc_text(nix, "0701740651\n", &options, now).await;
        match err {
            Err(StoreError::Invalid(why)) => assert!(why.contains("wash date"), "{why}"),
            other => panic!("wash date {bad:?} must be refused, got {other:?}"),
        }
    }
    assert!(
        store
            .dnc_check(
                &ringa_core::PhoneNumber::parse("0701740651", Region::SE).expect("valid number"),
                None
            )
            .is_none(),
        "nothing was loaded"
    );
    let options = DncLoadOptions {
        region: Region::SE,
        wash_date: Some(" 2026-03-01 ".into()),
        replace: true,
        source: "extract".into(),
    };
    let loaded = store.load_dnc_text(nix, "0701740651\n", &options, now).await.expect("loads");
    assert_eq!(loaded.numbers, 1);
    let list = store.dnc_lists().into_iter().find(|l| l.id == nix);
    assert_eq!(list.and_then(|l| l.wash_date).as_deref(), Some("2026-03-01"));
}

#[tokio::test]
async fn export_schedules_out_of_range_are_refused_and_catch_up_in_one_step() {
    use ringa_store::export::{Destination, ExportFormat, ExportKind, ExportSchedule};
    let (store, dir) = common::sqlite_store().await;
    let schedule = |every: jiff::SignedDuration, period: jiff::SignedDuration| ExportSchedule {
        name: "s".into(),
        kind: ExportKind::Stats,
        format: ExportFormat::Csv,
        campaign: None,
        destination: Destination::Folder { path: dir.path().to_path_buf() },
        every,
        period,
    };
    let day = jiff::SignedDuration::from_hours(24);
    let huge = jiff::SignedDuration::from_hours(4_294_967_295);
    let now: Timestamp = "2026-12-04T12:00:00Z".parse().expect("literal time");
    for (every, period) in [(huge, day), (day, huge), (day, -day)] {
        let err = store.add_export_schedule(&schedule(every, period), now).await;
        assert!(matches!(err, Err(StoreError::Invalid(_))), "{every:?} {period:?}: {err:?}");
    }
    let far: Timestamp = "9999-12-30T00:00:00Z".parse().expect("literal time");
    let err = store.add_export_schedule(&schedule(day, day), far).await;
    assert!(matches!(err, Err(StoreError::Invalid(_))), "{err:?}");

    // A millisecond interval first due in 1970 runs once and is next due
    // just after now, without stepping through every missed interval.
    let every = jiff::SignedDuration::from_millis(1);
    store.add_export_schedule(&schedule(every, day), Timestamp::UNIX_EPOCH).await.expect("added");
    let ran = ringa_store::export::run_due_exports(&store, now).await.expect("runs");
    assert_eq!(ran.len(), 1);
    assert!(ran[0].1.is_ok(), "{:?}", ran[0].1);
    let rows = store.export_schedules().await.expect("rows");
    assert!(rows[0].next_run_at > now && rows[0].next_run_at <= now + every, "{rows:?}");
}

#[tokio::test]
async fn an_unclosed_quote_on_the_header_line_names_the_columns_briefly() {
    let (store, _dir) = common::sqlite_store().await;
    let options = setup(&store).await;
    let mut file = String::from("\"name,phone\n");
    for i in 0..2000 {
        file.push_str(&format!("Person {i},07017{i:05}\n"));
    }
    let err =
        import_bytes(&store, file.as_bytes(), &options, &|_, _| {}, Timestamp::UNIX_EPOCH).await;
    match err {
        Err(ImportError::Mapping(why)) => assert!(why.len() < 400, "{} bytes: {why}", why.len()),
        other => panic!("a file that is one header must be refused, got {other:?}"),
    }
}
