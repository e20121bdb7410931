"""Real TensorFlow Lite Micro firmware that nobody on the project wrote
(../shared/firmware/tflm: TFLM + CMSIS-NN or reference kernels, GCC 12, several -O levels).

Truth: expected.txt, produced by the PyPI tflite-micro interpreter on the same inputs.
Invariant: the firmware's behaviour does not depend on time -- only its DWT brackets read
the clock, and only the harness (src/main.cc) turns those readings into decimal text -- so every
timing configuration (its part in fast and detailed mode, the zero-wait generic core,
other wait states, no caches, other clocks) must print the expected outputs and execute
exactly the same instructions in every function but the harness's number printing.

The CI tier runs the kws CMSIS-NN images (about 24-28 M instructions each); `-m slow` runs
every image, including the reference-kernel ones (up to 6 G instructions), in both modes.
"""

from __future__ import annotations

import re

import pytest

from conftest import TFLM, run_elf

pytestmark = [pytest.mark.firmware,
              pytest.mark.skipif(not (TFLM / "elf").is_dir(),
                                 reason="shared TFLM firmware not present")]

PART = {"m4f": "stm32l4r5", "m33": "stm32u585", "m7": "stm32h7a3"}
GENERIC = {"m4f": "generic-m4", "m33": "generic-m33", "m7": "generic-m7"}
ELFS = sorted(p.stem for p in (TFLM / "elf").glob("*.elf")) if (TFLM / "elf").is_dir() else []
CI = ["m4f_Os_kws_cmsisnn", "m4f_O2_kws_cmsisnn", "m4f_O3_kws_cmsisnn", "m33_O2_kws_cmsisnn",
      "m7_O2_kws_cmsisnn"]
CI_DETAILED = ["m4f_O2_kws_cmsisnn"]
MAX_CYCLES = 40_000_000_000


def _expected() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in (TFLM / "expected.txt").read_text().splitlines():
        m = re.match(r"OUT (\w+) \d+:", line)
        if m:
            out.setdefault(m.group(1), []).append(line)
    return out


def _marks(name: str, ci: list[str]):
    return [] if name in ci else [pytest.mark.slow]


def _params(ci):
    return [pytest.param(n, marks=_marks(n, ci), id=n) for n in ELFS]


def _run(name: str, mcu: str, **kw):
    m = run_elf(TFLM / "elf" / f"{name}.elf", mcu, max_cycles=MAX_CYCLES, timeout=None, **kw)
    text = bytes(m.captured).decode("utf-8", "replace")
    return m, text


def _check_outputs(name: str, m, text: str) -> None:
    model = name.split("_")[2]
    outs = [ln for ln in text.splitlines() if ln.startswith("OUT ")]
    assert m.outcome == "exit" and m.exit_code == 0, (m.outcome, m.exit_code, text[-400:])
    assert outs == _expected()[model], f"{name} on {m.mcu.name} ({m.mode}): wrong outputs"
    cyc = [int(x) for x in re.findall(r"CYC \w+ \d: (\d+)", text)]
    assert len(cyc) == 3 and all(c > 0 for c in cyc)


# The harness functions that format the cycle counts it reads (their instructions depend
# on the digits of the time): main and put_u/put_s (inlined or not, by -O level).
TIME_DEPENDENT = {"main", "_ZL5put_um", "_ZL5put_sPKc", "_ZL10flush_linev"}
_generic_profiles: dict[str, dict] = {}


def _instructions(m) -> dict:
    """Executed instructions per function, except the one that prints the time."""
    from mcusim.record import function_profile
    return {r["name"]: r["instructions"] for r in function_profile(m)
            if r["name"] not in TIME_DEPENDENT and r["instructions"]}


def _generic(name: str) -> dict:
    if name not in _generic_profiles:
        m, text = _run(name, GENERIC[name.split("_")[0]])
        _check_outputs(name, m, text)
        _generic_profiles[name] = _instructions(m)
    return _generic_profiles[name]


def _same_program(name: str, m) -> None:
    got, want = _instructions(m), _generic(name)
    diff = {k: (got.get(k), want.get(k)) for k in set(got) | set(want) if got.get(k) != want.get(k)}
    assert not diff, f"timing changed the executed program of {name} on {m.mcu.name} " \
                     f"({m.mode}): instructions per function differ: {sorted(diff.items())[:5]}"


@pytest.mark.parametrize("name", _params(CI))
def test_expected_outputs_on_its_part_fast(name):
    m, text = _run(name, PART[name.split("_")[0]])
    _check_outputs(name, m, text)
    _same_program(name, m)


@pytest.mark.parametrize("name", _params(CI_DETAILED))
def test_expected_outputs_on_its_part_detailed(name):
    m, text = _run(name, PART[name.split("_")[0]], mode="detailed")
    _check_outputs(name, m, text)
    _same_program(name, m)


@pytest.mark.parametrize("mcu", ["l4r5_flash_ws0", "l4r5_flash_ws5", "l4r5_nocaches"])
def test_diagnostic_flash_configurations(mcu):
    name = "m4f_Os_kws_cmsisnn"
    m, text = _run(name, str(TFLM / "mcu" / f"{mcu}.toml"))
    _check_outputs(name, m, text)
    _same_program(name, m)


def test_write_buffer_path_runs_the_same_program():
    """SRAM with write wait states (tests/catalogs/l4r5_sram_ws.toml) turns on the M4's
    write buffer: the Python memory model with per-block access schedules, under the
    native block hook. Real TFLM code must still print the expected outputs and run the
    same instructions."""
    from pathlib import Path
    name = "m4f_Os_kws_cmsisnn"
    mcu = Path(__file__).parent / "catalogs" / "l4r5_sram_ws.toml"
    m, text = _run(name, str(mcu))
    assert m.memory_model.wb_on and not getattr(m.memory_model, "native", False)
    assert m.memory_model.stats["data_stall"] > 0
    _check_outputs(name, m, text)
    _same_program(name, m)


@pytest.mark.slow
@pytest.mark.parametrize("clock", [4.0, 26.0, 80.0])
def test_other_clocks(clock):
    """--clock-mhz overrides the clock the firmware's RCC sets up (the firmware programs
    120 MHz, so the override only holds until then): the program must not change."""
    name = "m4f_O2_kws_cmsisnn"
    m, text = _run(name, "stm32l4r5", clock_mhz=clock)
    _check_outputs(name, m, text)
    _same_program(name, m)


def test_verify_agrees_on_real_tflm():
    name = "m4f_Os_kws_cmsisnn"
    m, text = _run(name, "stm32l4r5", verify=True)
    assert m.verifier.divergence is None, m.verifier.divergence.line_text()
    _check_outputs(name, m, text)
    assert m.verifier.checkpoints > 10 and m.verifier.events_seen > 5
