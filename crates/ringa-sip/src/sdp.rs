//! SDP (RFC 4566) for G.711 audio: a tolerant parser of the parts a dialer needs, the offer
//! ringa sends, and offer/answer negotiation (RFC 3264) picking µ-law or A-law and the
//! peer's telephone-event payload type.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing))]

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use crate::g711::Codec;

/// The payload type ringa offers for telephone events.
pub const OFFERED_EVENT_PT: u8 = 101;

/// Why an SDP body cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdpError {
    /// A line is not `x=value`.
    BadLine(usize),
    /// An `m=` or `c=` line is malformed.
    BadField(&'static str),
    /// No audio stream was offered.
    NoAudio,
    /// The audio stream has no connection address.
    NoConnection,
    /// None of the offered codecs is G.711.
    NoCommonCodec,
}

impl fmt::Display for SdpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SdpError::BadLine(n) => write!(f, "SDP line {n} is not of the form x=value"),
            SdpError::BadField(what) => write!(f, "SDP {what} is malformed"),
            SdpError::NoAudio => write!(f, "SDP has no audio stream"),
            SdpError::NoConnection => write!(f, "SDP audio stream has no connection address"),
            SdpError::NoCommonCodec => write!(f, "SDP offers neither PCMU nor PCMA"),
        }
    }
}

impl std::error::Error for SdpError {}

/// The media direction attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `a=sendrecv` (the default).
    SendRecv,
    /// `a=sendonly`.
    SendOnly,
    /// `a=recvonly`.
    RecvOnly,
    /// `a=inactive`.
    Inactive,
}

impl Direction {
    fn attribute(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The direction an answer takes to this offered direction.
    pub fn answer(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            other => other,
        }
    }
}

/// One `a=rtpmap` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    /// The payload type.
    pub payload_type: u8,
    /// The encoding name, e.g. `PCMU` or `telephone-event`.
    pub encoding: String,
    /// The clock rate.
    pub clock_rate: u32,
}

/// The audio stream of a session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioStream {
    /// Where the peer wants RTP (port 0 means the stream is refused).
    pub address: SocketAddr,
    /// The payload types in preference order.
    pub formats: Vec<u8>,
    /// The rtpmap entries.
    pub rtpmaps: Vec<RtpMap>,
    /// The direction.
    pub direction: Direction,
    /// The packetisation time in ms, if stated.
    pub ptime: Option<u32>,
}

impl AudioStream {
    fn encoding_of(&self, pt: u8) -> Option<&RtpMap> {
        self.rtpmaps.iter().find(|m| m.payload_type == pt)
    }

    /// The first offered G.711 law, by rtpmap or by static payload type.
    pub fn first_g711(&self) -> Option<(Codec, u8)> {
        self.formats.iter().find_map(|&pt| {
            let codec = match self.encoding_of(pt) {
                Some(map) if map.clock_rate == 8000 => Codec::from_encoding_name(&map.encoding),
                Some(_) => None,
                None => Codec::from_payload_type(pt),
            }?;
            Some((codec, pt))
        })
    }

    /// The payload type of `telephone-event/8000`, if offered.
    pub fn telephone_event(&self) -> Option<u8> {
        self.formats.iter().copied().find(|&pt| {
            self.encoding_of(pt).is_some_and(|m| {
                m.encoding.eq_ignore_ascii_case("telephone-event") && m.clock_rate == 8000
            })
        })
    }
}

/// A parsed session description (only its first audio stream is kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// The session version from `o=`, if parseable.
    pub version: Option<u64>,
    /// The first audio stream.
    pub audio: AudioStream,
}

fn parse_connection(value: &str) -> Result<IpAddr, SdpError> {
    let mut parts = value.split_ascii_whitespace();
    let (Some("IN"), Some(_), Some(addr)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(SdpError::BadField("c= line"));
    };
    // Multicast TTL suffixes ("/127") are ignored.
    let addr = addr.split('/').next().unwrap_or(addr);
    addr.parse().map_err(|_| SdpError::BadField("c= address"))
}

fn parse_rtpmap(value: &str) -> Option<RtpMap> {
    let (pt, rest) = value.split_once(' ')?;
    let mut enc = rest.trim().split('/');
    Some(RtpMap {
        payload_type: pt.trim().parse().ok().filter(|&pt: &u8| pt < 128)?,
        encoding: enc.next()?.to_string(),
        clock_rate: enc.next()?.parse().ok()?,
    })
}

/// The audio stream while its lines are still being read.
struct PendingAudio {
    port: u16,
    formats: Vec<u8>,
    address: Option<IpAddr>,
    rtpmaps: Vec<RtpMap>,
    direction: Option<Direction>,
}

impl SessionDescription {
    /// Parses an SDP body, keeping the first audio stream.
    pub fn parse(body: &str) -> Result<SessionDescription, SdpError> {
        let mut version = None;
        let mut session_addr: Option<IpAddr> = None;
        let mut session_dir = Direction::SendRecv;
        let mut audio: Option<PendingAudio> = None;
        let mut ptime = None;
        let mut in_audio = false;
        let mut seen_media = false;

        for (n, line) in body.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.is_empty() {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(SdpError::BadLine(n + 1));
            };
            if key.len() != 1 {
                return Err(SdpError::BadLine(n + 1));
            }
            let dir = match value {
                "sendrecv" => Some(Direction::SendRecv),
                "sendonly" => Some(Direction::SendOnly),
                "recvonly" => Some(Direction::RecvOnly),
                "inactive" => Some(Direction::Inactive),
                _ => None,
            };
            match key {
                "o" if !seen_media => {
                    version = value.split_ascii_whitespace().nth(2).and_then(|v| v.parse().ok());
                }
                "c" if !seen_media => session_addr = Some(parse_connection(value)?),
                "a" if !seen_media => {
                    if let Some(d) = dir {
                        session_dir = d;
                    }
                }
                "m" => {
                    seen_media = true;
                    in_audio = false;
                    let mut parts = value.split_ascii_whitespace();
                    let media = parts.next();
                    if media == Some("audio") && audio.is_none() {
                        let port = parts
                            .next()
                            .and_then(|p| p.split('/').next())
                            .and_then(|p| p.parse().ok())
                            .ok_or(SdpError::BadField("m= port"))?;
                        let _proto = parts.next().ok_or(SdpError::BadField("m= protocol"))?;
                        let formats = parts
                            .filter_map(|f| f.parse::<u8>().ok())
                            .filter(|&pt| pt < 128)
                            .collect();
                        audio = Some(PendingAudio {
                            port,
                            formats,
                            address: None,
                            rtpmaps: Vec::new(),
                            direction: None,
                        });
                        in_audio = true;
                    }
                }
                "c" if in_audio => {
                    if let Some(a) = audio.as_mut() {
                        a.address = Some(parse_connection(value)?);
                    }
                }
                "a" if in_audio => {
                    let Some(a) = audio.as_mut() else { continue };
                    if let Some(d) = dir {
                        a.direction = Some(d);
                    } else if let Some(map) = value.strip_prefix("rtpmap:") {
                        a.rtpmaps.extend(parse_rtpmap(map));
                    } else if let Some(p) = value.strip_prefix("ptime:") {
                        ptime = p.trim().parse().ok();
                    }
                }
                _ => {}
            }
        }

        let PendingAudio { port, formats, address, rtpmaps, direction } =
            audio.ok_or(SdpError::NoAudio)?;
        let ip = address.or(session_addr).ok_or(SdpError::NoConnection)?;
        Ok(SessionDescription {
            version,
            audio: AudioStream {
                address: SocketAddr::new(ip, port),
                formats,
                rtpmaps,
                direction: direction.unwrap_or(session_dir),
                ptime,
            },
        })
    }
}

/// What a leg agreed to send and receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// The G.711 law on the leg.
    pub codec: Codec,
    /// The payload type the peer uses for that law.
    pub payload_type: u8,
    /// The telephone-event payload type, if both sides have one.
    pub telephone_event: Option<u8>,
    /// Where to send RTP.
    pub remote: SocketAddr,
    /// The direction from our side.
    pub direction: Direction,
}

/// Writes an SDP body for our side of a leg.
///
/// `formats` are (law, payload type) in preference order; `event_pt` adds
/// `telephone-event/8000` with events 0–16.
pub fn write_sdp(
    session_id: u64,
    version: u64,
    local: SocketAddr,
    formats: &[(Codec, u8)],
    event_pt: Option<u8>,
    direction: Direction,
) -> String {
    let family = if local.is_ipv4() { "IP4" } else { "IP6" };
    let ip = local.ip();
    let mut pts: Vec<String> = formats.iter().map(|(_, pt)| pt.to_string()).collect();
    pts.extend(event_pt.map(|pt| pt.to_string()));
    let mut s = format!(
        "v=0\r\no=ringa {session_id} {version} IN {family} {ip}\r\ns=ringa\r\n\
         c=IN {family} {ip}\r\nt=0 0\r\nm=audio {} RTP/AVP {}\r\n",
        local.port(),
        pts.join(" ")
    );
    for (codec, pt) in formats {
        s.push_str(&format!("a=rtpmap:{pt} {}/8000\r\n", codec.encoding_name()));
    }
    if let Some(pt) = event_pt {
        s.push_str(&format!("a=rtpmap:{pt} telephone-event/8000\r\na=fmtp:{pt} 0-16\r\n"));
    }
    s.push_str(&format!("a=ptime:20\r\na={}\r\n", direction.attribute()));
    s
}

/// The offer ringa sends on a new leg: PCMU, PCMA and telephone-event.
pub fn offer(session_id: u64, local: SocketAddr) -> String {
    write_sdp(
        session_id,
        1,
        local,
        &[(Codec::Pcmu, 0), (Codec::Pcma, 8)],
        Some(OFFERED_EVENT_PT),
        Direction::SendRecv,
    )
}

/// Answers a peer's offer: the first G.711 law it lists, its telephone-event type.
///
/// Returns what was agreed and the answer body.
pub fn answer(
    offer: &SessionDescription,
    session_id: u64,
    version: u64,
    local: SocketAddr,
) -> Result<(Negotiated, String), SdpError> {
    let (codec, pt) = offer.audio.first_g711().ok_or(SdpError::NoCommonCodec)?;
    let event = offer.audio.telephone_event();
    let direction = offer.audio.direction.answer();
    let body = write_sdp(session_id, version, local, &[(codec, pt)], event, direction);
    let agreed = Negotiated {
        codec,
        payload_type: pt,
        telephone_event: event,
        remote: offer.audio.address,
        direction,
    };
    Ok((agreed, body))
}

/// Reads the peer's answer to our offer.
pub fn accept_answer(answer: &SessionDescription) -> Result<Negotiated, SdpError> {
    let (codec, pt) = answer.audio.first_g711().ok_or(SdpError::NoCommonCodec)?;
    Ok(Negotiated {
        codec,
        payload_type: pt,
        telephone_event: answer.audio.telephone_event(),
        remote: answer.audio.address,
        direction: answer.audio.direction.answer(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIPP_OFFER: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n\
        s=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8 0 101\r\n\
        a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n";

    #[test]
    fn answer_picks_the_peers_first_law_and_event_type() {
        let sdp = SessionDescription::parse(SIPP_OFFER).expect("the offer above is valid");
        assert_eq!(sdp.version, Some(2_353_687_637));
        assert_eq!(sdp.audio.address, "127.0.0.1:6000".parse().expect("literal address"));
        let local = "127.0.0.1:20000".parse().expect("literal address");
        let (agreed, body) = answer(&sdp, 7, 1, local).expect("PCMA is offered");
        assert_eq!(agreed.codec, Codec::Pcma);
        assert_eq!(agreed.payload_type, 8);
        assert_eq!(agreed.telephone_event, Some(101));
        assert!(body.contains("m=audio 20000 RTP/AVP 8 101\r\n"), "{body}");
        assert!(body.contains("a=sendrecv\r\n"));
        let reparsed = SessionDescription::parse(&body).expect("our answer parses");
        assert_eq!(reparsed.audio.first_g711(), Some((Codec::Pcma, 8)));
    }

    #[test]
    fn our_offer_parses_and_prefers_ulaw() {
        let local = "127.0.0.1:30000".parse().expect("literal address");
        let sdp = SessionDescription::parse(&offer(1, local)).expect("our offer parses");
        assert_eq!(sdp.audio.formats, vec![0, 8, 101]);
        assert_eq!(sdp.audio.first_g711(), Some((Codec::Pcmu, 0)));
        assert_eq!(sdp.audio.telephone_event(), Some(101));
        assert_eq!(sdp.audio.ptime, Some(20));
    }

    #[test]
    fn media_level_connection_and_direction_win() {
        let body = "v=0\nc=IN IP4 10.0.0.1\na=sendrecv\nm=video 5000 RTP/AVP 96\n\
            m=audio 4000 RTP/AVP 0\nc=IN IP4 127.0.0.2\na=sendonly\n";
        let sdp = SessionDescription::parse(body).expect("valid body");
        assert_eq!(sdp.audio.address, "127.0.0.2:4000".parse().expect("literal address"));
        assert_eq!(sdp.audio.direction, Direction::SendOnly);
        let local = "127.0.0.1:1".parse().expect("literal address");
        let (agreed, _) = answer(&sdp, 1, 1, local).expect("PCMU is offered statically");
        assert_eq!(agreed.direction, Direction::RecvOnly);
        assert_eq!(agreed.telephone_event, None);
    }

    #[test]
    fn unusable_bodies_are_errors() {
        assert_eq!(SessionDescription::parse("v=0\nbogus\n"), Err(SdpError::BadLine(2)));
        assert_eq!(SessionDescription::parse("v=0\n"), Err(SdpError::NoAudio));
        assert_eq!(
            SessionDescription::parse("v=0\nm=audio 1 RTP/AVP 0\n"),
            Err(SdpError::NoConnection)
        );
        let g729 = "v=0\nc=IN IP4 1.2.3.4\nm=audio 1 RTP/AVP 18\na=rtpmap:18 G729/8000\n";
        let sdp = SessionDescription::parse(g729).expect("syntactically valid");
        let local = "127.0.0.1:1".parse().expect("literal address");
        assert_eq!(answer(&sdp, 1, 1, local), Err(SdpError::NoCommonCodec));
        assert!(SessionDescription::parse("v=0\nc=IN IP4 nope\n").is_err());
        assert!(SessionDescription::parse("v=0\nm=audio x RTP/AVP 0\n").is_err());
    }
}
