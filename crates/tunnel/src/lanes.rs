//! The receive side's fast lane: I/O-free, so its order is tested without a socket.
//!
//! Under a bulk transfer the standing queue sits in the UDP socket's receive buffer, a FIFO, and
//! a game's packet that arrives behind a few hundred KB of someone's download waits for all of
//! it to be decrypted first. So the device drains the socket eagerly into these lanes (a copy is
//! far cheaper than a decryption) and decrypts what is small before what is big: a game's
//! updates, pings, handshakes and TCP acknowledgements go first, bulk is taken a chunk at a
//! time, and the socket is drained again between chunks.
//!
//! The way out has the same two lanes: packets read from the TUN wait as [`Lanes`] of packets,
//! and the fast ones ([`is_fast_outgoing`]: small and not TCP data, or marked for real time)
//! are encrypted and sent first, so a game's packet is not stuck behind this machine's own
//! upload.
//!
//! On receive, order within a flow is kept: the kernel coalesces (GRO) only datagrams of one size from one
//! sender, a buffer is never split across lanes (the short tail of a bulk run stays with its
//! run), and each lane is first in, first out. Only datagrams of different sizes, which are
//! different flows in practice, can overtake each other.

use std::collections::VecDeque;
use std::net::SocketAddr;

/// The largest datagram of the fast lane: a WireGuard data message (16-byte header, 16-byte
/// tag) around an inner packet of up to 256 bytes. Game state updates, voice frames, pings,
/// TCP acknowledgements and every handshake message fit; a full-sized segment of a download
/// does not.
pub(crate) const FAST_MAX_DATAGRAM: usize = 16 + 256 + 16;

/// Datagrams of bulk decrypted before the socket is drained again: small enough that a game's
/// packet arriving meanwhile waits a fraction of a millisecond, large enough for the TUN write
/// to stay batched.
pub(crate) const BULK_CHUNK: usize = 128;

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

    fn is_fast(&self) -> bool {
        self.stride <= FAST_MAX_DATAGRAM
    }

    /// Whether every datagram is done.
    pub(crate) fn is_done(&self) -> bool {
        self.pos >= self.len
    }

    /// The byte range of the next `max` datagrams, marked done.
    pub(crate) fn take(&mut self, max: usize) -> std::ops::Range<usize> {
        let start = self.pos;
        self.pos = (start + self.stride.saturating_mul(max)).min(self.len);
        start..self.pos
    }
}

/// Work waiting in two lanes (`T`: a receive buffer, or a packet from the TUN), and the free
/// buffers to read into.
pub(crate) struct Lanes<T> {
    free: Vec<Vec<u8>>,
    fast: VecDeque<T>,
    bulk: VecDeque<T>,
}

impl<T> Lanes<T> {
    /// `buffers` buffers of `size` bytes each.
    pub(crate) fn new(buffers: usize, size: usize) -> Self {
        Self {
            free: (0..buffers.max(1)).map(|_| vec![0u8; size]).collect(),
            fast: VecDeque::new(),
            bulk: VecDeque::new(),
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

    pub(crate) fn push(&mut self, item: T, fast: bool) {
        if fast {
            self.fast.push_back(item);
        } else {
            self.bulk.push_back(item);
        }
    }

    /// The oldest item of the fast lane.
    pub(crate) fn pop_fast(&mut self) -> Option<T> {
        self.fast.pop_front()
    }

    /// The oldest bulk item, to take a part of; it stays queued.
    pub(crate) fn bulk_front(&mut self) -> Option<&mut T> {
        self.bulk.front_mut()
    }

    /// The oldest bulk item, taken out.
    pub(crate) fn pop_bulk(&mut self) -> Option<T> {
        self.bulk.pop_front()
    }
}

impl Lanes<Received> {
    /// Queues a filled receive buffer in its lane; an empty one goes straight back.
    pub(crate) fn push_received(&mut self, r: Received) {
        if r.is_done() {
            self.recycle(r.buf);
        } else {
            let fast = r.is_fast();
            self.push(r, fast);
        }
    }

    /// Retires the oldest bulk buffer once all of it is done.
    pub(crate) fn retire_bulk(&mut self) {
        if self.bulk.front().is_some_and(Received::is_done) {
            if let Some(r) = self.pop_bulk() {
                self.recycle(r.buf);
            }
        }
    }
}

/// Whether a packet read from the TUN takes the fast lane: marked for real-time or network
/// control (DSCP 32 and up: CS4, AF4x, CS5, EF, CS6, CS7), or small and not a TCP segment
/// carrying data. A TCP segment with data stays in order with the rest of its stream whatever
/// its size; a bare acknowledgement may overtake, as on receive.
pub(crate) fn is_fast_outgoing(pkt: &[u8]) -> bool {
    if crate::packet::dscp(pkt) >= 32 {
        return true;
    }
    if pkt.len() > FAST_MAX_DATAGRAM - 32 {
        return false;
    }
    !crate::packet::is_tcp_with_data(pkt)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(port: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 1], port))
    }

    /// Drives the lanes the way the device does: all of the fast lane, then one chunk of bulk.
    /// Returns (source port, datagram length) in the order they would be decrypted.
    fn drain(lanes: &mut Lanes<Received>, chunk: usize) -> Vec<(u16, usize)> {
        let mut order = Vec::new();
        while !lanes.is_empty() {
            while let Some(mut r) = lanes.pop_fast() {
                let range = r.take(usize::MAX);
                for d in r.buf[range].chunks(r.stride) {
                    order.push((r.src.port(), d.len()));
                }
                lanes.recycle(r.buf);
            }
            if let Some(r) = lanes.bulk_front() {
                let range = r.take(chunk);
                let (port, stride) = (r.src.port(), r.stride);
                for d in r.buf[range].chunks(stride) {
                    order.push((port, d.len()));
                }
            }
            lanes.retire_bulk();
        }
        order
    }

    #[test]
    fn small_datagrams_overtake_a_download_that_arrived_before_them() {
        let mut lanes = Lanes::new(4, 65_535);
        let mut bufs = lanes.take_free(4);
        // A download: 10 full datagrams and a short tail, coalesced into one buffer.
        let download = Received::new(bufs.pop().unwrap(), 10 * 1452 + 700, 1452, src(1));
        // Then a game's two updates of 120 bytes, coalesced, from another member.
        let game = Received::new(bufs.pop().unwrap(), 240, 120, src(2));
        lanes.push_received(download);
        lanes.push_received(game);
        for b in bufs {
            lanes.recycle(b);
        }
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
    fn bulk_is_taken_a_chunk_at_a_time_so_a_late_game_packet_waits_one_chunk() {
        let mut lanes = Lanes::new(3, 65_535);
        let mut bufs = lanes.take_free(3);
        lanes.push_received(Received::new(bufs.pop().unwrap(), 40 * 1452, 1452, src(1)));
        let r = lanes.bulk_front().unwrap();
        assert_eq!(r.take(16), 0..16 * 1452);
        lanes.retire_bulk();
        // A game packet arrives after the first chunk was decrypted.
        lanes.push_received(Received::new(bufs.pop().unwrap(), 100, 100, src(2)));
        let order = drain(&mut lanes, 16);
        assert_eq!(
            order[0],
            (2, 100),
            "the game packet goes before the rest of the bulk"
        );
        assert_eq!(order.len(), 1 + 24);
    }

    fn ipv4(proto: u8, tos: u8, total: usize, tcp_header: usize) -> Vec<u8> {
        let mut p = vec![0u8; total];
        p[0] = 0x45;
        p[1] = tos;
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p[9] = proto;
        if proto == 6 {
            p[20 + 12] = ((tcp_header / 4) as u8) << 4;
        }
        p
    }

    #[test]
    fn outgoing_game_packets_and_acknowledgements_are_fast_tcp_data_is_not() {
        assert!(
            is_fast_outgoing(&ipv4(17, 0, 28 + 120, 0)),
            "a game's update"
        );
        assert!(is_fast_outgoing(&ipv4(1, 0, 84, 0)), "a ping");
        assert!(
            is_fast_outgoing(&ipv4(6, 0, 52, 32)),
            "a bare acknowledgement"
        );
        assert!(
            !is_fast_outgoing(&ipv4(6, 0, 52 + 100, 32)),
            "100 bytes of a stream"
        );
        assert!(!is_fast_outgoing(&ipv4(17, 0, 1200, 0)), "a big datagram");
        assert!(
            is_fast_outgoing(&ipv4(17, 0xb8, 1200, 0)),
            "EF, whatever its size"
        );
        assert!(
            is_fast_outgoing(&ipv4(17, 32 << 2, 1200, 0)),
            "CS4, real-time"
        );
        assert!(
            !is_fast_outgoing(&ipv4(17, 8 << 2, 1200, 0)),
            "CS1, lower effort"
        );
    }

    #[test]
    fn an_empty_or_odd_buffer_neither_loops_nor_panics() {
        let mut lanes = Lanes::new(2, 64);
        let mut bufs = lanes.take_free(2);
        lanes.push_received(Received::new(bufs.pop().unwrap(), 0, 0, src(1)));
        // A length beyond the buffer is clamped; a zero stride is one datagram.
        lanes.push_received(Received::new(bufs.pop().unwrap(), 1_000, 0, src(1)));
        let order = drain(&mut lanes, 8);
        assert_eq!(order, vec![(1, 64)]);
        assert_eq!(lanes.take_free(5).len(), 2);
    }
}
