//! `ringa bench sip`, bridged calls: many calls up at once, each with the driver's own media
//! task (`ringa_sip::media`) answered and bridged exactly as the driver does it, so every
//! packet goes through the production relay (restamping, transcoding check) and the stereo
//! recorder. An RTP peer on its own thread and runtime plays both phones of every call: it
//! sends 20 ms PCMU packets on the customer and the agent leg, stamped with their send time,
//! and times each relayed packet it gets back (relay latency, inter-arrival gaps, RFC 3550
//! jitter). ringa's CPU is the process's minus the peer thread's.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ringa_core::CallId;
use ringa_sip::g711::Codec;
use ringa_sip::media::{self, MediaControl, MediaEvent, MediaSettings};
use ringa_sip::rtp::RtpPacket;
use ringa_sip::sdp::{self, Direction, Negotiated, SessionDescription};
use serde_json::json;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use super::bench_sip::{
    LOOPBACK, load_average, memory_kib, percentile, process_cpu, thread_cpu, udp_receive_drops,
};

/// The RTP peer's thread name.
const PEER_THREAD: &str = "rtp-peer";

/// One packet: 20 ms of 8 kHz audio.
const FRAME: Duration = Duration::from_millis(20);

#[derive(Debug, Clone, Copy)]
pub(crate) struct BridgeConfig {
    pub(crate) calls: usize,
    pub(crate) seconds: f64,
    pub(crate) late_ms: f64,
}

/// The two phones of one call, as the peer sees them.
struct Phones {
    /// The customer's phone and the ringa socket it sends to.
    customer: (std::net::UdpSocket, SocketAddr),
    /// The agent's phone and the ringa socket it sends to.
    agent: (std::net::UdpSocket, SocketAddr),
}

/// What one phone saw of the stream relayed to it, and how its own sending went.
#[derive(Debug, Default)]
struct StreamStats {
    sent: u64,
    received: u64,
    late: u64,
    gaps: u64,
    max_gap_us: u64,
    jitter_us: f64,
    latencies_us: Vec<u32>,
    send_lag_max_us: u64,
    sends_late: u64,
}

/// The SDP answer a phone at `addr` would give, read the way the driver reads answers.
fn negotiated(addr: SocketAddr) -> Result<Negotiated> {
    let body = sdp::write_sdp(1, 1, addr, &[(Codec::Pcmu, 0)], Some(101), Direction::SendRecv);
    let parsed = SessionDescription::parse(&body).context("parsing a phone's SDP")?;
    sdp::accept_answer(&parsed).context("accepting a phone's SDP")
}

fn phone_socket() -> Result<std::net::UdpSocket> {
    let s = std::net::UdpSocket::bind((LOOPBACK, 0)).context("binding a phone socket")?;
    s.set_nonblocking(true).context("making a phone socket non-blocking")?;
    Ok(s)
}

pub(crate) async fn bridge_bench(config: BridgeConfig) -> Result<serde_json::Value> {
    let dir = tempfile::tempdir().context("a temporary directory for recordings")?;
    let rss_idle = memory_kib("self").0;
    let settings = MediaSettings {
        recordings: Some(dir.path().to_path_buf()),
        inactivity: Duration::from_secs(5),
        run: "bench".to_string(),
    };
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let mut controls = Vec::with_capacity(config.calls);
    let mut phones = Vec::with_capacity(config.calls);
    for i in 0..config.calls {
        // As the driver: the customer's RTP socket, its media task, the answer, then the
        // agent leg's socket handed over when the agent's phone answers.
        let call = CallId(i as u64 + 1);
        let customer = UdpSocket::bind((LOOPBACK, 0)).await.context("binding RTP")?;
        let agent = UdpSocket::bind((LOOPBACK, 0)).await.context("binding RTP")?;
        let (customer_at, agent_at) = (customer.local_addr()?, agent.local_addr()?);
        let (customer_phone, agent_phone) = (phone_socket()?, phone_socket()?);
        let (control, rx) = mpsc::unbounded_channel();
        media::spawn(call, customer, settings.clone(), rx, events_tx.clone());
        let customer_media = negotiated(customer_phone.local_addr()?)?;
        let agent_media = negotiated(agent_phone.local_addr()?)?;
        let _ = control.send(MediaControl::Answered { customer: customer_media, amd: None });
        let _ = control.send(MediaControl::Bridge { socket: agent, agent: agent_media });
        controls.push(control);
        phones.push(Phones {
            customer: (customer_phone, customer_at),
            agent: (agent_phone, agent_at),
        });
    }
    let rss_bridged = memory_kib("self").0;

    let packets = (config.seconds * 50.0).round().max(1.0) as u64;
    let late_us = (config.late_ms * 1000.0) as u64;
    let (report_tx, report_rx) = oneshot::channel();
    let load_start = load_average();
    let cpu_start = process_cpu();
    let drops_start = udp_receive_drops();
    let started = Instant::now();
    std::thread::Builder::new()
        .name(PEER_THREAD.into())
        .spawn(move || {
            let result = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("the RTP peer's runtime")
                .and_then(|rt| rt.block_on(peer(phones, packets, late_us)));
            // The thread's own CPU time, read before it exits.
            let _ = report_tx.send(result.map(|streams| (streams, thread_cpu())));
        })
        .context("starting the RTP peer thread")?;

    // Resident memory while the calls run, sampled once a second.
    let mut rss_running = 0;
    let mut report_rx = report_rx;
    let (streams, peer_cpu) = loop {
        tokio::select! {
            report = &mut report_rx => break report.context("the RTP peer stopped")??,
            () = tokio::time::sleep(Duration::from_secs(1)) => {
                rss_running = rss_running.max(memory_kib("self").0);
            }
        }
    };
    let elapsed = started.elapsed().as_secs_f64();
    let peer_cpu = peer_cpu.as_secs_f64();
    let process = process_cpu().saturating_sub(cpu_start).as_secs_f64();
    let load_end = load_average();
    let drops = udp_receive_drops().saturating_sub(drops_start);

    for control in &controls {
        let _ = control.send(MediaControl::Stop);
    }
    let mut ended = 0;
    let mut inactive = 0;
    let mut frames = Vec::new();
    let mut relayed = 0u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while ended < config.calls {
        let Ok(Some(event)) = tokio::time::timeout_at(deadline, events.recv()).await else { break };
        match event {
            MediaEvent::Ended { report, .. } => {
                ended += 1;
                relayed += report.customer_packets + report.agent_packets;
                if report.recording.as_ref().is_some_and(|p| p.exists()) {
                    frames.push(report.frames);
                }
            }
            MediaEvent::Inactive { .. } => inactive += 1,
            _ => {}
        }
    }
    let recorded_bytes: u64 = std::fs::read_dir(dir.path())
        .map(|d| d.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
        .unwrap_or(0);
    frames.sort_unstable();
    let figures = summarize(&streams, config, packets);
    let mut out = figures;
    let extra = json!({
        "recordings": frames.len(),
        "recording_frames_min": frames.first().copied().unwrap_or(0),
        "recording_frames_max": frames.last().copied().unwrap_or(0),
        "recorded_mb": recorded_bytes as f64 / 1e6,
        "relayed_by_ringa": relayed,
        "media_tasks_ended": ended,
        "inactivity_ends": inactive,
        "seconds": elapsed,
        "ringa_cpu_share": (process - peer_cpu) / elapsed,
        "peer_cpu_share": peer_cpu / elapsed,
        "rss_idle_kib": rss_idle,
        "rss_bridged_kib": rss_bridged,
        "rss_running_kib": rss_running,
        "rss_peak_kib": memory_kib("self").1,
        "load_start": load_start,
        "load_end": load_end,
        "udp_receive_drops": drops,
    });
    if let (Some(o), serde_json::Value::Object(e)) = (out.as_object_mut(), extra) {
        o.extend(e);
    }
    Ok(out)
}

fn summarize(streams: &[StreamStats], config: BridgeConfig, packets: u64) -> serde_json::Value {
    let sent: u64 = streams.iter().map(|s| s.sent).sum();
    let received: u64 = streams.iter().map(|s| s.received).sum();
    let late: u64 = streams.iter().map(|s| s.late).sum();
    let gaps: u64 = streams.iter().map(|s| s.gaps).sum();
    let mut latencies: Vec<f64> = streams
        .iter()
        .flat_map(|s| s.latencies_us.iter().map(|&l| f64::from(l) / 1000.0))
        .collect();
    latencies.sort_by(f64::total_cmp);
    let jitters: Vec<f64> = streams.iter().map(|s| s.jitter_us / 1000.0).collect();
    let calls_with_late = streams.chunks(2).filter(|c| c.iter().any(|s| s.late > 0)).count();
    json!({
        "calls": config.calls,
        "packets_per_leg": packets,
        "late_ms": config.late_ms,
        "packets_sent": sent,
        "packets_received": received,
        "packets_lost": sent.saturating_sub(received),
        "late_packets": late,
        "late_share": late as f64 / received.max(1) as f64,
        "calls_with_late_packets": calls_with_late,
        "latency_ms_p50": percentile(&latencies, 0.5),
        "latency_ms_p99": percentile(&latencies, 0.99),
        "latency_ms_p999": percentile(&latencies, 0.999),
        "latency_ms_max": latencies.last().copied().unwrap_or(0.0),
        "gaps_over_frame_plus_late": gaps,
        "max_gap_ms": streams.iter().map(|s| s.max_gap_us).max().unwrap_or(0) as f64 / 1000.0,
        "jitter_ms_mean": jitters.iter().sum::<f64>() / jitters.len().max(1) as f64,
        "jitter_ms_max": jitters.iter().copied().fold(0.0, f64::max),
        "peer_send_lag_ms_max":
            streams.iter().map(|s| s.send_lag_max_us).max().unwrap_or(0) as f64 / 1000.0,
        "peer_sends_late": streams.iter().map(|s| s.sends_late).sum::<u64>(),
    })
}

/// Runs both phones of every call; returns the stats of each phone, customer then agent,
/// and the peer thread's CPU time.
async fn peer(phones: Vec<Phones>, packets: u64, late_us: u64) -> Result<Vec<StreamStats>> {
    let epoch = Instant::now();
    let first = epoch + Duration::from_millis(200);
    let end = first + FRAME * (packets as u32) + Duration::from_millis(500);
    let n = phones.len().max(1);
    // Calls start spread over one frame (a slot per millisecond), the agent leg half a frame
    // after its customer; one sender task per slot keeps the peer's own wakeups few.
    let slots = FRAME.as_millis() as usize;
    let mut groups: Vec<Vec<(usize, Arc<UdpSocket>, SocketAddr)>> = vec![Vec::new(); slots];
    let mut receivers = Vec::new();
    for (i, p) in phones.into_iter().enumerate() {
        for (j, (socket, to)) in [p.customer, p.agent].into_iter().enumerate() {
            let socket = Arc::new(UdpSocket::from_std(socket).context("a phone socket")?);
            let slot = (i * slots / n + j * slots / 2) % slots;
            groups[slot].push((i * 2 + j, socket.clone(), to));
            receivers.push(tokio::spawn(receive(socket, epoch, end, late_us)));
        }
    }
    let senders: Vec<_> = groups
        .into_iter()
        .enumerate()
        .map(|(slot, group)| {
            let start = first + Duration::from_millis(slot as u64);
            tokio::spawn(send(group, start, packets, late_us, epoch))
        })
        .collect();
    let mut out = Vec::with_capacity(receivers.len());
    for r in receivers {
        out.push(r.await.context("a phone task")?);
    }
    for s in senders {
        for (stream, sent, lag_max, late) in s.await.context("a sender task")? {
            if let Some(stats) = out.get_mut(stream) {
                stats.sent = sent;
                stats.send_lag_max_us = lag_max;
                stats.sends_late = late;
            }
        }
    }
    Ok(out)
}

/// Sends 20 ms PCMU packets on every phone of one slot, stamped with their send time;
/// returns per stream: packets sent, the largest lag behind schedule, sends late.
async fn send(
    group: Vec<(usize, Arc<UdpSocket>, SocketAddr)>,
    start: Instant,
    packets: u64,
    late_us: u64,
    epoch: Instant,
) -> Vec<(usize, u64, u64, u64)> {
    let mut audio = Vec::with_capacity(160);
    let tone: Vec<i16> = (0..160)
        .map(|i| ((f64::from(i) * std::f64::consts::TAU / 20.0).sin() * 6000.0) as i16)
        .collect();
    Codec::Pcmu.encode_into(&tone, &mut audio);
    let mut tally: Vec<(usize, u64, u64, u64)> =
        group.iter().map(|(stream, ..)| (*stream, 0, 0, 0)).collect();
    let mut datagram = Vec::with_capacity(200);
    for k in 0..packets {
        let due = start + FRAME * (k as u32);
        tokio::time::sleep_until(due.into()).await;
        for ((stream, socket, to), t) in group.iter().zip(tally.iter_mut()) {
            let now = Instant::now();
            let lag = now.duration_since(due).as_micros() as u64;
            t.2 = t.2.max(lag);
            t.3 += u64::from(lag > late_us);
            let sent_us = now.duration_since(epoch).as_micros() as u64;
            audio[..8].copy_from_slice(&sent_us.to_be_bytes());
            let packet = RtpPacket {
                marker: k == 0,
                payload_type: 0,
                sequence: k as u16,
                timestamp: (k as u32).wrapping_mul(160),
                ssrc: *stream as u32,
                payload: &audio,
            };
            datagram.clear();
            packet.write(&mut datagram);
            if socket.send_to(&datagram, *to).await.is_ok() {
                t.1 += 1;
            }
        }
    }
    tally
}

/// Times every relayed packet one phone receives until `end`.
async fn receive(
    socket: Arc<UdpSocket>,
    epoch: Instant,
    end: Instant,
    late_us: u64,
) -> StreamStats {
    let mut stats = StreamStats::default();
    let mut buf = [0u8; 2048];
    let mut last: Option<(Instant, u64)> = None;
    let deadline = tokio::time::sleep_until(end.into());
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            received = socket.recv_from(&mut buf) => {
                if let Ok((n, _)) = received {
                    arrival(&buf[..n], epoch, late_us, &mut stats, &mut last);
                }
            }
            () = &mut deadline => return stats,
        }
    }
}

fn arrival(
    datagram: &[u8],
    epoch: Instant,
    late_us: u64,
    stats: &mut StreamStats,
    last: &mut Option<(Instant, u64)>,
) {
    let Ok(packet) = RtpPacket::parse(datagram) else { return };
    let Some(stamp) = packet.payload.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()) else {
        return;
    };
    let now = Instant::now();
    let sent_us = u64::from_be_bytes(stamp);
    let now_us = now.duration_since(epoch).as_micros() as u64;
    let latency = now_us.saturating_sub(sent_us);
    stats.received += 1;
    stats.latencies_us.push(u32::try_from(latency).unwrap_or(u32::MAX));
    stats.late += u64::from(latency > late_us);
    if let Some((at, sent_before)) = *last {
        let gap = now.duration_since(at).as_micros() as u64;
        stats.max_gap_us = stats.max_gap_us.max(gap);
        stats.gaps += u64::from(gap > FRAME.as_micros() as u64 + late_us);
        // RFC 3550 interarrival jitter, with the send times as the media clock.
        let d = gap as f64 - sent_us.saturating_sub(sent_before) as f64;
        stats.jitter_us += (d.abs() - stats.jitter_us) / 16.0;
    }
    *last = Some((now, sent_us));
}

pub(crate) fn print_bridge(f: &serde_json::Value) {
    let num = |k: &str| f[k].as_f64().unwrap_or(0.0);
    println!(
        "bridged calls: {} calls, customer and agent legs, 20 ms PCMU both ways for {:.0} s, \
         a stereo WAV per call (the driver's media task)",
        f["calls"],
        num("packets_per_leg") / 50.0
    );
    println!(
        "  packets sent {}, relayed back {} (lost {}); relay latency p50 {:.2} ms, p99 {:.2} ms, \
         p99.9 {:.2} ms, max {:.2} ms",
        f["packets_sent"],
        f["packets_received"],
        f["packets_lost"],
        num("latency_ms_p50"),
        num("latency_ms_p99"),
        num("latency_ms_p999"),
        num("latency_ms_max")
    );
    println!(
        "  late by > {} ms: {} packets ({:.3}%), in {} calls; inter-arrival gaps > {} ms: {}, \
         max gap {:.1} ms; jitter mean {:.2} ms, max {:.2} ms",
        f["late_ms"],
        f["late_packets"],
        num("late_share") * 100.0,
        f["calls_with_late_packets"],
        20.0 + num("late_ms"),
        f["gaps_over_frame_plus_late"],
        num("max_gap_ms"),
        num("jitter_ms_mean"),
        num("jitter_ms_max")
    );
    println!(
        "  the peer's own sending: max lag {:.1} ms, {} sends late by > {} ms",
        num("peer_send_lag_ms_max"),
        f["peer_sends_late"],
        f["late_ms"]
    );
    println!(
        "  recordings: {} WAV, {} to {} frames each, {:.0} MB; media tasks ended {}, \
         inactivity ends {}; UDP receive-buffer drops (whole machine) {}",
        f["recordings"],
        f["recording_frames_min"],
        f["recording_frames_max"],
        num("recorded_mb"),
        f["media_tasks_ended"],
        f["inactivity_ends"],
        f["udp_receive_drops"]
    );
    println!(
        "  ringa CPU {:.1}% of one core (RTP peer {:.1}%); RSS idle {} KiB, calls set up {} KiB, \
         running {} KiB, process peak {} KiB; load {} → {}",
        num("ringa_cpu_share") * 100.0,
        num("peer_cpu_share") * 100.0,
        f["rss_idle_kib"],
        f["rss_bridged_kib"],
        f["rss_running_kib"],
        f["rss_peak_kib"],
        f["load_start"].as_str().unwrap_or("?"),
        f["load_end"].as_str().unwrap_or("?")
    );
}
