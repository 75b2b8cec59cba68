"""How long does a reload of a large zone stall answers? (issue 13, defect 5)

Writes a zone of ``--records`` A records (plus the bundled example zone) into a
temporary directory, starts ``gslb serve`` on a loopback port, and asks the big zone's
SOA over one TCP connection, back to back, timing each answer. After a second it
rewrites the big zone with a new serial and sends SIGHUP, and keeps asking until the new
serial has been answered for a second. Prints one JSON object: the slowest answer before
the reload, the slowest while it ran (the stall), the time from SIGHUP to the new serial.

    python -m benchmarks.reload_stall --records 50050
    python -m benchmarks.reload_stall --cmd "/path/to/old/.venv/bin/python -m gslb"

``--cmd`` runs another gslb (an older checkout) the same way. Loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.servers import free_port

REPO = Path(__file__).resolve().parents[1]
ZONE = "big.test"


def write_zone(path: Path, records: int, serial: int) -> None:
    lines = [
        f"zone: {ZONE}",
        f"soa: {{mname: ns1.{ZONE}., rname: hostmaster.{ZONE}., serial: {serial},",
        "      refresh: 7200, retry: 3600, expire: 1209600, minimum: 300}",
        "ns: [ns1]",
        "records:",
        "  ns1: {A: 192.0.2.53}",
    ]
    for i in range(records):
        lines.append(f"  h{i:06d}: {{A: 198.51.{(i >> 8) & 255}.{i & 255}}}")
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="ascii")
    os.replace(tmp, path)


def soa_query(qid: int) -> bytes:
    name = b"".join(bytes([len(p)]) + p.encode() for p in ZONE.split(".")) + b"\x00"
    wire = struct.pack("!HHHHHH", qid, 0, 1, 0, 0, 0) + name + b"\x00\x06\x00\x01"
    return struct.pack("!H", len(wire)) + wire


def read_reply(sock: socket.socket) -> bytes:
    def exactly(n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("server closed the connection")
            buf += chunk
        return buf

    (length,) = struct.unpack("!H", exactly(2))
    return exactly(length)


def serial_of(reply: bytes) -> int:
    """The SOA serial of a one-answer reply (the last 20 bytes of its rdata)."""
    return int(struct.unpack_from("!I", reply, len(reply) - 20)[0])


def ask(port: int, qid: int) -> tuple[float, int]:
    """One TCP query on a fresh connection (a reload must not hold new ones either)."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(soa_query(qid))
        reply = read_reply(s)
    return time.monotonic() - start, serial_of(reply)


def run(args: argparse.Namespace) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="gslb-reload-"))
    try:
        zones = work / "zones"
        zones.mkdir()
        shutil.copy(REPO / "zones" / "example.com.yaml", zones)
        big = zones / f"{ZONE}.yaml"
        write_zone(big, args.records, 1)
        port = free_port()
        cmd = [*shlex.split(args.cmd), "serve", "--zones", str(zones)]
        cmd += ["--dns", f"127.0.0.1:{port}"]
        log = (work / "serve.log").open("w")
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + args.startup
            while True:
                try:
                    ask(port, 1)
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise SystemExit(f"server did not start; see {work}/serve.log") from None
                    time.sleep(0.1)
            before = during = 0.0
            qid = 2
            t_end = time.monotonic() + 1.0
            while time.monotonic() < t_end:
                took, _ = ask(port, qid)
                before = max(before, took)
                qid += 1
            write_zone(big, args.records, 2)
            hup = time.monotonic()
            proc.send_signal(signal.SIGHUP)
            switched = None
            slowest_at = 0.0
            times: list[float] = []
            while switched is None or time.monotonic() < switched + 1.0:
                took, serial = ask(port, qid & 0xFFFF)
                qid += 1
                times.append(took)
                if took > during:
                    during, slowest_at = took, time.monotonic() - hup
                if serial == 2 and switched is None:
                    switched = time.monotonic()
                if time.monotonic() - hup > args.timeout:
                    raise SystemExit("the new serial never appeared")
            return {
                "records": args.records,
                "cmd": args.cmd,
                "slowest_answer_before_ms": round(before * 1000, 1),
                "slowest_answer_during_reload_ms": round(during * 1000, 1),
                "sighup_to_new_serial_ms": round((switched - hup) * 1000, 1),
                "slowest_answer_at_ms": round(slowest_at * 1000, 1),
                "answers_during_reload": len(times),
                "p99_during_reload_ms": round(sorted(times)[len(times) * 99 // 100] * 1000, 1),
            }
        finally:
            proc.terminate()
            proc.wait(10)
            log.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--records", type=int, default=50_050)
    p.add_argument("--cmd", default=f"{sys.executable} -m gslb", help="gslb command prefix")
    p.add_argument("--startup", type=float, default=120.0, help="seconds to wait for start")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for reload")
    print(json.dumps(run(p.parse_args(argv)), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
