"""Registry: built-ins by name, spec paths, third-party entry points; the `archs` command."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml

from cosa_onnx import cli
from cosa_onnx.errors import SpecError
from cosa_onnx.hwmodels.loader import builtin_names, load_spec
from cosa_onnx.hwmodels.registry import get_spec, list_specs, spec_names

ENTRY_MODULE = "cosa_test_thirdparty_hw"


def _spec_yaml(name: str, macs: int = 64) -> str:
    return textwrap.dedent(f"""\
        # a tiny third-party accelerator (test fixture)
        name: {name}
        source: test fixture
        mac: {{instances: {macs}, energy_pj: 0.5}}
        levels:
          - {{name: Regs, capacity_words: 4, word_bits: 8, instances: {macs}, keeps: [Weights, Outputs]}}
          - {{name: Buffer, capacity_words: 4096, word_bits: 8, instances: 1, keeps: [Inputs, Outputs],
              read_energy_pj_per_word: 1.5, write_energy_pj_per_word: 1.5}}
          - {{name: DRAM, capacity_words: null, word_bits: 8, instances: 1, keeps: [Weights, Inputs, Outputs],
              read_energy_pj_per_word: 100, write_energy_pj_per_word: 100}}
        """)


@pytest.fixture
def third_party(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An installed distribution (dist-info with entry_points.txt) on sys.path with four entry points."""
    site = tmp_path / "site"
    pkg = site / ENTRY_MODULE
    (pkg / "specs").mkdir(parents=True)
    (pkg / "__init__.py").write_text(textwrap.dedent("""\
        from cosa_onnx.hwmodels.loader import spec_from_dict
        import yaml, pathlib

        def make_spec():
            data = yaml.safe_load((pathlib.Path(__file__).parent / "specs" / "npu.yaml").read_text())
            data["name"] = "tp-callable"
            return spec_from_dict(data)

        def not_a_spec():
            return {"name": "nope"}

        def explodes():
            raise RuntimeError("boom")
        """))
    (pkg / "specs" / "npu.yaml").write_text(_spec_yaml("tp-resource"))
    (tmp_path / "lab.yaml").write_text(_spec_yaml("tp-path", macs=128))
    dist = site / "cosa_test_thirdparty_hw-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: cosa-test-thirdparty-hw\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent(f"""\
        [cosa_onnx.hwmodels]
        tp-callable = {ENTRY_MODULE}:make_spec
        tp-resource = {ENTRY_MODULE}:specs/npu.yaml
        tp-path = {tmp_path / 'lab.yaml'}
        tp-broken = {ENTRY_MODULE}:not_a_spec
        tp-explodes = {ENTRY_MODULE}:explodes
        simba = {ENTRY_MODULE}:make_spec
        """))
    monkeypatch.syspath_prepend(str(site))
    return tmp_path


def test_builtins_listed_first_and_loadable() -> None:
    entries = list_specs()
    assert [e.name for e in entries][: len(builtin_names())] == builtin_names()
    assert all(e.origin == "built-in" for e in entries[: len(builtin_names())])
    assert get_spec("simba") is get_spec("simba")  # built-ins are parsed once


def test_entry_points_are_registered(third_party: Path) -> None:
    names = spec_names()
    for name in ("tp-callable", "tp-resource", "tp-path", "tp-broken"):
        assert name in names
    assert names.count("simba") == 1  # the built-in shadows the entry point of the same name
    assert get_spec("simba") == load_spec("simba")
    assert get_spec("tp-callable").name == "tp-callable"
    assert get_spec("tp-resource").mac_instances == 64
    assert get_spec("tp-path").mac_instances == 128
    assert load_spec("tp-path").name == "tp-path"  # the loader delegates to the registry
    origin = next(e.origin for e in list_specs() if e.name == "tp-path")
    assert "cosa-test-thirdparty-hw" in origin


@pytest.mark.parametrize(("name", "expected"), [
    ("tp-broken", "must name a callable returning a HardwareSpec, got dict"),
    ("tp-explodes", "calling it failed: RuntimeError: boom"),
])
def test_broken_entry_points_are_spec_errors(third_party: Path, name: str, expected: str) -> None:
    with pytest.raises(SpecError, match=f"entry point '{name}'") as info:
        get_spec(name)
    assert expected in str(info.value)


def test_entry_points_by_monkeypatched_metadata(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import importlib.metadata as md

    path = tmp_path / "x.yaml"
    path.write_text(_spec_yaml("mp-spec"))
    fake = md.EntryPoint(name="mp-spec", value=str(path), group="cosa_onnx.hwmodels")

    def entry_points(**kwargs: str) -> list[md.EntryPoint]:
        return [fake] if kwargs.get("group") == "cosa_onnx.hwmodels" else []

    monkeypatch.setattr(md, "entry_points", entry_points)
    assert get_spec("mp-spec").name == "mp-spec"


def test_unknown_name_lists_choices() -> None:
    with pytest.raises(SpecError) as info:
        get_spec("no-such-arch")
    message = str(info.value)
    assert "unknown architecture 'no-such-arch'" in message
    for name in builtin_names():
        assert name in message


def test_missing_path_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="does not exist"):
        get_spec(tmp_path / "nowhere.yaml")


def test_path_and_timeloop_arch_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(load_spec("simba").to_dict()))
    assert get_spec(str(path)) == load_spec("simba")
    arch = tmp_path / "tl_arch.yaml"
    arch.write_text(textwrap.dedent("""\
        arch:
          arithmetic: {instances: 16, word-bits: 8}
          storage:
          - {name: WeightRegs, entries: 1, instances: 16, word-bits: 8}
          - {name: OutputBuffer, entries: 256, instances: 1, word-bits: 16}
          - {name: DRAM, technology: DRAM, instances: 1, word-bits: 8}
        """))
    spec = get_spec(arch)
    assert spec.name == "tl_arch" and spec.mac_instances == 16
    assert [sorted(v.value for v in lv.keeps) for lv in spec.levels] == [
        ["Weights"], ["Outputs"], ["Inputs", "Outputs", "Weights"]]


# ---- the archs command (through the real CLI entry point) ------------------------------------------
def test_archs_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["archs"]) == 0
    out = capsys.readouterr().out
    for name in builtin_names():
        assert f"{name}  (" in out
    assert "GlobalBuffer" in out and "64 KiB" in out and "source:" in out


def test_archs_json_lists_third_party(third_party: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["archs", "--json"]) == 0
    captured = capsys.readouterr()
    rows = {row["name"]: row for row in json.loads(captured.out)}
    assert set(builtin_names()) <= set(rows)
    assert rows["tp-path"]["macs"] == 128
    simba = rows["simba"]
    assert simba["macs"] == 1024 and simba["origin"] == "built-in"
    assert [lv["fanout"] for lv in simba["levels"]] == [1, 8, 1, 8, 16, 1]
    assert simba["levels"][4]["capacity_kib"] == 64
    assert "tp-broken" not in rows and "tp-broken" in captured.err  # reported, does not hide the others


def test_archs_bad_spec_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(_spec_yaml("bad").replace("capacity_words: 4096", "capacity_words: -1"))
    assert cli.main(["archs", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: spec 'bad' level 'Buffer' capacity_words") and "\n" not in err


TIMELOOP_ARCH = textwrap.dedent("""\
    arch:
      arithmetic: {name: MACs, instances: 16, word-bits: 8}
      storage:
      - {name: Regs, entries: 1, instances: 16, word-bits: 8}
      - {name: Shared, sizeKB: 2, instances: 1, word-bits: 8, block-size: 4}
      - {name: DRAM, technology: DRAM, instances: 1, word-bits: 8, bandwidth: 8}
    """)
ERT = textwrap.dedent("""\
    ERT:
      version: 0.3
      tables:
      - name: system.Shared
        actions: [{name: read, energy: 8.0}, {name: write, energy: 10.0}]
      - name: system.DRAM
        actions: [{name: read, energy: 400.0}, {name: write, energy: 400.0}]
      - name: system.Regs[0..15]
        actions: [{name: read, energy: 0.1}, {name: write, energy: 0.1}]
      - name: system.MACs[0..15]
        actions: [{name: mac_random, energy: 0.3}]
    """)


def test_archs_imports_timeloop_arch_and_writes_spec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    arch = tmp_path / "npu.yaml"
    arch.write_text(TIMELOOP_ARCH)
    ert = tmp_path / "ERT.yaml"
    ert.write_text(ERT)
    out = tmp_path / "npu_spec.yaml"
    code = cli.main(["archs", str(arch), "--keeps", "Regs=Weights", "--keeps", "Shared=Inputs,Outputs",
                     "--ert", str(ert), "--write-spec", str(out), "--json"])
    assert code == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["macs"] == 16 and [lv["keeps"] for lv in row["levels"]][:2] == [["Weights"], ["Inputs", "Outputs"]]
    spec = load_spec(out)
    assert spec.name == "npu" and spec.levels[1].capacity_words == 2048
    assert spec.levels[1].read_energy_pj_per_word == 2.0 and spec.levels[1].write_energy_pj_per_word == 2.5
    assert spec.mac_energy_pj == 0.3 and spec.outermost.read_bandwidth_words_per_cycle == 4.0


@pytest.mark.parametrize(("argv", "expected"), [
    (["archs", "--keeps", "X=Weights"], "need an ARCH"),
    (["archs", "simba", "simba-large", "--write-spec", "x.yaml"], "writes one spec; 2 were given"),
    (["archs", "{arch}", "--keeps", "Regs"], "expected LEVEL=Tensor1,Tensor2"),
    (["archs", "{arch}", "--keeps", "Regs=Weight"], "keeps: unknown tensor 'Weight'"),
])
def test_archs_option_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str) -> None:
    arch = tmp_path / "npu.yaml"
    arch.write_text(TIMELOOP_ARCH)
    assert cli.main([a.replace("{arch}", str(arch)) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and "\n" not in err
