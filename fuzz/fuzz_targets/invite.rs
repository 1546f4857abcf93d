//! The invite parser: codes and links people paste from anywhere. Whatever parses must print
//! (code, link) and parse back to the same party, secret and meeting place, and the join field
//! must call it a code or a link.
#![no_main]

use lanrage_proto::invite::{Invite, InviteCode, JoinInput, JoinKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(code) = InviteCode::parse(text) {
        let shown = code.display();
        assert_eq!(InviteCode::parse(&shown).as_ref(), Ok(&code), "{shown}");
    }
    let parsed = Invite::parse(text);
    if let Ok(inv) = &parsed {
        let shown = inv.code.display();
        assert_eq!(InviteCode::parse(&shown).as_ref(), Ok(&inv.code), "{shown}");
        if let Some(server) = &inv.server {
            let link = inv.code.link(server);
            assert_eq!(Invite::parse(&link).as_ref(), Ok(inv), "{link}");
        }
    }
    let field = JoinInput::classify(text, Some(true));
    match parsed {
        Ok(_) => assert!(
            matches!(field.kind, JoinKind::Code | JoinKind::Link),
            "{:?} for an invite that parses",
            field.kind
        ),
        Err(_) => assert!(
            !matches!(field.kind, JoinKind::Code | JoinKind::Link),
            "{:?} for text that does not parse",
            field.kind
        ),
    }
});
