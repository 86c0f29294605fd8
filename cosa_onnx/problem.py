"""The loop-problem IR: one convolution / matrix multiply as an 8-D loop nest.

A problem is the nest ``O[g,n,k,q,p] += W[g,k,c,s,r] * I[g,n,c, q*Hs+s*Hd, p*Ws+r*Wd]`` over the
dimensions G (groups / batched-matmul batch), R, S (filter width, height), P, Q (output width,
height), C (input channels per group), K (output channels per group) and N (batch).

R pairs with P (width) and S with Q (height), as in Timeloop's ``cnn-layer`` shape.

Everything about which dimension touches which tensor is derived from one projection table,
:data:`PROJECTION`: relevance (CoSA's A matrix), tile footprints with the sliding-window halo,
and tensor sizes. Matrix multiplies use the same table with R = S = Q = 1.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

SCHEMA_VERSION = 1


class Dim(StrEnum):
    """A loop dimension of the nest (canonical order: G R S P Q C K N)."""

    G = "G"
    R = "R"
    S = "S"
    P = "P"
    Q = "Q"
    C = "C"
    K = "K"
    N = "N"


class Operand(StrEnum):
    """A tensor (data space) of the nest, named as Timeloop names them."""

    WEIGHTS = "Weights"
    INPUTS = "Inputs"
    OUTPUTS = "Outputs"


ALL_DIMS: tuple[Dim, ...] = tuple(Dim)
ALL_OPERANDS: tuple[Operand, ...] = tuple(Operand)


@dataclass(frozen=True)
class AxisTerm:
    """One term ``coefficient * dim`` of a tensor axis index; ``coefficient`` names a problem field."""

    dim: Dim
    coefficient: str | None = None  # None = 1; else "w_stride", "h_dilation", ...


# Each tensor axis is a sum of terms; an axis of one term is a plain dimension index.
# This table is the single source of relevance, footprints and halos.
PROJECTION: Mapping[Operand, tuple[tuple[AxisTerm, ...], ...]] = {
    Operand.WEIGHTS: (
        (AxisTerm(Dim.G),),
        (AxisTerm(Dim.K),),
        (AxisTerm(Dim.C),),
        (AxisTerm(Dim.S),),
        (AxisTerm(Dim.R),),
    ),
    Operand.INPUTS: (
        (AxisTerm(Dim.G),),
        (AxisTerm(Dim.N),),
        (AxisTerm(Dim.C),),
        (AxisTerm(Dim.Q, "h_stride"), AxisTerm(Dim.S, "h_dilation")),
        (AxisTerm(Dim.P, "w_stride"), AxisTerm(Dim.R, "w_dilation")),
    ),
    Operand.OUTPUTS: (
        (AxisTerm(Dim.G),),
        (AxisTerm(Dim.N),),
        (AxisTerm(Dim.K),),
        (AxisTerm(Dim.Q),),
        (AxisTerm(Dim.P),),
    ),
}


def relevant_dims(operand: Operand) -> frozenset[Dim]:
    """Dimensions that index ``operand`` (CoSA's relevance matrix, derived from PROJECTION)."""
    return frozenset(term.dim for axis in PROJECTION[operand] for term in axis)


RELEVANT: Mapping[Operand, frozenset[Dim]] = {v: relevant_dims(v) for v in ALL_OPERANDS}


def product(values: Iterable[int]) -> int:
    return math.prod(values)


@dataclass(frozen=True, kw_only=True)
class LoopProblem:
    """One conv/matmul layer as a loop nest. Bounds are loop trip counts (>= 1)."""

    name: str
    op_type: str = "Conv"
    g: int = 1
    r: int = 1
    s: int = 1
    p: int = 1
    q: int = 1
    c: int = 1
    k: int = 1
    n: int = 1
    w_stride: int = 1
    h_stride: int = 1
    w_dilation: int = 1
    h_dilation: int = 1
    # Zero padding of the input (begin, end) along width / height, in elements.
    w_pad: tuple[int, int] = (0, 0)
    h_pad: tuple[int, int] = (0, 0)
    weight_bits: int = 8
    input_bits: int = 8
    output_bits: int = 8

    def __post_init__(self) -> None:
        for d in ALL_DIMS:
            value = getattr(self, d.lower())
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"layer {self.name!r}: bound {d} must be a positive integer, got {value!r}")
        for fname in ("w_stride", "h_stride", "w_dilation", "h_dilation"):
            value = getattr(self, fname)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"layer {self.name!r}: {fname} must be a positive integer, got {value!r}")
        object.__setattr__(self, "w_pad", tuple(self.w_pad))
        object.__setattr__(self, "h_pad", tuple(self.h_pad))

    # ---- bounds -------------------------------------------------------------------------------
    def bound(self, dim: Dim) -> int:
        return int(getattr(self, dim.lower()))

    @property
    def bounds(self) -> dict[Dim, int]:
        return {d: self.bound(d) for d in ALL_DIMS}

    def coefficient(self, name: str | None) -> int:
        return 1 if name is None else int(getattr(self, name))

    # ---- derived facts ------------------------------------------------------------------------
    @property
    def macs(self) -> int:
        return product(self.bounds.values())

    def footprint(self, operand: Operand, tile: Mapping[Dim, int]) -> int:
        """Words of ``operand`` touched by a tile with the given per-dim extents (missing = 1).

        A sliding-window axis ``P*stride + R*dilation`` spans ``(P-1)*stride + (R-1)*dilation + 1``.
        """
        words = 1
        for axis in PROJECTION[operand]:
            extent = 1
            for term in axis:
                extent += (tile.get(term.dim, 1) - 1) * self.coefficient(term.coefficient)
            words *= extent
        return words

    def tensor_words(self, operand: Operand) -> int:
        """Size of the whole tensor in words (inputs include the padding halo)."""
        return self.footprint(operand, self.bounds)

    def axis_extent(self, operand: Operand, axis_index: int, tile: Mapping[Dim, int]) -> int:
        extent = 1
        for term in PROJECTION[operand][axis_index]:
            extent += (tile.get(term.dim, 1) - 1) * self.coefficient(term.coefficient)
        return extent

    def operand_bits(self, operand: Operand) -> int:
        return {Operand.WEIGHTS: self.weight_bits, Operand.INPUTS: self.input_bits,
                Operand.OUTPUTS: self.output_bits}[operand]

    # ---- identity / serialisation -------------------------------------------------------------
    def shape_key(self) -> tuple[Any, ...]:
        """Everything that defines the loop nest, without the name: equal keys = one solve."""
        return (
            tuple(self.bound(d) for d in ALL_DIMS),
            self.w_stride, self.h_stride, self.w_dilation, self.h_dilation,
            self.weight_bits, self.input_bits, self.output_bits,
        )

    def with_name(self, name: str) -> LoopProblem:
        return dataclasses.replace(self, name=name)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LoopProblem:
        version = data.get("schema_version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise ValueError(f"loop problem schema_version {version} is not supported "
                             f"(this tool reads {SCHEMA_VERSION})")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names - {"schema_version"}
        if unknown:
            raise ValueError(f"loop problem has unknown fields: {sorted(unknown)}")
        kwargs: dict[str, Any] = {k: (tuple(v) if k in ("w_pad", "h_pad") else v) for k, v in data.items() if k in names}
        return cls(**kwargs)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> LoopProblem:
        return cls.from_dict(json.loads(text))

    def describe(self) -> str:
        dims = " ".join(f"{d}{self.bound(d)}" for d in ALL_DIMS)
        return f"{self.name} ({self.op_type}: {dims}, stride {self.w_stride}x{self.h_stride})"


def prime_factors(n: int) -> list[int]:
    """Prime factors of ``n`` with multiplicity, ascending; ``[1]`` for n == 1."""
    if n < 1:
        raise ValueError(f"cannot factor {n}")
    if n == 1:
        return [1]
    out: list[int] = []
    d = 2
    while d * d <= n:
        while n % d == 0:
            out.append(d)
            n //= d
        d += 1
    if n > 1:
        out.append(n)
    return out


