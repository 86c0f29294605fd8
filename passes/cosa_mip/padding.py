"""Padding candidates for dimensions with awkward prime factors (55 = 5 x 11, 161 = 7 x 23, 1021)."""

from __future__ import annotations

from cosa_onnx.problem import ALL_DIMS, Dim, LoopProblem, prime_factors

SMOOTH_PRIME = 7          # a size is smooth if its largest prime factor is at most this
MAX_PAD_RATIO = 1.15      # never pad a dimension by more than 15 %
CHEAP_PAD_RATIO = 1.05    # padding this small is tried on its own first


def is_smooth(n: int) -> bool:
    return max(prime_factors(n)) <= SMOOTH_PRIME


def smooth_ceiling(n: int) -> int | None:
    """The smallest smooth size >= n within MAX_PAD_RATIO, or None."""
    m = n
    while m <= n * MAX_PAD_RATIO:
        if is_smooth(m):
            return m
        m += 1
    return None


def padded_variants(problem: LoopProblem) -> list[dict[Dim, int]]:
    """The exact bounds first; then the awkward dims that pad cheaply (<= CHEAP_PAD_RATIO, e.g.
    55 -> 56) padded alone; then every awkward dim that can be smoothed padded (11 -> 12 too)."""
    exact = problem.bounds
    cheap, every = dict(exact), dict(exact)
    for d in ALL_DIMS:
        if is_smooth(exact[d]):
            continue
        up = smooth_ceiling(exact[d])
        if up is None:
            continue
        every[d] = up
        if up <= exact[d] * CHEAP_PAD_RATIO:
            cheap[d] = up
    out = [exact]
    for variant in (cheap, every):
        if variant not in out:
            out.append(variant)
    return out
