//! Parties, members, invites and presence as a plain state machine: methods take the current
//! time and return what changed, nothing here does I/O. What changed is both the parties whose
//! snapshot the service pushes and the exact rows (`Write`) the database writer stores.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use lanrage_proto::invite::InviteCode;
use lanrage_proto::message::{ErrorBody, GameRef, InviteView, MemberView, PartyView};

use crate::source::source_key;

/// A member who stops answering is shown offline after this long...
pub const OFFLINE_AFTER_MS: u64 = 10_000;
/// ...and removed from the party after this long (their address stays reserved for them, within
/// the limits at `MAX_RESERVATIONS`).
pub const REMOVE_AFTER_MS: u64 = 120_000;
pub const DEFAULT_MAX_MEMBERS: u16 = 32;
pub const MAX_MEMBERS_LIMIT: u16 = 254;
/// Wrong invite codes allowed per source address, and per party, in a minute.
pub const WRONG_CODES_PER_SOURCE: usize = 5;
pub const WRONG_CODES_PER_PARTY: usize = 20;
const WRONG_CODE_WINDOW_MS: u64 = 60_000;
const MAX_NAME_CHARS: usize = 32;
const MAX_ENDPOINTS: usize = 8;
/// An announced game server disappears this long after its last announcement.
pub const SERVER_TTL_MS: u64 = 90_000;
const MAX_SERVERS_PER_MEMBER: usize = 16;
const MAX_TEXT: usize = 64;

/// Addresses kept for members who left, so a returning player gets the address they had (games
/// and friends remember it). Churn (a busy public party, or one device key after another) must
/// not grow them without bound nor starve newcomers, so:
/// - a party keeps at most `MAX_RESERVATIONS`; when one more member leaves, the reservation
///   unused the longest (left earliest) is dropped;
/// - a reservation unused for `RESERVATION_TTL_MS` is dropped (checked every `PRUNE_EVERY_MS`,
///   and on the first tick after a restart);
/// - a newcomer who finds no free address takes the oldest reservation's. The subnet has 65,024
///   usable addresses against at most 254 members plus 256 reservations, so with these limits
///   that never happens; the rule keeps "a party that is not full has an address for you" true
///   whatever the limits become.
pub const MAX_RESERVATIONS: usize = 256;
pub const RESERVATION_TTL_MS: u64 = 30 * 24 * 3600 * 1000;
const PRUNE_EVERY_MS: u64 = 3600 * 1000;

pub type DeviceKey = String;

#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub key: DeviceKey,
    pub name: String,
    pub ip: Ipv4Addr,
    pub joined_at_ms: u64,
    pub endpoints: Vec<SocketAddr>,
    pub last_seen_ms: u64,
    pub online: bool,
    /// What the member plays now; not stored (a restarted server learns it again).
    pub game: Option<GameRef>,
}

/// The address a member who left had, kept for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    pub ip: Ipv4Addr,
    pub left_at_ms: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Invite {
    pub code: InviteCode,
    pub expires_at_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Party {
    pub id: String,
    pub name: String,
    pub host: DeviceKey,
    pub max_members: u16,
    pub created_at_ms: u64,
    /// In join order: the longest-present member is first.
    pub members: Vec<Member>,
    /// Addresses of members who left, so a device that rejoins gets its own back (see
    /// `MAX_RESERVATIONS` for how long). Members' own addresses are in `members`.
    pub reserved: HashMap<DeviceKey, Reservation>,
    pub invite: Option<Invite>,
}

/// What is stored of a party besides its members and reservations.
#[derive(Debug, Clone, PartialEq)]
pub struct PartySettings {
    pub id: String,
    pub name: String,
    pub host: DeviceKey,
    pub max_members: u16,
    pub created_at_ms: u64,
    pub invite: Option<Invite>,
}

/// One stored row to change. The registry lists them in the order it made the changes and the
/// database applies exactly these, so a change to one member costs one row, not the party.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    PartyCreated(PartySettings),
    /// The host, the invite or another setting changed.
    PartyChanged(PartySettings),
    /// The party, its members and its reservations are gone.
    PartyRemoved {
        party: String,
    },
    MemberAdded {
        party: String,
        member: Member,
    },
    /// The name or the endpoints changed (presence and games are not stored).
    MemberUpdated {
        party: String,
        member: Member,
    },
    MemberRemoved {
        party: String,
        key: DeviceKey,
    },
    ReservationAdded {
        party: String,
        key: DeviceKey,
        reservation: Reservation,
    },
    ReservationRemoved {
        party: String,
        key: DeviceKey,
    },
}

/// The party subnet: 10.66.0.0/16. Hosts get 10.66.0.1, then .2, ...; addresses ending in .0
/// or .255 are skipped because some games treat them as network or broadcast addresses.
const SUBNET_BASE: u32 = u32::from_be_bytes([10, 66, 0, 0]);
const SUBNET_PREFIX: u8 = 16;

impl Party {
    pub fn member(&self, key: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.key == key)
    }

    fn member_mut(&mut self, key: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.key == key)
    }

    pub fn settings(&self) -> PartySettings {
        PartySettings {
            id: self.id.clone(),
            name: self.name.clone(),
            host: self.host.clone(),
            max_members: self.max_members,
            created_at_ms: self.created_at_ms,
            invite: self.invite.clone(),
        }
    }

    /// The address for `key` joining now: the one reserved for it, else the lowest free one,
    /// else the oldest reservation's.
    fn allocate_ip(&mut self, key: &str, writes: &mut Vec<Write>) -> Option<Ipv4Addr> {
        if let Some(r) = self.reserved.remove(key) {
            writes.push(self.reservation_removed(key));
            return Some(r.ip);
        }
        let taken: HashSet<Ipv4Addr> = self
            .members
            .iter()
            .map(|m| m.ip)
            .chain(self.reserved.values().map(|r| r.ip))
            .collect();
        let size = 1u32 << (32 - SUBNET_PREFIX);
        let free = (1..size - 1)
            .map(|i| Ipv4Addr::from(SUBNET_BASE + i))
            .find(|ip| {
                let last = ip.octets()[3];
                last != 0 && last != 255 && !taken.contains(ip)
            });
        if free.is_some() {
            return free;
        }
        self.evict_oldest(writes).map(|r| r.ip)
    }

    /// Keeps `ip` for `key`, who just left, within `MAX_RESERVATIONS`.
    fn reserve(&mut self, key: &str, ip: Ipv4Addr, now: u64, writes: &mut Vec<Write>) {
        let reservation = Reservation {
            ip,
            left_at_ms: now,
        };
        self.reserved.insert(key.to_string(), reservation);
        writes.push(Write::ReservationAdded {
            party: self.id.clone(),
            key: key.to_string(),
            reservation,
        });
        self.trim_reservations(writes);
    }

    /// Drops the reservations unused the longest beyond `MAX_RESERVATIONS`.
    fn trim_reservations(&mut self, writes: &mut Vec<Write>) {
        match self.reserved.len().saturating_sub(MAX_RESERVATIONS) {
            0 => {}
            // The usual case, one leave past the cap: no need to sort.
            1 => {
                self.evict_oldest(writes);
            }
            excess => {
                let mut by_age: Vec<(u64, DeviceKey)> = self
                    .reserved
                    .iter()
                    .map(|(k, r)| (r.left_at_ms, k.clone()))
                    .collect();
                by_age.sort_unstable();
                for (_, key) in by_age.into_iter().take(excess) {
                    self.reserved.remove(&key);
                    writes.push(self.reservation_removed(&key));
                }
            }
        }
    }

    /// Drops the reservation unused the longest.
    fn evict_oldest(&mut self, writes: &mut Vec<Write>) -> Option<Reservation> {
        let key = self
            .reserved
            .iter()
            .min_by(|(ka, a), (kb, b)| (a.left_at_ms, ka).cmp(&(b.left_at_ms, kb)))
            .map(|(k, _)| k.clone())?;
        writes.push(self.reservation_removed(&key));
        self.reserved.remove(&key)
    }

    /// Drops reservations past their time, and any beyond the cap (a restored older database).
    fn prune_reservations(&mut self, now: u64, writes: &mut Vec<Write>) {
        let expired: Vec<DeviceKey> = self
            .reserved
            .iter()
            .filter(|(_, r)| now.saturating_sub(r.left_at_ms) >= RESERVATION_TTL_MS)
            .map(|(k, _)| k.clone())
            .collect();
        for key in expired {
            self.reserved.remove(&key);
            writes.push(self.reservation_removed(&key));
        }
        self.trim_reservations(writes);
    }

    fn reservation_removed(&self, key: &str) -> Write {
        Write::ReservationRemoved {
            party: self.id.clone(),
            key: key.to_string(),
        }
    }

    /// The party as `viewer` sees it (the invite only for the host).
    pub fn view_for(&self, viewer: &str) -> PartyView {
        PartyView {
            id: self.id.clone(),
            name: self.name.clone(),
            host: self.host.clone(),
            max_members: self.max_members,
            subnet: format!("{}/{}", Ipv4Addr::from(SUBNET_BASE), SUBNET_PREFIX),
            members: self
                .members
                .iter()
                .map(|m| MemberView {
                    public_key: m.key.clone(),
                    name: m.name.clone(),
                    virtual_ip: m.ip,
                    online: m.online,
                    endpoints: m.endpoints.clone(),
                    joined_at: m.joined_at_ms / 1000,
                    game: m.game.clone(),
                })
                .collect(),
            invite: if viewer == self.host {
                self.invite.as_ref().map(|i| InviteView {
                    code: i.code.display(),
                    expires_at: i.expires_at_ms.map(|t| t / 1000),
                })
            } else {
                None
            },
        }
    }
}

/// What an operation changed, for the service to persist and announce.
#[derive(Debug, Default, PartialEq)]
pub struct Changes {
    /// Parties whose snapshot changed (send to every member).
    pub parties: Vec<String>,
    /// Parties that no longer exist.
    pub deleted: Vec<String>,
    /// Devices no longer in a party, with the reason to tell them.
    pub gone: Vec<(DeviceKey, String, String)>,
    /// Rows to store, in the order the changes were made. The service hands them to the
    /// database writer before it lets go of the registry, so the store sees that order too.
    pub writes: Vec<Write>,
}

impl Changes {
    fn party(id: &str) -> Self {
        Changes {
            parties: vec![id.to_string()],
            ..Default::default()
        }
    }
    fn party_with(id: &str, writes: Vec<Write>) -> Self {
        Changes {
            parties: vec![id.to_string()],
            writes,
            ..Default::default()
        }
    }
    pub fn merge(&mut self, other: Changes) {
        for p in other.parties {
            if !self.parties.contains(&p) {
                self.parties.push(p);
            }
        }
        self.deleted.extend(other.deleted);
        self.gone.extend(other.gone);
        self.writes.extend(other.writes);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartyError {
    #[error("this invite code does not match any party")]
    WrongCode,
    #[error("this invite code has expired; ask the host for a new one")]
    Expired,
    #[error("this invite code was revoked by the host; ask for a new one")]
    Revoked,
    #[error("the party is full ({0} of {0})")]
    Full(u16),
    #[error("too many wrong invite codes; try again in {0} s")]
    RateLimited(u64),
    #[error("you are already in a party; leave it first")]
    AlreadyInParty,
    #[error("you are not in a party")]
    NotInParty,
    #[error("only the host can do that")]
    NotHost,
    #[error("no member with that key in the party")]
    UnknownMember,
    #[error("{0}")]
    Invalid(String),
    #[error("the party has no free addresses left")]
    NoAddress,
}

impl PartyError {
    pub fn code(&self) -> &'static str {
        match self {
            PartyError::WrongCode => "wrong_code",
            PartyError::Expired => "code_expired",
            PartyError::Revoked => "code_revoked",
            PartyError::Full(_) => "party_full",
            PartyError::RateLimited(_) => "rate_limited",
            PartyError::AlreadyInParty => "already_in_party",
            PartyError::NotInParty => "not_in_party",
            PartyError::NotHost => "not_host",
            PartyError::UnknownMember => "unknown_member",
            PartyError::Invalid(_) => "invalid",
            PartyError::NoAddress => "no_address",
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody::new(self.code(), self.to_string())
    }
}

/// Failures within a sliding window.
#[derive(Debug, Default)]
struct Window {
    times: VecDeque<u64>,
}

impl Window {
    fn prune(&mut self, now: u64) {
        while self
            .times
            .front()
            .is_some_and(|t| now.saturating_sub(*t) >= WRONG_CODE_WINDOW_MS)
        {
            self.times.pop_front();
        }
    }
    /// Seconds until a new attempt is allowed, if the limit is reached.
    fn blocked(&mut self, now: u64, limit: usize) -> Option<u64> {
        self.prune(now);
        if self.times.len() >= limit {
            let first = self.times.front().copied().unwrap_or(now);
            return Some(
                (first + WRONG_CODE_WINDOW_MS)
                    .saturating_sub(now)
                    .div_ceil(1000),
            );
        }
        None
    }
    fn record(&mut self, now: u64) {
        self.times.push_back(now);
    }
}

#[derive(Debug, Default)]
pub struct Registry {
    /// Game servers per party (not persisted: announcers refresh them every 30 s).
    servers: HashMap<String, Vec<(String, lanrage_proto::message::GameServer, u64)>>,
    parties: HashMap<String, Party>,
    /// Which party each device is in (at most one).
    member_of: HashMap<DeviceKey, String>,
    wrong_by_source: HashMap<IpAddr, Window>,
    wrong_by_party: HashMap<String, Window>,
    /// The latest time a caller told us: `leave` and `kick` take none and stamp reservations
    /// with it (at most a second old, the service ticks every second).
    clock: u64,
    /// When the tick next drops expired reservations (0: on the first tick).
    next_prune_ms: u64,
}

/// Whether a member's change is stored or only shown (presence, games).
enum Stored {
    Yes,
    No,
}

fn clean_name(name: &str, what: &str) -> Result<String, PartyError> {
    let n: String = name.trim().chars().filter(|c| !c.is_control()).collect();
    if n.is_empty() {
        return Err(PartyError::Invalid(format!("{what} must not be empty")));
    }
    Ok(n.chars().take(MAX_NAME_CHARS).collect())
}

impl Registry {
    /// Restores parties loaded from storage. Everyone starts offline with a fresh grace period,
    /// so members of a restarted server have time to reconnect.
    pub fn restore(parties: Vec<Party>, now: u64) -> Self {
        let mut r = Registry {
            clock: now,
            ..Default::default()
        };
        for mut p in parties {
            // A device is either a member or has a reservation, never both.
            let live: HashSet<DeviceKey> = p.members.iter().map(|m| m.key.clone()).collect();
            p.reserved.retain(|k, _| !live.contains(k));
            for m in &mut p.members {
                m.online = false;
                m.last_seen_ms = now;
                r.member_of.insert(m.key.clone(), p.id.clone());
            }
            r.parties.insert(p.id.clone(), p);
        }
        r
    }

    pub fn party(&self, id: &str) -> Option<&Party> {
        self.parties.get(id)
    }

    pub fn party_of(&self, device: &str) -> Option<&Party> {
        self.member_of
            .get(device)
            .and_then(|id| self.parties.get(id))
    }

    pub fn party_count(&self) -> usize {
        self.parties.len()
    }

    pub fn member_count(&self) -> usize {
        self.member_of.len()
    }

    pub fn create(
        &mut self,
        host: &str,
        host_name: &str,
        name: &str,
        max_members: Option<u16>,
        invite_ttl_ms: Option<u64>,
        now: u64,
    ) -> Result<(String, Changes), PartyError> {
        if self.member_of.contains_key(host) {
            return Err(PartyError::AlreadyInParty);
        }
        let name = clean_name(name, "the party name")?;
        let max = max_members.unwrap_or(DEFAULT_MAX_MEMBERS);
        if !(2..=MAX_MEMBERS_LIMIT).contains(&max) {
            return Err(PartyError::Invalid(format!(
                "the size limit must be from 2 to {MAX_MEMBERS_LIMIT}"
            )));
        }
        let id = loop {
            let id = InviteCode::new_party_id();
            if !self.parties.contains_key(&id) {
                break id;
            }
        };
        let mut party = Party {
            id: id.clone(),
            name,
            host: host.to_string(),
            max_members: max,
            created_at_ms: now,
            members: Vec::new(),
            reserved: HashMap::new(),
            invite: Some(Invite {
                code: InviteCode::generate(&id),
                expires_at_ms: invite_ttl_ms.map(|t| now.saturating_add(t)),
            }),
        };
        self.clock = self.clock.max(now);
        let mut writes = vec![Write::PartyCreated(party.settings())];
        let ip = party
            .allocate_ip(host, &mut writes)
            .ok_or(PartyError::NoAddress)?;
        let member = Member {
            key: host.to_string(),
            name: clean_name(host_name, "the display name").unwrap_or_else(|_| "Player".into()),
            ip,
            joined_at_ms: now,
            endpoints: Vec::new(),
            last_seen_ms: now,
            online: true,
            game: None,
        };
        writes.push(Write::MemberAdded {
            party: id.clone(),
            member: member.clone(),
        });
        party.members.push(member);
        self.member_of.insert(host.to_string(), id.clone());
        self.parties.insert(id.clone(), party);
        Ok((id.clone(), Changes::party_with(&id, writes)))
    }

    pub fn join(
        &mut self,
        device: &str,
        device_name: &str,
        code_text: &str,
        source: IpAddr,
        now: u64,
    ) -> Result<(String, Changes), PartyError> {
        self.clock = self.clock.max(now);
        let source = source_key(source);
        if let Some(wait) = self
            .wrong_by_source
            .entry(source)
            .or_default()
            .blocked(now, WRONG_CODES_PER_SOURCE)
        {
            return Err(PartyError::RateLimited(wait));
        }
        if self.member_of.contains_key(device) {
            return Err(PartyError::AlreadyInParty);
        }
        let code = match InviteCode::parse(code_text) {
            Ok(c) => c,
            Err(_) => {
                self.wrong_by_source.entry(source).or_default().record(now);
                return Err(PartyError::WrongCode);
            }
        };
        let verdict = match self.parties.get(&code.party_id) {
            None => Err(PartyError::WrongCode),
            Some(p) => match &p.invite {
                None => Err(PartyError::Revoked),
                Some(inv) if !secret_eq(inv.code.secret(), code.secret()) => {
                    Err(PartyError::WrongCode)
                }
                Some(inv) if inv.expires_at_ms.is_some_and(|e| now >= e) => {
                    Err(PartyError::Expired)
                }
                Some(_) if p.members.len() >= usize::from(p.max_members) => {
                    Err(PartyError::Full(p.max_members))
                }
                Some(_) => Ok(()),
            },
        };
        if let Err(e) = verdict {
            if matches!(e, PartyError::WrongCode | PartyError::Revoked) {
                // The party's window is looked at only for codes that do not open it: wrong
                // and revoked codes from many sources must not lock out the real invitees.
                // (The window is no defence against guessing; 65 random bits are.)
                let party_window = self
                    .wrong_by_party
                    .entry(code.party_id.clone())
                    .or_default();
                if let Some(wait) = party_window.blocked(now, WRONG_CODES_PER_PARTY) {
                    return Err(PartyError::RateLimited(wait));
                }
                party_window.record(now);
                self.wrong_by_source.entry(source).or_default().record(now);
            }
            return Err(e);
        }
        let party = self
            .parties
            .get_mut(&code.party_id)
            .ok_or(PartyError::WrongCode)?;
        let mut writes = Vec::new();
        let ip = party
            .allocate_ip(device, &mut writes)
            .ok_or(PartyError::NoAddress)?;
        let member = Member {
            key: device.to_string(),
            name: clean_name(device_name, "the display name").unwrap_or_else(|_| "Player".into()),
            ip,
            joined_at_ms: now,
            endpoints: Vec::new(),
            last_seen_ms: now,
            online: true,
            game: None,
        };
        writes.push(Write::MemberAdded {
            party: party.id.clone(),
            member: member.clone(),
        });
        party.members.push(member);
        self.member_of
            .insert(device.to_string(), code.party_id.clone());
        Ok((
            code.party_id.clone(),
            Changes::party_with(&code.party_id, writes),
        ))
    }

    /// Removes `device` from its party; the longest-present member becomes host if the host
    /// left; an empty party is deleted.
    fn remove(&mut self, device: &str, reason: &str) -> Result<Changes, PartyError> {
        let id = self
            .member_of
            .remove(device)
            .ok_or(PartyError::NotInParty)?;
        let mut changes = Changes::default();
        changes
            .gone
            .push((device.to_string(), id.clone(), reason.to_string()));
        let Some(party) = self.parties.get_mut(&id) else {
            return Ok(changes);
        };
        let Some(pos) = party.members.iter().position(|m| m.key == device) else {
            return Ok(changes);
        };
        let member = party.members.remove(pos);
        if party.members.is_empty() {
            self.parties.remove(&id);
            self.wrong_by_party.remove(&id);
            changes
                .writes
                .push(Write::PartyRemoved { party: id.clone() });
            changes.deleted.push(id);
            return Ok(changes);
        }
        changes.writes.push(Write::MemberRemoved {
            party: id.clone(),
            key: device.to_string(),
        });
        party.reserve(device, member.ip, self.clock, &mut changes.writes);
        if party.host == device {
            party.host = party.members[0].key.clone();
            changes.writes.push(Write::PartyChanged(party.settings()));
        }
        changes.parties.push(id);
        Ok(changes)
    }

    pub fn leave(&mut self, device: &str) -> Result<Changes, PartyError> {
        self.remove(device, "you left the party")
    }

    fn hosted(&mut self, host: &str) -> Result<&mut Party, PartyError> {
        let id = self.member_of.get(host).ok_or(PartyError::NotInParty)?;
        let party = self.parties.get_mut(id).ok_or(PartyError::NotInParty)?;
        if party.host != host {
            return Err(PartyError::NotHost);
        }
        Ok(party)
    }

    pub fn kick(&mut self, host: &str, target: &str) -> Result<Changes, PartyError> {
        let party = self.hosted(host)?;
        if target == host {
            return Err(PartyError::Invalid(
                "use leave to leave your own party".into(),
            ));
        }
        if party.member(target).is_none() {
            return Err(PartyError::UnknownMember);
        }
        self.remove(target, "the host removed you from the party")
    }

    pub fn close(&mut self, host: &str) -> Result<Changes, PartyError> {
        let id = self.hosted(host)?.id.clone();
        let mut changes = Changes::default();
        if let Some(p) = self.parties.remove(&id) {
            for m in p.members {
                self.member_of.remove(&m.key);
                changes
                    .gone
                    .push((m.key, id.clone(), "the host closed the party".into()));
            }
        }
        changes
            .writes
            .push(Write::PartyRemoved { party: id.clone() });
        changes.deleted.push(id);
        Ok(changes)
    }

    pub fn new_invite(
        &mut self,
        host: &str,
        ttl_ms: Option<u64>,
        now: u64,
    ) -> Result<Changes, PartyError> {
        self.clock = self.clock.max(now);
        let party = self.hosted(host)?;
        party.invite = Some(Invite {
            code: InviteCode::generate(&party.id),
            expires_at_ms: ttl_ms.map(|t| now.saturating_add(t)),
        });
        Ok(Changes::party_with(
            &party.id,
            vec![Write::PartyChanged(party.settings())],
        ))
    }

    pub fn revoke_invite(&mut self, host: &str) -> Result<Changes, PartyError> {
        let party = self.hosted(host)?;
        party.invite = None;
        Ok(Changes::party_with(
            &party.id,
            vec![Write::PartyChanged(party.settings())],
        ))
    }

    pub fn rename(&mut self, device: &str, name: &str) -> Result<Changes, PartyError> {
        let name = clean_name(name, "the display name")?;
        if !self.member_of.contains_key(device) {
            return Ok(Changes::default());
        }
        self.update_member(device, Stored::Yes, |m| {
            let changed = m.name != name;
            m.name = name;
            changed
        })
    }

    /// The game a member plays (`None`: none). Ids and names are cut to the name limit.
    pub fn set_game(&mut self, device: &str, game: Option<GameRef>) -> Result<Changes, PartyError> {
        let game = match game {
            Some(g) => Some(GameRef {
                id: clean_name(&g.id, "the game id")?,
                name: clean_name(&g.name, "the game name")?,
            }),
            None => None,
        };
        self.update_member(device, Stored::No, |m| {
            let changed = m.game != game;
            m.game = game;
            changed
        })
    }

    pub fn set_endpoints(
        &mut self,
        device: &str,
        mut endpoints: Vec<SocketAddr>,
    ) -> Result<Changes, PartyError> {
        endpoints.truncate(MAX_ENDPOINTS);
        self.update_member(device, Stored::Yes, |m| {
            let changed = m.endpoints != endpoints;
            m.endpoints = endpoints;
            changed
        })
    }

    /// Applies `update` to the device's membership; the party changed when it says so.
    fn update_member(
        &mut self,
        device: &str,
        stored: Stored,
        update: impl FnOnce(&mut Member) -> bool,
    ) -> Result<Changes, PartyError> {
        let id = self
            .member_of
            .get(device)
            .cloned()
            .ok_or(PartyError::NotInParty)?;
        let member = self
            .parties
            .get_mut(&id)
            .and_then(|p| p.member_mut(device))
            .ok_or(PartyError::NotInParty)?;
        if !update(member) {
            return Ok(Changes::default());
        }
        let writes = match stored {
            Stored::Yes => vec![Write::MemberUpdated {
                party: id.clone(),
                member: member.clone(),
            }],
            Stored::No => Vec::new(),
        };
        Ok(Changes::party_with(&id, writes))
    }

    /// A device was heard from (connected, heartbeat, any message).
    pub fn seen(&mut self, device: &str, now: u64) -> Changes {
        self.clock = self.clock.max(now);
        let Some(id) = self.member_of.get(device).cloned() else {
            return Changes::default();
        };
        let Some(m) = self.parties.get_mut(&id).and_then(|p| p.member_mut(device)) else {
            return Changes::default();
        };
        m.last_seen_ms = now;
        if m.online {
            return Changes::default();
        }
        m.online = true;
        Changes::party(&id)
    }

    /// Marks silent members offline and removes long-gone ones.
    pub fn tick(&mut self, now: u64) -> Changes {
        self.clock = self.clock.max(now);
        let mut changes = Changes::default();
        let mut remove = Vec::new();
        for p in self.parties.values_mut() {
            for m in &mut p.members {
                let silent = now.saturating_sub(m.last_seen_ms);
                if m.online && silent >= OFFLINE_AFTER_MS {
                    m.online = false;
                    if !changes.parties.contains(&p.id) {
                        changes.parties.push(p.id.clone());
                    }
                }
                if !m.online && silent >= REMOVE_AFTER_MS {
                    remove.push(m.key.clone());
                }
            }
        }
        for key in remove {
            if let Ok(c) = self.remove(&key, "you were offline too long and left the party") {
                changes.merge(c);
            }
        }
        changes.parties.retain(|p| self.parties.contains_key(p));
        if now >= self.next_prune_ms {
            self.next_prune_ms = now.saturating_add(PRUNE_EVERY_MS);
            for p in self.parties.values_mut() {
                p.prune_reservations(now, &mut changes.writes);
            }
        }
        // Expired game servers, servers of members who left, and those of gone parties.
        let (parties, member_of) = (&self.parties, &self.member_of);
        self.servers.retain(|pid, list| {
            list.retain(|(owner, _, seen)| {
                now.saturating_sub(*seen) < SERVER_TTL_MS && member_of.get(owner) == Some(pid)
            });
            parties.contains_key(pid) && !list.is_empty()
        });
        self.wrong_by_source.retain(|_, w| {
            w.prune(now);
            !w.times.is_empty()
        });
        self.wrong_by_party.retain(|_, w| {
            w.prune(now);
            !w.times.is_empty()
        });
        changes
    }

    /// Announces or refreshes a game server hosted by `device`, visible to its party.
    pub fn announce_server(
        &mut self,
        device: &str,
        server: lanrage_proto::message::GameServer,
        now: u64,
    ) -> Result<(), PartyError> {
        let id = self
            .member_of
            .get(device)
            .cloned()
            .ok_or(PartyError::NotInParty)?;
        let clean = |s: &str| -> String {
            s.trim()
                .chars()
                .filter(|c| !c.is_control())
                .take(MAX_TEXT)
                .collect()
        };
        let mut server = server;
        server.id = clean(&server.id);
        server.game = clean(&server.game);
        server.name = clean(&server.name);
        server.map = server.map.as_deref().map(clean).filter(|m| !m.is_empty());
        if server.id.is_empty()
            || server.game.is_empty()
            || server.name.is_empty()
            || server.port == 0
        {
            return Err(PartyError::Invalid(
                "a game server needs an id, a game, a name and a port".into(),
            ));
        }
        let list = self.servers.entry(id).or_default();
        list.retain(|(owner, s, _)| !(owner == device && s.id == server.id));
        if list.iter().filter(|(owner, _, _)| owner == device).count() >= MAX_SERVERS_PER_MEMBER {
            return Err(PartyError::Invalid(format!(
                "at most {MAX_SERVERS_PER_MEMBER} servers per member"
            )));
        }
        list.push((device.to_string(), server, now));
        Ok(())
    }

    pub fn remove_server(&mut self, device: &str, server_id: &str) -> Result<(), PartyError> {
        let id = self.member_of.get(device).ok_or(PartyError::NotInParty)?;
        if let Some(list) = self.servers.get_mut(id) {
            list.retain(|(owner, s, _)| !(owner == device && s.id == server_id));
        }
        Ok(())
    }

    /// The live game servers of `device`'s party.
    pub fn list_servers(
        &self,
        device: &str,
        now: u64,
    ) -> Result<Vec<lanrage_proto::message::ServerEntry>, PartyError> {
        let id = self.member_of.get(device).ok_or(PartyError::NotInParty)?;
        let Some(party) = self.parties.get(id) else {
            return Ok(Vec::new());
        };
        Ok(self
            .servers
            .get(id)
            .map(|list| {
                list.iter()
                    .filter(|(_, _, seen)| now.saturating_sub(*seen) < SERVER_TTL_MS)
                    .filter_map(|(owner, s, seen)| {
                        let m = party.member(owner)?;
                        Some(lanrage_proto::message::ServerEntry {
                            server: s.clone(),
                            host_key: owner.clone(),
                            host_name: m.name.clone(),
                            host_ip: m.ip,
                            expires_at: (seen + SERVER_TTL_MS) / 1000,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Whether two devices are in the same party (signaling is only relayed then).
    pub fn same_party(&self, a: &str, b: &str) -> bool {
        match (self.member_of.get(a), self.member_of.get(b)) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        }
    }
}

/// Compares invite secrets without leaking how many characters matched.
fn secret_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));

    fn code(r: &Registry, id: &str) -> String {
        r.party(id).unwrap().invite.as_ref().unwrap().code.display()
    }

    #[test]
    fn create_join_addresses_agree_and_rejoin_keeps_address() {
        let mut r = Registry::default();
        let (id, _) = r.create("A", "Ana", "friday", None, None, 0).unwrap();
        let c = code(&r, &id);
        r.join("B", "Bo", &c, SRC, 1).unwrap();
        r.join("C", "Cy", &c.to_lowercase(), SRC, 2).unwrap();
        let p = r.party(&id).unwrap();
        let ips: Vec<_> = p.members.iter().map(|m| m.ip.to_string()).collect();
        assert_eq!(ips, ["10.66.0.1", "10.66.0.2", "10.66.0.3"]);
        // Everyone's view has the same addresses; only the host sees the invite.
        assert_eq!(p.view_for("A").members, p.view_for("B").members);
        assert!(p.view_for("A").invite.is_some());
        assert!(p.view_for("B").invite.is_none());
        let ch = r.leave("B").unwrap();
        assert_eq!(ch.parties, vec![id.clone()]);
        assert_eq!(ch.gone[0].0, "B");
        r.join("D", "Di", &c, SRC, 3).unwrap();
        r.join("B", "Bo", &c, SRC, 4).unwrap();
        let p = r.party(&id).unwrap();
        assert_eq!(p.member("B").unwrap().ip.to_string(), "10.66.0.2");
        assert_eq!(p.member("D").unwrap().ip.to_string(), "10.66.0.4");
    }

    #[test]
    fn host_leaving_hands_over_to_the_longest_present() {
        let mut r = Registry::default();
        let (id, _) = r.create("A", "Ana", "p", None, None, 0).unwrap();
        let c = code(&r, &id);
        r.join("B", "Bo", &c, SRC, 1).unwrap();
        r.join("C", "Cy", &c, SRC, 2).unwrap();
        r.leave("A").unwrap();
        assert_eq!(r.party(&id).unwrap().host, "B");
        r.leave("B").unwrap();
        r.leave("C").unwrap();
        assert!(r.party(&id).is_none());
    }

    #[test]
    fn wrong_expired_revoked_and_full_codes_are_distinct_errors() {
        let mut r = Registry::default();
        let (id, _) = r.create("A", "Ana", "p", Some(2), Some(60_000), 0).unwrap();
        let c = code(&r, &id);
        let other = InviteCode::generate(&id).display();
        assert_eq!(
            r.join("X", "x", &other, SRC, 1).unwrap_err(),
            PartyError::WrongCode
        );
        assert_eq!(
            r.join("X", "x", "nonsense", SRC, 1).unwrap_err(),
            PartyError::WrongCode
        );
        r.join("B", "b", &c, SRC, 2).unwrap();
        assert_eq!(
            r.join("C", "c", &c, SRC, 3).unwrap_err(),
            PartyError::Full(2)
        );
        r.leave("B").unwrap();
        assert_eq!(
            r.join("C", "c", &c, SRC, 61_000).unwrap_err(),
            PartyError::Expired
        );
        r.new_invite("A", None, 61_000).unwrap();
        let fresh = code(&r, &id);
        assert_eq!(
            r.join("C", "c", &c, SRC, 61_001).unwrap_err(),
            PartyError::WrongCode
        );
        r.revoke_invite("A").unwrap();
        let other_src = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 8));
        assert_eq!(
            r.join("C", "c", &fresh, other_src, 61_002).unwrap_err(),
            PartyError::Revoked
        );
        assert_eq!(
            r.new_invite("B", None, 0).unwrap_err(),
            PartyError::NotInParty
        );
    }

    #[test]
    fn wrong_codes_are_rate_limited_per_source_and_per_party() {
        let mut r = Registry::default();
        let (id, _) = r.create("A", "Ana", "p", None, None, 0).unwrap();
        let good = code(&r, &id);
        for i in 0..WRONG_CODES_PER_SOURCE as u64 {
            let bad = InviteCode::generate(&id).display();
            assert_eq!(
                r.join("X", "x", &bad, SRC, i).unwrap_err(),
                PartyError::WrongCode
            );
        }
        // Even the right code is refused from that source until the window passes.
        assert!(matches!(
            r.join("X", "x", &good, SRC, 10),
            Err(PartyError::RateLimited(60))
        ));
        r.join("X", "x", &good, SRC, 60_001).unwrap();
        // Per party: many sources guessing the same party lock it for a while.
        let (id2, _) = r.create("H", "h", "q", None, None, 0).unwrap();
        for i in 0..WRONG_CODES_PER_PARTY as u8 {
            let src = IpAddr::V4(Ipv4Addr::new(203, 0, 113, i));
            let bad = InviteCode::generate(&id2).display();
            assert_eq!(
                r.join("Y", "y", &bad, src, 100).unwrap_err(),
                PartyError::WrongCode
            );
        }
        let src = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 200));
        let bad = InviteCode::generate(&id2).display();
        assert!(matches!(
            r.join("Y", "y", &bad, src, 200),
            Err(PartyError::RateLimited(_))
        ));
        // ... but never the real invitees: the right code still opens it.
        let good2 = code(&r, &id2);
        r.join("Y", "y", &good2, src, 300).unwrap();
        // The party's window is forgotten once it has passed.
        r.tick(100 + WRONG_CODE_WINDOW_MS);
        assert!(r.wrong_by_party.is_empty());
    }

    #[test]
    fn a_revoked_code_spread_around_cannot_lock_out_the_invitees() {
        let mut r = Registry::default();
        let (id, _) = r.create("H", "Host", "p", None, None, 0).unwrap();
        let old = code(&r, &id);
        r.revoke_invite("H").unwrap();
        r.new_invite("H", None, 0).unwrap();
        let new = code(&r, &id);
        for i in 0..(WRONG_CODES_PER_PARTY * 3) as u16 {
            let src = IpAddr::V4(Ipv4Addr::new(198, 18, (i / 250) as u8, (i % 250) as u8));
            assert!(r.join("X", "x", &old, src, 10).is_err());
        }
        r.join("F", "Friend", &new, SRC, 20).unwrap();
    }

    #[test]
    fn an_ipv6_guesser_is_one_source_for_its_whole_64() {
        let mut r = Registry::default();
        let (id, _) = r.create("A", "Ana", "p", None, None, 0).unwrap();
        for i in 0..WRONG_CODES_PER_SOURCE as u16 {
            let src: IpAddr = format!("2001:db8:1:2::{:x}", i + 1).parse().unwrap();
            let bad = InviteCode::generate(&id).display();
            assert_eq!(
                r.join("X", "x", &bad, src, 0).unwrap_err(),
                PartyError::WrongCode
            );
        }
        let next: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let bad = InviteCode::generate(&id).display();
        assert!(matches!(
            r.join("X", "x", &bad, next, 1),
            Err(PartyError::RateLimited(_))
        ));
        // Another /64 is another source.
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(
            r.join("X", "x", &bad, other, 2).unwrap_err(),
            PartyError::WrongCode
        );
    }

    #[test]
    fn presence_goes_offline_then_removed() {
        let mut r = Registry::default();
        let (id, _) = r.create("A", "Ana", "p", None, None, 0).unwrap();
        let c = code(&r, &id);
        r.join("B", "Bo", &c, SRC, 0).unwrap();
        r.seen("A", 9_000);
        let ch = r.tick(10_000);
        assert_eq!(ch.parties, vec![id.clone()]);
        assert!(!r.party(&id).unwrap().member("B").unwrap().online);
        assert!(r.party(&id).unwrap().member("A").unwrap().online);
        assert_eq!(r.seen("B", 11_000).parties, vec![id.clone()]);
        r.seen("A", 200_000);
        let ch = r.tick(200_000);
        assert!(ch.gone.iter().any(|(k, _, _)| k == "B"));
        assert!(r.party(&id).unwrap().member("B").is_none());
    }

    #[test]
    fn games_reach_the_party_cleaned_and_only_when_they_change() {
        let mut r = Registry::default();
        let (id, _) = r.create("A", "Ana", "p", None, None, 0).unwrap();
        let ttd = GameRef {
            id: "openttd".into(),
            name: " Open\u{7}TTD ".into(),
        };
        assert_eq!(
            r.set_game("A", Some(ttd)).unwrap().parties,
            vec![id.clone()]
        );
        let view = r.party(&id).unwrap().view_for("A");
        let game = view.members[0].game.clone().unwrap();
        assert_eq!(
            (game.id.as_str(), game.name.as_str()),
            ("openttd", "OpenTTD")
        );
        let same = GameRef {
            id: "openttd".into(),
            name: "OpenTTD".into(),
        };
        assert_eq!(r.set_game("A", Some(same)).unwrap(), Changes::default());
        assert_eq!(r.set_game("A", None).unwrap().parties, vec![id.clone()]);
        assert!(r.party(&id).unwrap().view_for("A").members[0]
            .game
            .is_none());
        assert!(matches!(r.set_game("Z", None), Err(PartyError::NotInParty)));
    }

    #[test]
    fn renames_reach_the_party() {
        let mut r = Registry::default();
        let (id, _) = r.create("A", "Ana", "p", None, None, 0).unwrap();
        assert_eq!(r.rename("A", "Anna").unwrap().parties, vec![id.clone()]);
        assert_eq!(r.party(&id).unwrap().members[0].name, "Anna");
        assert_eq!(r.rename("A", "Anna").unwrap(), Changes::default());
        assert!(r.rename("A", " ").is_err());
        assert_eq!(r.rename("Z", "Zed").unwrap(), Changes::default());
    }

    fn server(id: &str) -> lanrage_proto::message::GameServer {
        lanrage_proto::message::GameServer {
            id: id.into(),
            game: "Minecraft".into(),
            name: "Survival".into(),
            port: 25565,
            map: None,
            players: 1,
            max_players: 8,
            password: false,
        }
    }

    #[test]
    fn game_servers_are_visible_to_the_party_only_and_expire() {
        let mut r = Registry::default();
        let (id, _) = r.create("A", "Ana", "p", None, None, 0).unwrap();
        let c = code(&r, &id);
        r.join("B", "Bo", &c, SRC, 0).unwrap();
        r.create("X", "Xi", "other", None, None, 0).unwrap();
        r.announce_server("A", server("mc"), 1_000).unwrap();
        let seen = r.list_servers("B", 2_000).unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].host_name, "Ana");
        assert_eq!(seen[0].host_ip.to_string(), "10.66.0.1");
        assert!(
            r.list_servers("X", 2_000).unwrap().is_empty(),
            "other parties see nothing"
        );
        // Re-announcing refreshes instead of duplicating.
        r.announce_server("A", server("mc"), 60_000).unwrap();
        assert_eq!(r.list_servers("B", 60_000).unwrap().len(), 1);
        assert_eq!(
            r.list_servers("B", 60_000 + SERVER_TTL_MS - 1)
                .unwrap()
                .len(),
            1
        );
        assert!(r
            .list_servers("B", 60_000 + SERVER_TTL_MS)
            .unwrap()
            .is_empty());
        // A member who leaves takes their servers along.
        r.announce_server("B", server("b1"), 200_000).unwrap();
        r.leave("B").unwrap();
        r.seen("A", 200_000);
        r.tick(200_001);
        assert!(r.list_servers("A", 200_001).unwrap().is_empty());
        assert!(r.announce_server("Z", server("z"), 0).is_err());
        let mut bad = server("bad");
        bad.port = 0;
        assert!(r.announce_server("A", bad, 0).is_err());
    }

    #[test]
    fn host_only_operations() {
        let mut r = Registry::default();
        let (id, _) = r.create("A", "Ana", "p", None, None, 0).unwrap();
        let c = code(&r, &id);
        r.join("B", "Bo", &c, SRC, 0).unwrap();
        assert_eq!(r.kick("B", "A").unwrap_err(), PartyError::NotHost);
        assert_eq!(r.close("B").unwrap_err(), PartyError::NotHost);
        assert_eq!(r.kick("A", "Z").unwrap_err(), PartyError::UnknownMember);
        let ch = r.kick("A", "B").unwrap();
        assert_eq!(ch.gone[0].0, "B");
        assert!(!r.same_party("A", "B"));
        r.join("B", "Bo", &c, SRC, 1).unwrap();
        assert!(r.same_party("A", "B"));
        let ch = r.close("A").unwrap();
        assert_eq!(ch.gone.len(), 2);
        assert_eq!(ch.deleted, vec![id]);
        assert!(r.party_of("B").is_none());
    }

    #[test]
    fn one_party_at_a_time_and_sane_names() {
        let mut r = Registry::default();
        let (id, _) = r
            .create("A", "Ana", "  ", None, None, 0)
            .unwrap_or_else(|e| {
                assert_eq!(e.code(), "invalid");
                r.create("A", "Ana", "real", None, None, 0).unwrap()
            });
        assert_eq!(
            r.create("A", "Ana", "again", None, None, 0).unwrap_err(),
            PartyError::AlreadyInParty
        );
        let c = code(&r, &id);
        assert_eq!(
            r.join("A", "Ana", &c, SRC, 0).unwrap_err(),
            PartyError::AlreadyInParty
        );
        assert!(r.create("Z", "z", "x", Some(1), None, 0).is_err());
        let (id2, _) = r.create("Q", "q", &"n".repeat(100), None, None, 0).unwrap();
        assert_eq!(r.party(&id2).unwrap().name.chars().count(), 32);
    }

    #[test]
    fn churn_keeps_reservations_bounded_and_newcomers_get_addresses() {
        let mut r = Registry::default();
        let (id, _) = r.create("H", "Host", "p", Some(8), None, 0).unwrap();
        let c = code(&r, &id);
        for i in 0..10_000u64 {
            let device = format!("churner-{i}");
            r.join(&device, "x", &c, SRC, i).unwrap();
            r.leave(&device).unwrap();
        }
        let p = r.party(&id).unwrap();
        assert_eq!(
            p.reserved.len(),
            MAX_RESERVATIONS,
            "addresses reserved after 10,000 one-off visitors"
        );
        // The most recent visitors kept theirs; the oldest were let go.
        assert!(p.reserved.contains_key("churner-9999"));
        assert!(!p.reserved.contains_key("churner-0"));
        let kept = p.reserved["churner-9999"].ip;
        let (_, ch) = r.join("churner-9999", "x", &c, SRC, 10_000).unwrap();
        assert_eq!(
            r.party(&id).unwrap().member("churner-9999").unwrap().ip,
            kept
        );
        assert_eq!(ch.writes.len(), 2, "the reservation taken and the member");
        r.join("new", "New", &c, SRC, 10_000).unwrap();
        let p = r.party(&id).unwrap();
        let mut ips: Vec<_> = p.members.iter().map(|m| m.ip).collect();
        ips.extend(p.reserved.values().map(|r| r.ip));
        let distinct: HashSet<_> = ips.iter().collect();
        assert_eq!(distinct.len(), ips.len(), "an address given out twice");
    }

    #[test]
    fn reservations_expire_after_a_month_unused() {
        let mut r = Registry::default();
        let (id, _) = r.create("H", "Host", "p", None, None, 0).unwrap();
        let c = code(&r, &id);
        r.join("B", "Bo", &c, SRC, 0).unwrap();
        r.join("C", "Cy", &c, SRC, 0).unwrap();
        r.seen("H", 1_000);
        let ch = r.leave("B").unwrap();
        assert_eq!(
            ch.writes[1],
            Write::ReservationAdded {
                party: id.clone(),
                key: "B".into(),
                reservation: Reservation {
                    ip: Ipv4Addr::new(10, 66, 0, 2),
                    left_at_ms: 1_000
                }
            }
        );
        let mut t = 1_000;
        let mut pruned = Vec::new();
        while t < 1_000 + RESERVATION_TTL_MS + PRUNE_EVERY_MS {
            t += 60_000;
            r.seen("H", t);
            r.seen("C", t);
            pruned.extend(r.tick(t).writes);
            if r.party(&id).unwrap().reserved.is_empty() {
                break;
            }
        }
        assert!(r.party(&id).unwrap().reserved.is_empty());
        assert!(t >= 1_000 + RESERVATION_TTL_MS);
        assert_eq!(
            pruned,
            [Write::ReservationRemoved {
                party: id.clone(),
                key: "B".into()
            }]
        );
        // B is a newcomer now; its old address is free again for whoever comes first.
        r.join("D", "Di", &c, SRC, t).unwrap();
        assert_eq!(
            r.party(&id).unwrap().member("D").unwrap().ip,
            Ipv4Addr::new(10, 66, 0, 2)
        );
    }

    #[test]
    fn a_newcomer_takes_the_oldest_reservation_when_the_subnet_is_full() {
        let mut r = Registry::default();
        let (id, _) = r.create("H", "Host", "p", None, None, 0).unwrap();
        let mut party = r.party(&id).unwrap().clone();
        // Every other usable address reserved (as an old database could hold).
        let size = 1u32 << (32 - SUBNET_PREFIX);
        for i in 2..size - 1 {
            let ip = Ipv4Addr::from(SUBNET_BASE + i);
            if matches!(ip.octets()[3], 0 | 255) {
                continue;
            }
            let left_at_ms = if i == 700 { 5 } else { 10 + u64::from(i) };
            party
                .reserved
                .insert(format!("gone{i}"), Reservation { ip, left_at_ms });
        }
        let mut r = Registry::restore(vec![party], 100);
        let c = code(&r, &id);
        let (_, ch) = r.join("new", "New", &c, SRC, 100).unwrap();
        assert_eq!(
            r.party(&id).unwrap().member("new").unwrap().ip,
            Ipv4Addr::from(SUBNET_BASE + 700)
        );
        assert_eq!(
            ch.writes[0],
            Write::ReservationRemoved {
                party: id.clone(),
                key: "gone700".into()
            }
        );
        // The first tick after a restart brings an oversized set back within the cap.
        let ch = r.tick(200);
        assert_eq!(r.party(&id).unwrap().reserved.len(), MAX_RESERVATIONS);
        assert!(ch
            .writes
            .iter()
            .all(|w| matches!(w, Write::ReservationRemoved { .. })));
        // The newest stay.
        assert!(r
            .party(&id)
            .unwrap()
            .reserved
            .contains_key(&format!("gone{}", size - 2)));
    }

    #[test]
    fn every_change_lists_exactly_the_rows_it_touched() {
        let mut r = Registry::default();
        let (id, ch) = r.create("A", "Ana", "p", None, None, 0).unwrap();
        let kinds = |ch: &Changes| -> Vec<&'static str> {
            ch.writes
                .iter()
                .map(|w| match w {
                    Write::PartyCreated(_) => "party+",
                    Write::PartyChanged(_) => "party~",
                    Write::PartyRemoved { .. } => "party-",
                    Write::MemberAdded { .. } => "member+",
                    Write::MemberUpdated { .. } => "member~",
                    Write::MemberRemoved { .. } => "member-",
                    Write::ReservationAdded { .. } => "reserved+",
                    Write::ReservationRemoved { .. } => "reserved-",
                })
                .collect()
        };
        assert_eq!(kinds(&ch), ["party+", "member+"]);
        let c = code(&r, &id);
        assert_eq!(
            kinds(&r.join("B", "Bo", &c, SRC, 1).unwrap().1),
            ["member+"]
        );
        let eps = vec!["192.0.2.1:1".parse().unwrap()];
        assert_eq!(kinds(&r.set_endpoints("B", eps).unwrap()), ["member~"]);
        assert_eq!(kinds(&r.rename("B", "Bob").unwrap()), ["member~"]);
        let game = GameRef {
            id: "g".into(),
            name: "G".into(),
        };
        // Shown to the party, not stored.
        let ch = r.set_game("B", Some(game)).unwrap();
        assert_eq!((ch.parties.len(), kinds(&ch).len()), (1, 0));
        assert_eq!(kinds(&r.seen("B", 2)), Vec::<&str>::new());
        assert_eq!(kinds(&r.new_invite("A", None, 3).unwrap()), ["party~"]);
        assert_eq!(kinds(&r.revoke_invite("A").unwrap()), ["party~"]);
        r.new_invite("A", None, 3).unwrap();
        let c = code(&r, &id);
        assert_eq!(
            kinds(&r.leave("A").unwrap()),
            ["member-", "reserved+", "party~"]
        );
        assert_eq!(
            kinds(&r.join("A", "Ana", &c, SRC, 4).unwrap().1),
            ["reserved-", "member+"]
        );
        assert_eq!(kinds(&r.kick("B", "A").unwrap()), ["member-", "reserved+"]);
        assert_eq!(kinds(&r.close("B").unwrap()), ["party-"]);
        let (_, _) = r.create("Z", "Zed", "q", None, None, 5).unwrap();
        assert_eq!(kinds(&r.leave("Z").unwrap()), ["party-"]);
        // A member dropped for silence is stored like one who left.
        let (id, _) = r.create("H", "H", "q", None, None, 10).unwrap();
        let c = code(&r, &id);
        r.join("S", "S", &c, SRC, 10).unwrap();
        r.seen("H", 10 + REMOVE_AFTER_MS);
        let ch = r.tick(10 + REMOVE_AFTER_MS);
        assert_eq!(kinds(&ch), ["member-", "reserved+"]);
    }

    #[test]
    fn restored_members_start_offline_with_a_grace_period() {
        let mut r = Registry::default();
        let (id, _) = r.create("A", "Ana", "p", None, None, 0).unwrap();
        let saved: Vec<Party> = vec![r.party(&id).unwrap().clone()];
        let mut r2 = Registry::restore(saved, 500_000);
        assert!(!r2.party(&id).unwrap().members[0].online);
        assert!(r2.tick(500_000 + REMOVE_AFTER_MS - 1).gone.is_empty());
        assert_eq!(r2.seen("A", 500_001).parties, vec![id]);
    }
}
