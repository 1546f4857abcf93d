//! The fast lane, both ways: I/O-free, so its order is tested without a socket or a TUN.
//!
//! Under a bulk transfer the standing queue sits in kernel FIFOs the tunnel reads: the UDP
//! socket's receive buffer on the way in, the TUN's ring on the way out. A game's packet that
//! arrives behind a few hundred KB of someone's download waits for all of it to be decrypted or
//! encrypted first. So the device drains those FIFOs eagerly into two lanes (a copy is far
//! cheaper than the cryptography) and handles the fast lane first: small packets (a game's
//! updates, voice, pings, handshakes, acknowledgements) and, on the way out, packets marked for
//! real time. Bulk is taken a chunk at a time, with the FIFOs drained again between chunks.
//!
//! Nothing overtakes its own flow. A small item takes the fast lane only while no bulk of its
//! flow is waiting; otherwise it queues behind that bulk. On receive the flow is the sending
//! peer's address. That is required as well as polite: WireGuard accepts a datagram only within
//! 1,024 counters of the newest it has seen from that session, so a peer's small datagram
//! decrypted ahead of its own queued download would make the download's older datagrams count
//! as replays. On the way out the flow is the packet's protocol, addresses and ports (its
//! counter is given at encryption, so order on the wire follows the lanes). Each lane is first
//! in, first out, and a receive buffer (one GRO run: same-sized datagrams from one sender, the
//! short tail of a bulk run included) is never split across lanes.

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hash};
use std::net::SocketAddr;
use std::sync::LazyLock;

/// The largest datagram of the fast lane on receive: a WireGuard data message (16-byte header,
/// 16-byte tag) around an inner packet of up to [`FAST_MAX_PACKET`] bytes. Game state updates,
/// voice frames, pings, TCP acknowledgements and every handshake message fit; a full-sized
/// segment of a download does not.
pub(crate) const FAST_MAX_DATAGRAM: usize = 16 + FAST_MAX_PACKET + 16;
/// The largest unmarked packet of the fast lane on the way out.
pub(crate) const FAST_MAX_PACKET: usize = 256;

/// Bulk datagrams or packets handled before the FIFOs are drained again: small enough that a
/// game's packet arriving meanwhile waits a fraction of a millisecond, large enough for the
/// TUN write and the GSO sends to stay batched.
pub(crate) const BULK_CHUNK: usize = 128;

/// Flows are counted in this many buckets; two flows in one bucket only make each other more
/// careful (a small packet waits behind the other's bulk), never reorder.
const FLOW_BUCKETS: usize = 256;

/// Something waiting in a lane.
pub(crate) trait Queued {
    /// The flow it belongs to, hashed.
    fn flow(&self) -> u64;
    /// Whether it may go ahead of bulk, as far as its own content goes.
    fn is_small(&self) -> bool;
    /// Nothing to do: its buffer goes straight back.
    fn is_empty(&self) -> bool;
    fn into_buf(self) -> Vec<u8>;
}

/// One receive buffer's datagrams: `len` bytes from `src`, in datagrams of `stride` bytes
/// (the last may be shorter), of which those before `pos` (a byte offset) are done.
pub(crate) struct Received {
    pub(crate) buf: Vec<u8>,
    pub(crate) len: usize,
    pub(crate) stride: usize,
    pub(crate) src: SocketAddr,
    pos: usize,
}

impl Received {
    pub(crate) fn new(buf: Vec<u8>, len: usize, stride: usize, src: SocketAddr) -> Self {
        let len = len.min(buf.len());
        // No stride (no GRO) means one datagram.
        let stride = if stride == 0 { len } else { stride.min(len) };
        Self {
            buf,
            len,
            stride: stride.max(1),
            src,
            pos: 0,
        }
    }

    /// Whether every datagram is done.
    pub(crate) fn is_done(&self) -> bool {
        self.pos >= self.len
    }

    /// The byte range of the next `max` datagrams (marked done) and how many they are.
    pub(crate) fn take(&mut self, max: usize) -> (std::ops::Range<usize>, usize) {
        let start = self.pos;
        self.pos = start
            .saturating_add(self.stride.saturating_mul(max))
            .min(self.len);
        let range = start..self.pos;
        let count = range.len().div_ceil(self.stride);
        (range, count)
    }
}

impl Queued for Received {
    fn flow(&self) -> u64 {
        hash(&self.src)
    }

    fn is_small(&self) -> bool {
        self.stride <= FAST_MAX_DATAGRAM
    }

    fn is_empty(&self) -> bool {
        self.is_done()
    }

    fn into_buf(self) -> Vec<u8> {
        self.buf
    }
}

/// A packet read from the TUN: `buf[..len]`.
pub(crate) struct Outgoing {
    pub(crate) buf: Vec<u8>,
    pub(crate) len: usize,
}

impl Outgoing {
    pub(crate) fn packet(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

impl Queued for Outgoing {
    fn flow(&self) -> u64 {
        crate::packet::flow_key(self.packet()).map_or(0, |k| hash(&k))
    }

    /// Marked for real time or network control (DSCP 32 and up: CS4, AF4x, CS5, EF, CS6,
    /// CS7), or small.
    fn is_small(&self) -> bool {
        let pkt = self.packet();
        crate::packet::dscp(pkt) >= 32 || pkt.len() <= FAST_MAX_PACKET
    }

    fn is_empty(&self) -> bool {
        self.packet().is_empty()
    }

    fn into_buf(self) -> Vec<u8> {
        self.buf
    }
}

/// Seeded at random once per process: a peer cannot pick a source port that shares another
/// member's bucket (and so hold that member's game behind its own download) without knowing
/// the seed.
static FLOW_HASHER: LazyLock<foldhash::fast::RandomState> = LazyLock::new(Default::default);

fn hash(value: &impl Hash) -> u64 {
    FLOW_HASHER.hash_one(value)
}

/// Work waiting in two lanes, and the free buffers to read into.
pub(crate) struct Lanes<T> {
    free: Vec<Vec<u8>>,
    fast: VecDeque<T>,
    /// Each with its flow's bucket, found once when it was queued (hashing a flow costs more
    /// than the rest of the bookkeeping).
    bulk: VecDeque<(usize, T)>,
    /// Bulk items waiting, per flow bucket.
    bulk_by_flow: Vec<u32>,
}

impl<T: Queued> Lanes<T> {
    /// `buffers` buffers of `size` bytes each.
    pub(crate) fn new(buffers: usize, size: usize) -> Self {
        Self {
            free: (0..buffers.max(1)).map(|_| vec![0u8; size]).collect(),
            fast: VecDeque::new(),
            bulk: VecDeque::new(),
            bulk_by_flow: vec![0; FLOW_BUCKETS],
        }
    }

    /// Nothing is waiting.
    pub(crate) fn is_empty(&self) -> bool {
        self.fast.is_empty() && self.bulk.is_empty()
    }

    /// Free buffers left.
    pub(crate) fn free(&self) -> usize {
        self.free.len()
    }

    /// Up to `max` free buffers to read into; what is not filled goes back with
    /// [`Lanes::recycle`].
    pub(crate) fn take_free(&mut self, max: usize) -> Vec<Vec<u8>> {
        let keep = self.free.len().saturating_sub(max);
        self.free.split_off(keep)
    }

    pub(crate) fn recycle(&mut self, buf: Vec<u8>) {
        self.free.push(buf);
    }

    fn bucket(item: &T) -> usize {
        (item.flow() % FLOW_BUCKETS as u64) as usize
    }

    /// Queues what a read left in `bufs`: `read` says how many it filled, `item` makes the
    /// `i`th into an item. The others, or all of them if the read failed, go back.
    pub(crate) fn queue_read(
        &mut self,
        bufs: Vec<Vec<u8>>,
        read: std::io::Result<usize>,
        mut item: impl FnMut(usize, Vec<u8>) -> T,
    ) -> std::io::Result<usize> {
        let n = match read {
            Ok(n) => n.min(bufs.len()),
            Err(e) => {
                self.free.extend(bufs);
                return Err(e);
            }
        };
        for (i, buf) in bufs.into_iter().enumerate() {
            if i < n {
                self.push(item(i, buf));
            } else {
                self.recycle(buf);
            }
        }
        Ok(n)
    }

    /// Queues an item: in the fast lane if it is small and no bulk of its flow is waiting;
    /// an empty one's buffer goes straight back.
    pub(crate) fn push(&mut self, item: T) {
        if item.is_empty() {
            self.recycle(item.into_buf());
            return;
        }
        let bucket = Self::bucket(&item);
        if item.is_small() && self.bulk_by_flow[bucket] == 0 {
            self.fast.push_back(item);
        } else {
            self.bulk_by_flow[bucket] += 1;
            self.bulk.push_back((bucket, item));
        }
    }

    /// The oldest item of the fast lane.
    pub(crate) fn pop_fast(&mut self) -> Option<T> {
        self.fast.pop_front()
    }

    /// The oldest bulk item, to take a part of; it stays queued.
    pub(crate) fn bulk_front(&mut self) -> Option<&mut T> {
        self.bulk.front_mut().map(|(_, item)| item)
    }

    /// The oldest bulk item, taken out.
    pub(crate) fn pop_bulk(&mut self) -> Option<T> {
        let (bucket, item) = self.bulk.pop_front()?;
        self.bulk_by_flow[bucket] = self.bulk_by_flow[bucket].saturating_sub(1);
        Some(item)
    }
}

impl Lanes<Received> {
    /// Retires the oldest bulk buffer once all of it is done.
    pub(crate) fn retire_bulk(&mut self) {
        if self.bulk.front().is_some_and(|(_, r)| r.is_done()) {
            if let Some(r) = self.pop_bulk() {
                self.recycle(r.buf);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(port: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 1], port))
    }

    /// Drives the lanes the way the device does: all of the fast lane, then a chunk of bulk.
    /// Returns (source port, datagram length) in the order they would be decrypted.
    fn drain(lanes: &mut Lanes<Received>, chunk: usize) -> Vec<(u16, usize)> {
        let mut order = Vec::new();
        while !lanes.is_empty() {
            while let Some(mut r) = lanes.pop_fast() {
                let (range, _) = r.take(usize::MAX);
                for d in r.buf[range].chunks(r.stride) {
                    order.push((r.src.port(), d.len()));
                }
                lanes.recycle(r.buf);
            }
            let mut budget = chunk;
            while budget > 0 {
                let Some(r) = lanes.bulk_front() else { break };
                let (range, n) = r.take(budget);
                budget -= n;
                let (port, stride) = (r.src.port(), r.stride);
                for d in r.buf[range].chunks(stride) {
                    order.push((port, d.len()));
                }
                lanes.retire_bulk();
            }
        }
        order
    }

    fn fill(lanes: &mut Lanes<Received>, items: &[(u16, usize, usize)]) {
        for &(port, len, stride) in items {
            let buf = lanes.take_free(1).pop().expect("a free buffer");
            lanes.push(Received::new(buf, len, stride, src(port)));
        }
    }

    #[test]
    fn another_members_small_datagrams_overtake_a_download_that_arrived_before_them() {
        let mut lanes = Lanes::new(4, 65_535);
        // A download from member 1: 10 full datagrams and a short tail, coalesced. Then
        // member 2's game: two updates of 120 bytes, coalesced.
        fill(&mut lanes, &[(1, 10 * 1452 + 700, 1452), (2, 240, 120)]);
        let order = drain(&mut lanes, 4);
        assert_eq!(&order[..2], &[(2, 120), (2, 120)], "{order:?}");
        // The download keeps its own order, its short tail last.
        let rest: Vec<usize> = order[2..].iter().map(|&(_, n)| n).collect();
        assert_eq!(rest.len(), 11);
        assert!(rest[..10].iter().all(|&n| n == 1452));
        assert_eq!(rest[10], 700);
        assert_eq!(lanes.take_free(10).len(), 4, "every buffer comes back");
    }

    #[test]
    fn a_members_small_datagrams_never_overtake_its_own_download() {
        // WireGuard's replay window: member 1's probe must not be decrypted before its own
        // older download datagrams.
        let mut lanes = Lanes::new(4, 65_535);
        fill(&mut lanes, &[(1, 3 * 1452, 1452), (1, 80, 80), (2, 80, 80)]);
        let order = drain(&mut lanes, 128);
        assert_eq!(
            order,
            vec![(2, 80), (1, 1452), (1, 1452), (1, 1452), (1, 80)]
        );
    }

    #[test]
    fn bulk_is_taken_a_chunk_at_a_time_across_buffers_so_a_late_game_packet_waits_one_chunk() {
        let mut lanes = Lanes::new(8, 65_535);
        // Without GRO every datagram is its own buffer: a chunk still spans many of them.
        fill(&mut lanes, &[(1, 1452, 0); 6]);
        let (range, n) = lanes.bulk_front().unwrap().take(4);
        assert_eq!((range, n), (0..1452, 1), "one datagram per buffer");
        lanes.retire_bulk();
        let order = drain(&mut lanes, 3);
        assert_eq!(order.len(), 5);
        // Member 2's packet arrives after one more chunk of 3 was decrypted.
        fill(&mut lanes, &[(1, 20 * 1452, 1452)]);
        let mut budget = 3;
        while budget > 0 {
            let Some(r) = lanes.bulk_front() else { break };
            budget -= r.take(budget).1;
            lanes.retire_bulk();
        }
        fill(&mut lanes, &[(2, 100, 100)]);
        let order = drain(&mut lanes, 3);
        assert_eq!(
            order[0],
            (2, 100),
            "the game packet goes before the rest of the bulk"
        );
        assert_eq!(order.len(), 1 + 17);
    }

    #[test]
    fn an_empty_or_odd_buffer_neither_loops_nor_panics() {
        let mut lanes = Lanes::new(2, 64);
        fill(&mut lanes, &[(1, 0, 0), (1, 1_000, 0)]);
        // A length beyond the buffer is clamped; a zero stride is one datagram.
        let order = drain(&mut lanes, 8);
        assert_eq!(order, vec![(1, 64)]);
        assert_eq!(lanes.take_free(5).len(), 2);
    }

    fn ipv4(proto: u8, tos: u8, total: usize, ports: (u16, u16)) -> Outgoing {
        let mut p = vec![0u8; total.max(40)];
        p[0] = 0x45;
        p[1] = tos;
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p[9] = proto;
        p[12..16].copy_from_slice(&[10, 66, 0, 1]);
        p[16..20].copy_from_slice(&[10, 66, 0, 2]);
        p[20..22].copy_from_slice(&ports.0.to_be_bytes());
        p[22..24].copy_from_slice(&ports.1.to_be_bytes());
        Outgoing { buf: p, len: total }
    }

    fn order_out(packets: Vec<Outgoing>) -> Vec<(u16, usize)> {
        let mut lanes: Lanes<Outgoing> = Lanes::new(1, 8);
        for p in packets {
            lanes.push(p);
        }
        let mut order = Vec::new();
        let port = |o: &Outgoing| u16::from_be_bytes([o.buf[20], o.buf[21]]);
        while let Some(o) = lanes.pop_fast() {
            order.push((port(&o), o.len));
        }
        while let Some(o) = lanes.pop_bulk() {
            order.push((port(&o), o.len));
        }
        order
    }

    #[test]
    fn outgoing_small_and_marked_packets_go_first_unless_their_own_flow_has_bulk_waiting() {
        let order = order_out(vec![
            ipv4(6, 0, 1420, (5001, 80)),         // a download's segment
            ipv4(17, 0, 148, (27960, 27960)),     // a game's update
            ipv4(6, 0, 52, (5001, 80)),           // the download's own short segment: stays behind
            ipv4(1, 0, 84, (0, 0)),               // a ping
            ipv4(17, 0xb8, 1200, (5060, 5060)),   // EF voice, whatever its size
            ipv4(17, 8 << 2, 1200, (4000, 4000)), // CS1 bulk: lower effort
        ]);
        assert_eq!(
            order,
            vec![
                (27960, 148),
                (0, 84),
                (5060, 1200),
                (5001, 1420),
                (5001, 52),
                (4000, 1200)
            ]
        );
    }
}
