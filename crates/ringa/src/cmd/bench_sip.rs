//! `ringa bench sip`: the telephony benchmark. Two figures, both on loopback only:
//!
//! - call setup rate: ringa's trunk call manager (`ringa_sip::calls::TrunkCalls`, the one the
//!   driver runs, with its line and calls-per-second gate) places INVITEs toward a SIPp UAS
//!   that answers 180, 200 with SDP; every call gets its own RTP socket and media task as in
//!   the driver, and ringa hangs up with BYE after a hold time; its SIP socket is made as the
//!   driver's (`ringa_sip::socket`, large kernel buffers);
//! - concurrent bridged calls (`bench_sip_bridge`): the driver's media task per call relays
//!   20 ms G.711 packets both ways between a customer and an agent leg and writes a stereo
//!   WAV, while an RTP peer on its own thread measures the relayed streams' timing.
//!
//! SIPp is started on a port picked here and stopped by its pid; temporary files go to a
//! directory removed at the end. CPU and memory are read from `/proc`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Child, Command as Process, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use jiff::SignedDuration;
use ringa_core::{AttemptId, CallId, CampaignId, ContactId, PhoneNumber};
use ringa_engine::{CallEvent, Command, Input};
use ringa_sip::calls::TrunkCalls;
use ringa_sip::config::{Transport, TrunkConfig};
use ringa_sip::media::{self, MediaControl, MediaSettings};
use ringa_sip::message::SipMessage;
use ringa_sip::sdp::{self, SessionDescription};
use ringa_sip::socket;
use serde_json::json;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::bench_sip_bridge::{BridgeConfig, bridge_bench};

/// Loopback: the only address the benchmark uses.
pub(crate) const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

#[derive(Args, Debug)]
pub(crate) struct SipArgs {
    /// Which part to run: `setup`, `bridge` or `all`.
    #[arg(long, default_value = "all")]
    only: String,
    /// Call setup: new calls per second offered to the trunk.
    #[arg(long, default_value_t = 200.0)]
    cps: f64,
    /// Call setup: seconds of calls at that rate.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Call setup: how long ringa holds an answered call before its BYE.
    #[arg(long, default_value_t = 1000)]
    hold_ms: u64,
    /// Bridged calls: simultaneous calls, each a customer and an agent leg.
    #[arg(long, default_value_t = 500)]
    bridges: usize,
    /// Bridged calls: seconds of media on every call.
    #[arg(long, default_value_t = 20.0)]
    bridge_seconds: f64,
    /// Bridged calls: a relayed packet later than this (ms after it was sent) is late.
    #[arg(long, default_value_t = 20.0)]
    late_ms: f64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs on the command's multi-threaded runtime, the shape `ringa serve` runs telephony on.
pub(crate) async fn run(args: SipArgs) -> Result<()> {
    let (setup, bridge) = match args.only.as_str() {
        "all" => (true, true),
        "setup" => (true, false),
        "bridge" => (false, true),
        other => bail!("--only is setup, bridge or all, not {other:?}"),
    };
    if !(args.cps > 0.0 && args.seconds > 0.0 && args.bridge_seconds > 0.0) {
        bail!("--cps, --seconds and --bridge-seconds must be positive");
    }
    let mut out = serde_json::Map::new();
    out.insert("load_before".into(), json!(load_average()));
    if setup {
        let config = SetupConfig { cps: args.cps, seconds: args.seconds, hold_ms: args.hold_ms };
        let figures = tokio::spawn(setup_bench(config)).await??;
        if !args.json {
            print_setup(&figures);
        }
        out.insert("setup".into(), figures);
    }
    if bridge {
        let config = BridgeConfig {
            calls: args.bridges,
            seconds: args.bridge_seconds,
            late_ms: args.late_ms,
        };
        let figures = tokio::spawn(bridge_bench(config)).await??;
        if !args.json {
            super::bench_sip_bridge::print_bridge(&figures);
        }
        out.insert("bridge".into(), figures);
    }
    out.insert("load_after".into(), json!(load_average()));
    if args.json {
        println!("{}", serde_json::Value::Object(out));
    } else {
        println!(
            "load average before {} after {}",
            out["load_before"].as_str().unwrap_or("?"),
            out["load_after"].as_str().unwrap_or("?")
        );
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
struct SetupConfig {
    cps: f64,
    seconds: f64,
    hold_ms: u64,
}

/// The SIPp UAS of the setup benchmark: 180, 200 with SDP, ACK, then ringa's BYE. Two
/// additions make SIPp absorb retransmissions as an RFC 3261 UAS does (by itself SIPp drops
/// the call, and ringa's call fails): an INVITE repeated before the ACK (the 180 and 200 were
/// lost) gets the 200 again, a BYE that overtakes a lost ACK is accepted, and the call stays
/// 4 s in SIPp after the 200 to the BYE (timer J), so that a BYE repeated because that 200
/// was lost is answered again.
const UAS: &str = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n\
<scenario name=\"ringa-bench-uas\">\n<recv request=\"INVITE\"/>\n<send><![CDATA[\n\
SIP/2.0 180 Ringing\n[last_Via:]\n[last_From:]\n[last_To:];tag=[pid]SIPpTag[call_number]\n\
[last_Call-ID:]\n[last_CSeq:]\nContact: <sip:[local_ip]:[local_port]>\nContent-Length: 0\n\n\
]]></send>\n<label id=\"answer\"/>\n<send retrans=\"500\"><![CDATA[\n\
SIP/2.0 200 OK\n[last_Via:]\n[last_From:]\n[last_To:];tag=[pid]SIPpTag[call_number]\n\
[last_Call-ID:]\n[last_CSeq:]\nContact: <sip:[local_ip]:[local_port]>\n\
Content-Type: application/sdp\nContent-Length: [len]\n\n\
v=0\no=sipp 1 1 IN IP4 [media_ip]\ns=-\nc=IN IP4 [media_ip]\nt=0 0\n\
m=audio [media_port] RTP/AVP 0 101\na=rtpmap:0 PCMU/8000\na=rtpmap:101 telephone-event/8000\n\
]]></send>\n<recv request=\"INVITE\" optional=\"true\" next=\"answer\"/>\n\
<recv request=\"ACK\" optional=\"true\"/>\n<recv request=\"BYE\"/>\n<send><![CDATA[\n\
SIP/2.0 200 OK\n[last_Via:]\n[last_From:]\n[last_To:]\n[last_Call-ID:]\n[last_CSeq:]\n\
Content-Length: 0\n\n]]></send>\n<pause milliseconds=\"4000\"/>\n</scenario>\n";

/// The closing pause of [`UAS`]: how long SIPp keeps a call after answering its BYE.
const UAS_LINGER: Duration = Duration::from_secs(4);

/// A SIPp process of ours, killed by its pid when dropped.
pub(crate) struct Sipp(Child);

impl Sipp {
    fn start(dir: &Path, scenario: &str, port: u16, calls: u64, timeout: u64) -> Result<Sipp> {
        let file = dir.join("uas.xml");
        std::fs::write(&file, scenario).context("writing the SIPp scenario")?;
        let media = free_udp_port()?;
        let child = Process::new("sipp")
            .arg("-sf")
            .arg(&file)
            .args(["-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", &port.to_string()])
            .args(["-mp", &media.to_string(), "-m", &calls.to_string()])
            // A 4 MB socket buffer, so that the peer standing in for the trunk drops nothing.
            .args(["-timeout", &format!("{timeout}s"), "-nostdin", "-buff_size", "4194304"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .current_dir(dir)
            .spawn()
            .context("starting sipp (Debian package sip-tester, see scripts/test-deps)")?;
        Ok(Sipp(child))
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Waits up to `limit` for SIPp to exit by itself.
    async fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Ok(Some(status)) = self.0.try_wait() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        // Only our own child, by its pid; harmless when it already exited.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn free_udp_port() -> Result<u16> {
    let s = std::net::UdpSocket::bind((LOOPBACK, 0)).context("binding a loopback port")?;
    Ok(s.local_addr().context("reading a bound address")?.port())
}

/// What the setup benchmark follows of one call.
struct Placed {
    started: Instant,
    control: mpsc::UnboundedSender<MediaControl>,
}

#[derive(Default)]
struct Tally {
    answered: u64,
    failed: HashMap<String, u64>,
    remote_hangups: u64,
    byes_answered: u64,
    setup_ms: Vec<f64>,
}

fn originate(call: u64) -> Result<Command> {
    let number = PhoneNumber::from_e164(&format!("+3361{:07}", call % 10_000_000))
        .context("a generated number")?;
    Ok(Command::Originate {
        call: CallId(call),
        attempt: AttemptId(call),
        campaign: CampaignId(1),
        contact: ContactId(call),
        number,
        caller_id: PhoneNumber::from_e164("+33100000001").ok(),
        ring_timeout: SignedDuration::from_secs(30),
        amd: false,
        agent: None,
    })
}

async fn setup_bench(config: SetupConfig) -> Result<serde_json::Value> {
    let dir = tempfile::tempdir().context("a temporary directory")?;
    let total = (config.cps * config.seconds).round().max(1.0) as u64;
    let hold = Duration::from_millis(config.hold_ms);
    let port = free_udp_port()?;
    let timeout = config.seconds as u64 + config.hold_ms / 1000 + 60;
    let mut sipp = Sipp::start(dir.path(), UAS, port, total, timeout)?;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (socket, buffers) =
        socket::bind_udp(SocketAddr::new(LOOPBACK, 0), socket::SIP_BUFFER_BYTES)
            .context("binding the SIP socket")?;
    let local = socket.local_addr().context("reading the SIP address")?;
    let trunk = TrunkConfig {
        name: "sipp".into(),
        address: SocketAddr::new(LOOPBACK, port),
        transport: Transport::Udp,
        username: None,
        password: None,
        line_limit: 100_000,
        // The gate must let the offered rate through: a refusal counts as a failure.
        cps: config.cps * 1.05 + 1.0,
    };
    let instance = format!("bench-{}", std::process::id());
    let fallback = SocketAddr::new(LOOPBACK, 0);
    let mut calls = TrunkCalls::new(Instant::now(), trunk.clone(), local, fallback, &instance);
    let (media_tx, mut media_rx) = mpsc::unbounded_channel();
    let settings = MediaSettings {
        recordings: None,
        inactivity: Duration::from_secs(30),
        run: "bench".to_string(),
    };

    let drops_before = udp_receive_drops();
    let cpu_before = process_cpu();
    let sipp_cpu_before = pid_cpu(sipp.pid());
    let start = Instant::now();
    let period = Duration::from_secs_f64(1.0 / config.cps);
    let mut placed = 0u64;
    let mut live: HashMap<CallId, Placed> = HashMap::new();
    let mut hangups: VecDeque<(Instant, CallId)> = VecDeque::new();
    let mut byes: HashSet<String> = HashSet::new();
    let mut tally = Tally::default();
    let mut last_answer = start;
    let mut peak_live = 0usize;
    // Requests sent, by method, to count retransmissions.
    let mut sent: HashMap<&'static str, u64> = HashMap::new();
    let mut hung_up = 0u64;
    let mut buf = vec![0u8; 65_536];
    let give_up = start + Duration::from_secs_f64(config.seconds) + hold + Duration::from_secs(40);

    loop {
        let now = Instant::now();
        while placed < total && start + period.mul_f64(placed as f64) <= now {
            placed += 1;
            let command = originate(placed)?;
            let rtp = UdpSocket::bind((LOOPBACK, 0)).await.context("binding an RTP socket")?;
            let addr = rtp.local_addr().context("reading an RTP address")?;
            let (control, rx) = mpsc::unbounded_channel();
            media::spawn(CallId(placed), rtp, settings.clone(), rx, media_tx.clone());
            live.insert(CallId(placed), Placed { started: Instant::now(), control });
            calls.handle_originate(Instant::now(), &command, addr);
        }
        while let Some(&(at, call)) = hangups.front() {
            if at > now {
                break;
            }
            hangups.pop_front();
            calls.handle_command(now, &Command::Hangup { call });
            hung_up += 1;
            byes.insert(format!("{}-{instance}@ringa", call.get()));
        }
        while let Some(answer) = calls.poll_answer() {
            let Some(p) = live.get(&answer.call) else { continue };
            let at = Instant::now();
            tally.setup_ms.push(at.duration_since(p.started).as_secs_f64() * 1000.0);
            last_answer = at;
            let customer =
                SessionDescription::parse(&answer.sdp).and_then(|s| sdp::accept_answer(&s));
            if let Ok(customer) = customer {
                let _ = p.control.send(MediaControl::Answered { customer, amd: None });
            }
            hangups.push_back((at + hold, answer.call));
        }
        while let Some(input) = calls.poll_input() {
            if let Input::Call { event, .. } = input {
                match event {
                    CallEvent::Answered { .. } => tally.answered += 1,
                    CallEvent::Failed { result, sip_code } => {
                        let key = format!("{result:?} {}", sip_code.unwrap_or(0));
                        *tally.failed.entry(key).or_default() += 1;
                    }
                    CallEvent::HungUp { .. } => tally.remote_hangups += 1,
                    _ => {}
                }
            }
        }
        while let Some(call) = calls.poll_ended() {
            if let Some(p) = live.remove(&call) {
                let _ = p.control.send(MediaControl::Stop);
            }
        }
        while let Some(d) = calls.poll_transmit() {
            if let Some(method) = ["INVITE", "BYE", "CANCEL"]
                .into_iter()
                .find(|m| d.strip_prefix(m.as_bytes()).is_some_and(|r| r.starts_with(b" ")))
            {
                *sent.entry(method).or_default() += 1;
            }
            socket.send_to(&d, trunk.address).await.context("sending to SIPp")?;
        }
        while media_rx.try_recv().is_ok() {}
        peak_live = peak_live.max(calls.active());

        let done = placed == total && live.is_empty() && hangups.is_empty();
        if (done && byes.is_empty()) || now >= give_up {
            break;
        }
        let next_call = (placed < total).then(|| start + period.mul_f64(placed as f64));
        let next = [next_call, hangups.front().map(|h| h.0), calls.poll_timeout()]
            .into_iter()
            .flatten()
            .chain([now + Duration::from_millis(100)])
            .min()
            .unwrap_or(now);
        tokio::select! {
            received = socket.recv_from(&mut buf) => {
                let (n, _) = received.context("receiving SIP")?;
                let Ok(m) = SipMessage::parse(&buf[..n]) else { continue };
                // The 200 to our BYE (the first, if the BYE was retransmitted): the dialog is
                // over on SIPp's side too.
                if is_bye_ok(&m) && m.header("Call-ID").is_some_and(|id| byes.remove(id)) {
                    tally.byes_answered += 1;
                }
                calls.handle_message(Instant::now(), &m);
            }
            () = tokio::time::sleep_until(next.into()) => calls.handle_timeout(Instant::now()),
        }
    }
    let elapsed = start.elapsed();
    let cpu = process_cpu().saturating_sub(cpu_before);
    let sipp_cpu = pid_cpu(sipp.pid()).saturating_sub(sipp_cpu_before);
    // SIPp ends once its last call has sat out the scenario's closing pause.
    let status = sipp.wait(Duration::from_secs(5) + UAS_LINGER).await;
    let unfinished = live.len() as u64;
    let failed: u64 = tally.failed.values().sum::<u64>() + unfinished;
    let ok = tally.byes_answered.min(tally.answered);
    let window = last_answer.duration_since(start).as_secs_f64().max(1e-3);
    tally.setup_ms.sort_by(f64::total_cmp);
    let memory = memory_kib("self");
    Ok(json!({
        "offered_cps": config.cps,
        "calls": placed,
        "answered": tally.answered,
        "completed": ok,
        "failed": failed,
        "failures": tally.failed,
        "unfinished": unfinished,
        "remote_hangups": tally.remote_hangups,
        "failure_share": 1.0 - ok as f64 / placed.max(1) as f64,
        "answered_per_second": tally.answered as f64 / window,
        "setup_ms_p50": percentile(&tally.setup_ms, 0.5),
        "setup_ms_p99": percentile(&tally.setup_ms, 0.99),
        "setup_ms_max": tally.setup_ms.last().copied().unwrap_or(0.0),
        "peak_calls": peak_live,
        "seconds": elapsed.as_secs_f64(),
        "ringa_cpu_share": cpu.as_secs_f64() / elapsed.as_secs_f64(),
        "sipp_cpu_share": sipp_cpu.as_secs_f64() / elapsed.as_secs_f64(),
        "rss_kib": memory.0,
        "rss_peak_kib": memory.1,
        "sipp_exit": status.map(|s| s.code().unwrap_or(-1)),
        "udp_receive_drops": udp_receive_drops().saturating_sub(drops_before),
        "sip_receive_buffer": buffers.receive,
        "invite_retransmissions": sent.get("INVITE").copied().unwrap_or(0).saturating_sub(placed),
        "bye_retransmissions": sent.get("BYE").copied().unwrap_or(0).saturating_sub(hung_up),
        "cancels_sent": sent.get("CANCEL").copied().unwrap_or(0),
    }))
}

fn is_bye_ok(m: &SipMessage) -> bool {
    m.code() == Some(200) && m.cseq().is_some_and(|(_, method)| method == "BYE")
}

fn print_setup(f: &serde_json::Value) {
    println!("call setup: ringa's trunk calls to a SIPp UAS (180, 200 + SDP), BYE from ringa");
    println!(
        "  offered {} calls/s, {} calls: {} answered, {} completed with BYE answered, \
         {} failed ({:.2}%) {}",
        f["offered_cps"],
        f["calls"],
        f["answered"],
        f["completed"],
        f["failed"],
        f["failure_share"].as_f64().unwrap_or(1.0) * 100.0,
        f["failures"]
    );
    println!(
        "  answered {:.1} calls/s; INVITE to 200 OK p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; \
         {} calls up at once at most",
        f["answered_per_second"].as_f64().unwrap_or(0.0),
        f["setup_ms_p50"].as_f64().unwrap_or(0.0),
        f["setup_ms_p99"].as_f64().unwrap_or(0.0),
        f["setup_ms_max"].as_f64().unwrap_or(0.0),
        f["peak_calls"]
    );
    println!(
        "  ringa CPU {:.1}% of one core, RSS {} KiB (peak {} KiB); SIPp CPU {:.1}%, exit {}; \
         UDP datagrams dropped on full receive buffers (whole machine) {}",
        f["ringa_cpu_share"].as_f64().unwrap_or(0.0) * 100.0,
        f["rss_kib"],
        f["rss_peak_kib"],
        f["sipp_cpu_share"].as_f64().unwrap_or(0.0) * 100.0,
        f["sipp_exit"],
        f["udp_receive_drops"]
    );
    println!(
        "  retransmitted: {} INVITE, {} BYE; {} CANCEL sent; SIP socket receive buffer {} bytes",
        f["invite_retransmissions"],
        f["bye_retransmissions"],
        f["cancels_sent"],
        f["sip_receive_buffer"]
    );
}

/// The value at quantile `q` of sorted `values` (0 when empty).
pub(crate) fn percentile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let i = ((values.len() - 1) as f64 * q).round() as usize;
    values[i.min(values.len() - 1)]
}

/// Datagrams the kernel dropped on full UDP receive buffers, machine-wide (`RcvbufErrors`).
pub(crate) fn udp_receive_drops() -> u64 {
    let snmp = std::fs::read_to_string("/proc/net/snmp").unwrap_or_default();
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (udp.next(), udp.next()) else { return 0 };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(name, _)| *name == "RcvbufErrors")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0)
}

/// The 1, 5 and 15 minute load averages.
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Kernel clock ticks per second for `/proc` CPU times (USER_HZ, 100 on Linux).
const TICKS: f64 = 100.0;

/// User plus system CPU time from a `/proc/.../stat` line.
fn stat_cpu(stat: &str) -> Duration {
    // Fields after the command name (which may hold spaces): utime is the 12th, stime 13th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    Duration::from_secs_f64((ticks(11) + ticks(12)) as f64 / TICKS)
}

/// CPU time of this whole process.
pub(crate) fn process_cpu() -> Duration {
    std::fs::read_to_string("/proc/self/stat").map(|s| stat_cpu(&s)).unwrap_or_default()
}

/// CPU time of another process of ours.
fn pid_cpu(pid: u32) -> Duration {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map(|s| stat_cpu(&s)).unwrap_or_default()
}

/// CPU time of the calling thread.
pub(crate) fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/stat").map(|s| stat_cpu(&s)).unwrap_or_default()
}

/// Resident memory now and at its peak, KiB, of `/proc/<who>`.
pub(crate) fn memory_kib(who: &str) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{who}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}
