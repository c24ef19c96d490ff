//! Real SIP peers for the interop tests: PJSIP processes (customers and agent phones, driven
//! by `pjsua_peer.py` and a plan keyed by the Request-URI user), baresip as an auto-answering
//! agent phone that echoes, Kamailio as a trunk with digest auth, speech made with espeak-ng
//! and sox, and helpers to read the peers' logs and measure the recordings. Everything
//! listens on free loopback ports and is stopped by its own pid.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringa_core::campaign::{CallerId, CallerIdPool, Campaign};
use ringa_core::contact::Contact;
use ringa_core::{CampaignId, ContactId, DialMode, ListId, PhoneNumber, RuleSet};
use ringa_engine::{Command as EngineCommand, ContactEntry, Engine, EngineConfig, Input};
use ringa_sip::config::{Transport, TrunkConfig};
use ringa_sip::driver::{DriverOptions, Telephony};
use ringa_sip::rtp::RtpPacket;
use tokio::sync::mpsc;

/// A UDP trunk called `name` at loopback `port` (a peer process standing for the carrier).
pub(crate) fn loopback_trunk(name: &str, port: u16, line_limit: u32, cps: f64) -> TrunkConfig {
    TrunkConfig {
        name: name.into(),
        address: SocketAddr::from(([127, 0, 0, 1], port)),
        transport: Transport::Udp,
        username: None,
        password: None,
        line_limit,
        cps,
    }
}

/// The live driver on a free loopback port with `trunk`, `options` and an engine of
/// `config`, and the engine's commands.
pub(crate) async fn start_driver(
    trunk: TrunkConfig,
    options: DriverOptions,
    config: EngineConfig,
) -> (Telephony, mpsc::UnboundedReceiver<EngineCommand>) {
    let (tx, commands) = mpsc::unbounded_channel();
    let sip = "127.0.0.1:0".parse().expect("literal address");
    let telephony = Telephony::start_with(trunk, sip, Engine::new(config), tx, options)
        .await
        .expect("driver starts");
    (telephony, commands)
}

/// Answers the engine's fetch of `want` contacts for `campaign` with the next of `pending`,
/// saying the list is exhausted once none is left.
pub(crate) fn give_contacts(
    telephony: &Telephony,
    campaign: CampaignId,
    want: u32,
    pending: &mut Vec<ContactEntry>,
) {
    let n = (want as usize).min(pending.len());
    let contacts: Vec<_> = pending.drain(..n).collect();
    let exhausted = pending.is_empty();
    telephony.input(Input::Contacts { campaign, contacts, exhausted });
}

/// Sends 20 ms PCMU packets filled with `fill` from `socket` to `to`, 20 s of them, unless
/// aborted sooner.
pub(crate) fn talk(
    socket: Arc<tokio::net::UdpSocket>,
    to: SocketAddr,
    fill: u8,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for seq in 0..1000u16 {
            let payload = [fill; 160];
            let p = RtpPacket {
                marker: false,
                payload_type: 0,
                sequence: seq,
                timestamp: u32::from(seq) * 160,
                ssrc: 0xC0FFEE + u32::from(fill),
                payload: &payload,
            };
            let _ = socket.send_to(&p.to_bytes(), to).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
}

/// A child process stopped by its own pid when dropped.
pub(crate) struct Proc(pub(crate) Child);

impl Proc {
    /// Waits up to `limit` for the process to exit; true when it exited successfully.
    pub(crate) fn wait(&mut self, limit: Duration) -> bool {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Ok(Some(status)) = self.0.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Sends a signal to this child only.
    pub(crate) fn signal(&self, name: &str) {
        let _ = Command::new("kill").args([&format!("-{name}"), &self.0.id().to_string()]).status();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            self.signal("CONT");
            self.signal("TERM");
            if !self.wait(Duration::from_secs(5)) {
                let _ = self.0.kill();
            }
        }
        let _ = self.0.wait();
    }
}

/// A free UDP port on loopback (and, for peers that also bind the next ports, a few free
/// neighbours).
pub(crate) fn free_udp_port() -> u16 {
    loop {
        let s = UdpSocket::bind("127.0.0.1:0").expect("loopback is available");
        let port = s.local_addr().expect("bound socket has an address").port();
        let neighbours_free = (1..=2).all(|i| {
            port.checked_add(i).is_some_and(|p| UdpSocket::bind(("127.0.0.1", p)).is_ok())
        });
        if neighbours_free && port < 60_000 {
            return port;
        }
    }
}

/// A temporary directory for one test run.
pub(crate) fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringa-sip-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir is writable");
    dir
}

fn run(cmd: &mut Command, what: &str) {
    let status = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("{what} is installed by scripts/test-deps: {e}"));
    assert!(status.success(), "{what} failed");
}

/// Speaks `text` into an 8 kHz mono 16-bit WAV, with `pad_after` seconds of silence.
pub(crate) fn speech(dir: &Path, name: &str, voice: &str, text: &str, pad_after: f32) -> PathBuf {
    let raw = dir.join(format!("{name}.raw.wav"));
    let out = dir.join(format!("{name}.wav"));
    run(
        Command::new("espeak-ng").args(["-v", voice, "-s", "150", "-w"]).arg(&raw).arg(text),
        "espeak-ng",
    );
    run(
        Command::new("sox").arg(&raw).args(["-r", "8000", "-c", "1", "-b", "16"]).arg(&out).args([
            "pad",
            "0",
            &pad_after.to_string(),
        ]),
        "sox",
    );
    out
}

/// Joins WAVs (same format) into one.
pub(crate) fn concat(dir: &Path, name: &str, parts: &[PathBuf]) -> PathBuf {
    let out = dir.join(format!("{name}.wav"));
    run(Command::new("sox").args(parts).arg(&out), "sox");
    out
}

/// A sine beep of `secs` at `hz`, 8 kHz mono 16-bit.
pub(crate) fn beep(dir: &Path, name: &str, hz: u32, secs: f32) -> PathBuf {
    let out = dir.join(format!("{name}.wav"));
    run(
        Command::new("sox").args(["-n", "-r", "8000", "-c", "1", "-b", "16"]).arg(&out).args([
            "synth",
            &secs.to_string(),
            "sine",
            &hz.to_string(),
            "vol",
            "0.5",
        ]),
        "sox",
    );
    out
}

/// Silence of `secs`, 8 kHz mono 16-bit.
pub(crate) fn silence(dir: &Path, name: &str, secs: f32) -> PathBuf {
    let out = dir.join(format!("{name}.wav"));
    run(
        Command::new("sox").args(["-n", "-r", "8000", "-c", "1", "-b", "16"]).arg(&out).args([
            "trim",
            "0",
            &secs.to_string(),
        ]),
        "sox",
    );
    out
}

/// The audio the test customers and agents play.
pub(crate) struct Voices {
    /// A person: "Hello?", a pause, then talking on.
    pub(crate) person: PathBuf,
    /// A voicemail greeting of about 6 s and a 1 kHz beep.
    pub(crate) voicemail: PathBuf,
    /// Ringback-like early media that talks for 6 s (a machine if it counted).
    pub(crate) early: PathBuf,
    /// An agent talking.
    pub(crate) agent: PathBuf,
}

/// Makes the test audio in `dir`.
pub(crate) fn voices(dir: &Path) -> Voices {
    let hello = speech(dir, "hello", "en", "Hello?", 2.5);
    let talk = speech(
        dir,
        "talk",
        "en",
        "Yes, speaking. I got your letter about the new contract, and I have a few \
         questions about the price and about when it starts.",
        1.0,
    );
    let person = concat(dir, "person", &[hello, talk.clone(), talk]);
    let greeting = speech(
        dir,
        "greeting",
        "en+f3",
        "Hi, you have reached Anna Svensson. I cannot take your call right now. \
         Please leave your name and number after the tone and I will call you back.",
        0.4,
    );
    let tone = beep(dir, "beep", 1000, 0.6);
    let after = silence(dir, "after", 8.0);
    let voicemail = concat(dir, "voicemail", &[greeting, tone, after]);
    let early = speech(
        dir,
        "early",
        "en+m3",
        "Please hold the line while we connect your call. Your call is important to us, \
         please continue to hold.",
        0.2,
    );
    let agent = speech(
        dir,
        "agent",
        "en+m1",
        "Good morning, this is Maria calling from the energy company. How are you today?",
        0.8,
    );
    Voices { person, voicemail, early, agent }
}

/// One PJSIP process answering the users of `plan` (user → plan entry, as JSON values).
pub(crate) fn pjsua(
    dir: &Path,
    name: &str,
    port: u16,
    plan: &serde_json::Value,
    life: u32,
) -> Proc {
    let plan_path = dir.join(format!("{name}.plan.json"));
    std::fs::write(&plan_path, plan.to_string()).expect("plan is writable");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/pjsua_peer.py");
    let out = std::fs::File::create(dir.join(format!("{name}.out"))).expect("writable");
    let child = Command::new("python3")
        .arg(script)
        .arg(port.to_string())
        .arg(&plan_path)
        .arg(dir.join(format!("{name}.log")))
        .arg(life.to_string())
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("file handle"))
        .stderr(out)
        .spawn()
        .expect("python3 with pjsua2 is installed by scripts/test-deps");
    Proc(child)
}

/// Waits until every named peer log says it is ready.
pub(crate) fn wait_ready(dir: &Path, names: &[&str], limit: Duration) {
    let end = Instant::now() + limit;
    for name in names {
        loop {
            let log = std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default();
            if log.contains("\"ready\"") {
                break;
            }
            let out = std::fs::read_to_string(dir.join(format!("{name}.out"))).unwrap_or_default();
            assert!(Instant::now() < end, "PJSIP peer {name} did not start:\n{out}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The JSON events a peer logged.
pub(crate) fn peer_events(dir: &Path, name: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join(format!("{name}.log")))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// baresip as an agent phone: auto-answers `user` on `port` and echoes what it hears.
pub(crate) fn baresip(dir: &Path, name: &str, user: &str, port: u16) -> Proc {
    let conf = dir.join(name);
    std::fs::create_dir_all(&conf).expect("writable");
    std::fs::write(
        conf.join("config"),
        format!(
            "poll_method\t\tpoll\nsip_listen\t\t127.0.0.1:{port}\nnet_interface\t\t127.0.0.1\n\
             audio_player\t\taubridge,echo\naudio_source\t\taubridge,echo\n\
             audio_alert\t\taubridge,echo\nrtp_timeout\t\t0\naudio_buffer\t\t20-160\n\
             module_path\t\t/usr/lib/baresip/modules\nmodule\t\t\tg711.so\n\
             module\t\t\taubridge.so\nmodule_app\t\taccount.so\nmodule_app\t\tmenu.so\n"
        ),
    )
    .expect("writable");
    std::fs::write(
        conf.join("accounts"),
        format!("<sip:{user}@127.0.0.1:{port}>;regint=0;answermode=auto;audio_codecs=PCMU,PCMA\n"),
    )
    .expect("writable");
    let out = std::fs::File::create(dir.join(format!("{name}.out"))).expect("writable");
    let child = Command::new("baresip")
        .arg("-f")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("file handle"))
        .stderr(out)
        .spawn()
        .expect("baresip is installed by scripts/test-deps (Debian package baresip-core)");
    Proc(child)
}

/// Kamailio as a trunk: digest auth (407) for INVITEs, the caller ID logged, and each
/// Request-URI user routed to the port of the peer that plays it.
pub(crate) fn kamailio(
    dir: &Path,
    port: u16,
    password: &str,
    routes: &HashMap<String, u16>,
) -> Proc {
    let mut route_lines = String::new();
    let mut users: Vec<_> = routes.iter().collect();
    users.sort();
    for (user, to) in users {
        route_lines.push_str(&format!(
            "        if ($rU == \"{user}\") {{ $du = \"sip:127.0.0.1:{to}\"; }}\n"
        ));
    }
    let cfg = format!(
        r#"#!KAMAILIO
debug=2
log_stderror=yes
children=2
disable_tcp=yes
listen=udp:127.0.0.1:{port}
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "auth.so"

request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (has_totag()) {{
        if (loose_route()) {{ t_relay(); exit; }}
        if (is_method("ACK")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
        sl_send_reply("404", "Not here");
        exit;
    }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    if (is_method("INVITE")) {{
        if (!pv_proxy_authenticate("trunk.test", "{password}", "0")) {{
            proxy_challenge("trunk.test", "1");
            exit;
        }}
        consume_credentials();
        xlog("L_ERR", "RINGA-CALLERID ruri=$rU from=$fU pai=$ai\n");
        record_route();
{route_lines}        if ($du == $null) {{ sl_send_reply("404", "No route"); exit; }}
        t_on_reply("LOG_REPLY");
        t_relay();
        exit;
    }}
    sl_send_reply("405", "Method Not Allowed");
}}

onreply_route[LOG_REPLY] {{
    xlog("L_ERR", "RINGA-REPLY ruri=$tU code=$rs method=$rm\n");
}}
"#
    );
    let path = dir.join("kamailio.cfg");
    std::fs::write(&path, cfg).expect("config is writable");
    let log = std::fs::File::create(dir.join("kamailio.log")).expect("log is writable");
    let child = Command::new("kamailio")
        .args(["-DD", "-E", "-f"])
        .arg(&path)
        .arg("-Y")
        .arg(dir)
        .args(["-m", "32", "-M", "8"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("kamailio is installed by scripts/test-deps");
    Proc(child)
}

/// The mean absolute sample of each channel of a stereo recording in 20 ms frames.
pub(crate) fn channel_levels(path: &Path) -> Vec<(f64, f64)> {
    let mut reader = hound::WavReader::open(path).expect("the recording opens");
    assert_eq!(reader.spec().channels, 2, "stereo recording");
    let samples: Vec<i16> = reader.samples().map(|s| s.expect("valid sample")).collect();
    samples
        .chunks(320)
        .map(|frame| {
            let (mut l, mut r) = (0f64, 0f64);
            for pair in frame.chunks(2) {
                l += f64::from(pair[0]).abs();
                r += f64::from(*pair.get(1).unwrap_or(&0)).abs();
            }
            let n = (frame.len() / 2).max(1) as f64;
            (l / n, r / n)
        })
        .collect()
}

/// A number in E.164.
pub(crate) fn number(e164: &str) -> PhoneNumber {
    PhoneNumber::from_e164(e164).expect("test numbers are valid")
}

/// A contact with one number.
pub(crate) fn contact(id: u64, e164: &str) -> ContactEntry {
    ContactEntry::fresh(Contact::with_numbers(ContactId(id), ListId(1), [number(e164)]))
}

/// A campaign callable at any time with one caller ID.
pub(crate) fn campaign(mode: DialMode, caller_id: &str, amd: bool) -> Campaign {
    let mut campaign = Campaign::new(CampaignId(1), "interop", mode, RuleSet::None);
    campaign.rules.windows = ringa_core::CallingWindows::always();
    campaign.rules.register_washed = Some(jiff::civil::date(2026, 11, 30));
    campaign.caller_ids = CallerIdPool {
        numbers: vec![CallerId { number: number(caller_id), daily_cap: None }],
        rotation: Default::default(),
    };
    campaign.amd = amd;
    campaign
}

/// The length of a WAV file in seconds.
pub(crate) fn wav_seconds(path: &Path) -> f64 {
    let reader = hound::WavReader::open(path).expect("the WAV opens");
    f64::from(reader.duration()) / f64::from(reader.spec().sample_rate)
}

/// For each 20 ms frame of a mono 8 kHz recording, whether it holds a tone at `hz`: loud
/// enough (RMS over 300) and with over half its energy at that frequency (Goertzel).
pub(crate) fn tone_frames(path: &Path, hz: f64) -> Vec<bool> {
    let mut reader = hound::WavReader::open(path).expect("the recording opens");
    let spec = reader.spec();
    assert_eq!((spec.channels, spec.sample_rate), (1, 8000), "mono 8 kHz: {spec:?}");
    let samples: Vec<f64> =
        reader.samples::<i16>().map(|s| f64::from(s.expect("sample"))).collect();
    let coeff = 2.0 * (2.0 * std::f64::consts::PI * hz / 8000.0).cos();
    samples
        .chunks_exact(160)
        .map(|frame| {
            let (mut s1, mut s2) = (0.0, 0.0);
            for x in frame {
                let s0 = x + coeff * s1 - s2;
                s2 = s1;
                s1 = s0;
            }
            let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
            let energy: f64 = frame.iter().map(|x| x * x).sum();
            let n = frame.len() as f64;
            energy / n > 300.0 * 300.0 && power / (energy * n / 2.0) > 0.5
        })
        .collect()
}
