"""Replies kept per query shape and place: what a busy name's new client networks get.

A busy name's queries from networks never seen before repeat an earlier query's bytes
but for the ID and the ECS address. When the name has no CIDR of its fences or rules
in the client's family and the answer does not hash the client network, the reply
depends only on those bytes and on the compiled choice of the client's place
(:class:`~gslb.policy.table.NameTable`), so the view keeps it per (shape, choice), less
ID, ECS scope and address (:class:`~gslb.dns.view.PlacedShape`, under the query's
bytes but ID and address): :func:`learn` after the responder's decision path answered,
:func:`reply` (or its C twin, ``Tree.reply``) for every later query of that shape.
The ECS scope is then the database network's prefix, at least the source prefix, as
:func:`gslb.dns.routing.ecs_scope` gives for such an answer. The differential tests
(``tests/unit/test_fastpath.py``) hold both against the general path.
"""

from __future__ import annotations

from gslb.dns.routing import Route
from gslb.dns.view import PlacedShape, View
from gslb.dns.wire import ECS_ADDRESS_BYTES

__all__ = ["learn", "reply"]

_SCOPES = tuple(bytes((i,)) for i in range(129))
#: ECS option code and length for an address of n bytes (RFC 7871 6)
_OPTION = tuple(bytes((0, 8, 0, 4 + n)) for n in range(17))


def reply(view: View, data: bytes) -> tuple[bytes, int] | None:
    """The reply and counter label for a canonical UDP ECS query of a known shape from
    a place whose choice was answered, or None: one tree lookup, two indexes, a join.

    The shape is the query's bytes but ID and address, ending in an ECS option whose
    length and source prefix say the address is ``n`` bytes: equal keys then mean equal
    lengths. The C twin (``Tree.reply``, gslb/geo/_tree.c) does exactly this."""
    placed = view.placed.data
    for n in view.config.tails:
        if len(data) < n + 12 or data[-n - 8 : -n - 4] != _OPTION[n]:
            continue
        source = data[-n - 2]
        if (source + 7) >> 3 != n:
            continue
        entry = placed.get(data[2:-n])
        if entry is None:
            continue
        if source & 7 and data[-1] & (0xFF >> (source & 7)):
            return None  # bits past the source prefix: RFC 7871 6
        by_place, row, version, shift = entry
        address = data[-n:]
        place, plen = view.config.locator.find(version, int.from_bytes(address) << shift)
        if not 0 <= place < len(by_place):
            return None
        hit = row.get(by_place[place])
        if hit is None:
            return None
        return data[:2] + hit[0] + _SCOPES[plen if plen > source else source] + address, hit[1]
    return None


def learn(view: View, data: bytes, route: Route, ecs: bytes, out: bytes, label: int) -> bool:
    """Keep ``out`` (the reply to canonical UDP query ``data`` with client subnet
    ``ecs``) but for ID, scope and address, under the query's shape and the compiled
    choice of the client's place, if the answer depends on nothing else; say whether
    it is kept. The caller checked that the decision does not hash the client."""
    table = route.table
    version = 4 if ecs[1] == 1 else 6
    if any(v == version for v, _, _ in table.networks):
        return False  # a CIDR fence or rule: the address decides, not only the place
    n = len(ecs) - 4
    shift = 8 * (ECS_ADDRESS_BYTES[ecs[1]] - n)
    place, _ = view.config.locator.find(version, int.from_bytes(ecs[4:]) << shift)
    by_place = table.by_place
    if not 0 <= place < len(by_place) or by_place[place] < 0:
        return False  # lookup failed, or a place not compiled yet
    prefix = data[2:-n]
    placed = view.placed
    entry = placed.data.get(prefix)  # the prefix fixes the query's length (its OPT's)
    if entry is None:
        entry = PlacedShape(by_place, {}, version, shift)
        placed.put(prefix, entry, len(prefix))
    middle = out[2 : -(n + 1)]
    if not placed.charge(len(middle)):
        return False
    entry.row[by_place[place]] = (middle, label)
    return True
