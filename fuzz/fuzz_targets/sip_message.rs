//! Fuzz target: a UDP datagram given to the SIP message parser and the header helpers the
//! dialogs use. Nothing may panic, and a message that parses must write back to bytes that
//! parse to the same start line, body and CSeq.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringa_sip::message::{SipMessage, param, split_list, uri_of, user_of};

fuzz_target!(|data: &[u8]| {
    let Ok(message) = SipMessage::parse(data) else { return };
    let _ = (message.code(), message.method(), message.cseq());
    for name in ["Via", "From", "To", "Contact", "Record-Route", "Call-ID", "l", "Route"] {
        for value in message.header_values(name) {
            let _ = split_list(value);
            let uri = uri_of(value);
            let _ = (user_of(uri), param(value, "tag"), param(value, "branch"));
        }
    }
    let again = SipMessage::parse(&message.to_bytes()).expect("our own output parses");
    assert_eq!((&again.start, &again.body), (&message.start, &message.body));
    assert_eq!(again.cseq(), message.cseq());
});
