"""Bad input: one clear line on stderr and exit status 2, never a traceback."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
PREBUILT = ROOT / "firmware_images" / "prebuilt"
HELLO_M4 = PREBUILT / "cortex-m4f" / "hello.elf"


def mcusim(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "mcusim", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd or ROOT, timeout=300)


def assert_one_line_error(r, *fragments):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    for f in fragments:
        assert f in lines[0], lines[0]


def patched(tmp_path, src: Path, name: str, patches: dict[int, bytes]) -> Path:
    data = bytearray(src.read_bytes())
    for off, b in patches.items():
        data[off:off + len(b)] = b
    p = tmp_path / name
    p.write_bytes(bytes(data))
    return p


def test_not_an_elf(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("hello\n")
    assert_one_line_error(mcusim("run", p), "not an ELF")


def test_missing_file(tmp_path):
    assert_one_line_error(mcusim("run", tmp_path / "nope.elf"), "cannot open")


def test_64bit_elf():
    assert_one_line_error(mcusim("run", sys.executable if Path(sys.executable).read_bytes()[:4] == b"\x7fELF"
                                 else "/bin/true"), "64-bit")


def test_wrong_machine(tmp_path):
    # e_machine (offset 18) = EM_386 (3)
    p = patched(tmp_path, HELLO_M4, "x86.elf", {18: struct.pack("<H", 3)})
    assert_one_line_error(mcusim("run", p), "not for Arm")


def test_big_endian(tmp_path):
    p = patched(tmp_path, HELLO_M4, "be.elf", {5: b"\x02"})
    assert_one_line_error(mcusim("run", p), "big-endian")


def test_truncated_elf(tmp_path):
    data = HELLO_M4.read_bytes()
    p = tmp_path / "trunc.elf"
    p.write_bytes(data[: len(data) // 3])
    r = mcusim("run", p)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr


def test_unknown_mcu():
    assert_one_line_error(mcusim("run", HELLO_M4, "--mcu", "stm32f999"), "stm32f999")


def test_segments_outside_memory_map(tmp_path):
    # a user part with only 1 KB of flash: the image does not fit
    t = tmp_path / "tiny.toml"
    t.write_text('extends = "stm32l4r5"\n[memory.flash]\nsize_bytes = 0x400\n')
    elf = PREBUILT / "cortex-m4f" / "nvic.elf"
    assert_one_line_error(mcusim("run", elf, "--mcu", t), "outside the memory map")


def test_reset_vector_outside_flash(tmp_path):
    # vector table at file offset of the first PT_LOAD: patch word 1 (reset handler)
    from elftools.elf.elffile import ELFFile
    with open(HELLO_M4, "rb") as f:
        seg = next(s for s in ELFFile(f).iter_segments() if s["p_type"] == "PT_LOAD")
        off = seg["p_offset"]
    p = patched(tmp_path, HELLO_M4, "badvec.elf", {off + 4: struct.pack("<I", 0x70000001)})
    assert_one_line_error(mcusim("run", p), "outside flash")


def test_bad_model_file(tmp_path):
    p = tmp_path / "m.tflite"
    p.write_bytes(b"\x10\x00\x00\x00TFL3" + bytes(40))
    assert_one_line_error(mcusim("infer", p), "m.tflite")


def test_model_too_big_for_slot(tmp_path):
    t = tmp_path / "small_flash.toml"
    t.write_text('extends = "stm32l4r5"\n[memory.flash]\nsize_bytes = 0x20000\n')
    assert_one_line_error(mcusim("infer", "vww", "--mcu", t, "--kernels", "ref"), "model slot")


def test_model_needs_more_ram_than_mcu(tmp_path):
    t = tmp_path / "small_ram.toml"
    t.write_text('extends = "stm32l4r5"\nremove = ["memory.sram3"]\n')
    r = mcusim("infer", "vww", "--mcu", t, "--kernels", "ref")
    # the image links its stack at the top of 640 KB of SRAM: without SRAM3 there is none
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr


def test_usage_error():
    r = mcusim("run")
    assert r.returncode == 2 and "Traceback" not in r.stderr
