//! The control-message decoder: what a server reads from any device and a client from its
//! server. Beyond not panicking, whatever decodes must encode and decode back to itself (a
//! message that changes on the way through would mean the two sides read it differently).
#![no_main]

use lanrage_proto::message::{decode_client, decode_server, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(msg) = decode_client(text) {
        let again = encode(&msg);
        let back = decode_client(&again);
        assert_eq!(
            back.as_ref(),
            Ok(&msg),
            "client message changed through {again}"
        );
    }
    if let Ok(msg) = decode_server(text) {
        let again = encode(&msg);
        let back = decode_server(&again);
        assert_eq!(
            back.as_ref(),
            Ok(&msg),
            "server message changed through {again}"
        );
    }
});
