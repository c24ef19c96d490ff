//! `ringa telephony` with calls that are answered: the trunk is SIPp on loopback answering
//! every INVITE and playing a 440 Hz tone, and agent 1's phone is another SIPp that answers
//! once for the shift (the nailed-up leg) and plays 1000 Hz. The binary must connect every
//! contact, bridge it to the phone, record it, hang up after `talk_seconds` and exit 0: each
//! printed attempt is `connected` with SIP code 200 and the campaign's caller ID, each call
//! leaves a stereo 8 kHz WAV with the customer's tone on the left and the phone's on the
//! right, and both SIPp peers see their dialogs end with BYE. SIPp comes from
//! `scripts/test-deps` and is stopped by its own pid.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../../ringa-sip/tests/peers/sipp.rs"]
mod sipp;
use sipp::{Peer, answering, free_udp_port, tone};

const CALLER_ID: &str = "+46850001000";
const NUMBERS: [&str; 3] = ["+46701112233", "+46702223344", "+46703334455"];

fn recordings(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    found.retain(|p| p.extension().is_some_and(|e| e == "wav"));
    found.sort();
    found
}

/// One channel of a recording: its peak and its dominant frequency in Hz, from the zero
/// crossings of the frames that are not silent.
struct Channel {
    peak: i32,
    hz: f64,
}

/// The two channels of a recording and its length in seconds.
fn channels(path: &Path) -> ([Channel; 2], f64) {
    let mut reader = hound::WavReader::open(path).expect("the recording is a WAV file");
    let spec = reader.spec();
    assert_eq!((spec.channels, spec.sample_rate), (2, 8000), "{}: {spec:?}", path.display());
    let samples: Vec<i16> = reader.samples::<i16>().map(|s| s.expect("a sample")).collect();
    let channel = |ch: usize| {
        let side: Vec<i32> = samples.iter().skip(ch).step_by(2).map(|s| i32::from(*s)).collect();
        let peak = side.iter().map(|s| s.abs()).max().unwrap_or(0);
        // 20 ms frames with a voice in them; sign changes among their samples louder than
        // the codec's noise around zero.
        let frames: Vec<&[i32]> =
            side.chunks(160).filter(|f| f.iter().any(|s| s.abs() > 1000)).collect();
        let loud: Vec<bool> =
            frames.concat().iter().filter(|s| s.abs() > 200).map(|s| *s < 0).collect();
        let crossings = loud.windows(2).filter(|w| w[0] != w[1]).count();
        let seconds = (frames.len() * 160).max(1) as f64 / 8000.0;
        Channel { peak, hz: crossings as f64 / 2.0 / seconds }
    };
    let seconds = samples.len() as f64 / 2.0 / 8000.0;
    ([channel(0), channel(1)], seconds)
}

#[test]
fn answered_calls_are_bridged_recorded_and_ended_after_the_talk_time() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    tone(&dir.path().join("customer.ul"), 440.0, 2.0);
    tone(&dir.path().join("agent.ul"), 1000.0, 2.0);
    let trunk_port = free_udp_port();
    let phone_port = free_udp_port();
    let calls = NUMBERS.len() as u32;
    let mut trunk = Peer::sipp(
        dir.path(),
        "trunk",
        &answering("customer.ul", None, -1),
        trunk_port,
        calls,
        30,
        &[],
    );
    let mut phone =
        Peer::sipp(dir.path(), "phone", &answering("agent.ul", None, -1), phone_port, 1, 30, &[]);
    std::thread::sleep(Duration::from_millis(300));

    let records = dir.path().join("recordings");
    let numbers: Vec<String> = NUMBERS.iter().map(|n| format!("{n:?}")).collect();
    let config = format!(
        "recordings = {records:?}\n\n\
         [[trunk]]\nname = \"sipp\"\naddress = \"127.0.0.1:{trunk_port}\"\n\
         line_limit = 2\ncps = 10.0\n\n\
         [[agent_phone]]\nagent = 1\nuri = \"sip:agent1@127.0.0.1:{phone_port}\"\n\n\
         [campaign]\ncaller_ids = [\"{CALLER_ID}\"]\nnumbers = [{}]\ntalk_seconds = 1\n",
        numbers.join(", ")
    );
    let path = dir.path().join("telephony.toml");
    std::fs::write(&path, config).expect("temp dir is writable");

    // Output goes to files, so that a chatty log cannot fill a pipe and stall the run.
    let out_path = dir.path().join("stdout.txt");
    let err_path = dir.path().join("stderr.txt");
    let limit = 12;
    let started = Instant::now();
    let mut ringa = Peer(
        Command::new(env!("CARGO_BIN_EXE_ringa"))
            .args(["telephony", "--config"])
            .arg(&path)
            .args(["--max-seconds", &limit.to_string()])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out_path).expect("temp dir is writable"))
            .stderr(std::fs::File::create(&err_path).expect("temp dir is writable"))
            .spawn()
            .expect("ringa runs"),
    );
    let status = ringa.exited(Duration::from_secs(limit + 5));
    let took = started.elapsed();
    let stdout = std::fs::read_to_string(&out_path).expect("stdout was written");
    let stderr = std::fs::read_to_string(&err_path).expect("stderr was written");
    let status = status.unwrap_or_else(|| panic!("ringa still runs after {took:?}: {stderr}"));
    assert!(status.success(), "{status}: {stdout}\n{stderr}");
    assert!(took < Duration::from_secs(limit), "{took:?}: {stderr}");
    assert!(!stderr.contains("stopped after"), "not every contact was dialled: {stderr}");

    // A header and one line per contact, each connected with 200 and the caller ID.
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("contact\tattempt\tresult\tsip_code\tcaller_id"), "{stdout}");
    let mut contacts = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields.len(), 5, "{line}");
        assert_eq!(fields[1..], ["1", "connected", "200", CALLER_ID], "{stdout}");
        contacts.push(fields[0].to_string());
    }
    contacts.sort();
    contacts.dedup();
    assert_eq!(contacts.len(), NUMBERS.len(), "one line per contact: {stdout}");

    // Both peers saw every dialog end with our BYE, and exited by themselves.
    let trunk_status = trunk.exited(Duration::from_secs(5));
    assert!(trunk_status.is_some_and(|s| s.success()), "trunk SIPp: {trunk_status:?}");
    let phone_status = phone.exited(Duration::from_secs(5));
    assert!(phone_status.is_some_and(|s| s.success()), "phone SIPp: {phone_status:?}");

    // One recording per call: the customer's 440 Hz left, the phone's 1000 Hz right.
    let files = recordings(&records);
    assert_eq!(files.len(), NUMBERS.len(), "one recording per call: {files:?}");
    for file in files {
        let ([customer, agent], seconds) = channels(&file);
        let name = file.display();
        // Recorded from the answer to the hang-up `talk_seconds` (1 s) later.
        assert!((0.9..2.0).contains(&seconds), "{name} lasts {seconds} s");
        assert!(customer.peak > 2000, "the customer is heard in {name}: {}", customer.peak);
        assert!(agent.peak > 2000, "the agent is heard in {name}: {}", agent.peak);
        assert!((customer.hz - 440.0).abs() < 20.0, "customer tone in {name}: {}", customer.hz);
        assert!((agent.hz - 1000.0).abs() < 20.0, "agent tone in {name}: {}", agent.hz);
    }
}
