"""The `mcusim` pytest fixture (issue 11): registered through the pytest11 entry point, so a
firmware team's tests use it with nothing but mcusim installed."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from importlib.metadata import entry_points
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from api_records import PREBUILT, REPO

pytest_plugins = ["pytester"]

HELLO = PREBUILT / "cortex-m4f" / "hello.elf"


def test_entry_point_is_declared_and_installed():
    doc = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert doc["project"]["entry-points"]["pytest11"] == {"mcusim": "mcusim.pytest_plugin"}
    eps = [e for e in entry_points(group="pytest11") if e.name == "mcusim"]
    assert eps and eps[0].value == "mcusim.pytest_plugin", \
        "the installed mcusim lacks the pytest11 entry point: pip install -e . (or '.[test]')"


def test_fixture_in_a_users_test_suite(pytester):
    pytester.makepyfile(test_fw=f"""
        HELLO = {str(HELLO)!r}

        def test_ad_latency(mcusim):
            rec = mcusim.infer("ad", kernels="opt")
            assert rec.mcu == "stm32l4r5" and rec.ok
            assert rec.latency_ms < 150

        def test_hello_says_goodbye(mcusim):
            rec = mcusim.run(HELLO)
            assert "goodbye" in rec.stdout

        def test_api_through_the_fixture(mcusim):
            mcu = mcusim.load_mcu("stm32l4r5").derive({{"mcu.clock_mhz": 80}})
            rec = mcusim.run(HELLO, mcu=mcu)
            assert rec.clock_hz == 80e6 and rec.ok
            assert isinstance(rec, mcusim.RunRecord)
    """)
    junit = pytester.path / "out.xml"
    records = pytester.path / "records"
    # a subprocess: pytest loads the plugin from the installed entry point, as for a user
    res = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--junitxml={junit}",
                                        f"--mcusim-records={records}")
    res.assert_outcomes(passed=2, failed=1)
    res.stdout.fnmatch_lines(["*test_hello_says_goodbye*", "*assert 'goodbye' in*"])
    cases = {tc.get("name"): tc for tc in ET.parse(junit).getroot().iter("testcase")}
    props = {p.get("name"): p.get("value") for p in cases["test_ad_latency"].iter("property")}
    assert props["mcusim.ad.outcome"] == "exit"
    assert 0 < float(props["mcusim.ad.latency_ms"]) < 150
    assert int(props["mcusim.ad.cycles"]) > 0 and float(props["mcusim.ad.energy_uj"]) > 0
    # the records it wrote are run records mcusim check reads
    written = sorted(records.glob("*.json"))
    assert len(written) == 3
    ad_json = next(p for p in written if "test_ad_latency" in p.name)
    rec = json.loads(ad_json.read_text())
    assert rec["model"] == "ad" and rec["provenance"]["model_sha256"]
    import mcusim
    assert mcusim.compare(ad_json, ad_json).status == 0


def test_session_defaults(pytester):
    pytester.makepyfile(test_m=f"""
        def test_default_mcu(mcusim):
            rec = mcusim.run({str(HELLO)!r})
            assert (rec.mcu, rec.mode) == ("generic-m4", "detailed")
            assert mcusim.records == [rec]

        def test_explicit_mcu_wins(mcusim):
            assert mcusim.run({str(HELLO)!r}, "stm32l4r5").mcu == "stm32l4r5"
    """)
    pytester.makeini("[pytest]\nmcusim_mcu = stm32l4r5\nmcusim_mode = detailed\n")
    res = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--mcusim-mcu", "generic-m4")
    res.assert_outcomes(passed=2)
    res = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    res.assert_outcomes(passed=1, failed=1)          # the ini's MCU: not generic-m4
    res.stdout.fnmatch_lines(["*stm32l4r5*generic-m4*"])
