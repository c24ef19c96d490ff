//! Import: number normalisation, encodings and separators, the row
//! buckets, dedupe scopes, do-not-call washing and saved mappings.

mod common;

use common::{se, t};
use jiff::Timestamp;
use ringa_core::Region;
use ringa_store::Store;
use ringa_store::import::{
    Bucket, DedupeScope, DuplicateOf, ImportError, ImportOptions, ImportReport, Target,
    import_bytes, parse_mapping,
};

async fn setup(store: &Store, campaign: &str, list: &str) -> ImportOptions {
    let now = t("2026-03-02T08:00:00Z");
    let c = store.ensure_campaign(campaign, Region::SE, now).await.unwrap();
    let l = store.ensure_list(c.id, list, now).await.unwrap();
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

async fn run(store: &Store, bytes: &[u8], options: &ImportOptions) -> ImportReport {
    let report = import_bytes(store, bytes, options, &|_, _| {}, Timestamp::UNIX_EPOCH)
        .await
        .expect("the import runs");
    let sum: u64 = Bucket::ALL.iter().map(|b| report.count(*b)).sum();
    assert_eq!(sum, report.total(), "the buckets add up to the rows");
    report
}

#[tokio::test]
async fn swedish_number_forms_collapse_into_one_contact() {
    let (store, _dir) = common::sqlite_store().await;
    let options = setup(&store, "c", "l").await;
    let file = "namn;telefon\n\
        A;070-174 06 05\nB;0701740605\nC;+46 70 174 06 05\nD;+46 (0)70-174 06 05\n\
        E;+460701740605\nF;0046701740605\nG;46701740605\nH;079-174 06 05\nI;070-17\n";
    let report = run(&store, file.as_bytes(), &options).await;
    assert_eq!(report.count(Bucket::Created), 2);
    assert_eq!(report.count(Bucket::Duplicate), 6);
    for row in report.rows.iter().filter(|r| r.bucket == Bucket::Duplicate) {
        assert_eq!(row.duplicate_of, Some(DuplicateOf::Row(1)));
    }
    let invalid: Vec<_> = report.rows.iter().filter(|r| r.bucket == Bucket::Invalid).collect();
    assert_eq!(invalid.len(), 1);
    assert_eq!(invalid[0].row, 9);
    assert!(invalid[0].detail.contains("070-17"), "{}", invalid[0].detail);
    let first = store.contact(report.rows[0].contact.unwrap()).await.unwrap();
    assert_eq!(first.numbers[0].number.as_str(), "+46701740605");
    assert_eq!(first.numbers[0].raw, "070-174 06 05");
    assert_eq!(first.numbers[0].number.display_for(Region::SE), "070-174 06 05");
    assert_eq!(first.zone.as_deref(), Some("Europe/Stockholm"));
    let mobile = store.contact(report.rows[7].contact.unwrap()).await.unwrap();
    assert_eq!(mobile.numbers[0].number.kind(), ringa_core::phone::NumberKind::Mobile);
}

fn utf16le(text: &str) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    for unit in text.encode_utf16() {
        out.extend_from_slice(&unit.to_le_bytes());
    }
    out
}

#[tokio::test]
async fn the_same_row_imports_identically_from_three_encodings() {
    let (store, _dir) = common::sqlite_store().await;
    // Windows-1252 with ';' as a spreadsheet writes it.
    let (cp1252, _, _) =
        encoding_rs::WINDOWS_1252.encode("Namn;Telefon\r\nÅsa Öberg;070-174 06 05\r\n");
    // UTF-8 with a byte-order mark, the phone column first.
    let mut utf8 = vec![0xEF, 0xBB, 0xBF];
    utf8.extend_from_slice("phone,name\n070-174 06 05,Åsa Öberg\n".as_bytes());
    // UTF-16 LE with tabs.
    let utf16 = utf16le("Name\tMobil\r\nÅsa Öberg\t070-174 06 05\r\n");
    let mut seen = Vec::new();
    for (i, bytes) in [cp1252.into_owned(), utf8, utf16].iter().enumerate() {
        let options = setup(&store, "c", &format!("list{i}")).await;
        let report = run(&store, bytes, &options).await;
        assert_eq!(report.count(Bucket::Created), 1, "file {i}: {report:?}");
        let contact = store.contact(report.rows[0].contact.unwrap()).await.unwrap();
        seen.push((
            contact.name.clone(),
            contact.numbers[0].number.clone(),
            report.encoding.clone(),
        ));
    }
    for (name, number, _) in &seen {
        assert_eq!(name.as_deref(), Some("Åsa Öberg"));
        assert_eq!(number, &se("0701740605"));
    }
    assert_eq!(seen[0].2, "windows-1252");
    assert_eq!(seen[1].2, "UTF-8");
    assert_eq!(seen[2].2, "UTF-16LE");
}

#[tokio::test]
async fn undecidable_bytes_give_a_clear_error_never_mangled_letters() {
    let (store, _dir) = common::sqlite_store().await;
    let options = setup(&store, "c", "l").await;
    // Claimed to be UTF-8 but holding Latin-1 bytes.
    let (latin, _, _) = encoding_rs::WINDOWS_1252.encode("namn;telefon\nÅsa;0701740605\n");
    let forced = ImportOptions { encoding: Some("utf-8".into()), ..options.clone() };
    let err = import_bytes(&store, &latin, &forced, &|_, _| {}, Timestamp::UNIX_EPOCH).await;
    assert!(
        matches!(err, Err(ImportError::Encoding(ref why)) if why.contains("not valid UTF-8")),
        "{err:?}"
    );
    // Binary noise is refused rather than guessed.
    let noise: Vec<u8> = (0..600u32).map(|i| (i * 7919 % 251) as u8).collect();
    let err = import_bytes(&store, &noise, &options, &|_, _| {}, Timestamp::UNIX_EPOCH).await;
    assert!(matches!(err, Err(ImportError::Encoding(_))), "{err:?}");
    // A separator can be given when lines disagree.
    let messy = "namn;telefon,x\nA;0701740601,y,z\nB,0701740602;q;r\nC,D,E;F;G;H\n";
    let err =
        import_bytes(&store, messy.as_bytes(), &options, &|_, _| {}, Timestamp::UNIX_EPOCH).await;
    assert!(matches!(err, Err(ImportError::Delimiter(_))), "{err:?}");
    let given = ImportOptions { delimiter: Some(b'|'), ..options };
    let piped = "namn|telefon\nA|0701740601\nB|0701740602\n";
    let report = run(&store, piped.as_bytes(), &given).await;
    assert_eq!(report.count(Bucket::Created), 2);
}

async fn rows_are_accounted_in_exactly_one_bucket(store: Store) {
    let options = setup(&store, "c", "l").await;
    let file =
        "name,phone\nA,070-174 06 01\nA again,+46701740601\nNo phone,\nBad,12\nGood,0701740602\n";
    let report = run(&store, file.as_bytes(), &options).await;
    assert_eq!(report.total(), 5);
    assert_eq!(report.count(Bucket::Created), 2);
    assert_eq!(report.count(Bucket::Duplicate), 1);
    assert_eq!(report.count(Bucket::MissingPhone), 1);
    assert_eq!(report.count(Bucket::Invalid), 1);
    assert_eq!(report.rows[1].duplicate_of, Some(DuplicateOf::Row(1)));
    assert!(!report.rows[3].detail.is_empty());
    let mut csv = Vec::new();
    report.write_csv(&mut csv).unwrap();
    let csv = String::from_utf8(csv).unwrap();
    assert_eq!(csv.lines().count(), 6);
    assert!(csv.contains("duplicate,,row 1"), "{csv}");
    assert!(report.table().contains("missing_phone"));
}

async fn dedupe_scope_decides_what_counts_as_a_duplicate(store: Store) {
    let list_a = setup(&store, "c1", "a").await;
    let file = "name,phone\nA,0701740601\n";
    run(&store, file.as_bytes(), &list_a).await;
    let list_b = ImportOptions { dedupe: DedupeScope::List, ..setup(&store, "c1", "b").await };
    assert_eq!(run(&store, file.as_bytes(), &list_b).await.count(Bucket::Created), 1);
    let list_c = ImportOptions { dedupe: DedupeScope::Campaign, ..setup(&store, "c1", "c").await };
    let report = run(&store, file.as_bytes(), &list_c).await;
    assert_eq!(report.count(Bucket::Duplicate), 1);
    assert!(matches!(report.rows[0].duplicate_of, Some(DuplicateOf::Contact(_))));
    let other = ImportOptions { dedupe: DedupeScope::Campaign, ..setup(&store, "c2", "a").await };
    assert_eq!(run(&store, file.as_bytes(), &other).await.count(Bucket::Created), 1);
    let system = ImportOptions { dedupe: DedupeScope::System, ..setup(&store, "c3", "a").await };
    assert_eq!(run(&store, file.as_bytes(), &system).await.count(Bucket::Duplicate), 1);
}

async fn numbers_on_do_not_call_lists_are_reported_blocked(store: Store) {
    let options = setup(&store, "c", "l").await;
    let now = t("2026-03-02T08:00:00Z");
    store.add_dnc(ringa_core::dnc::GLOBAL_DNC, &se("0701740603"), "test", now).await.unwrap();
    let file = "name,phone\nA,0701740603\nB,0701740604\n";
    let report = run(&store, file.as_bytes(), &options).await;
    assert_eq!(report.count(Bucket::Blocked), 1);
    assert_eq!(report.rows[0].blocked_by.as_deref(), Some("global"));
    assert_eq!(report.count(Bucket::Created), 1);
}

#[tokio::test]
async fn mappings_can_be_given_saved_and_reused() {
    let (store, _dir) = common::sqlite_store().await;
    let options = setup(&store, "c", "l").await;
    let rules =
        parse_mapping("Kontakt nr=phone:work, Kundnr=field:customer_no, Ort=ignore").unwrap();
    assert_eq!(rules[0].target, Target::Phone("work".into()));
    store.save_import_template("crm-export", &rules, t("2026-03-02T08:00:00Z")).await.unwrap();
    let rules = store.import_template("crm-export").await.unwrap();
    let file = "Förnamn;Efternamn;Kontakt nr;Mobil;Kundnr;Ort;Postnummer\n\
        Åsa;Öberg;08-123 456 78;0701740605;K-17;Umeå;903 25\n";
    let report = run(&store, file.as_bytes(), &ImportOptions { mapping: rules, ..options }).await;
    assert_eq!(report.count(Bucket::Created), 1, "{report:?}");
    let contact = store.contact(report.rows[0].contact.unwrap()).await.unwrap();
    assert_eq!(contact.name.as_deref(), Some("Åsa Öberg"));
    let labels: Vec<&str> = contact.numbers.iter().map(|n| n.label.as_str()).collect();
    assert_eq!(labels, vec!["work", "mobile"]);
    assert_eq!(contact.fields.get("customer_no").map(String::as_str), Some("K-17"));
    assert!(!contact.fields.contains_key("Ort"));
    assert_eq!(contact.postal_code.as_deref(), Some("903 25"));
    let bad = parse_mapping("Telefon=telephone");
    assert!(matches!(bad, Err(ImportError::Mapping(_))));
}

#[tokio::test]
async fn postal_codes_pick_the_zone_where_a_country_has_several() {
    let spain_mainland = ringa_core::PhoneNumber::parse("+34 912 345 678", Region::SE).unwrap();
    let zone = ringa_store::import::derive_zone(&spain_mainland, Some("35001"));
    assert_eq!(zone.map(|z| z.to_string()).as_deref(), Some("Atlantic/Canary"));
    let zone = ringa_store::import::derive_zone(&spain_mainland, Some("28001"));
    assert_eq!(zone.map(|z| z.to_string()).as_deref(), Some("Europe/Madrid"));
    let zone = ringa_store::import::derive_zone(&se("0701740605"), None);
    assert_eq!(zone.map(|z| z.to_string()).as_deref(), Some("Europe/Stockholm"));
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        #[test]
        fn any_bytes_end_in_buckets_or_a_clear_error(
            rows in proptest::collection::vec(
                ("[A-Za-zÅÄÖåäö ,;\"]{0,12}", "[0-9 +()\\-]{0,16}"), 0..20),
            junk in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let (store, _dir) = common::sqlite_store().await;
                let options = setup(&store, "c", "l").await;
                let mut file = String::from("name;phone\n");
                for (name, phone) in &rows {
                    file.push_str(&format!("{name};{phone}\n"));
                }
                let mut bytes = file.into_bytes();
                bytes.extend_from_slice(&junk);
                let imported =
                    import_bytes(&store, &bytes, &options, &|_, _| {}, Timestamp::UNIX_EPOCH).await;
                match imported {
                    Ok(report) => {
                        let sum: u64 = Bucket::ALL.iter().map(|b| report.count(*b)).sum();
                        prop_assert_eq!(sum, report.total());
                        for row in report.rows.iter().filter(|r| r.bucket != Bucket::Created) {
                            prop_assert!(!row.detail.is_empty(), "row {} has no reason", row.row);
                        }
                    }
                    Err(err) => prop_assert!(!err.to_string().is_empty()),
                }
                Ok(())
            })?;
        }
    }
}

on_both_backends! {
    rows_are_accounted_in_exactly_one_bucket => rows_are_accounted_in_exactly_one_bucket;
    dedupe_scope_decides_what_counts_as_a_duplicate =>
        dedupe_scope_decides_what_counts_as_a_duplicate;
    numbers_on_do_not_call_lists_are_reported_blocked =>
        numbers_on_do_not_call_lists_are_reported_blocked;
}

#[tokio::test]
async fn row_lines_are_right_for_every_kind_of_line_end() {
    let (store, _dir) = common::sqlite_store().await;
    for (i, end) in ["\n", "\r\n", "\r"].into_iter().enumerate() {
        let options = setup(&store, "c", &format!("ends{i}")).await;
        // A blank line and a quoted value over two lines shift later rows.
        let file =
            ["namn;telefon", "A;0701111112", "", "\"B", "b\";12", "C;0701111113", ""].join(end);
        let report = run(&store, file.as_bytes(), &options).await;
        let lines: Vec<(u64, u64)> = report.rows.iter().map(|r| (r.row, r.line)).collect();
        assert_eq!(lines, vec![(1, 2), (2, 4), (3, 6)], "line end {end:?}");
    }
}
