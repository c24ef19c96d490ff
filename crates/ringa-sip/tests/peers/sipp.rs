//! SIPp as a test peer, shared by the interop tests of several crates (each takes this file
//! in with `#[path]`): a scenario that answers with PCMU and streams a µ-law file until the
//! BYE, a tone written as µ-law, a free loopback port, and the SIPp process, stopped by its
//! own pid when dropped. SIPp comes from `scripts/test-deps`.

#![allow(dead_code)]

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use ringa_sip::g711::Codec;

/// A free UDP port on loopback (free when asked; a peer binds it right after).
pub(crate) fn free_udp_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").expect("loopback is available");
    s.local_addr().expect("bound socket has an address").port()
}

/// Writes `seconds` of a `hz` tone as raw µ-law, as SIPp's `rtp_stream` plays it.
pub(crate) fn tone(path: &Path, hz: f64, seconds: f64) {
    let n = (8000.0 * seconds) as usize;
    let samples: Vec<i16> = (0..n)
        .map(|i| ((i as f64 * hz * std::f64::consts::TAU / 8000.0).sin() * 8000.0) as i16)
        .collect();
    let mut ulaw = Vec::new();
    Codec::Pcmu.encode_into(&samples, &mut ulaw);
    std::fs::write(path, ulaw).expect("temp dir is writable");
}

/// Answers an INVITE with PCMU (after a 180 and `ring_ms` of ringing when `ring_ms` is
/// given), streams `audio` (raw µ-law) `loops` times (-1: for as long as the call lasts),
/// and answers the BYE that ends the call without ever sending one itself.
pub(crate) fn answering(audio: &str, ring_ms: Option<u32>, loops: i32) -> String {
    let headers = "[last_Via:]\n[last_From:]\n[last_To:];tag=[pid]peer[call_number]\n\
        [last_Call-ID:]\n[last_CSeq:]\n";
    let ringing = match ring_ms {
        Some(ms) => format!(
            "<send><![CDATA[\nSIP/2.0 180 Ringing\n{headers}Content-Length: 0\n\n]]></send>\n\
             <pause milliseconds=\"{ms}\"/>\n"
        ),
        None => String::new(),
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n<scenario name=\"answer\">\n\
         <recv request=\"INVITE\"/>\n{ringing}\
         <send><![CDATA[\nSIP/2.0 200 OK\n{headers}Contact: <sip:[local_ip]:[local_port]>\n\
         Content-Type: application/sdp\nContent-Length: [len]\n\n\
         v=0\no=sipp 1 1 IN IP4 [media_ip]\ns=-\nc=IN IP4 [media_ip]\nt=0 0\n\
         m=audio [media_port] RTP/AVP 0\na=rtpmap:0 PCMU/8000\n\n]]></send>\n\
         <recv request=\"ACK\"/>\n\
         <nop><action><exec rtp_stream=\"{audio},{loops},0\"/></action></nop>\n\
         <recv request=\"BYE\"/>\n\
         <send><![CDATA[\nSIP/2.0 200 OK\n[last_Via:]\n[last_From:]\n[last_To:]\n\
         [last_Call-ID:]\n[last_CSeq:]\nContent-Length: 0\n\n]]></send>\n</scenario>\n"
    )
}

/// A child process of the test (SIPp, or the binary under test), stopped by its own pid
/// when dropped.
pub(crate) struct Peer(pub(crate) Child);

impl Peer {
    /// Runs scenario `xml` (written to `dir/name.xml`) on loopback `port` for `calls` calls,
    /// giving up after `timeout` seconds; `extra` goes first on the command line (a remote
    /// address, credentials).
    pub(crate) fn sipp(
        dir: &Path,
        name: &str,
        xml: &str,
        port: u16,
        calls: u32,
        timeout: u32,
        extra: &[String],
    ) -> Peer {
        let file = dir.join(format!("{name}.xml"));
        std::fs::write(&file, xml).expect("scenario is writable");
        let child = Command::new("sipp")
            .args(extra)
            .args(["-sf", file.to_str().expect("temp path is UTF-8")])
            .args(["-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", &port.to_string()])
            .args(["-mp", &free_udp_port().to_string(), "-m", &calls.to_string()])
            .args(["-timeout", &format!("{timeout}s"), "-nostdin"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .current_dir(dir)
            .spawn()
            .expect("sipp is installed by scripts/test-deps (Debian package sip-tester)");
        Peer(child)
    }

    /// The exit status if the process has ended by itself (it is then reaped).
    pub(crate) fn status(&mut self) -> Option<ExitStatus> {
        self.0.try_wait().expect("child status is readable")
    }

    /// The exit status once the process ended by itself within `limit`, blocking the thread.
    pub(crate) fn exited(&mut self, limit: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Some(status) = self.status() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        // Only this child, by its pid; harmless when it already exited.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
