//! The media of an agent's nailed-up leg, as a tokio task: the agent's phone stays connected
//! for the whole shift, and between customers the task keeps the leg alive with quiet
//! comfort audio (silence with a soft short tone every few seconds, so the agent hears that
//! the line is up) and discards what the phone sends.
//!
//! When the engine connects a customer, the driver asks the task to lend the leg to that
//! call's media task ([`NailedControl::Lend`]): the task stops reading the socket and hands
//! over the socket and our outgoing stream (a [`NailedLease`]); the customer's audio flows
//! at once, with no new INVITE. When the customer call ends, the stream comes back and the
//! comfort audio resumes on the same SSRC with continuous sequence numbers and timestamps.

use std::sync::Arc;
use std::time::Duration;

use ringa_core::{AgentId, CallId};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::time::MissedTickBehavior;

use crate::media::{MediaControl, NailedLease};
use crate::prompt::FRAME;
use crate::relay::{StreamRewriter, local_audio};
use crate::sdp::Negotiated;

/// What the driver tells a nailed-up leg's task.
#[derive(Debug)]
pub enum NailedControl {
    /// Lend the leg to a customer call's media task.
    Lend {
        /// The customer call (for logs).
        call: CallId,
        /// That call's media task.
        media: mpsc::UnboundedSender<MediaControl>,
    },
    /// The phone renegotiated its media (its re-INVITE or UPDATE): address and law from now
    /// on.
    Moved {
        /// The media agreed in the new offer and answer.
        media: Negotiated,
    },
    /// End the task (the leg is over).
    Stop,
}

/// The source SSRC of our own comfort audio, as the stream rewriter sees it.
const IDLE_SOURCE: u32 = 0x4944_4c45;
/// Frames in one comfort-tone period (4 s), and frames of tone at its start (160 ms).
const TONE_PERIOD: u32 = 200;
const TONE_FRAMES: u32 = 8;

/// Starts the task of `agent`'s nailed-up leg on `socket`, whose phone negotiated `agent_media`.
pub fn spawn(
    agent: AgentId,
    socket: UdpSocket,
    agent_media: Negotiated,
    control: mpsc::UnboundedReceiver<NailedControl>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(agent, Arc::new(socket), agent_media, control))
}

async fn run(
    agent: AgentId,
    socket: Arc<UdpSocket>,
    mut media: Negotiated,
    mut control: mpsc::UnboundedReceiver<NailedControl>,
) {
    // The call the leg is lent to, told when the phone's media moves.
    let mut lent_to: Option<mpsc::UnboundedSender<MediaControl>> = None;
    let seed = (agent.0 as u32).wrapping_mul(2_246_822_519) | 1;
    // Our stream on the leg: here while idle, with a customer call while lent.
    let mut stream = Some(StreamRewriter::new(seed, (seed >> 16) as u16, seed));
    let mut back: Option<oneshot::Receiver<StreamRewriter>> = None;
    // A call connected while the leg was still lent to the one before (its media task had
    // not let go yet): it gets the leg as soon as it comes back.
    let mut waiting: Option<(CallId, mpsc::UnboundedSender<MediaControl>)> = None;
    let mut frame_no: u32 = 0;
    let mut samples = vec![0i16; FRAME];
    let mut buf = [0u8; 2048];
    let mut clock = tokio::time::interval(Duration::from_millis(20));
    clock.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let idle = stream.is_some();
        tokio::select! {
            msg = control.recv() => match msg {
                None | Some(NailedControl::Stop) => return,
                Some(NailedControl::Lend { call, media: to }) => match stream.take() {
                    Some(lent) => match lend(&socket, media, lent, &to) {
                        Ok(rx) => {
                            tracing::debug!(%agent, %call, "agent leg bridged");
                            back = Some(rx);
                            lent_to = Some(to);
                        }
                        Err(kept) => stream = Some(kept),
                    },
                    None => waiting = Some((call, to)),
                },
                Some(NailedControl::Moved { media: moved }) => {
                    tracing::debug!(%agent, codec = ?moved.codec, "agent phone media moved");
                    media = moved;
                    if let Some(to) = &lent_to {
                        let _ = to.send(MediaControl::AgentMoved { media: moved });
                    }
                }
            },
            returned = wait_back(&mut back) => {
                back = None;
                lent_to = None;
                // A lease dropped without its stream (never bridged) starts a fresh one.
                let mut returned = returned
                    .unwrap_or_else(|_| StreamRewriter::new(seed.rotate_left(7) | 1, 0, seed));
                if let Some((call, to)) = waiting.take() {
                    match lend(&socket, media, returned, &to) {
                        Ok(rx) => {
                            tracing::debug!(%agent, %call, "agent leg bridged after the last call");
                            back = Some(rx);
                            lent_to = Some(to);
                            continue;
                        }
                        Err(kept) => returned = kept,
                    }
                }
                stream = Some(returned);
            }
            received = socket.recv_from(&mut buf), if idle => {
                // The agent's own voice between calls goes nowhere.
                let _ = received;
            }
            _ = clock.tick(), if idle => {
                let Some(s) = stream.as_mut() else { continue };
                comfort_frame(frame_no, &mut samples);
                let ts = frame_no.wrapping_mul(FRAME as u32);
                let datagram = local_audio(s, &media, IDLE_SOURCE, ts, &samples);
                frame_no = frame_no.wrapping_add(1);
                let _ = socket.send_to(&datagram, media.remote).await;
            }
        }
    }
}

/// Lends the leg to a call's media task; gives the stream back when that call is over.
fn lend(
    socket: &Arc<UdpSocket>,
    agent_media: Negotiated,
    stream: StreamRewriter,
    to: &mpsc::UnboundedSender<MediaControl>,
) -> Result<oneshot::Receiver<StreamRewriter>, StreamRewriter> {
    let (tx, rx) = oneshot::channel();
    let lease = NailedLease { socket: socket.clone(), agent: agent_media, stream, back: tx };
    match to.send(MediaControl::BridgeNailed { lease }) {
        Ok(()) => Ok(rx),
        Err(mpsc::error::SendError(MediaControl::BridgeNailed { lease })) => Err(lease.stream),
        // Only a lease is sent: never reached, and the receiver then reports a fresh stream.
        Err(_) => Ok(rx),
    }
}

/// Waits for a lent stream to come back; never completes while nothing is lent.
async fn wait_back(
    back: &mut Option<oneshot::Receiver<StreamRewriter>>,
) -> Result<StreamRewriter, oneshot::error::RecvError> {
    match back {
        Some(rx) => rx.await,
        None => std::future::pending().await,
    }
}

/// Fills one 20 ms frame of comfort audio: a soft 440 Hz tone (about -36 dBFS) for the
/// first frames of every period, silence otherwise.
fn comfort_frame(frame_no: u32, out: &mut [i16]) {
    let in_tone = frame_no % TONE_PERIOD < TONE_FRAMES;
    for (i, s) in out.iter_mut().enumerate() {
        *s = if in_tone {
            let t = (frame_no as usize * FRAME + i) as f32 / 8000.0;
            (500.0 * (2.0 * std::f32::consts::PI * 440.0 * t).sin()) as i16
        } else {
            0
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comfort_audio_is_a_short_soft_tone_then_silence() {
        let mut frame = vec![0i16; FRAME];
        comfort_frame(1, &mut frame);
        let peak = frame.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
        assert!((300..=500).contains(&peak), "soft tone: {peak}");
        comfort_frame(TONE_FRAMES, &mut frame);
        assert!(frame.iter().all(|s| *s == 0), "silence after the tone");
        comfort_frame(TONE_PERIOD, &mut frame);
        assert!(frame.iter().any(|s| *s != 0), "the tone repeats");
    }
}
