"""The bad-input corpus: every case goes through the real CLI and must fail cleanly.

Clean = exit code 2, one ``error: ...`` line on stderr that names the cause (the file, layer, level
or flag) and says what to do, no traceback, and no output file (not even a partial or temporary one).
Static inputs live in ``tests/bad_inputs/``; binary models are generated here (``bad_inputs/builders``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import onnx
import pytest
from bad_inputs import builders

from cosa_onnx.cli import main
from cosa_onnx.problem import LoopProblem

CORPUS = Path(__file__).parent / "bad_inputs"
FAST = ["--time-limit", "0.2", "--no-cache", "--quiet"]


def _listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def run_cli(argv: Sequence[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def assert_clean_failure(code: int, err: str, *mentions: str, out_dir: Path | None = None,
                         before: set[str] | None = None) -> None:
    """Exit 2, one error line naming every string in ``mentions``, no traceback, nothing written."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, f"exit code {code}, stderr: {err}"
    assert "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith("error: "), f"not one error line: {err!r}"
    for text in mentions:
        assert text.lower() in lines[0].lower(), f"{text!r} not named in {lines[0]!r}"
    if out_dir is not None:
        assert _listing(out_dir) == (before or set()), f"files left behind: {_listing(out_dir) - (before or set())}"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COSA_ONNX_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


def compile_fails(capsys: pytest.CaptureFixture[str], tmp_path: Path, model: Path | str, *mentions: str,
                  extra: Sequence[str] = ()) -> str:
    """Compile ``model`` into ``tmp_path/out`` and check it fails cleanly; returns the error line."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, _, err = run_cli(["compile", str(model), "-o", str(out_dir / "m.cosa.onnx"),
                            "--report", str(out_dir / "r.json"), *FAST, *extra], capsys)
    assert_clean_failure(code, err, *mentions, out_dir=out_dir)
    return err


# ---- the model file -----------------------------------------------------------------------------

def test_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    compile_fails(capsys, tmp_path, tmp_path / "nope.onnx", "nope.onnx")


def test_directory(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "a_model_dir").mkdir()
    compile_fails(capsys, tmp_path, tmp_path / "a_model_dir", "a_model_dir")


def test_empty_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    compile_fails(capsys, tmp_path, CORPUS / "empty.onnx", "empty.onnx", "empty")


def test_non_onnx_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    compile_fails(capsys, tmp_path, CORPUS / "not_onnx.onnx", "not_onnx.onnx", "onnx")


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.2])
def test_truncated_model(capsys: pytest.CaptureFixture[str], tmp_path: Path, keep: float) -> None:
    data = builders.tiny_cnn().SerializeToString()
    path = tmp_path / "truncated.onnx"
    path.write_bytes(data[: int(len(data) * keep)])
    compile_fails(capsys, tmp_path, path, "truncated.onnx")


def test_corrupted_model(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = bytearray(builders.tiny_cnn().SerializeToString())
    for i in range(0, 64):  # overwrite the header (ir_version, producer, graph tag) with noise
        data[i] = (i * 37 + 11) % 256
    path = tmp_path / "corrupt.onnx"
    path.write_bytes(bytes(data))
    compile_fails(capsys, tmp_path, path, "corrupt.onnx")


def test_model_with_no_conv_gemm_matmul(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = builders.save(builders.no_layers(), tmp_path / "relu_only.onnx")
    compile_fails(capsys, tmp_path, path, "relu_only.onnx", "conv")


def test_external_data_outside_folder_is_refused_unread(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # The target is a FIFO: reading it would block forever, so a clean refusal proves nothing was read.
    secret = tmp_path / "secret.bin"
    os.mkfifo(secret)
    model_dir = tmp_path / "model"
    path = builders.save(builders.with_external_location(builders.tiny_cnn(), "../secret.bin"), model_dir / "m.onnx")
    compile_fails(capsys, tmp_path, path, "../secret.bin", "outside")


# ---- shapes -------------------------------------------------------------------------------------

def test_dynamic_dims_without_binding(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = builders.save(builders.tiny_cnn(batch="N"), tmp_path / "dyn.onnx")
    compile_fails(capsys, tmp_path, path, "--batch", "--input-shape")


def test_dynamic_dims_bound_by_batch_compile(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The positive control of the case above: binding the dim makes the same model compile."""
    path = builders.save(builders.tiny_cnn(batch="N"), tmp_path / "dyn.onnx")
    code, _, err = run_cli(["compile", str(path), "--batch", "2", "-o", str(tmp_path / "o.onnx"), *FAST], capsys)
    assert code == 0, err
    assert onnx.load(tmp_path / "o.onnx").graph.node[0].metadata_props


@pytest.mark.parametrize("flag", [
    ["--input-shape", "x=1x3xax16"], ["--input-shape", "x1x3x16x16"], ["--input-shape", "x=1x3x16x"],
    ["--input-shape", "=1x3x16x16"], ["--batch", "two"], ["--batch", "1.5"],
])
def test_malformed_shape_flags(capsys: pytest.CaptureFixture[str], tmp_path: Path, flag: list[str]) -> None:
    path = builders.save(builders.tiny_cnn(batch="N"), tmp_path / "dyn.onnx")
    compile_fails(capsys, tmp_path, path, flag[0], extra=flag)


@pytest.mark.parametrize("flag", [["--input-shape", "x=1x3x0x16"], ["--batch", "0"], ["--batch", "-1"],
                                  ["--input-shape", "x=1x3x-4x16"]])
def test_zero_and_negative_dims_in_flags(capsys: pytest.CaptureFixture[str], tmp_path: Path, flag: list[str]) -> None:
    path = builders.save(builders.tiny_cnn(batch="N"), tmp_path / "dyn.onnx")
    compile_fails(capsys, tmp_path, path, flag[0], extra=flag)


@pytest.mark.parametrize("dims", [{"height": 0}, {"batch": 0}, {"width": -3}])
def test_zero_and_negative_dims_in_model(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                         dims: dict[str, int]) -> None:
    path = builders.save(builders.tiny_cnn(**dims), tmp_path / "zero.onnx")  # type: ignore[arg-type]
    compile_fails(capsys, tmp_path, path, "conv1")


def test_huge_dim(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A 2^31 contracted dim: either scheduled (valid result) or refused cleanly, never a crash."""
    path = builders.save(builders.matmul_inputs(4, 2**31, 8), tmp_path / "huge.onnx")
    out = tmp_path / "huge.cosa.onnx"
    code, _, err = run_cli(["compile", str(path), "-o", str(out), *FAST], capsys)
    if code == 0:
        node = onnx.load(out).graph.node[0]
        props = {p.key: p.value for p in node.metadata_props}
        assert "cosa_onnx.schedule" in props
        assert LoopProblem.from_json(props["cosa_onnx.problem"]).c == 2**31
    else:
        assert_clean_failure(code, err, "mm")
        assert not out.exists()


def test_large_prime_dim_compiles(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = builders.save(builders.tiny_cnn(channels=1021, height=8, width=8), tmp_path / "prime.onnx")
    out = tmp_path / "prime.cosa.onnx"
    code, _, err = run_cli(["compile", str(path), "-o", str(out), *FAST], capsys)
    assert code == 0, err
    from cosa_onnx.annotations import read_annotations
    from cosa_onnx.schedule import check

    annotated = read_annotations(onnx.load(out))
    conv1 = annotated.node("conv1")
    assert conv1.problem.c == 1021
    assert check(conv1.problem, annotated.network.spec, conv1.schedule) == []


# ---- architecture / spec ------------------------------------------------------------------------

def test_unknown_arch(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = builders.save(builders.tiny_cnn(), tmp_path / "m.onnx")
    compile_fails(capsys, tmp_path, path, "no_such_arch", "simba", extra=["--arch", "no_such_arch"])


@pytest.mark.parametrize(("spec", "mentions"), [
    ("spec_malformed.yaml", ("spec_malformed.yaml", "yaml")),
    ("spec_missing_fields.yaml", ("levels", "missing")),
    ("spec_wrong_types.yaml", ("instances", "sixteen")),
    ("spec_negative_sizes.yaml", ("capacity_words", "-512")),
    ("spec_unknown_tensor.yaml", ("Activations",)),
    ("spec_fits_nowhere.yaml", ("Buffer", "Inputs")),
])
def test_bad_spec(capsys: pytest.CaptureFixture[str], tmp_path: Path, spec: str, mentions: tuple[str, ...]) -> None:
    path = builders.save(builders.tiny_cnn(), tmp_path / "m.onnx")
    compile_fails(capsys, tmp_path, path, *mentions, extra=["--arch", str(CORPUS / spec)])


def test_spec_with_python_tag_runs_nothing(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The spec loader is a safe loader: a python/object tag is refused, the command never runs."""
    monkeypatch.chdir(tmp_path)
    path = builders.save(builders.tiny_cnn(), tmp_path / "m.onnx")
    compile_fails(capsys, tmp_path, path, "spec_python_tag.yaml", extra=["--arch", str(CORPUS / "spec_python_tag.yaml")])
    assert not (tmp_path / "cosa_onnx_yaml_pwned").exists()


def test_cache_holds_json_only(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """No pickle on disk: every cache entry a compile writes is plain JSON."""
    path = builders.save(builders.small_mlp(), tmp_path / "m.onnx")
    cache = tmp_path / "cache"
    code, _, err = run_cli(["compile", str(path), "-o", str(tmp_path / "o.onnx"), "--cache-dir", str(cache),
                            "--time-limit", "0.2", "--quiet"], capsys)
    assert code == 0, err
    files = [p for p in cache.rglob("*") if p.is_file()]
    assert files and all(p.suffix == ".json" for p in files)
    for file in files:
        json.loads(file.read_text())


def test_missing_spec_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = builders.save(builders.tiny_cnn(), tmp_path / "m.onnx")
    compile_fails(capsys, tmp_path, path, "gone.yaml", extra=["--arch", str(tmp_path / "gone.yaml")])


def test_architecture_too_small_names_the_level(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Too small for one word of each kept tensor: too small for *every* layer, refused when the spec loads.

    (Any spec that holds one word per kept tensor admits the all-at-DRAM schedule, so no valid spec
    is infeasible for one layer only; the MIP's own InfeasibleError is covered in test_properties.)
    """
    path = builders.save(builders.tiny_cnn(), tmp_path / "m.onnx")
    compile_fails(capsys, tmp_path, path, "Registers", "capacity_words",
                  extra=["--arch", str(CORPUS / "spec_too_small.yaml")])


# ---- outputs ------------------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["no_dir/out.onnx", "a_file/out.onnx", "a_dir"])
def test_unwritable_output(capsys: pytest.CaptureFixture[str], tmp_path: Path, target: str) -> None:
    model = builders.save(builders.tiny_cnn(), tmp_path / "in" / "m.onnx")
    work = tmp_path / "work"
    work.mkdir()
    (work / "a_file").write_text("x")
    (work / "a_dir").mkdir()
    before = _listing(work)
    code, _, err = run_cli(["compile", str(model), "-o", str(work / target), *FAST], capsys)
    assert_clean_failure(code, err, target.split("/")[0], out_dir=work, before=before)
    assert _listing(model.parent) == {"m.onnx"}


def test_unwritable_report_writes_no_model(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    model = builders.save(builders.tiny_cnn(), tmp_path / "m.onnx")
    code, _, err = run_cli(["compile", str(model), "-o", str(tmp_path / "o.onnx"),
                            "--report", str(tmp_path / "missing" / "r.json"), *FAST], capsys)
    assert_clean_failure(code, err, "missing")
    assert not (tmp_path / "o.onnx").exists()


# ---- real subprocesses: exit codes, --debug, Ctrl-C ---------------------------------------------

def _subprocess_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["COSA_ONNX_CACHE_DIR"] = str(tmp_path / "cache")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def test_subprocess_exit_code(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.onnx")
    plain = subprocess.run([sys.executable, "-m", "cosa_onnx.cli", "compile", missing],
                           capture_output=True, text=True, env=_subprocess_env(tmp_path), timeout=120)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    assert plain.stderr.strip().startswith("error: ") and "missing.onnx" in plain.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    """With --debug the error propagates (the traceback is shown) instead of the one-line message."""
    from cosa_onnx.errors import UserInputError

    with pytest.raises(UserInputError, match=r"missing\.onnx"):
        main(["--debug", "compile", str(tmp_path / "missing.onnx")])


def test_sigint_while_solving(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT to the whole process group) while solving: exit 2, one line, nothing written."""
    model = builders.save(builders.distinct_convs(12, size=56), tmp_path / "big.onnx")
    out = tmp_path / "big.cosa.onnx"
    proc = subprocess.Popen([sys.executable, "-m", "cosa_onnx.cli", "compile", str(model), "-o", str(out),
                             "--no-cache", "--time-limit", "60", "--jobs", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_subprocess_env(tmp_path), start_new_session=True)
    watchdog = threading.Timer(180.0, lambda: os.killpg(proc.pid, signal.SIGKILL))
    watchdog.start()
    try:
        assert proc.stderr is not None
        progress = []
        for line in proc.stderr:  # the quick first layer is solved: the big ones are being solved now
            progress.append(line)
            if line.startswith("[1/"):
                break
        assert proc.poll() is None, f"finished before the interrupt: {progress}"
        sent = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        _, rest = proc.communicate(timeout=60)
        reaction_s = time.monotonic() - sent
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 2, rest
    messages = [line for line in rest.splitlines() if line.strip() and not line.startswith("[")]  # not progress
    assert messages == ["error: interrupted (Ctrl-C); nothing was written"], rest
    assert reaction_s < 10.0
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "cache") == ["big.onnx"]
