//! Fuzz target: `WWW-Authenticate` / `Proxy-Authenticate` challenges and `Authorization` /
//! `Proxy-Authorization` credentials. Nothing may panic; the credentials we write for any
//! challenge that parses must parse and verify against that challenge.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringa_sip::digest::{Challenge, Credentials};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(challenge) = Challenge::parse(&text) {
        let header = challenge.authorize("INVITE", "sip:x@127.0.0.1", "u\"x\\", "pw", 1, "c\"");
        let ours = Credentials::parse(&header).expect("our own credentials parse");
        assert!(ours.verify("INVITE", &challenge.realm, &challenge.nonce, "pw"), "{header}");
    }
    if let Ok(credentials) = Credentials::parse(&text) {
        let _ = credentials.verify("REGISTER", &credentials.realm, &credentials.nonce, "pw");
    }
});
