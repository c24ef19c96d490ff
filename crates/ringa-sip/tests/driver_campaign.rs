//! End to end: the tokio driver runs a real `Engine` with a progressive campaign of four
//! contacts and one agent against SIPp refusing every call with 486. Every attempt must end
//! busy with SIP code 486 and the campaign's caller ID (the 486 comes from SIPp, so every
//! INVITE reached it). SIPp comes from `scripts/test-deps` and is stopped by its own pid.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command as Process, Stdio};
use std::time::Duration;

use ringa_core::campaign::{CallerId, CallerIdPool, Campaign};
use ringa_core::contact::Contact;
use ringa_core::{
    AgentId, CallResult, CampaignId, ContactId, DialMode, ListId, PhoneNumber, RuleSet,
};
use ringa_engine::{Command, ContactEntry, Engine, EngineConfig, Input};
use ringa_sip::config::{Transport, TrunkConfig};
use ringa_sip::driver::Telephony;
use tokio::sync::mpsc;

const REFUSE: &str = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n\
<scenario name=\"busy\">\n<recv request=\"INVITE\"/>\n<send><![CDATA[\n\
SIP/2.0 486 Busy Here\n[last_Via:]\n[last_From:]\n[last_To:];tag=[pid]SIPpTag[call_number]\n\
[last_Call-ID:]\n[last_CSeq:]\nContent-Length: 0\n\n]]></send>\n\
<recv request=\"ACK\"/>\n</scenario>\n";

struct Sipp(Child);

impl Drop for Sipp {
    fn drop(&mut self) {
        // Only this child, by its pid.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn number(e164: &str) -> PhoneNumber {
    PhoneNumber::from_e164(e164).expect("test numbers are valid")
}

fn contact(id: u64, e164: &str) -> ContactEntry {
    ContactEntry::fresh(Contact::with_numbers(ContactId(id), ListId(1), [number(e164)]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_progressive_campaign_gets_busy_with_sip_code_486_on_every_attempt() {
    let dir = std::env::temp_dir().join(format!("ringa-sip-driver-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir is writable");
    std::fs::write(dir.join("busy.xml"), REFUSE).expect("scenario is writable");
    let port =
        UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr()).expect("free port").port();
    let media = UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr()).expect("free port");
    let _sipp = Sipp(
        Process::new("sipp")
            .args(["-sf", dir.join("busy.xml").to_str().expect("UTF-8 path")])
            .args(["-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", &port.to_string()])
            .args(["-mp", &media.port().to_string(), "-m", "4", "-timeout", "30s", "-nostdin"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .current_dir(&dir)
            .spawn()
            .expect("sipp is installed by scripts/test-deps (Debian package sip-tester)"),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;

    let trunk = TrunkConfig {
        name: "sipp".into(),
        address: SocketAddr::from(([127, 0, 0, 1], port)),
        transport: Transport::Udp,
        username: None,
        password: None,
        line_limit: 2,
        cps: 10.0,
    };
    let (tx, mut commands) = mpsc::unbounded_channel();
    let engine = Engine::new(EngineConfig::default());
    let sip = "127.0.0.1:0".parse().expect("literal address");
    let telephony = Telephony::start(trunk, sip, media, engine, tx, HashMap::new())
        .await
        .expect("driver starts");

    let mut campaign =
        Campaign::new(CampaignId(1), "interop", DialMode::Progressive, RuleSet::None);
    campaign.rules.windows = ringa_core::CallingWindows::always();
    campaign.rules.register_washed = Some(jiff::civil::date(2026, 11, 30));
    campaign.caller_ids = CallerIdPool {
        numbers: vec![CallerId { number: number("+46850000001"), daily_cap: None }],
        rotation: Default::default(),
    };
    let mut pending: Vec<ContactEntry> =
        (1..=4).map(|i| contact(i, &format!("+4670174060{i}"))).collect();
    telephony.input(Input::Campaign { campaign: Box::new(campaign) });
    telephony.input(Input::CampaignActive { campaign: CampaignId(1), active: true });
    telephony.input(Input::AgentLogin { agent: AgentId(1), campaigns: vec![CampaignId(1)] });
    telephony.input(Input::AgentReady { agent: AgentId(1) });

    let mut ended = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while ended.len() < 4 {
        let command = tokio::time::timeout_at(deadline, commands.recv())
            .await
            .unwrap_or_else(|_| panic!("only {} attempts ended: {ended:?}", ended.len()))
            .expect("the driver is running");
        match command {
            Command::FetchContacts { campaign, want } => {
                let n = (want as usize).min(pending.len());
                let contacts: Vec<_> = pending.drain(..n).collect();
                let exhausted = pending.is_empty();
                telephony.input(Input::Contacts { campaign, contacts, exhausted });
            }
            Command::AttemptEnded { record } if record.result.is_some() => ended.push(*record),
            _ => {}
        }
    }
    telephony.stop().await.expect("the driver stops cleanly");

    for r in &ended {
        assert_eq!(r.result, Some(CallResult::Busy), "{r:?}");
        assert_eq!(r.sip_code, Some(486), "{r:?}");
        assert_eq!(r.caller_id.as_ref().map(|c| c.as_str()), Some("+46850000001"), "{r:?}");
    }
    let mut contacts: Vec<_> = ended.iter().map(|r| r.contact.0).collect();
    contacts.sort_unstable();
    assert_eq!(contacts, vec![1, 2, 3, 4]);
    std::fs::remove_dir_all(&dir).expect("temp dir removable");
}
