"""Reloads keep the cyclic GC and big deallocations off the query path."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator

import pytest
import yaml

from gslb.config.yamlsource import Node, release
from gslb.heap import BUILD_SWITCH_INTERVAL, built


@pytest.fixture(autouse=True)
def _gc_restored() -> Iterator[None]:
    yield
    gc.enable()
    gc.unfreeze()


def test_a_paused_build_freezes_what_it_made_and_re_enables_the_collector() -> None:
    frozen = gc.get_freeze_count()
    before = sys.getswitchinterval()
    seen: list[tuple[bool, float]] = []

    def build(n: int) -> list[dict[str, int]]:
        seen.append((gc.isenabled(), sys.getswitchinterval()))
        return [{"i": i} for i in range(n)]

    made = built(build)(1000)
    assert seen == [(False, BUILD_SWITCH_INTERVAL)] and gc.isenabled()
    assert sys.getswitchinterval() == before
    assert len(made) == 1000 and gc.get_freeze_count() >= frozen + 1000


def test_a_failed_build_is_not_frozen() -> None:
    frozen = gc.get_freeze_count()

    def fail() -> None:
        assert not gc.isenabled()
        garbage = [{"left": "over"} for _ in range(100)]
        raise ValueError(f"broken zone {len(garbage)}")

    with pytest.raises(ValueError):
        built(fail)()
    assert gc.isenabled() and gc.get_freeze_count() == frozen


def test_nested_pauses_end_with_the_outer_one() -> None:
    def inner() -> None:
        assert not gc.isenabled()

    def outer() -> None:
        built(inner)()
        assert not gc.isenabled()  # the outer build is still running

    built(outer)()
    assert gc.isenabled()


def test_release_takes_a_composed_file_apart_node_by_node() -> None:
    root = yaml.compose("a: {b: [1, 2, {c: d}]}\ne: [f]\n", Loader=yaml.SafeLoader)
    assert isinstance(root, Node)
    inner = root.value[0][1]
    release(root)
    assert root.value == [] and inner.value == []
