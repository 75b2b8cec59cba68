"""TCP slowloris against a running server, while a fresh client keeps asking.

Opens ``--idle`` connections that send nothing and ``--slow`` connections that send a
query one byte every ``--interval`` seconds, each from one of ``--sources`` loopback
addresses (127.0.1.1, 127.0.1.2, ...), and reopens any the server closes, for
``--seconds``. Meanwhile a probe asks one fresh TCP query (new connection from
127.0.0.1) and one UDP query every ``--every`` seconds, with a generous timeout, and
counts the answers. Prints one JSON object. Loopback only, bounded in count and time.

    python -m benchmarks.slowloris --port 5353 --idle 500 --slow 500 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import socket
import struct
import sys
import threading
import time
from dataclasses import asdict, dataclass, field

QUERY = (
    struct.pack("!HHHHHH", 0x5151, 0, 1, 0, 0, 0)
    + b"\x04mail\x07example\x03com\x00\x00\x01\x00\x01"
)
FRAMED = struct.pack("!H", len(QUERY)) + QUERY


@dataclass
class Figures:
    attack_connections: int = 0  # connections the attackers opened
    attack_closed_by_server: int = 0
    attack_connect_failed: int = 0
    attack_open_at_end: int = 0
    tcp_asked: int = 0
    tcp_answered: int = 0
    udp_asked: int = 0
    udp_answered: int = 0
    tcp_failures: list[str] = field(default_factory=list)


def raise_fd_limit(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))


async def _attacker(
    host: str, port: int, source: str, slow: bool, interval: float, stop: float, f: Figures
) -> None:
    while time.monotonic() < stop:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, local_addr=(source, 0)), 5
            )
        except (OSError, TimeoutError):
            f.attack_connect_failed += 1
            await asyncio.sleep(0.2)
            continue
        f.attack_connections += 1
        f.attack_open_at_end += 1
        sent = 0
        try:
            while time.monotonic() < stop:
                wait = min(interval, stop - time.monotonic()) if slow else stop - time.monotonic()
                try:
                    data = await asyncio.wait_for(reader.read(100), max(wait, 0.01))
                except TimeoutError:
                    if slow and sent < len(FRAMED) - 1:  # never complete the message
                        writer.write(FRAMED[sent : sent + 1])
                        sent += 1
                    continue
                if not data:
                    f.attack_closed_by_server += 1
                    break
        except OSError:
            f.attack_closed_by_server += 1
        finally:
            f.attack_open_at_end -= 1
            writer.close()
        await asyncio.sleep(0.05)


def _probe(host: str, port: int, every: float, stop: float, timeout: float, f: Figures) -> None:
    while time.monotonic() < stop:
        started = time.monotonic()
        f.tcp_asked += 1
        try:
            with socket.create_connection((host, port), timeout=timeout) as s:
                s.sendall(FRAMED)
                got = b""
                while len(got) < 2 or len(got) < 2 + struct.unpack("!H", got[:2])[0]:
                    chunk = s.recv(65535)
                    if not chunk:
                        raise ConnectionError("closed before the answer")
                    got += chunk
            if got[2:4] == QUERY[:2]:
                f.tcp_answered += 1
        except OSError as e:
            f.tcp_failures.append(f"{type(e).__name__}: {e}")
        f.udp_asked += 1
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.settimeout(timeout)
            u.sendto(QUERY, (host, port))
            try:
                if u.recv(65535)[:2] == QUERY[:2]:
                    f.udp_answered += 1
            except OSError:
                pass
        time.sleep(max(0.0, every - (time.monotonic() - started)))


async def _attack(args: argparse.Namespace, stop: float, f: Figures) -> None:
    sources = [f"127.0.1.{i % 250 + 1}" for i in range(args.sources)]
    tasks = [
        _attacker(args.host, args.port, sources[i % len(sources)], i >= args.idle,
                  args.interval, stop, f)
        for i in range(args.idle + args.slow)
    ]  # fmt: skip
    await asyncio.gather(*tasks)


def run(args: argparse.Namespace) -> Figures:
    raise_fd_limit(2 * (args.idle + args.slow) + 256)
    f = Figures()
    stop = time.monotonic() + args.seconds
    probe = threading.Thread(
        target=_probe, args=(args.host, args.port, args.every, stop, args.timeout, f)
    )
    probe.start()
    asyncio.run(_attack(args, stop, f))
    probe.join()
    return f


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--idle", type=int, default=500, help="connections that send nothing")
    p.add_argument("--slow", type=int, default=500, help="connections that trickle a query")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between slow bytes")
    p.add_argument("--sources", type=int, default=250, help="attacker source addresses")
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--every", type=float, default=0.5, help="seconds between probe queries")
    p.add_argument("--timeout", type=float, default=5.0, help="probe client timeout")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not args.host.startswith("127.") and args.host != "::1":
        print("slowloris: loopback targets only", file=sys.stderr)
        return 2
    figures = run(args)
    figures.tcp_failures = figures.tcp_failures[:5]
    print(json.dumps(asdict(figures)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
