"""What the MIP is built over: groups of identical prime factors, placements and relevance, all
derived from the loop problem's projection table and the hardware spec (no hard-coded levels).

Placements, innermost first: one per memory level below the *slot level* (the level just below
the outermost one, CoSA's global buffer); at the slot level one spatial placement plus one
temporal loop-order slot per dimension (slot order = loop order, innermost first); then the
outermost level (DRAM), temporal only.

Identical prime factors of one dimension form one integer-valued group (``mult`` copies), which
removes the symmetry between them; giving each dimension one slot loses nothing, because in the
paper-era traffic term merging a dimension's loops at its innermost slot never raises any
tensor's cost (see docs/mip.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

from cosa_onnx.hwmodels.spec import HardwareSpec
from cosa_onnx.problem import ALL_DIMS, PROJECTION, Dim, LoopProblem, Operand, prime_factors

UNIT_DIMS_WITH_QUIRKS = frozenset({Dim.R, Dim.S, Dim.P, Dim.Q})


class Group(NamedTuple):
    """``mult`` copies of prime ``prime`` of dimension ``dim`` (prime 1: a size-1 dimension)."""

    gid: int
    dim: Dim
    prime: int
    mult: int

    @property
    def lg(self) -> float:
        return math.log2(self.prime)


class Placement(NamedTuple):
    """A place for factors: a memory level and, at the slot level, the temporal slot (None = spatial)."""

    level: int
    slot: int | None = None


@dataclass(frozen=True, kw_only=True)
class HaloAxis:
    """A sliding-window input axis ``primary * stride + secondary * dilation``."""

    primary: Dim
    secondary: Dim
    stride: int
    dilation: int


@dataclass(frozen=True, kw_only=True)
class Layout:
    """The index sets of the MIP for one problem on one spec."""

    problem: LoopProblem
    spec: HardwareSpec
    bounds: tuple[tuple[Dim, int], ...]
    groups: tuple[Group, ...]
    slot_dims: tuple[Dim, ...]  # dims with a factor > 1; one temporal slot each at the slot level
    slot_level: int             # -1: the spec has a single level
    outer_level: int

    @property
    def inner_levels(self) -> tuple[int, ...]:
        return tuple(range(max(self.slot_level, 0)))

    @property
    def slots(self) -> tuple[int, ...]:
        return tuple(range(len(self.slot_dims))) if self.slot_level >= 0 else ()

    def placements(self) -> tuple[Placement, ...]:
        inner = tuple(Placement(i) for i in self.inner_levels)
        mid = (Placement(self.slot_level),) if self.slot_level >= 0 else ()
        slots = tuple(Placement(self.slot_level, z) for z in self.slots)
        return (*inner, *mid, *slots, Placement(self.outer_level))

    def placements_within(self, level: int) -> tuple[Placement, ...]:
        """Placements whose factors lie inside one instance of ``level``."""
        return tuple(p for p in self.placements() if p.level <= level)

    def spatial_allowed(self, level: int) -> bool:
        return level != self.outer_level and self.spec.fanout(level) > 1

    def allowed(self, p: Placement, g: Group, spatial: bool) -> bool:
        """Whether group ``g`` may have loops at ``p`` (spatially if ``spatial``)."""
        if g.prime == 1:  # size-1 dims: inside (quirk effects) or outside, never in slots
            return not spatial and (p.level in self.inner_levels or p.level == self.outer_level)
        if spatial:
            return p.slot is None and self.spatial_allowed(p.level)
        if p.level == self.slot_level:
            return p.slot is not None
        return True


def direct_dims(operand: Operand) -> frozenset[Dim]:
    """Dims that index ``operand`` directly (first term of each axis): CoSA's relevance matrix A."""
    return frozenset(axis[0].dim for axis in PROJECTION[operand])


def stride_of(problem: LoopProblem, operand: Operand, dim: Dim) -> int:
    """Coefficient of ``dim`` as the first term of an axis of ``operand`` (1 if none)."""
    for axis in PROJECTION[operand]:
        if axis[0].dim == dim:
            return problem.coefficient(axis[0].coefficient)
    return 1


def halo_axes(problem: LoopProblem) -> tuple[HaloAxis, ...]:
    out = []
    for axis in PROJECTION[Operand.INPUTS]:
        if len(axis) == 2:
            out.append(HaloAxis(primary=axis[0].dim, secondary=axis[1].dim,
                                stride=problem.coefficient(axis[0].coefficient),
                                dilation=problem.coefficient(axis[1].coefficient)))
    return tuple(out)


def build_layout(problem: LoopProblem, spec: HardwareSpec, bounds: dict[Dim, int], *, paper_units: bool) -> Layout:
    """Group the prime factors of the (possibly padded) ``bounds``. With ``paper_units`` a size-1
    R, S, P or Q gives a factor 1 (the paper-era model's halo and stride quirks depend on them)."""
    groups: list[Group] = []
    for d in ALL_DIMS:
        size = bounds[d]
        if size == 1:
            if paper_units and d in UNIT_DIMS_WITH_QUIRKS:
                groups.append(Group(len(groups), d, 1, 1))
            continue
        primes = prime_factors(size)
        for prime in sorted(set(primes)):
            groups.append(Group(len(groups), d, prime, primes.count(prime)))
    slot_dims = tuple(d for d in ALL_DIMS if bounds[d] > 1)
    n = len(spec.levels)
    return Layout(problem=problem, spec=spec, bounds=tuple(sorted(bounds.items())), groups=tuple(groups),
                  slot_dims=slot_dims, slot_level=n - 2, outer_level=n - 1)
