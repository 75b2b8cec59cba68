"""A UDP flood against a running server: is what it sheds bounded and counted?

``--senders`` processes send queries as fast as they can for ``--seconds``, each from
its own loopback /24 (127.0.<n>.1), never reading the replies; a probe from 127.0.0.1
asks one query every 0.1 s (1 s timeout). With ``--pid`` the server's RSS is sampled.
Prints one JSON object. Loopback only, bounded in time.

``--padding N`` sends each query with an EDNS padding option (RFC 7830) of N bytes
holding a counter, so no two queries have the same bytes: the memory attack of issue 13
(a cache keyed on raw query bytes grows by every query).

    python -m benchmarks.flood --port 5353 --senders 2 --seconds 10 --pid 1234
    python -m benchmarks.flood --port 5353 --senders 2 --seconds 10 --pid 1234 --padding 3990
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import struct
import sys
import time

NAMES = (b"\x04mail\x07example\x03com\x00", b"\x03api\x07example\x03com\x00",
         b"\x04nope\x07example\x03com\x00", b"\x03www\x07example\x03org\x00")  # fmt: skip


def query(qid: int, name: bytes) -> bytes:
    return struct.pack("!HHHHHH", qid, 0, 1, 0, 0, 0) + name + b"\x00\x01\x00\x01"


def padded(qid: int, name: bytes, size: int, counter: int) -> bytes:
    """A query with an OPT record carrying a padding option of ``size`` bytes that
    starts with ``counter`` (so every query differs)."""
    pad = counter.to_bytes(8, "big") + bytes(max(0, size - 8))
    option = struct.pack("!HH", 12, len(pad)) + pad
    opt = b"\x00" + struct.pack("!HHIH", 41, 4096, 0, len(option)) + option
    head = struct.pack("!HHHHHH", qid, 0, 1, 0, 0, 1)
    return head + name + b"\x00\x01\x00\x01" + opt


def _send(host: str, port: int, source: str, seconds: float, sent: multiprocessing.Value,  # type: ignore[valid-type]
          padding: int = 0) -> None:  # fmt: skip
    wires = [query(i, NAMES[i % len(NAMES)]) for i in range(64)]
    count = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((source, 0))
        s.setblocking(False)
        stop = time.monotonic() + seconds
        while time.monotonic() < stop:
            if padding:
                base = count + (int(source.split(".")[2]) << 40)
                wires = [padded(i, NAMES[i % len(NAMES)], padding, base + i) for i in range(64)]
            for wire in wires:
                try:
                    s.sendto(wire, (host, port))
                    count += 1
                except OSError:
                    pass
    with sent.get_lock():  # type: ignore[attr-defined]
        sent.value += count  # type: ignore[attr-defined]


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def run(args: argparse.Namespace) -> dict[str, float]:
    sent = multiprocessing.Value("q", 0)
    senders = [
        multiprocessing.Process(
            target=_send,
            args=(args.host, args.port, f"127.0.{10 + i}.1", args.seconds, sent, args.padding),
        )
        for i in range(args.senders)
    ]
    rss0 = rss_mb(args.pid) if args.pid else 0.0
    rss_max = rss0
    for p in senders:
        p.start()
    asked = answered = 0
    stop = time.monotonic() + args.seconds
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.settimeout(1.0)
        while time.monotonic() < stop:
            asked += 1
            wire = query(asked & 0xFFFF, NAMES[0])
            probe.sendto(wire, (args.host, args.port))
            try:
                while probe.recv(65535)[:2] != wire[:2]:
                    pass
                answered += 1
            except TimeoutError:
                pass
            if args.pid:
                rss_max = max(rss_max, rss_mb(args.pid))
            time.sleep(0.1)
    for p in senders:
        p.join()
    return {"sent": sent.value, "seconds": args.seconds, "probe_asked": asked,
            "probe_answered": answered, "rss_start_mb": round(rss0, 1),
            "rss_max_mb": round(rss_max, 1)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--senders", type=int, default=2)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--padding", type=int, default=0, help="EDNS padding bytes per query")
    p.add_argument("--pid", default="", help="server process id, for its RSS ('parent': ours)")
    args = p.parse_args(argv)
    if not args.host.startswith("127."):
        print("flood: loopback targets only", file=sys.stderr)
        return 2
    args.pid = os.getppid() if args.pid == "parent" else int(args.pid or 0)
    print(json.dumps(run(args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
