"""What a query reads: a config view (changes on reload) under a live state (changes often).

:class:`ConfigView` holds everything that depends only on the zone files and the geo
database: the zones and their trees, the compiled policy tables, the locator, and the
caches of pure functions of those (static replies, routes to GSLB names, rendered
answer sections). :class:`View` puts a config view under one
:class:`~gslb.model.LiveState` and holds what depends on both (decisions, GSLB replies
per client network). A health or load change publishes a new :class:`View` of the same
config view: static replies and compiled tables survive, decision caches start empty.
The server reads ``responder.view`` once per query; publishing is one assignment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

from gslb.config.tree import ZoneTree
from gslb.dns.cache import Cache, Doorkeeper
from gslb.geo.locator import Locator
from gslb.model import LiveState, RRset, Zone
from gslb.policy.steps import Decider
from gslb.policy.table import NameTable, build_tables

if TYPE_CHECKING:
    from gslb.geo._tree import Tree

__all__ = ["CompiledZone", "ConfigView", "Known", "PlacedShape", "Rendered", "Shape", "View"]

MB = 1 << 20
#: Whole GSLB replies a view keeps (entries, bytes): the working set of a busy name
#: (~100k resolver networks asking again within their TTL) fits, ~330 B each.
REPLIES_LIMIT = 1 << 17
REPLIES_BUDGET = 40 * MB
#: Client networks whose rendered GSLB answer a view keeps for queries that cannot use
#: a whole reply (DO bit, other EDNS options, TCP): one key and two references each.
CLIENTS_LIMIT = 1 << 15
CLIENTS_BUDGET = 8 * MB
#: Query shapes (a question, EDNS flags, source prefix) a view keeps answers per place
#: for, and the bytes those answers hold: a few shapes per busy name, a few dozen
#: answers (one per compiled choice) each.
PLACED_LIMIT = 256
PLACED_BUDGET = 4 * MB
#: Static and negative answers kept per config (entries, bytes, per cache): random
#: NXDOMAIN and out-of-zone names are what a busy authoritative also sees.
STATIC_LIMIT = 1 << 15
STATIC_BUDGET = 8 * MB


class Rendered(NamedTuple):
    """A reply's sections as bytes, ready to go behind any header and question."""

    flags: int  # header flags without RD (copied per query)
    an: int
    ns: int
    ar: int
    body: bytes
    scope: int  # ECS scope to echo


#: A learned canonical ECS query (:mod:`gslb.dns.fastparse`): flags, question, key, UDP
#: limit, DO bit, ECS head (family, source, scope) and the query's length.
Shape = tuple[int, bytes, bytes, int, int, bytes, int]

#: A memoised decision with its rendered sections and counter labels (without and with
#: ECS); the decision is held so that its id, part of the memo key, stays unique.
Known = tuple[object, Rendered, int, int]


class PlacedShape(NamedTuple):
    """Replies to one canonical ECS query shape, by the compiled choice of the client's
    place: all but the ID, the ECS scope and the client address (see
    :mod:`gslb.dns.place_answers`)."""

    by_place: Sequence[int]  # the name's compiled table: place id -> choice index
    row: dict[int, tuple[bytes, int]]  # choice index -> (reply middle, counter label)
    version: int  # IP version of the client address
    shift: int  # bits to shift the address bytes left by to make the full address


class CompiledZone:
    """A zone with its name tree and the SOA its negative answers carry (RFC 2308)."""

    __slots__ = ("zone", "tree", "negative")

    def __init__(self, zone: Zone) -> None:
        self.zone = zone
        delegations = [o for o, sets in zone.rrsets.items() if "NS" in sets]
        self.tree = ZoneTree(zone.origin, [*zone.rrsets, *zone.gslb], delegations)
        soa = zone.rrsets[zone.origin]["SOA"]
        self.negative = RRset(soa.name, "SOA", min(soa.ttl, zone.soa.minimum), soa.rdatas)


class ConfigView:
    """Zones, policy tables, locator, and the caches that only a reload invalidates."""

    __slots__ = (
        "zones", "locator", "tables", "chaos", "replies", "static", "routes", "bodies",
        "shapes", "tails", "tree",
    )  # fmt: skip

    def __init__(
        self,
        zones: Iterable[Zone],
        locator: Locator,
        chaos: Mapping[str, str] | None = None,
        compile_all: bool = True,
    ) -> None:
        """``compile_all``: fill the policy tables for every place the locator knows
        now (the server); without it places are compiled as clients arrive (one-off
        commands such as ``gslb resolve``). The answers are the same either way."""
        self.zones = {z.origin: CompiledZone(z) for z in zones}
        self.locator = locator
        names = [n for cz in self.zones.values() for n in cz.zone.gslb.values()]
        self.tables: dict[str, NameTable] = build_tables(
            names, locator.places if compile_all else ()
        )
        self.chaos = dict(chaos or {})
        #: whole static replies (and their counter label) by the query bytes after the ID
        self.replies: Cache[bytes, tuple[bytes, int]] = Cache(
            "static replies", STATIC_LIMIT, STATIC_BUDGET
        )
        #: rendered static answers by lower-cased question, with their counter labels
        #: for a query without and with a client subnet option
        self.static: Cache[bytes, tuple[Rendered, int, int]] = Cache(
            "static answers", STATIC_LIMIT, STATIC_BUDGET
        )
        #: how a lower-cased question reaches a GSLB name
        self.routes: Cache[bytes, object] = Cache("routes", 2048, 1 * MB)
        #: rendered GSLB answers by (question, outcome, endpoints, ttl): pure functions of
        #: config, shared by every client and every live state with that answer
        self.bodies: Cache[tuple[object, ...], Rendered] = Cache("answer bodies", 4096, 2 * MB)
        #: parsed canonical ECS queries (and their length) by their bytes without ID and
        #: client address (fastparse.shaped), and the address lengths those end with
        self.shapes: Cache[bytes, Shape] = Cache("query shapes", 2048, 1 * MB)
        self.tails: tuple[int, ...] = ()
        #: the locator's search tree in C, which answers place_answers.reply in one call
        #: (our compact database, when the C module was built: gslb.geo.tree)
        self.tree: Tree | None = getattr(locator, "tree", None)

    def find_zone(self, labels: tuple[bytes, ...]) -> CompiledZone | None:
        for i in range(len(labels) + 1):
            name = b".".join(labels[i:]).decode("latin-1") + "." if labels[i:] else "."
            cz = self.zones.get(name)
            if cz is not None:
                return cz
        return None


class View:
    """A config view under one live state: read once per query, replaced whole."""

    __slots__ = (
        "config", "state", "decider", "replies", "by_resolver", "clients", "answers", "seen",
        "placed",
    )  # fmt: skip

    def __init__(self, config: ConfigView, state: LiveState | None = None) -> None:
        self.config = config
        self.state = state if state is not None else LiveState()
        self.decider = Decider(self.state)
        #: whole GSLB replies (and counter label) by the query bytes after the ID
        self.replies: Cache[bytes, tuple[bytes, int]] = Cache(
            "gslb replies", REPLIES_LIMIT, REPLIES_BUDGET
        )
        #: whole GSLB replies located by the resolver's address: (resolver, bytes)
        self.by_resolver: Cache[tuple[str, bytes], tuple[bytes, int]] = Cache(
            "resolver replies", 4096, MB
        )
        #: rendered GSLB answers (and counter label) by (question, client network as sent)
        self.clients: Cache[object, tuple[Known, int]] = Cache(
            "client answers", CLIENTS_LIMIT, CLIENTS_BUDGET
        )
        #: per (question, decision object): the decision (held, so its id stays unique),
        #: its rendered sections and counter labels without and with ECS; memoised
        #: decisions make this the common case for a new client network
        self.answers: dict[tuple[bytes, int], Known] = {}
        #: (question, client network) answered once, by hash: caches keep a client's
        #: answer from its second query on (1 MB of bits, cleared after 131,072 marks)
        self.seen = Doorkeeper()
        #: per canonical ECS query shape (its bytes without ID and client address): the
        #: replies by compiled choice, for answers that depend only on the client's place
        self.placed: Cache[bytes, PlacedShape] = Cache("place answers", PLACED_LIMIT, PLACED_BUDGET)

    def with_state(self, state: LiveState) -> View:
        """The same config under another state (the same view if the state is equal)."""
        return self if state == self.state else View(self.config, state)
