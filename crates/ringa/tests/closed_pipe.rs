//! A reader that closes the pipe before `ringa` has printed (`| head`)
//! ends the command quietly: exit status 0 and no panic on stderr.

use std::process::{Command, Stdio};

fn run_with_closed_stdout(args: &[&str]) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringa"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ringa starts");
    // Close the read end before the command prints anything.
    drop(child.stdout.take());
    child.wait_with_output().expect("ringa ends")
}

#[test]
fn printing_into_a_closed_pipe_ends_quietly() {
    for args in [&["version"][..], &["simulate", "--help"][..]] {
        let output = run_with_closed_stdout(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "ringa {args:?}: {:?}, {stderr}", output.status);
        assert!(!stderr.contains("panicked"), "ringa {args:?}: {stderr}");
    }
}
