//! The media of one live customer call, as a tokio task: it owns the call's RTP socket from
//! the INVITE on, ignores early media, feeds the answering-machine detector from the answer
//! on, records the call, plays prompts, and once an agent leg is attached relays RTP between
//! the two legs through the sans-IO [`Relay`]. It watches both legs for media inactivity so
//! that a call whose BYE was lost ends.
//!
//! The driver talks to the task with [`MediaControl`] and hears back [`MediaEvent`]s on a
//! channel shared by all calls. The recorder writes through a buffered file from the task;
//! at 8 kHz stereo that is 32 kB per second of call.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ringa_amd::{AmdConfig, AmdDetector, Detector, Route, Verdict};
use ringa_core::CallId;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};

use crate::prompt::{FRAME, Prompt};
use crate::record::StereoRecorder;
use crate::relay::{LegMedia, Relay, Relayed, Side, StreamRewriter, local_audio};
use crate::rtp::RtpPacket;
use crate::sdp::Negotiated;

/// What the driver tells a call's media task.
#[derive(Debug)]
pub enum MediaControl {
    /// The customer answered with this media; run detection with `amd` if given.
    Answered {
        /// The customer leg's negotiated media.
        customer: Negotiated,
        /// The detector settings, when the call wants detection.
        amd: Option<AmdConfig>,
    },
    /// An agent leg answered: relay between it and the customer from now on.
    Bridge {
        /// The agent leg's RTP socket (the one its SDP offer named).
        socket: UdpSocket,
        /// The agent leg's negotiated media.
        agent: Negotiated,
    },
    /// An agent's nailed-up leg is lent to this call: relay between it and the customer
    /// until the call ends or [`MediaControl::Unbridge`], then give the leg back.
    BridgeNailed {
        /// The leg's socket, its media and our stream on it.
        lease: NailedLease,
    },
    /// The agent leg ended: stop relaying (the customer hears nothing).
    Unbridge,
    /// The customer's re-INVITE or UPDATE renegotiated its media: address and law from now
    /// on.
    CustomerMoved {
        /// The media agreed in the new offer and answer.
        media: Negotiated,
    },
    /// The agent phone's re-INVITE or UPDATE renegotiated its media.
    AgentMoved {
        /// The media agreed in the new offer and answer.
        media: Negotiated,
    },
    /// Play a prompt to the customer, at once or (`at_cue`) when the detector says the
    /// greeting and beep are over; [`MediaEvent::Played`] follows.
    Play {
        /// The audio.
        prompt: Arc<Prompt>,
        /// Wait for the detector's message cue first.
        at_cue: bool,
    },
    /// End the task (the call is over).
    Stop,
}

/// Why the media of a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaEnd {
    /// The driver stopped it.
    Stopped,
    /// A leg sent no RTP for the inactivity timeout.
    Inactive(Side),
}

/// What a call's media task reports.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaEvent {
    /// The detector decided.
    Verdict {
        /// The call.
        call: CallId,
        /// The verdict.
        verdict: Verdict,
        /// Where the campaign's settings send the call.
        route: Route,
    },
    /// A prompt finished playing.
    Played {
        /// The call.
        call: CallId,
    },
    /// A leg fell silent past the timeout (a lost BYE): the call must end.
    Inactive {
        /// The call.
        call: CallId,
        /// The silent leg.
        side: Side,
    },
    /// The task ended.
    Ended {
        /// The call.
        call: CallId,
        /// Why.
        end: MediaEnd,
        /// What was heard and recorded.
        report: MediaReport,
    },
}

/// Counters and the recording of one call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MediaReport {
    /// The WAV file (customer left, agent right), when recording.
    pub recording: Option<PathBuf>,
    /// Stereo frames written to it.
    pub frames: u64,
    /// Customer RTP packets received after the answer.
    pub customer_packets: u64,
    /// Agent RTP packets received while bridged.
    pub agent_packets: u64,
    /// Packets received before the answer (early media, never fed to detection).
    pub early_packets: u64,
    /// Datagrams that were not RTP.
    pub malformed: u64,
    /// Milliseconds of customer audio fed to the detector.
    pub detector_ms: u32,
    /// The detector's verdict, if it ran.
    pub verdict: Option<Verdict>,
}

/// Settings shared by every call's media.
#[derive(Debug, Clone)]
pub struct MediaSettings {
    /// Where to write one WAV per answered call, if anywhere.
    pub recordings: Option<PathBuf>,
    /// A name unique to this run of the driver, in every recording's file name: call ids
    /// start again at each start, and a recording is never overwritten.
    pub run: String,
    /// A leg silent this long after the answer ends the call.
    pub inactivity: Duration,
}

/// An agent's nailed-up leg, lent to one customer call: the socket (shared with the
/// leg's own task, which stops reading it while lent), what the phone negotiated, and our
/// outgoing stream on the leg, which goes back through `back` when the bridge ends so that
/// the phone sees one continuous stream all shift.
#[derive(Debug)]
pub struct NailedLease {
    /// The leg's RTP socket.
    pub socket: Arc<UdpSocket>,
    /// The phone's negotiated media.
    pub agent: Negotiated,
    /// Our stream on the leg.
    pub stream: StreamRewriter,
    /// Where the stream goes back when the bridge ends.
    pub back: oneshot::Sender<StreamRewriter>,
}

/// The pieces of a running bridge.
struct Bridged {
    socket: Arc<UdpSocket>,
    relay: Relay,
    /// For a lent nailed-up leg: where its stream goes back (on drop, whatever ends it).
    back: Option<oneshot::Sender<StreamRewriter>>,
}

impl Drop for Bridged {
    fn drop(&mut self) {
        if let Some(back) = self.back.take() {
            // The leg's task may be gone (the phone hung up): nothing to give back then.
            let _ = back.send(self.relay.leg(Side::Agent).stream.clone());
        }
    }
}

/// A prompt being played.
struct Playing {
    prompt: Arc<Prompt>,
    next_frame: usize,
    at_cue: bool,
}

/// Starts the media task of `call` on `socket`.
pub fn spawn(
    call: CallId,
    socket: UdpSocket,
    settings: MediaSettings,
    control: mpsc::UnboundedReceiver<MediaControl>,
    events: mpsc::UnboundedSender<MediaEvent>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut task = Task::new(call, settings, events.clone());
        let end = task.run(socket, control).await;
        let report = task.finish();
        let _ = events.send(MediaEvent::Ended { call, end, report });
    })
}

/// The file a call of run `run` answered with recording on is written to, in the recordings
/// directory.
pub fn recording_path(dir: &Path, run: &str, call: CallId) -> PathBuf {
    dir.join(format!("call-{run}-{}.wav", call.get()))
}

struct Task {
    call: CallId,
    settings: MediaSettings,
    events: mpsc::UnboundedSender<MediaEvent>,
    customer: Option<Negotiated>,
    customer_stream: StreamRewriter,
    detector: Option<Detector>,
    verdict_sent: bool,
    recorder: Option<StereoRecorder>,
    recording: Option<PathBuf>,
    bridge: Option<Bridged>,
    playing: Option<Playing>,
    last_customer: Instant,
    last_agent: Instant,
    report: MediaReport,
    samples: Vec<i16>,
}

impl Task {
    fn new(
        call: CallId,
        settings: MediaSettings,
        events: mpsc::UnboundedSender<MediaEvent>,
    ) -> Task {
        let seed = (call.get() as u32).wrapping_mul(2_654_435_761);
        Task {
            call,
            settings,
            events,
            customer: None,
            customer_stream: StreamRewriter::new(seed | 1, (seed >> 16) as u16, seed),
            detector: None,
            verdict_sent: false,
            recorder: None,
            recording: None,
            bridge: None,
            playing: None,
            last_customer: Instant::now(),
            last_agent: Instant::now(),
            report: MediaReport::default(),
            samples: Vec::with_capacity(FRAME),
        }
    }

    async fn run(
        &mut self,
        customer: UdpSocket,
        mut control: mpsc::UnboundedReceiver<MediaControl>,
    ) -> MediaEnd {
        let mut buf = [0u8; 2048];
        let mut agent_buf = [0u8; 2048];
        let mut clock = tokio::time::interval(Duration::from_millis(20));
        clock.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let agent_socket = self.bridge.as_ref().map(|b| &*b.socket);
            tokio::select! {
                received = customer.recv_from(&mut buf) => {
                    if let Ok((n, _)) = received {
                        let d = buf.get(..n).unwrap_or_default().to_vec();
                        self.on_customer(&d).await;
                    }
                }
                received = recv_opt(agent_socket, &mut agent_buf) => {
                    if let Some(Ok((n, _))) = received {
                        let d = agent_buf.get(..n).unwrap_or_default().to_vec();
                        self.on_agent(&customer, &d).await;
                    }
                }
                msg = control.recv() => match msg {
                    None | Some(MediaControl::Stop) => return MediaEnd::Stopped,
                    Some(m) => self.on_control(m),
                },
                _ = clock.tick() => {
                    self.play_frame(&customer).await;
                    if let Some(side) = self.inactive() {
                        let _ = self.events.send(MediaEvent::Inactive { call: self.call, side });
                        return MediaEnd::Inactive(side);
                    }
                }
            }
        }
    }

    fn on_control(&mut self, m: MediaControl) {
        match m {
            MediaControl::Answered { customer, amd } => {
                // Timers start here, at the 200 OK: early media never reached the detector.
                self.customer = Some(customer);
                self.last_customer = Instant::now();
                self.detector = amd.map(Detector::new);
                self.open_recording();
            }
            MediaControl::Bridge { socket, agent } => {
                let seed = (self.call.get() as u32).wrapping_mul(40_503);
                let stream = StreamRewriter::new(seed | 2, (seed >> 8) as u16, seed);
                self.bridge_to(Arc::new(socket), agent, stream, None);
            }
            MediaControl::BridgeNailed { lease } => {
                self.bridge_to(lease.socket, lease.agent, lease.stream, Some(lease.back));
            }
            MediaControl::Unbridge => self.unbridge(),
            MediaControl::CustomerMoved { media } => {
                let Some(customer) = self.customer.as_mut() else { return };
                tracing::debug!(call = %self.call, codec = ?media.codec, "customer media moved");
                *customer = media;
                if let Some(b) = self.bridge.as_mut() {
                    b.relay.set_media(Side::Customer, media);
                }
            }
            MediaControl::AgentMoved { media } => {
                if let Some(b) = self.bridge.as_mut() {
                    tracing::debug!(call = %self.call, codec = ?media.codec, "agent media moved");
                    b.relay.set_media(Side::Agent, media);
                }
            }
            MediaControl::Play { prompt, at_cue } => {
                self.playing = Some(Playing { prompt, next_frame: 0, at_cue });
            }
            MediaControl::Stop => {}
        }
    }

    fn bridge_to(
        &mut self,
        socket: Arc<UdpSocket>,
        agent: Negotiated,
        stream: StreamRewriter,
        back: Option<oneshot::Sender<StreamRewriter>>,
    ) {
        let Some(customer) = self.customer else {
            // Not answered: a lent leg goes straight back.
            if let Some(back) = back {
                let _ = back.send(stream);
            }
            return;
        };
        self.unbridge();
        let agent_leg = LegMedia { negotiated: agent, stream };
        let customer_leg = LegMedia { negotiated: customer, stream: self.customer_stream.clone() };
        let relay = Relay::new(customer_leg, agent_leg);
        self.bridge = Some(Bridged { socket, relay, back });
        self.last_agent = Instant::now();
        self.playing = None;
    }

    fn unbridge(&mut self) {
        if let Some(b) = self.bridge.take() {
            self.customer_stream = b.relay.leg(Side::Customer).stream.clone();
        }
    }

    fn open_recording(&mut self) {
        let Some(dir) = &self.settings.recordings else { return };
        let path = recording_path(dir, &self.settings.run, self.call);
        match StereoRecorder::create(&path) {
            Ok(r) => {
                self.recorder = Some(r);
                self.recording = Some(path);
            }
            Err(e) => tracing::warn!(call = %self.call, error = %e, "cannot record the call"),
        }
    }

    async fn on_customer(&mut self, d: &[u8]) {
        let Some(neg) = self.customer else {
            self.report.early_packets += 1;
            return;
        };
        self.last_customer = Instant::now();
        if let Some(b) = self.bridge.as_mut() {
            match b.relay.handle_datagram(Side::Customer, d) {
                Ok(Relayed::Audio { samples, datagram }) => {
                    self.report.customer_packets += 1;
                    let target = b.relay.leg(Side::Agent).negotiated.remote;
                    let _ = b.socket.send_to(&datagram, target).await;
                    self.hear_customer(&samples);
                }
                Ok(Relayed::Event { datagram: Some(out) }) => {
                    let target = b.relay.leg(Side::Agent).negotiated.remote;
                    let _ = b.socket.send_to(&out, target).await;
                }
                Ok(_) => {}
                Err(_) => self.report.malformed += 1,
            }
            return;
        }
        let Ok(packet) = RtpPacket::parse(d) else {
            self.report.malformed += 1;
            return;
        };
        if packet.payload_type != neg.payload_type {
            return;
        }
        self.report.customer_packets += 1;
        let mut samples = std::mem::take(&mut self.samples);
        samples.clear();
        neg.codec.decode_into(packet.payload, &mut samples);
        self.hear_customer(&samples);
        self.samples = samples;
    }

    /// Customer audio after the answer: to the detector and the recording.
    fn hear_customer(&mut self, samples: &[i16]) {
        if let Some(rec) = self.recorder.as_mut() {
            if let Err(e) = rec.push_customer(samples) {
                tracing::warn!(call = %self.call, error = %e, "recording stopped");
                self.recorder = None;
            }
            // The agent side advances with silence while no agent is bridged.
            if self.bridge.is_none()
                && let Some(rec) = self.recorder.as_mut()
            {
                let _ = rec.push_agent(&vec![0; samples.len()]);
            }
        }
        let Some(det) = self.detector.as_mut() else { return };
        if det.wants_audio() {
            det.handle_audio(samples);
        }
        if !self.verdict_sent
            && let Some(v) = det.poll_verdict()
        {
            self.verdict_sent = true;
            let route = det.config().route(v);
            tracing::info!(call = %self.call, class = %v.class, at_ms = v.at_ms, ?route, "amd");
            let _ = self.events.send(MediaEvent::Verdict {
                call: self.call,
                verdict: v.clone(),
                route,
            });
        }
    }

    async fn on_agent(&mut self, customer: &UdpSocket, d: &[u8]) {
        let Some(b) = self.bridge.as_mut() else { return };
        self.last_agent = Instant::now();
        let target = b.relay.leg(Side::Customer).negotiated.remote;
        match b.relay.handle_datagram(Side::Agent, d) {
            Ok(Relayed::Audio { samples, datagram }) => {
                self.report.agent_packets += 1;
                let _ = customer.send_to(&datagram, target).await;
                if let Some(rec) = self.recorder.as_mut()
                    && rec.push_agent(&samples).is_err()
                {
                    self.recorder = None;
                }
            }
            Ok(Relayed::Event { datagram: Some(out) }) => {
                let _ = customer.send_to(&out, target).await;
            }
            Ok(_) => {}
            Err(_) => self.report.malformed += 1,
        }
    }

    /// Sends the next 20 ms of a prompt to the customer, if one is due.
    async fn play_frame(&mut self, customer: &UdpSocket) {
        let Some(neg) = self.customer else { return };
        let Some(p) = self.playing.as_mut() else { return };
        if p.at_cue {
            let cue = self.detector.as_ref().and_then(|d| d.poll_message_cue());
            let listening = self.detector.as_ref().is_some_and(|d| d.wants_audio());
            if cue.is_none() && listening {
                return;
            }
            p.at_cue = false;
        }
        let start = p.next_frame * FRAME;
        let Some(frame) = p.prompt.samples().get(start..) else { return };
        if frame.is_empty() {
            self.playing = None;
            let _ = self.events.send(MediaEvent::Played { call: self.call });
            return;
        }
        let frame = &frame[..frame.len().min(FRAME)];
        let source_ts = u32::try_from(start).unwrap_or(0);
        let datagram = local_audio(&mut self.customer_stream, &neg, 0x5052_4f4d, source_ts, frame);
        p.next_frame += 1;
        let _ = customer.send_to(&datagram, neg.remote).await;
    }

    fn inactive(&self) -> Option<Side> {
        self.customer?;
        let limit = self.settings.inactivity;
        if self.last_customer.elapsed() >= limit {
            return Some(Side::Customer);
        }
        if self.bridge.is_some() && self.last_agent.elapsed() >= limit {
            return Some(Side::Agent);
        }
        None
    }

    fn finish(&mut self) -> MediaReport {
        if let Some(rec) = self.recorder.take() {
            match rec.finish() {
                Ok(frames) => self.report.frames = frames,
                Err(e) => tracing::warn!(call = %self.call, error = %e, "recording not closed"),
            }
        }
        self.report.recording = self.recording.clone();
        if let Some(det) = &self.detector {
            self.report.detector_ms = det.elapsed_ms();
            self.report.verdict = det.poll_verdict().cloned();
        }
        std::mem::take(&mut self.report)
    }
}

/// Receives on `socket` when there is one; never completes otherwise.
async fn recv_opt(
    socket: Option<&UdpSocket>,
    buf: &mut [u8],
) -> Option<std::io::Result<(usize, SocketAddr)>> {
    match socket {
        Some(s) => Some(s.recv_from(buf).await),
        None => std::future::pending().await,
    }
}
