#!/usr/bin/env python3
"""A wire with delay and jitter, for kernels without netem (this machine's has none).

Creates two TAP devices and copies every Ethernet frame from one to the other, each after
DELAY_MS plus a uniform random jitter in [-JITTER_MS, +JITTER_MS] (like netem, frames may be
reordered by jitter). The lab bridges each TAP to one side of a link, so the hop is invisible at
layer 3. Prints "ready" once both devices exist; runs until killed.

    delay_hop.py TAP_A TAP_B DELAY_MS JITTER_MS
"""

import fcntl
import heapq
import os
import random
import select
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000


def tap(name):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    return fd


def main():
    a_name, b_name, delay_ms, jitter_ms = sys.argv[1:5]
    delay = float(delay_ms) / 1000.0
    jitter = float(jitter_ms) / 1000.0
    a, b = tap(a_name), tap(b_name)
    other = {a: b, b: a}
    queue = []  # (due, seq, fd, frame)
    seq = 0
    print("ready", flush=True)
    while True:
        now = time.monotonic()
        timeout = max(0.0, queue[0][0] - now) if queue else None
        readable, _, _ = select.select([a, b], [], [], timeout)
        now = time.monotonic()
        for fd in readable:
            while True:
                try:
                    frame = os.read(fd, 65536)
                except BlockingIOError:
                    break
                d = max(0.0, delay + random.uniform(-jitter, jitter))
                heapq.heappush(queue, (now + d, seq, other[fd], frame))
                seq += 1
        while queue and queue[0][0] <= time.monotonic():
            _, _, fd, frame = heapq.heappop(queue)
            try:
                os.write(fd, frame)
            except OSError:
                pass  # the other side is down or full: a lost frame, as on a real wire


if __name__ == "__main__":
    main()
