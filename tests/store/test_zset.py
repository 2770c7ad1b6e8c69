"""ZSet: dict + SortedList kept in step; range bounds as [lo, hi) index pairs."""

from __future__ import annotations

import math
import random

from tensorserve.store import ZSet
from tensorserve.store._zset import LEX_EXCLUSIVE, LEX_INCLUSIVE, LEX_MAX, LEX_MIN


def _zs(*pairs: tuple[bytes, float]) -> ZSet:
    zs = ZSet()
    for member, score in pairs:
        zs.add(member, score)
    return zs


def _members(zs: ZSet, lo: int, hi: int, reverse: bool = False) -> list[bytes]:
    return [m for _, m in zs.items(lo, hi, reverse)]


def test_zset_add_update_remove_keep_dict_and_list_in_step() -> None:
    zs = ZSet()
    assert zs.add(b"a", 1.0) is True
    assert zs.add(b"a", 2.0) is False
    assert zs.add(b"a", 2.0) is False
    assert zs.score(b"a") == 2.0
    assert list(zs.sl) == [(2.0, b"a")]
    assert zs.remove(b"a") is True
    assert zs.remove(b"a") is False
    assert not zs and len(zs.sl) == 0


def test_zset_ties_order_bytewise_by_member() -> None:
    zs = _zs((b"b", 1), (b"a", 1), (b"\xff", 1), (b"A", 1), (b"z", 0))
    assert _members(zs, 0, len(zs)) == [b"z", b"A", b"a", b"b", b"\xff"]
    assert zs.rank(b"a") == 2
    assert zs.rank(b"missing") is None


def test_zset_score_bounds_inclusive_exclusive_and_infinite() -> None:
    zs = _zs((b"a", 1), (b"b", 2), (b"c", 2), (b"d", 3), (b"e", math.inf))
    assert _members(zs, *zs.score_bounds(2, False, 2, False)) == [b"b", b"c"]
    assert _members(zs, *zs.score_bounds(1, True, 3, True)) == [b"b", b"c"]
    assert _members(zs, *zs.score_bounds(-math.inf, False, math.inf, False)) == [
        b"a", b"b", b"c", b"d", b"e"]
    assert _members(zs, *zs.score_bounds(3, True, math.inf, False)) == [b"e"]
    assert zs.score_bounds(math.inf, True, math.inf, False)[1] - zs.score_bounds(
        math.inf, True, math.inf, False)[0] == 0
    lo, hi = zs.score_bounds(3, False, 1, False)
    assert hi == lo


def test_zset_lex_bounds() -> None:
    zs = _zs(*((m, 0.0) for m in (b"a", b"b", b"c", b"d")))
    assert _members(zs, *zs.lex_bounds((LEX_MIN, b""), (LEX_MAX, b""))) == [
        b"a", b"b", b"c", b"d"]
    assert _members(zs, *zs.lex_bounds((LEX_INCLUSIVE, b"b"), (LEX_EXCLUSIVE, b"d"))) == [
        b"b", b"c"]
    assert _members(zs, *zs.lex_bounds((LEX_EXCLUSIVE, b"a"), (LEX_INCLUSIVE, b"c"))) == [
        b"b", b"c"]
    lo, hi = zs.lex_bounds((LEX_MAX, b""), (LEX_MIN, b""))
    assert lo == hi


def test_zset_pop_lowest_and_highest() -> None:
    zs = _zs((b"a", 1), (b"b", 2), (b"c", 3), (b"d", 4))
    assert zs.pop(1) == [(1.0, b"a")]
    assert zs.pop(2, highest=True) == [(4.0, b"d"), (3.0, b"c")]
    assert zs.pop(10) == [(2.0, b"b")]
    assert not zs and not zs.dict


def test_zset_remove_range() -> None:
    zs = _zs((b"a", 1), (b"b", 2), (b"c", 3), (b"d", 4))
    assert zs.remove_range(1, 3) == 2
    assert list(zs.sl) == [(1.0, b"a"), (4.0, b"d")]
    assert set(zs.dict) == {b"a", b"d"}
    assert zs.remove_range(2, 1) == 0


def test_zset_matches_a_sorted_model_under_random_updates() -> None:
    rng = random.Random(7)
    zs = ZSet()
    model: dict[bytes, float] = {}
    for _ in range(2000):
        member = b"m%d" % rng.randrange(50)
        if rng.random() < 0.3:
            assert zs.remove(member) == (model.pop(member, None) is not None)
        else:
            score = float(rng.randrange(10))
            assert zs.add(member, score) == (member not in model)
            model[member] = score
    expected = sorted((s, m) for m, s in model.items())
    assert list(zs.sl) == expected
    assert zs.dict == model
    for rank, (_, member) in enumerate(expected):
        assert zs.rank(member) == rank
