"""Property tests: random valid specs load and round-trip; random corruptions give SpecError only."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cosa_onnx.errors import SpecError
from cosa_onnx.hwmodels.loader import spec_from_dict
from cosa_onnx.hwmodels.timeloop_arch import energy_table, spec_from_timeloop_arch, timeloop_arch_dict
from cosa_onnx.problem import LoopProblem
from cosa_onnx.schedule import check, trivial_schedule

TENSORS = ["Weights", "Inputs", "Outputs"]
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def spec_dicts(draw: st.DrawFn) -> dict[str, Any]:
    """A valid spec: instances shrink outward by whole fan-outs; the last level is an unbounded DRAM."""
    n_inner = draw(st.integers(1, 4))
    fanouts = [draw(st.sampled_from([1, 2, 3, 4, 8, 16])) for _ in range(n_inner + 1)]
    instances = [1] * (n_inner + 1)
    for i in range(n_inner - 1, -1, -1):
        instances[i] = instances[i + 1] * fanouts[i + 1]
    levels: list[dict[str, Any]] = []
    for i in range(n_inner):
        keeps = draw(st.lists(st.sampled_from(TENSORS), unique=True, max_size=3))
        level: dict[str, Any] = {
            "name": f"L{i}", "capacity_words": draw(st.integers(3, 1 << 16)),
            "word_bits": draw(st.sampled_from([8, 16, 24, 32])), "instances": instances[i],
            "keeps": [t for t in TENSORS if t in keeps], "block_words": draw(st.sampled_from([1, 2, 4, 8])),
            "read_energy_pj_per_word": draw(st.floats(0, 50, allow_nan=False)),
            "write_energy_pj_per_word": draw(st.floats(0, 50, allow_nan=False)),
        }
        if len(keeps) > 1 and draw(st.booleans()):
            level["partition"] = {t: 1.0 / len(keeps) for t in level["keeps"]}
        levels.append(level)
    levels.append({"name": "DRAM", "capacity_words": None, "word_bits": 8, "instances": 1, "keeps": TENSORS,
                   "read_bandwidth_words_per_cycle": draw(st.sampled_from([None, 4.0, 16.0])),
                   "read_energy_pj_per_word": 100.0, "write_energy_pj_per_word": 100.0})
    return {"name": "random", "mac": {"instances": instances[0] * fanouts[0], "energy_pj": 0.5}, "levels": levels}


@SETTINGS
@given(spec_dicts())
def test_random_valid_specs_load_and_round_trip(data: dict[str, Any]) -> None:
    spec = spec_from_dict(data)
    assert spec_from_dict(yaml.safe_load(yaml.safe_dump(spec.to_dict()))) == spec
    problem = LoopProblem(name="tiny", c=2, k=3, p=2, q=2, r=2, s=1)
    assert check(problem, spec, trivial_schedule(problem, spec)) == []
    keeps = {lv.name: [v.value for v in lv.keeps] for lv in spec.levels}
    again = spec_from_timeloop_arch(timeloop_arch_dict(spec), name=spec.name, keeps=keeps, energies=energy_table(spec))
    assert [(lv.capacity_words, lv.instances, lv.keeps) for lv in again.levels] == \
        [(lv.capacity_words, lv.instances, lv.keeps) for lv in spec.levels]


GARBAGE = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True), st.text(max_size=4),
                    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@SETTINGS
@given(spec_dicts(), st.data())
def test_corrupted_specs_raise_spec_error_only(data: dict[str, Any], draw: st.DataObject) -> None:
    broken = copy.deepcopy(data)
    level = draw.draw(st.sampled_from(broken["levels"]))
    key = draw.draw(st.sampled_from([*level.keys(), "partition", "keeps"]))
    level[key] = draw.draw(GARBAGE)
    try:
        spec_from_dict(broken)
    except SpecError as exc:
        assert "\n" not in str(exc)
    except Exception as exc:  # pragma: no cover - the failure being tested for
        pytest.fail(f"{type(exc).__name__} instead of SpecError for {key}={level[key]!r}: {exc}")
