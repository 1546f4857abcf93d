//! Invite codes: `PRTY-IDXX-SECR-ETSE-CRET-XC`.
//!
//! 8 characters of party id (40 bits), 13 of secret (65 bits) and one check character, in
//! Crockford's base32: digits and capitals without I, L, O and U, read case-insensitively, with
//! O read as 0 and I/L as 1, so a code read aloud or typed sloppily still works. The check
//! character (Luhn mod 32) catches any single wrong character and most swaps before the server
//! is asked. Links carry where to meet: `lanrage://join/<CODE>?server=<ws url>`.

use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};

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
                if !(s.starts_with("ws://") || s.starts_with("wss://")) {
                    return Err(InviteError::BadServer);
                }
                server = Some(s);
            }
        }
        Ok(Invite { code, server })
    }
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
