//! Invite codes: `PRTY-IDXX-SECR-ETSE-CRET-XC`.
//!
//! 8 characters of party id (40 bits), 13 of secret (65 bits) and one check character, in
//! Crockford's base32: digits and capitals without I, L, O and U, read case-insensitively, with
//! O read as 0 and I/L as 1, so a code read aloud or typed sloppily still works. The check
//! character (Luhn mod 32) catches any single wrong character and most swaps before the server
//! is asked. Links carry where to meet: `lanrage://join/<CODE>?server=<ws url>`.

use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
pub const PARTY_ID_LEN: usize = 8;
pub const SECRET_LEN: usize = 13;
const CODE_LEN: usize = PARTY_ID_LEN + SECRET_LEN + 1;
pub const LINK_PREFIX: &str = "lanrage://join/";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InviteError {
    #[error(
        "an invite code has {CODE_LEN} letters and digits (dashes optional); this one has {0}"
    )]
    Length(usize),
    #[error("`{0}` cannot appear in an invite code")]
    BadChar(char),
    #[error("this invite code has a typo (its check character does not match)")]
    Check,
    #[error("this link is not a LANrage invite (expected lanrage://join/CODE)")]
    NotALink,
    #[error("the link's server address is not a ws:// or wss:// URL")]
    BadServer,
}

fn value(c: char) -> Result<u32, InviteError> {
    let c = c.to_ascii_uppercase();
    let c = match c {
        'O' => '0',
        'I' | 'L' => '1',
        c => c,
    };
    ALPHABET
        .iter()
        .position(|&a| a as char == c)
        .map(|p| p as u32)
        .ok_or(InviteError::BadChar(c))
}

/// Luhn mod N over base32 values.
fn check_char(values: &[u32]) -> u32 {
    let mut factor = 2;
    let mut sum = 0;
    for &v in values.iter().rev() {
        let mut addend = factor * v;
        factor = if factor == 2 { 1 } else { 2 };
        addend = addend / 32 + addend % 32;
        sum += addend;
    }
    (32 - sum % 32) % 32
}

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct InviteCode {
    /// The party's public id (8 characters).
    pub party_id: String,
    secret: String,
}

/// The secret part is never printed by `Debug`.
impl std::fmt::Debug for InviteCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "InviteCode({}-…)", self.party_id)
    }
}

fn random_chars(n: usize) -> String {
    use rand_core::RngCore;
    let mut bytes = vec![0u8; n];
    rand_core::OsRng.fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(b & 31)] as char)
        .collect()
}

impl InviteCode {
    pub fn new_party_id() -> String {
        random_chars(PARTY_ID_LEN)
    }

    /// A fresh code for `party_id` with a new random secret.
    pub fn generate(party_id: &str) -> InviteCode {
        InviteCode {
            party_id: party_id.to_string(),
            secret: random_chars(SECRET_LEN),
        }
    }

    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// Parses a code as a person typed it: any case, dashes and spaces ignored.
    pub fn parse(text: &str) -> Result<InviteCode, InviteError> {
        let chars: Vec<char> = text
            .chars()
            .filter(|c| !matches!(c, '-' | ' ' | '\t'))
            .collect();
        if chars.len() != CODE_LEN {
            return Err(InviteError::Length(chars.len()));
        }
        let values = chars
            .iter()
            .map(|&c| value(c))
            .collect::<Result<Vec<u32>, _>>()?;
        if check_char(&values[..CODE_LEN - 1]) != values[CODE_LEN - 1] {
            return Err(InviteError::Check);
        }
        let canon: String = values[..CODE_LEN - 1]
            .iter()
            .map(|&v| ALPHABET[v as usize] as char)
            .collect();
        Ok(InviteCode {
            party_id: canon[..PARTY_ID_LEN].to_string(),
            secret: canon[PARTY_ID_LEN..].to_string(),
        })
    }

    /// The code as people see it, in groups of four.
    pub fn display(&self) -> String {
        let body = format!("{}{}", self.party_id, self.secret);
        let values: Vec<u32> = body.chars().filter_map(|c| value(c).ok()).collect();
        let full = format!("{body}{}", ALPHABET[check_char(&values) as usize] as char);
        full.as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("-")
    }

    /// `lanrage://join/<CODE>?server=<url>`.
    pub fn link(&self, server: &str) -> String {
        format!(
            "{LINK_PREFIX}{}?server={}",
            self.display(),
            utf8_percent_encode(server, NON_ALPHANUMERIC)
        )
    }
}

/// What a person pasted: a bare code, or a link that also says where to meet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    pub code: InviteCode,
    pub server: Option<String>,
}

impl Invite {
    pub fn parse(text: &str) -> Result<Invite, InviteError> {
        let text = text.trim();
        let lower = text.to_ascii_lowercase();
        if !lower.starts_with("lanrage:") {
            return Ok(Invite {
                code: InviteCode::parse(text)?,
                server: None,
            });
        }
        let rest = text
            .get(LINK_PREFIX.len()..)
            .filter(|_| lower.starts_with(LINK_PREFIX))
            .ok_or(InviteError::NotALink)?;
        let (code, query) = match rest.split_once('?') {
            Some((c, q)) => (c, Some(q)),
            None => (rest, None),
        };
        let code = InviteCode::parse(code.trim_end_matches('/'))?;
        let mut server = None;
        for pair in query.unwrap_or("").split('&') {
            if let Some(v) = pair.strip_prefix("server=") {
                let s = percent_decode_str(v)
                    .decode_utf8()
                    .map_err(|_| InviteError::BadServer)?
                    .into_owned();
                match crate::servers::parse_servers(&s) {
                    Ok(list) if !list.is_empty() => {
                        server = Some(crate::servers::join_servers(&list));
                    }
                    _ => return Err(InviteError::BadServer),
                }
            }
        }
        Ok(Invite { code, server })
    }
}

/// What kind of text the join field holds; see [`JoinInput::classify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum JoinKind {
    /// Nothing yet.
    Empty,
    /// A `lanrage://join/...` link that parses.
    Link,
    /// A bare code that parses.
    Code,
    /// Still typing: only code characters so far, fewer than a whole code.
    Partial,
    /// Not an invite; the hint says why (the parser's own message).
    Invalid,
}

/// The join field as the engine reads it, with the one-line hint the UI shows under it, so the
/// UI can say what was pasted before anything is sent (it asks the engine; the parser is here
/// only). JSON: `{kind, code, server, hint}`; `code` is the display form (links and codes),
/// `server` the link's meeting place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct JoinInput {
    pub kind: JoinKind,
    pub code: Option<String>,
    pub server: Option<String>,
    pub hint: String,
}

impl JoinInput {
    /// Classifies what a person typed or pasted. `has_server`: whether a control server is
    /// configured (a bare code needs one, a link names its own); `None` when not known.
    pub fn classify(text: &str, has_server: Option<bool>) -> JoinInput {
        let t = text.trim();
        let answer = |kind, code, server, hint| JoinInput {
            kind,
            code,
            server,
            hint,
        };
        if t.is_empty() {
            return answer(
                JoinKind::Empty,
                None,
                None,
                "Paste the invite code or the whole invite link your host sent.".into(),
            );
        }
        let is_link = t.to_ascii_lowercase().starts_with("lanrage:");
        match Invite::parse(t) {
            Ok(inv) => {
                let code = inv.code.display();
                if is_link {
                    let hint = match &inv.server {
                        Some(s) => format!("Invite link for code {code}, meeting at {s}."),
                        None => format!("Invite link for code {code}."),
                    };
                    answer(JoinKind::Link, Some(code), inv.server, hint)
                } else {
                    let hint = if has_server == Some(false) {
                        format!(
                            "Code {code}. No control server is set, so this needs the whole \
                             invite link (lanrage://join/…) instead."
                        )
                    } else {
                        format!("Invite code {code}.")
                    };
                    answer(JoinKind::Code, Some(code), None, hint)
                }
            }
            Err(InviteError::Length(n))
                if !is_link
                    && n < CODE_LEN
                    && t.chars()
                        .all(|c| c == '-' || c == ' ' || c.is_ascii_alphanumeric()) =>
            {
                answer(
                    JoinKind::Partial,
                    None,
                    None,
                    format!("{n} of {CODE_LEN} characters so far."),
                )
            }
            Err(e) => answer(JoinKind::Invalid, None, None, sentence(&e.to_string())),
        }
    }
}

/// A parser message as a sentence for the join field: `x` in curly quotes, a capital first
/// letter and a full stop.
fn sentence(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len() + 8);
    let mut rest = msg;
    while let Some(open) = rest.find('`') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('`') else { break };
        out.push_str(&rest[..open]);
        out.push('“');
        out.push_str(&after[..close]);
        out.push('”');
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    let mut chars = out.chars();
    let mut s: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    };
    if !s.ends_with(['.', '!', '?']) {
        s.push('.');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trips_in_any_case_with_or_without_dashes() {
        let code = InviteCode::generate(&InviteCode::new_party_id());
        let shown = code.display();
        assert_eq!(shown.len(), CODE_LEN + 5);
        assert_eq!(InviteCode::parse(&shown).unwrap(), code);
        assert_eq!(InviteCode::parse(&shown.to_lowercase()).unwrap(), code);
        assert_eq!(InviteCode::parse(&shown.replace('-', " ")).unwrap(), code);
        assert!(!shown.contains(['I', 'L', 'O', 'U']));
    }

    #[test]
    fn sloppy_letters_read_as_digits() {
        let code = InviteCode {
            party_id: "00110000".into(),
            secret: "1000000000000".into(),
        };
        let shown = code.display().replacen('0', "o", 1).replacen('1', "l", 1);
        assert_eq!(InviteCode::parse(&shown).unwrap(), code);
    }

    #[test]
    fn every_single_character_typo_is_caught() {
        let code = InviteCode::generate(&InviteCode::new_party_id());
        let shown: Vec<char> = code.display().chars().filter(|c| *c != '-').collect();
        for i in 0..shown.len() {
            for &a in ALPHABET {
                let a = a as char;
                if a == shown[i] {
                    continue;
                }
                let mut typo = shown.clone();
                typo[i] = a;
                let t: String = typo.into_iter().collect();
                assert_eq!(InviteCode::parse(&t), Err(InviteError::Check), "{t}");
            }
        }
    }

    #[test]
    fn clear_errors() {
        assert_eq!(InviteCode::parse("ABC"), Err(InviteError::Length(3)));
        assert!(matches!(
            InviteCode::parse("UUUUUUUUUUUUUUUUUUUUUU"),
            Err(InviteError::BadChar('U'))
        ));
        assert_eq!(
            Invite::parse("lanrage://party/x"),
            Err(InviteError::NotALink)
        );
    }

    #[test]
    fn links_carry_the_server() {
        let code = InviteCode::generate("ABCDEFGH");
        let link = code.link("ws://198.51.100.10:8667");
        assert!(link.starts_with("lanrage://join/ABCD-EFGH-"));
        let inv = Invite::parse(&link).unwrap();
        assert_eq!(inv.code, code);
        assert_eq!(inv.server.as_deref(), Some("ws://198.51.100.10:8667"));
        let bare = Invite::parse(&code.display()).unwrap();
        assert_eq!(bare.server, None);
        let bad = format!("lanrage://join/{}?server=http%3A%2F%2Fx", code.display());
        assert_eq!(Invite::parse(&bad), Err(InviteError::BadServer));
    }

    #[test]
    fn secret_has_at_least_60_bits() {
        const { assert!(SECRET_LEN * 5 >= 60) };
        let code = InviteCode::generate("ABCDEFGH");
        assert!(!format!("{code:?}").contains(code.secret()));
    }

    #[test]
    fn messages_are_sentences_people_can_act_on() {
        assert_eq!(
            InviteError::Length(3).to_string(),
            "an invite code has 22 letters and digits (dashes optional); this one has 3"
        );
        assert_eq!(
            InviteError::BadChar('U').to_string(),
            "`U` cannot appear in an invite code"
        );
        assert_eq!(
            InviteCode::parse(&"u".repeat(22)),
            Err(InviteError::BadChar('U'))
        );
        assert_eq!(
            Invite::parse(&format!("lanrage://party/{}", code().display()))
                .map_err(|e| e.to_string()),
            Err("this link is not a LANrage invite (expected lanrage://join/CODE)".into())
        );
    }

    /// `ABCD-1234-EFGH-JKMN-PQRS-T` and its check character.
    fn code() -> InviteCode {
        InviteCode {
            party_id: "ABCD1234".into(),
            secret: "EFGHJKMNPQRST".into(),
        }
    }

    #[test]
    fn dashes_spaces_and_case_do_not_matter() {
        let shown = code().display();
        assert!(shown.starts_with("ABCD-1234-EFGH-JKMN-PQRS-T"), "{shown}");
        for typed in [
            shown.clone(),
            shown.to_lowercase(),
            shown.replace('-', ""),
            shown.replace('-', " "),
            format!("  {shown}\t"),
        ] {
            assert_eq!(InviteCode::parse(typed.trim()), Ok(code()), "{typed}");
        }
        let sloppy = InviteCode {
            party_id: "00001111".into(),
            secret: "0000111100010".into(),
        };
        let typed = sloppy.display().replace('0', "O").replace('1', "l");
        assert_eq!(InviteCode::parse(&typed), Ok(sloppy));
    }

    #[test]
    fn a_link_carries_every_server_of_a_list_in_order() {
        let c = code();
        let link = c.link("ws://203.0.113.1:8667 wss://lan.example:443");
        let inv = Invite::parse(&link).unwrap();
        assert_eq!(
            inv.server.as_deref(),
            Some("ws://203.0.113.1:8667 wss://lan.example:443")
        );
        // Written by hand with a comma, it means the same.
        let by_hand = format!(
            "lanrage://join/{}?server=ws://203.0.113.1:8667,wss://lan.example:443",
            c.display()
        );
        assert_eq!(Invite::parse(&by_hand).unwrap().server, inv.server);
        let one_bad = format!(
            "lanrage://join/{}?server=ws://203.0.113.1:8667%20http://x:1",
            c.display()
        );
        assert_eq!(Invite::parse(&one_bad), Err(InviteError::BadServer));
    }

    #[test]
    fn links_in_any_case_with_or_without_the_server() {
        let c = code();
        let link = c.link("ws://203.0.113.1:7666");
        assert_eq!(
            link,
            format!(
                "lanrage://join/{}?server=ws%3A%2F%2F203%2E0%2E113%2E1%3A7666",
                c.display()
            )
        );
        // Other programs may leave the dots as they are.
        let loose = format!(
            "lanrage://join/{}?server=ws%3A%2F%2F203.0.113.1%3A7666",
            c.display()
        );
        for l in [link, loose] {
            let inv = Invite::parse(&l).unwrap();
            assert_eq!(inv.code, c);
            assert_eq!(inv.server.as_deref(), Some("ws://203.0.113.1:7666"));
        }
        let shouted = format!("  LANRAGE://JOIN/{}/ ", c.display().to_lowercase());
        assert_eq!(
            Invite::parse(&shouted),
            Ok(Invite {
                code: c.clone(),
                server: None
            })
        );
        assert_eq!(Invite::parse(&c.display()).unwrap().server, None);
    }

    #[test]
    fn join_field_tells_a_link_from_a_code() {
        let shown = code().display();
        let link = code().link("wss://party.example:443");
        let l = JoinInput::classify(&link, None);
        assert_eq!(l.kind, JoinKind::Link);
        assert_eq!(l.code.as_deref(), Some(shown.as_str()));
        assert_eq!(l.server.as_deref(), Some("wss://party.example:443"));
        assert_eq!(
            l.hint,
            format!("Invite link for code {shown}, meeting at wss://party.example:443.")
        );
        let bare_link = JoinInput::classify(&format!("lanrage://join/{shown}"), None);
        assert_eq!(
            (bare_link.kind, bare_link.server, bare_link.hint),
            (
                JoinKind::Link,
                None,
                format!("Invite link for code {shown}.")
            )
        );
        for typed in [format!(" {shown} "), shown.replace('-', "").to_lowercase()] {
            let c = JoinInput::classify(&typed, None);
            assert_eq!(
                c,
                JoinInput {
                    kind: JoinKind::Code,
                    code: Some(shown.clone()),
                    server: None,
                    hint: format!("Invite code {shown}."),
                },
                "{typed}"
            );
        }
    }

    #[test]
    fn join_field_says_a_bare_code_needs_the_link_without_a_server() {
        let shown = code().display();
        assert_eq!(
            JoinInput::classify(&shown, Some(false)).hint,
            format!(
                "Code {shown}. No control server is set, so this needs the whole invite link \
                 (lanrage://join/…) instead."
            )
        );
        for has_server in [Some(true), None] {
            let c = JoinInput::classify(&shown, has_server);
            assert!(!c.hint.contains("whole invite link"), "{has_server:?}");
        }
        // A link names its own server.
        let link = code().link("ws://203.0.113.1:7666");
        assert_eq!(
            JoinInput::classify(&link, Some(false)),
            JoinInput::classify(&link, Some(true))
        );
    }

    #[test]
    fn join_field_is_patient_while_typing_and_clear_when_wrong() {
        let hint = |t: &str| {
            let c = JoinInput::classify(t, None);
            (c.kind, c.hint)
        };
        let empty = "Paste the invite code or the whole invite link your host sent.";
        assert_eq!(hint(""), (JoinKind::Empty, empty.into()));
        assert_eq!(hint("  \t "), (JoinKind::Empty, empty.into()));
        assert_eq!(
            hint("ABCD-12"),
            (JoinKind::Partial, "6 of 22 characters so far.".into())
        );
        assert_eq!(
            hint("abcd 1234 efgh"),
            (JoinKind::Partial, "12 of 22 characters so far.".into())
        );
        let shown = code().display();
        let last = if shown.ends_with('0') { "1" } else { "0" };
        let typo = format!("{}{last}", &shown[..shown.len() - 1]);
        assert_eq!(
            hint(&typo),
            (
                JoinKind::Invalid,
                "This invite code has a typo (its check character does not match).".into()
            )
        );
        assert_eq!(
            hint(&format!("{shown}X")),
            (
                JoinKind::Invalid,
                "An invite code has 22 letters and digits (dashes optional); this one has 23."
                    .into()
            )
        );
        assert_eq!(hint("hello world!").0, JoinKind::Invalid);
        assert_eq!(hint("https://example.com/join").0, JoinKind::Invalid);
        // A short link is wrong, not unfinished: links are pasted whole.
        assert_eq!(
            hint("lanrage://join/ABC"),
            (
                JoinKind::Invalid,
                "An invite code has 22 letters and digits (dashes optional); this one has 3."
                    .into()
            )
        );
        assert_eq!(
            hint("lanrage://party/x"),
            (
                JoinKind::Invalid,
                "This link is not a LANrage invite (expected lanrage://join/CODE).".into()
            )
        );
        assert_eq!(
            hint(&format!("lanrage://join/{shown}?server=http%3A%2F%2Fx")),
            (
                JoinKind::Invalid,
                "The link's server address is not a ws:// or wss:// URL.".into()
            )
        );
        // The character the parser stopped at, in quotes.
        assert_eq!(
            hint(&"U".repeat(22)),
            (
                JoinKind::Invalid,
                "“U” cannot appear in an invite code.".into()
            )
        );
        assert_eq!(
            hint(&"`".repeat(22)).1,
            "“”` cannot appear in an invite code."
        );
    }

    #[test]
    fn join_input_as_the_ui_reads_it() {
        let json = serde_json::to_value(JoinInput::classify("ABCD", None)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "kind": "partial",
                "code": null,
                "server": null,
                "hint": "4 of 22 characters so far."
            })
        );
        let link = code().link("ws://203.0.113.1:7666");
        let json = serde_json::to_value(JoinInput::classify(&link, Some(true))).unwrap();
        assert_eq!(json["kind"], "link");
        assert_eq!(json["code"], code().display());
        assert_eq!(json["server"], "ws://203.0.113.1:7666");
    }

    /// The fake engine of the UI tests answers from this table instead of parsing: every entry
    /// must be what the engine says.
    #[test]
    fn the_ui_fixture_table_is_what_the_engine_says() {
        #[derive(Deserialize)]
        struct Table {
            meet_at: String,
            codes: Vec<Code>,
            inputs: Vec<Input>,
        }
        #[derive(Deserialize)]
        struct Code {
            code: String,
            link: String,
        }
        #[derive(Deserialize)]
        struct Input {
            text: String,
            has_server: Option<Vec<Option<bool>>>,
            expect: JoinInput,
            error: Option<String>,
        }
        let table: Table =
            serde_json::from_str(include_str!("../../../ui/src/lib/fixtures/invites.json"))
                .unwrap();
        assert!(!table.codes.is_empty());
        for c in &table.codes {
            let parsed = InviteCode::parse(&c.code).unwrap();
            assert_eq!(parsed.display(), c.code);
            assert_eq!(parsed.link(&table.meet_at), c.link);
        }
        for i in &table.inputs {
            assert_eq!(i.text, i.text.trim(), "entries are looked up trimmed");
            let asked = i
                .has_server
                .clone()
                .unwrap_or_else(|| vec![Some(true), Some(false), None]);
            for has_server in asked {
                assert_eq!(
                    JoinInput::classify(&i.text, has_server),
                    i.expect,
                    "{:?} with has_server {has_server:?}",
                    i.text
                );
            }
            let parsed = Invite::parse(&i.text)
                .map(|_| ())
                .map_err(|e| e.to_string());
            assert_eq!(parsed, i.error.clone().map_or(Ok(()), Err), "{:?}", i.text);
        }
    }

    proptest! {
        #[test]
        fn parsing_never_panics(s in ".{0,80}") {
            let _ = Invite::parse(&s);
            let _ = InviteCode::parse(&s);
        }

        #[test]
        fn generated_codes_always_parse(id in "[0-9A-HJKMNP-TV-Z]{8}") {
            let c = InviteCode::generate(&id);
            prop_assert_eq!(InviteCode::parse(&c.display()).unwrap(), c);
        }
    }
}
