//! House rules checked as ordinary tests: every source file says what it is
//! for, no test is switched off, no stub ships, and the core crates stay
//! sans-IO (no clock reads, no I/O, no async runtime or database in their
//! dependencies).

use std::fs;
use std::path::{Path, PathBuf};

/// Crates that must read no clock and do no I/O.
const CORE_CRATES: [&str; 4] = ["ringa-core", "ringa-pacer", "ringa-engine", "ringa-amd"];

/// Dependencies a core crate may have (besides other core crates).
/// Pure computation only: parsing, time arithmetic, serialization, logging
/// and patterns (`regex`, which `phonenumber` is built on).
const CORE_ALLOWED_DEPS: [&str; 10] = [
    "phonenumber",
    "regex",
    "jiff",
    "serde",
    "tracing",
    "ringa-core",
    "ringa-pacer",
    "ringa-amd",
    "earshot",
    "serde_json",
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            if name == "target" || name.starts_with('.') || name == "node_modules" {
                continue;
            }
            rust_files(&path, out);
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

fn all_sources() -> Vec<PathBuf> {
    let mut files = Vec::new();
    rust_files(&workspace_root().join("crates"), &mut files);
    let fuzz = workspace_root().join("fuzz");
    rust_files(&fuzz, &mut files);
    files.sort();
    files
}

#[test]
fn every_source_file_opens_with_a_module_doc() {
    let mut missing = Vec::new();
    for file in all_sources() {
        let text = fs::read_to_string(&file).expect("source files are UTF-8");
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        if !first.starts_with("//!") {
            missing.push(file.display().to_string());
        }
    }
    assert!(missing.is_empty(), "files without a //! paragraph: {missing:#?}");
}

#[test]
fn no_test_is_ignored_and_no_stub_ships() {
    let ignore = concat!("#[", "ignore");
    let stubs = [concat!("todo", "!("), concat!("unimplemented", "!(")];
    let mut found = Vec::new();
    for file in all_sources() {
        let text = fs::read_to_string(&file).expect("source files are UTF-8");
        for (n, line) in text.lines().enumerate() {
            if line.contains(ignore) || stubs.iter().any(|s| line.contains(s)) {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "switched-off tests or stubs: {found:#?}");
}

#[test]
fn no_trailing_whitespace_or_long_lines() {
    let mut found = Vec::new();
    for file in all_sources() {
        let text = fs::read_to_string(&file).expect("source files are UTF-8");
        for (n, line) in text.lines().enumerate() {
            if line.ends_with(' ') || line.ends_with('\t') || line.chars().count() > 100 {
                found.push(format!("{}:{}", file.display(), n + 1));
            }
        }
    }
    assert!(found.is_empty(), "trailing whitespace or lines over 100 columns: {found:#?}");
}

#[test]
fn core_crates_read_no_clock_and_do_no_io() {
    let forbidden = [
        "Instant::now",
        "SystemTime::now",
        "Timestamp::now",
        "Zoned::now",
        "ZonedDateTime::now",
        "std::fs",
        "std::net",
        "std::process",
        "thread::sleep",
        "thread::spawn",
        "tokio",
        "sqlx",
    ];
    let mut found = Vec::new();
    for krate in CORE_CRATES {
        let mut files = Vec::new();
        rust_files(&workspace_root().join("crates").join(krate).join("src"), &mut files);
        for file in files {
            let text = fs::read_to_string(&file).expect("source files are UTF-8");
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                if let Some(word) = forbidden.iter().find(|w| code.contains(*w)) {
                    found.push(format!("{}:{}: {word}", file.display(), n + 1));
                }
            }
        }
    }
    assert!(found.is_empty(), "clock reads or I/O in a sans-IO crate: {found:#?}");
}

#[test]
fn core_crates_depend_on_no_runtime_or_database() {
    let mut found = Vec::new();
    for krate in CORE_CRATES {
        let dir = workspace_root().join("crates").join(krate);
        let manifest = fs::read_to_string(dir.join("Cargo.toml")).expect("crate manifest");
        let mut section = String::new();
        for line in manifest.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                section = line.to_string();
                continue;
            }
            if section != "[dependencies]" || line.is_empty() || line.starts_with('#') {
                continue;
            }
            let name = line.split(['=', '.', ' ']).next().unwrap_or("").trim();
            if !CORE_ALLOWED_DEPS.contains(&name) {
                found.push(format!("{krate} depends on {name}"));
            }
        }
        assert!(
            dir.join("clippy.toml").exists(),
            "{krate} has no clippy.toml banning clock reads and I/O"
        );
        let clippy = fs::read_to_string(dir.join("clippy.toml")).expect("clippy.toml");
        for banned in ["std::time::Instant::now", "jiff::Timestamp::now", "std::fs::File"] {
            assert!(clippy.contains(banned), "{krate}/clippy.toml does not ban {banned}");
        }
    }
    assert!(found.is_empty(), "dependencies not allowed in sans-IO crates: {found:#?}");
}

#[test]
fn every_workspace_member_has_an_architecture_section() {
    let root = workspace_root();
    let architecture =
        fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md exists");
    let mut missing = Vec::new();
    for entry in fs::read_dir(root.join("crates")).expect("crates folder").flatten() {
        if !entry.path().join("Cargo.toml").exists() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().to_string();
        if !architecture.contains(&format!("### `{name}`")) {
            missing.push(name);
        }
    }
    assert!(missing.is_empty(), "crates without a section in ARCHITECTURE.md: {missing:?}");
}
