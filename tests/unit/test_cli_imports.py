"""What a command costs before it does anything: the parser must not load boto3.

Every sub-command registers its options when the parser is built, so a module-level
import in one of them is paid by all: ``gslb serve`` carried boto3 and botocore
(~9 MB of RSS per process) for the Route 53 code it never runs.
"""

from __future__ import annotations

import subprocess
import sys


def test_building_the_parser_loads_neither_boto3_nor_botocore() -> None:
    code = (
        "import sys\n"
        "from gslb.cli import build_parser\n"
        "build_parser()\n"
        "import gslb.cli.serve, gslb.live.supervisor\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
