//! The telephony layer of ringa: SDP offer/answer, RTP packets and per-leg rewriting,
//! G.711 coding and transcoding, RFC 4733 DTMF events, digest authentication, trunk
//! configuration and admission limits, media-inactivity watchdogs, stereo recording and
//! prompt playback.
//!
//! The modules here are sans-IO where they can be: parsers take bytes and never panic on
//! malformed input, and every time-dependent piece takes `now` as an argument. Only the
//! recorder and the prompt loader touch files; `driver`, `media` and `nailed` are the tokio
//! shell that owns the sockets.

pub mod agents;
pub mod bridge;
pub mod calls;
pub mod config;
pub mod dialin;
pub mod digest;
pub mod driver;
pub mod dtmf;
pub mod g711;
pub mod guard;
pub mod limits;
pub mod media;
pub mod message;
pub mod nailed;
pub mod prompt;
pub mod record;
pub mod registrar;
pub mod relay;
pub mod rtp;
pub mod sdp;
pub mod socket;
pub mod stream;
pub mod tcp;
pub mod transaction;
pub mod uac;
pub mod watchdog;
