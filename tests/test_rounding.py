"""`round9` is `round(x, 9)`, bit for bit, on every float."""

from __future__ import annotations

import math
import struct

from hypothesis import example, given
from hypothesis import strategies as st

from mfgsync.operators.rounding import round9, round_quantity


def _bits(x: float) -> bytes:
    return struct.pack("<d", x)


def _same_as_round(x: float) -> None:
    got, want = round9(x), round(x, 9)
    if math.isnan(want):
        assert math.isnan(got)
    else:
        assert _bits(got) == _bits(want), (x, got, want)


@given(st.floats(allow_nan=True, allow_infinity=True))
@example(0.30000000000000004)
@example(-1e-12)  # rounds to -0.0, not 0.0
@example(-0.0)
@example(4.5e6)
def test_any_float(x: float) -> None:
    _same_as_round(x)


@given(st.integers(-(10**15), 10**15), st.sampled_from([-1, 0, 1]))
def test_floats_at_and_next_to_a_half_of_the_ninth_place(k: int, towards: int) -> None:
    # Where `x * 1e9` lands on or by a half, the product's rounding could tip the decision.
    x = (k + 0.5) / 1e9
    if towards:
        x = math.nextafter(x, math.copysign(math.inf, towards))
    _same_as_round(x)


@given(st.lists(st.sampled_from([0.1, 0.2, 0.3, 1.7, 2.05, 12.5, 1 / 3]), min_size=1, max_size=40))
def test_sums_of_decimals(parts: list[float]) -> None:
    _same_as_round(sum(parts))
    _same_as_round(math.prod(parts[:6]) * 1000)


@given(st.floats(min_value=0, max_value=1e7), st.floats(min_value=0, max_value=50))
def test_quantities_times_quantities_per(qty: float, per: float) -> None:
    _same_as_round(qty * per)


def test_a_quantity_that_rounds_to_zero_is_a_plain_zero() -> None:
    assert _bits(round_quantity(-1e-12)) == _bits(0.0)
    assert round_quantity(0.30000000000000004) == 0.3
