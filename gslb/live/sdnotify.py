"""systemd's readiness protocol (``Type=notify``): one datagram to ``$NOTIFY_SOCKET``.

``notify("READY=1")`` once serving, ``notify("RELOADING=1")`` / ``"READY=1"`` around a
reload, ``notify("STOPPING=1")`` when stopping. Without ``$NOTIFY_SOCKET`` (not started
by systemd, or another ``Type=``) it does nothing. An address starting with ``@`` is
in the abstract namespace (a leading NUL byte), as sd_notify(3) specifies. Failures
are logged, never raised: readiness reporting must not stop a server from serving.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

__all__ = ["notify"]

log = logging.getLogger(__name__)


def _address(value: str) -> str | bytes | None:
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    return None  # vsock (vsock:CID:PORT) and relative paths: not for a service manager here


def notify(state: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Send ``state`` (e.g. ``"READY=1"``, newline-separated assignments) to the service
    manager. Returns whether it was sent."""
    value = environ.get("NOTIFY_SOCKET", "")
    if not value:
        return False
    address = _address(value)
    if address is None:
        log.warning("NOTIFY_SOCKET=%r is not a socket path; not notifying", value)
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError as exc:
        log.warning("cannot notify the service manager at %s: %s", value, exc)
        return False
    return True
