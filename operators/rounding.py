"""`round9`: `round(x, 9)`, the planner's quantity rounding, bit for bit, at a quarter of the cost.

Quantities come from sums and products of decimals, and nine places keep float noise
(0.30000000000000004) out of the outputs and out of every changelog comparison. CPython's
`round(x, 9)` prints `x` to a correctly rounded decimal string and parses it back (about
640 ns); a 2,000-item first rebuild and its level-0 movements round millions of quantities,
and that was a tenth of the netting.

The fast path gives the very same float. `y = x * 1e9` is the exact product rounded once, so
it is within half an ulp of `x * 10**9`; unless `y` lies within an ulp of a half-integer,
`round(y)` is the integer the exact product rounds to, half to even as CPython's decimal
rounding does. That integer `n` is exact as a float (|y| < 2**52 here), and IEEE division is
correctly rounded, so `n / 1e9` is the float nearest to the decimal `n * 10**-9`: what
parsing that decimal gives. Everything else (near a half, large, zero, not finite) takes
`round` itself.
"""

from __future__ import annotations

_LIMIT = 4e15
"""Below 2**52: half-integers are floats and `round(y)` is exact as a float."""
_ULPS = 4.5e-16
"""Twice the relative spacing of floats (2**-52): the band around a half left to `round`."""


def round9(x: float) -> float:
    """`round(x, 9)`, the same float (see the module docstring)."""
    y = x * 1e9
    if -_LIMIT < y < _LIMIT:
        n = round(y)
        if n:
            d = y - n
            if abs(abs(d) - 0.5) > abs(y) * _ULPS:
                return n / 1e9
    return round(x, 9)
