//! End-to-end check of answering-machine detection: generates a small
//! corpus with the real generator (held-out evaluation voices, fixed seed;
//! needs espeak-ng and sox from scripts/test-deps), runs the evaluator and
//! holds both detectors to their expected figures with a margin.

use std::path::Path;
use std::process::Command;

fn ringa(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ringa"))
        .args(args)
        .output()
        .expect("the ringa binary runs");
    assert!(
        out.status.success(),
        "ringa {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("ringa prints UTF-8")
}

fn figure(report: &serde_json::Value, key: &str) -> f64 {
    report[key].as_f64().unwrap_or_else(|| panic!("report has no {key}: {report}"))
}

#[test]
fn generated_corpus_separates_people_from_machines() {
    let dir = std::env::temp_dir().join(format!("ringa-amd-corpus-{}", std::process::id()));
    let dir_arg = dir.to_str().expect("temp paths are UTF-8");
    ringa(&["amd", "corpus", "--seed", "7", "--count", "96", "--out", dir_arg]);

    // Every clip has a WAV and a label with its timings.
    let label: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("clip00000.json")).expect("a label was written"),
    )
    .expect("labels are JSON");
    for key in ["class", "subtype", "speech", "beeps", "answer_delay_ms", "snr_db", "voice"] {
        assert!(label.get(key).is_some(), "label lacks {key}: {label}");
    }
    assert_eq!(label["voice_set"], "evaluation");
    let wavs = std::fs::read_dir(&dir)
        .expect("corpus directory")
        .filter(|e| e.as_ref().is_ok_and(|e| e.path().extension().is_some_and(|x| x == "wav")))
        .count();
    assert_eq!(wavs, 96);

    let json = ringa(&["amd", "eval", dir_arg, "--json"]);
    let reports: serde_json::Value = serde_json::from_str(&json).expect("eval --json is JSON");
    let ours = &reports[0];
    let classic = &reports[1];
    assert_eq!(ours["detector"], "ringa");
    assert_eq!(classic["detector"], "baseline");
    assert!(figure(ours, "humans") >= 30.0 && figure(ours, "machines") >= 30.0, "{ours}");

    // Measured on this corpus: 0% people as machines, 81% of machines caught,
    // against 70% and 100% for the classic detector.
    assert!(figure(ours, "human_as_machine") <= 0.05, "{ours}");
    assert!(figure(ours, "machine_recall") >= 0.6, "{ours}");
    assert!(figure(ours, "notsure_rate") <= 0.25, "{ours}");
    assert!(figure(classic, "human_as_machine") >= 0.3, "{classic}");
    assert!(figure(ours, "human_as_machine") < figure(classic, "human_as_machine"));

    // Fractions are fractions, times are milliseconds after answer.
    for r in [ours, classic] {
        for key in ["human_as_machine", "machine_recall", "notsure_rate"] {
            assert!((0.0..=1.0).contains(&figure(r, key)), "{key} in {r}");
        }
        assert!(r["human_decision"]["median_ms"].as_u64().is_some_and(|ms| ms > 0), "{r}");
    }
    assert!(ours["confusion"]["machine/personal"].is_object(), "{ours}");

    if Path::new(&dir).exists() {
        std::fs::remove_dir_all(&dir).expect("temporary corpus can be removed");
    }
}
