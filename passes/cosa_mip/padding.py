"""Padding candidates for dimensions with awkward prime factors (55 = 5 x 11, 161 = 7 x 23, 1021)."""

from __future__ import annotations

from cosa_onnx.problem import ALL_DIMS, Dim, LoopProblem, prime_factors

SMOOTH_PRIME = 7          # a size is smooth if its largest prime factor is at most this
MAX_PAD_RATIO = 1.15      # never pad a dimension by more than 15 %


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
    """The exact bounds first, then (if any dim is awkward and can be smoothed) all such dims padded."""
    exact = problem.bounds
    padded = dict(exact)
    for d in ALL_DIMS:
        if not is_smooth(exact[d]):
            up = smooth_ceiling(exact[d])
            if up is not None:
                padded[d] = up
    return [exact] if padded == exact else [exact, padded]
