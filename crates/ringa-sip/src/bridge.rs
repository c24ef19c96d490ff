//! Runs the media of one bridged call on two UDP sockets: relays RTP between the customer
//! and agent legs, records both sides, and ends the bridge when either leg falls silent
//! past the inactivity timeout (a BYE that never came) or when asked to stop.

use std::io;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::record::{RecordError, StereoRecorder};
use crate::relay::{Relay, Relayed, Side};
use crate::watchdog::{Expiry, MediaWatchdog};

/// Why a bridge ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeEnd {
    /// The owner asked it to stop (a BYE was exchanged).
    Stopped,
    /// A leg sent no RTP for the inactivity timeout.
    Inactive(Side),
}

/// What went wrong while bridging.
#[derive(Debug)]
pub enum BridgeError {
    /// A socket failed.
    Io(io::Error),
    /// The recording failed.
    Record(RecordError),
}

impl std::fmt::Display for BridgeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BridgeError::Io(e) => write!(f, "media socket: {e}"),
            BridgeError::Record(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for BridgeError {}

/// Counters of one bridge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BridgeStats {
    /// Packets relayed from the customer to the agent.
    pub customer_packets: u64,
    /// Packets relayed from the agent to the customer.
    pub agent_packets: u64,
    /// Datagrams that were not RTP.
    pub malformed: u64,
}

/// Relays until stopped or a leg goes silent for `inactivity`.
pub fn run_bridge(
    customer: &UdpSocket,
    agent: &UdpSocket,
    relay: &mut Relay,
    mut recorder: Option<&mut StereoRecorder>,
    inactivity: Duration,
    stop: &AtomicBool,
) -> Result<(BridgeEnd, BridgeStats), BridgeError> {
    for s in [customer, agent] {
        s.set_read_timeout(Some(Duration::from_millis(5))).map_err(BridgeError::Io)?;
    }
    let start = Instant::now();
    let mut watch =
        [MediaWatchdog::new(start, inactivity, None), MediaWatchdog::new(start, inactivity, None)];
    let mut stats = BridgeStats::default();
    let mut buf = [0u8; 2048];
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok((BridgeEnd::Stopped, stats));
        }
        for (i, side, socket) in [(0, Side::Customer, customer), (1, Side::Agent, agent)] {
            let n = match socket.recv_from(&mut buf) {
                Ok((n, _)) => n,
                Err(e)
                    if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) =>
                {
                    continue;
                }
                Err(e) => return Err(BridgeError::Io(e)),
            };
            let Some(datagram) = buf.get(..n) else { continue };
            let relayed = match relay.handle_datagram(side, datagram) {
                Ok(r) => r,
                Err(_) => {
                    stats.malformed += 1;
                    continue;
                }
            };
            watch[i].handle_media(Instant::now());
            let target = relay.leg(side.other()).negotiated.remote;
            let out_socket = if side == Side::Customer { agent } else { customer };
            let out = match relayed {
                Relayed::Audio { samples, datagram } => {
                    if let Some(rec) = recorder.as_deref_mut() {
                        let pushed = match side {
                            Side::Customer => rec.push_customer(&samples),
                            Side::Agent => rec.push_agent(&samples),
                        };
                        pushed.map_err(BridgeError::Record)?;
                    }
                    Some(datagram)
                }
                Relayed::Event { datagram } => datagram,
                Relayed::Ignored => None,
            };
            if let Some(d) = out {
                out_socket.send_to(&d, target).map_err(BridgeError::Io)?;
                match side {
                    Side::Customer => stats.customer_packets += 1,
                    Side::Agent => stats.agent_packets += 1,
                }
            }
        }
        let now = Instant::now();
        for (i, side) in [(0, Side::Customer), (1, Side::Agent)] {
            if let Some(Expiry::MediaInactive | Expiry::SessionExpired) =
                watch[i].handle_timeout(now)
            {
                return Ok((BridgeEnd::Inactive(side), stats));
            }
        }
    }
}
