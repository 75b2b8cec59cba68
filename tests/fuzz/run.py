"""Coverage-guided fuzzing of parse -> answer -> render with atheris (libFuzzer).

    python -m tests.fuzz.run -runs=1000000            # the documented long run
    python -m tests.fuzz.run -max_total_time=60       # a minute
    python -m tests.fuzz.run --make-corpus            # rewrite the seed corpus

Seeds are ``tests/fuzz/corpus/`` (read only: new inputs go to a temporary directory, so
the kept corpus stays small). A crashing input is written to ``tests/fuzz/crashers/``:
keep it there, it becomes a regression test (``tests/fuzz/test_fuzz.py``). Other
libFuzzer flags pass through. Exits non-zero on the first violation.
"""

from __future__ import annotations

import random
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
CRASHERS = HERE / "crashers"


def make_corpus() -> int:
    """A few dozen real queries: every shape the differential test generates, plus the
    protocol corners (zone transfers, opcodes, flags, OPT question, TCP)."""
    import struct

    from tests.unit.test_fastpath import random_query

    rng = random.Random(13)
    CORPUS.mkdir(exist_ok=True)
    for old in CORPUS.glob("seed-*"):
        old.unlink()
    seeds = []
    for _ in range(40):
        data, _ = random_query(rng)
        seeds.append(bytes([rng.randrange(8)]) + data)
    question = b"\x07example\x03com\x00"
    for qtype, flags, mode in ((252, 0, 1), (251, 0, 0), (41, 0, 0), (6, 15 << 11 | 0x07B0, 0),
                               (6, 0x8000, 0), (6, 0x0200, 1)):  # fmt: skip
        seeds.append(bytes([mode]) + struct.pack("!HHHHHH", 99, flags, 1, 0, 0, 0) + question
                     + struct.pack("!HH", qtype, 1))  # fmt: skip
    # a busy name's canonical ECS queries, two networks each: the first of a shape
    # teaches the place path (gslb.dns.place_answers, the C tree), mutations then hit it
    api = struct.pack("!HHHHHH", 7, 0x0100, 1, 0, 0, 1) + b"\x03api" + question
    for qtype, family, source, address in ((1, 1, 24, b"\x51\x02\x45"), (1, 1, 24, b"\x08\x08\x08"),
                                           (28, 2, 48, b"\x2a\x00\x14\x50\x40\x01"),
                                           (28, 2, 48, b"\x24\x00\xcb\x00\x00\x01")):  # fmt: skip
        ecs = struct.pack("!HBB", family, source, 0) + address
        option = struct.pack("!HH", 8, len(ecs)) + ecs
        opt = b"\0" + struct.pack("!HHIH", 41, 1232, 0, len(option)) + option
        seeds.append(b"\0" + api + struct.pack("!HH", qtype, 1) + opt)
    for i, seed in enumerate(seeds):
        (CORPUS / f"seed-{i:03d}").write_bytes(seed)
    print(f"{len(seeds)} seeds in {CORPUS}")
    return 0


def main(argv: list[str]) -> int:
    if "--make-corpus" in argv:
        return make_corpus()
    import atheris

    with atheris.instrument_imports(include=["gslb"]):
        from tests.fuzz import harness

        harness.responder()  # load zones and database before the clock starts

    def one(data: bytes) -> None:
        harness.check(data)

    CRASHERS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gslb-fuzz-") as work:
        args = [argv[0], work, str(CORPUS), f"-artifact_prefix={CRASHERS}/", "-timeout=5",
                "-max_len=4096", "-rss_limit_mb=4096", *argv[1:]]  # fmt: skip
        atheris.Setup(args, one)
        atheris.Fuzz()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
