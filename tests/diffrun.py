"""Runners for the random differential tests: hook-free Unicorn, mcusim, QEMU.

Every engine runs a whole program and returns a `Run`: the text the program printed
through semihosting, how it ended and, for mcusim, the executed instruction count.
`run_mcusim` is the only place that calls mcusim (its API is being refactored).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from elftools.elf.elffile import ELFFile
from unicorn import (UC_ARCH_ARM, UC_HOOK_INTR, UC_HOOK_MEM_READ, UC_HOOK_MEM_WRITE,
                     UC_MODE_THUMB, UC_PROT_EXEC, UC_PROT_READ, Uc, UcError)
from unicorn import arm_const as A

from thumbgen import FLASH_SIZE, LAYOUTS, RAM_SIZE, SVC_KEY

SYS_WRITE0, SYS_EXIT, ADP_EXIT = 0x04, 0x18, 0x20026
# The diagnostic catalogs next to the real TFLM firmware (they `extends` stm32l4r5), in
# the workplace's shared directory ($MCUSIM_SHARED, or ../shared beside the checkout)
from conftest import SHARED as _SHARED  # noqa: E402
TFLM_MCU = _SHARED / "firmware" / "tflm" / "mcu"


@dataclass
class Run:
    engine: str
    text: str
    outcome: str                  # "exit" | "fault" | "limit"
    exit_code: int | None = None
    instructions: int | None = None
    cycles: int | None = None
    detail: str = ""
    warnings: list = field(default_factory=list)
    windows: int | None = None    # mcusim fast mode: detailed sampling windows opened
    exceptions: int | None = None  # mcusim: exceptions taken (interrupts, SVC, faults)


# --------------------------------------------------------------------------- Unicorn

UC_CPU = {"m0": A.UC_CPU_ARM_CORTEX_M0, "m3": A.UC_CPU_ARM_CORTEX_M3,
          "m4": A.UC_CPU_ARM_CORTEX_M4, "m7": A.UC_CPU_ARM_CORTEX_M7,
          "m33": A.UC_CPU_ARM_CORTEX_M33}


def run_unicorn(elf: Path, profile: str, layout: str, timeout_s: float = 60.0,
                mem_hook: str | None = None) -> Run:
    """The program on a bare Unicorn: memory, reset from the vector table and the two
    semihosting calls, nothing else (no block, code or memory hooks; UC_HOOK_INTR only).
    No exceptions are taken: SysTick never fires (the generated handlers are invisible to
    the interrupted code) and SVC applies its handler's one visible effect to r0.

    `mem_hook` (not hook-free any more; for the Unicorn #2309 tests): "plain" adds a
    UC_HOOK_MEM_READ/WRITE callback on flash and RAM that does nothing, "clear_itstate" one that
    writes EPSR = T (ITSTATE 0), mcusim's workaround.
    The System Control Space is plain RAM here, so CPACR/CCR writes are accepted and
    have no effect (Unicorn's M-profile models have the FPU on)."""
    flash, ram = LAYOUTS[layout]
    uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB, cpu=UC_CPU[profile])
    uc.mem_map(flash, FLASH_SIZE, UC_PROT_READ | UC_PROT_EXEC)   # a store to flash faults
    uc.mem_map(ram, RAM_SIZE)
    uc.mem_map(0xE000E000, 0x1000)
    with open(elf, "rb") as f:
        for seg in ELFFile(f).iter_segments():
            if seg["p_type"] == "PT_LOAD" and seg["p_filesz"]:
                uc.mem_write(seg["p_paddr"], seg.data())
    sp = int.from_bytes(uc.mem_read(flash, 4), "little")
    pc = int.from_bytes(uc.mem_read(flash + 4, 4), "little")
    uc.reg_write(A.UC_ARM_REG_MSP, sp)
    uc.reg_write(A.UC_ARM_REG_SP, sp)
    out = bytearray()
    state = {"outcome": None, "code": None, "detail": ""}

    def on_intr(uc, intno, ud):
        pc = uc.reg_read(A.UC_ARM_REG_PC)
        if intno == 7 and bytes(uc.mem_read(pc, 2)) == b"\xab\xbe":
            op, arg = uc.reg_read(A.UC_ARM_REG_R0), uc.reg_read(A.UC_ARM_REG_R1)
            if op == SYS_WRITE0:
                while True:
                    b = uc.mem_read(arg, 1)[0]
                    if b == 0:
                        break
                    out.append(b)
                    arg += 1
                uc.reg_write(A.UC_ARM_REG_PC, (pc + 2) | 1)
                return
            if op == SYS_EXIT:
                state["outcome"] = "exit"
                state["code"] = 0 if arg == ADP_EXIT else 1
                uc.emu_stop()
                return
        if intno == 2:
            # SVC (PC is after it): the generated handler's only visible effect
            r0 = uc.reg_read(A.UC_ARM_REG_R0)
            uc.reg_write(A.UC_ARM_REG_R0, ((r0 ^ SVC_KEY) + 1) & 0xFFFFFFFF)
            return
        state["outcome"] = "fault"
        state["detail"] = f"exception {intno} at pc=0x{pc:08x}"
        uc.emu_stop()

    uc.hook_add(UC_HOOK_INTR, on_intr)
    if mem_hook is not None:
        clear = mem_hook == "clear_itstate"

        def on_mem(uc, access, address, size, value, ud):
            if clear:
                uc.reg_write(A.UC_ARM_REG_EPSR, 1 << 24)

        for lo, size in ((flash, FLASH_SIZE), (ram, RAM_SIZE)):
            uc.hook_add(UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE, on_mem, begin=lo, end=lo + size - 1)
    deadline = time.monotonic() + timeout_s
    while state["outcome"] is None:
        left = deadline - time.monotonic()
        if left <= 0:
            state["outcome"], state["detail"] = "limit", f"timeout {timeout_s}s"
            break
        try:
            uc.emu_start(pc | 1, 0xFFFFFFFE, timeout=int(left * 1e6))
        except UcError as e:
            state["outcome"] = "fault"
            state["detail"] = f"{e} at pc=0x{uc.reg_read(A.UC_ARM_REG_PC):08x}"
            break
        if state["outcome"] is None:
            # Unicorn returns from emu_start after WFI/WFE (PC after it); with no interrupt
            # source here they complete at once, as a NOP
            pc = uc.reg_read(A.UC_ARM_REG_PC)
            prev = bytes(uc.mem_read(pc - 2, 2))
            if prev not in (b"\x30\xbf", b"\x20\xbf"):
                state["outcome"] = "limit"
                state["detail"] = f"emu_start returned at pc=0x{pc:08x}"
    return Run("unicorn" + (f"+{mem_hook}" if mem_hook else ""), out.decode("latin-1"),
               state["outcome"], state["code"],
               detail=state["detail"])


# --------------------------------------------------------------------------- mcusim


def run_mcusim(elf: Path, mcu: str, clock_mhz: float | None, mode: str,
               max_cycles: int = 200_000_000) -> Run:
    """The adapter: the only function here that touches mcusim's API."""
    from mcusim.catalog import load_mcu
    from mcusim.elf import load_firmware
    from mcusim.machine import Machine
    warnings: list = []
    sink = io.BytesIO()
    m = Machine(load_mcu(mcu), clock_mhz=clock_mhz, mode=mode, stdout=sink, stderr=sink,
                warn=warnings.append)
    m.load(load_firmware(str(elf)))
    m.reset()
    m.run(max_cycles=max_cycles)
    detail = ""
    if m.outcome == "fault" and getattr(m, "fault", None) is not None:
        detail = getattr(m.fault, "message", "") or repr(m.fault)
    elif m.outcome == "limit":
        detail = str(getattr(m, "limit_reason", ""))
    mm = getattr(m, "memory_model", None)
    windows = getattr(mm, "stats", {}).get("windows") if mm is not None else None
    return Run(f"mcusim {Path(mcu).stem}@{clock_mhz or 'default'} {mode}",
               bytes(m.captured).decode("latin-1"), m.outcome, m.exit_code,
               instructions=m.instructions, cycles=m.cycles, detail=detail, warnings=warnings,
               windows=windows, exceptions=getattr(m, "exceptions_taken", None))


# --------------------------------------------------------------------------- QEMU

QEMU = shutil.which("qemu-system-arm")
QEMU_BOARDS = {
    # profile: (machine, cpu, layout)
    "m0": ("microbit", None, "mps2"),
    "m3": ("mps2-an385", None, "mps2"),
    "m4": ("mps2-an386", "cortex-m4", "mps2"),
    "m7": ("mps2-an500", None, "mps2"),
    "m33": ("mps2-an505", None, "an505"),
}


def qemu_version() -> str | None:
    if QEMU is None:
        return None
    return subprocess.run([QEMU, "--version"], capture_output=True, text=True).stdout.split("\n")[0]


def run_qemu(elf: Path, profile: str, timeout_s: float = 120.0) -> Run:
    machine, cpu, _ = QEMU_BOARDS[profile]
    cmd = [QEMU, "-M", machine]
    if cpu:
        cmd += ["-cpu", cpu]
    # QEMU 7.2 writes the semihosting console to stderr unless it is given a chardev
    cmd += ["-nographic", "-monitor", "none", "-serial", "none",
            "-chardev", "stdio,id=sh0,signal=off",
            "-semihosting-config", "enable=on,target=native,chardev=sh0", "-kernel", str(elf)]
    try:
        res = subprocess.run(cmd, capture_output=True, timeout=timeout_s,
                             env={**os.environ, "QEMU_AUDIO_DRV": "none"})
    except subprocess.TimeoutExpired as e:
        return Run("qemu", (e.stdout or b"").decode("latin-1"), "limit", None,
                   detail=f"timeout {timeout_s}s")
    text = res.stdout.decode("latin-1")
    outcome = "exit" if res.returncode in (0, 1) else "fault"
    return Run("qemu", text, outcome, res.returncode, detail=res.stderr.decode("latin-1")[-500:])
