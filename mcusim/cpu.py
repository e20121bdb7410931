"""The Unicorn M-profile CPU as the simulator sees it: its architectural register state,
read and written correctly in every mode.

Unicorn exposes the banked and special registers (MSP, PSP, CONTROL, PRIMASK, BASEPRI,
FAULTMASK) through QEMU's MRS/MSR helpers, so their semantics apply to the host as well:
unprivileged thread mode reads them as 0 and ignores writes, CONTROL.SPSEL is writable in
thread mode only (Armv7-M), and MSP/PSP by name resolve through the current mode and
SPSEL. Exception entry and return must set mode, CONTROL and both stack pointers at once;
`read_banked` and `write_mode` do it in an order that holds in every state.
"""

from __future__ import annotations

import ctypes

from unicorn import arm_const as A

CONTROL_NPRIV, CONTROL_SPSEL, CONTROL_FPCA = 1, 2, 4
EPSR_T = 1 << 24                 # EPSR: Thumb bit set, ITSTATE clear
_HANDLER = 3                     # any exception number: handler mode is privileged


def read_banked(uc, v6m: bool) -> dict:
    """MSP, PSP and the mask registers, whatever the mode and privilege."""
    r = uc.reg_read
    ipsr = r(A.UC_ARM_REG_IPSR) & 0x1FF
    control = r(A.UC_ARM_REG_CONTROL)
    elevate = not v6m and ipsr == 0 and control & CONTROL_NPRIV
    if elevate:
        uc.reg_write(A.UC_ARM_REG_IPSR, _HANDLER)     # privileged for the reads
    # (an IPSR write moves the current SP between the banks as the mode changes, so MSP
    # and PSP by name stay right)
    out = {"msp": r(A.UC_ARM_REG_MSP), "psp": r(A.UC_ARM_REG_PSP),
           "primask": r(A.UC_ARM_REG_PRIMASK)}
    if not v6m:
        out["basepri"] = r(A.UC_ARM_REG_BASEPRI)
        out["faultmask"] = r(A.UC_ARM_REG_FAULTMASK)
    if elevate:
        uc.reg_write(A.UC_ARM_REG_IPSR, 0)
    return out


def write_mode(uc, *, ipsr: int, control: int, msp: int, psp: int, v6m: bool,
               masks: dict | None = None) -> None:
    """Put the CPU in thread (ipsr 0) or handler mode with `control` and both stack
    pointers (and optionally PRIMASK/BASEPRI/FAULTMASK), from any state."""
    w = uc.reg_write
    priv = control & ~CONTROL_NPRIV
    w(A.UC_ARM_REG_IPSR, _HANDLER)          # privileged
    w(A.UC_ARM_REG_CONTROL, priv)           # nPRIV/FPCA (SPSEL ignored in handler mode)
    w(A.UC_ARM_REG_IPSR, 0)                 # thread mode, still privileged
    w(A.UC_ARM_REG_CONTROL, priv)           # SPSEL takes effect (QEMU may swap the SPs)
    w(A.UC_ARM_REG_IPSR, ipsr & 0x1FF)
    w(A.UC_ARM_REG_MSP, msp & 0xFFFFFFFF)   # by name: banked as the final mode selects
    w(A.UC_ARM_REG_PSP, psp & 0xFFFFFFFF)
    if masks:
        w(A.UC_ARM_REG_PRIMASK, masks["primask"])
        if not v6m:
            w(A.UC_ARM_REG_BASEPRI, masks["basepri"])
            w(A.UC_ARM_REG_FAULTMASK, masks["faultmask"])
    if control & CONTROL_NPRIV:
        w(A.UC_ARM_REG_CONTROL, control)    # last: unprivileged from here on


# ------------------------------------------------------------------ the exclusive monitor
# The local exclusive monitor (LDREX/STREX) is cleared on exception entry and return
# (Armv7-M B1.5.6/B1.5.8 ClearExclusiveLocal); Unicorn keeps it in env->exclusive_addr
# (-1: open), which no register API reaches. Its offset in a saved CPU context is found
# once by experiment (an LDREX of a known address in a scratch CPU) and the context is
# patched and restored: 15 us, only at exceptions.
_EXCL_OPEN = (1 << 64) - 1
_excl_offset: int | None = None


def _exclusive_offset() -> int:
    global _excl_offset
    if _excl_offset is None:
        from unicorn import UC_ARCH_ARM, UC_MODE_THUMB, Uc
        uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB, cpu=A.UC_CPU_ARM_CORTEX_M4)
        uc.mem_map(0x08000000, 0x1000)
        uc.mem_map(0x20000000, 0x1000)
        uc.mem_write(0x08000000, bytes.fromhex("51e8000ffee7"))   # ldrex r0, [r1]; b .
        uc.reg_write(A.UC_ARM_REG_R1, 0x20000010)
        before = _context_bytes(uc.context_save())
        uc.emu_start(0x08000001, 0x08000004)
        after = _context_bytes(uc.context_save())
        found = [off for off in range(0, min(len(before), len(after)) - 7, 4)
                 if int.from_bytes(after[off:off + 8], "little") == 0x20000010
                 and int.from_bytes(before[off:off + 8], "little") == _EXCL_OPEN]
        if len(found) != 1:
            raise RuntimeError("cannot locate Unicorn's exclusive monitor in a CPU context")
        _excl_offset = found[0]
    return _excl_offset


def _context_bytes(ctx) -> bytes:
    return ctypes.string_at(ctx.context, ctx.size)


def read_exclusive(cpu) -> int:
    """The address the local monitor holds exclusive, or -1 when it is open."""
    off = _exclusive_offset()
    v = int.from_bytes(_context_bytes(cpu.context_save())[off:off + 8], "little")
    return -1 if v == _EXCL_OPEN else v


def write_exclusive(cpu, addr: int = -1) -> None:
    """Set the local monitor (-1: clear it, as exception entry and return do)."""
    off = _exclusive_offset()
    ctx = cpu.context_save()
    ptr = ctypes.cast(ctx.context, ctypes.c_void_p).value
    ctypes.memmove(ptr + off, (addr & _EXCL_OPEN).to_bytes(8, "little"), 8)
    cpu.context_restore(ctx)


_GPR = [(f"r{i}", getattr(A, f"UC_ARM_REG_R{i}")) for i in range(13)] + [
    ("sp", A.UC_ARM_REG_SP), ("lr", A.UC_ARM_REG_LR), ("pc", A.UC_ARM_REG_PC),
    ("xpsr", A.UC_ARM_REG_XPSR), ("control", A.UC_ARM_REG_CONTROL)]
_BANKED = ["msp", "psp", "primask"]
_BANKED_V7 = ["basepri", "faultmask"]
_FP = [("fpscr", A.UC_ARM_REG_FPSCR)] + [(f"s{i}", getattr(A, f"UC_ARM_REG_S{i}"))
                                         for i in range(32)]


class CpuState:
    """The whole architectural state of the CPU as one tuple (for comparison and transfer
    between CPUs): general registers, xPSR (flags, GE, ITSTATE, IPSR), CONTROL, both
    stack pointers, the masks, the FP registers when there is an FPU, and the local
    exclusive monitor."""

    def __init__(self, v6m: bool, fpu: bool):
        self.v6m = v6m
        self.plain = _GPR + (_FP if fpu else [])
        self.banked = _BANKED + ([] if v6m else _BANKED_V7)
        self.names = [n for n, _ in self.plain] + self.banked + ["exclusive"]
        self.ids = [i for _, i in self.plain]
        self.index = {n: k for k, n in enumerate(self.names)}
        n = len(self.ids)          # one raw uc_reg_read_batch (the binding's costs ~50x more)
        self._ids = (ctypes.c_int * n)(*self.ids)
        self._vals = (ctypes.c_uint64 * n)()
        base = ctypes.addressof(self._vals)
        self._ptrs = (ctypes.c_void_p * n)(*[base + 8 * k for k in range(n)])
        skip = {"sp", "pc", "xpsr", "control"}
        self._wnames = [nm for nm, _ in self.plain if nm not in skip]
        w = len(self._wnames)
        self._wids = (ctypes.c_int * w)(*[i for nm, i in self.plain if nm not in skip])
        self._wvals = (ctypes.c_uint64 * w)()
        wbase = ctypes.addressof(self._wvals)
        self._wptrs = (ctypes.c_void_p * w)(*[wbase + 8 * k for k in range(w)])

    def read(self, uc) -> tuple:
        from unicorn.unicorn_py3.unicorn import uclib
        err = uclib.uc_reg_read_batch(uc._uch, self._ids, self._ptrs, len(self.ids))
        if err:
            from unicorn import UcError
            raise UcError(err)
        vals = [v & 0xFFFFFFFF for v in self._vals]
        b = read_banked(uc, self.v6m)
        return tuple(vals + [b[n] & 0xFFFFFFFF for n in self.banked] + [read_exclusive(uc)])

    def write(self, uc, state: tuple) -> None:
        s = dict(zip(self.names, state))
        write_mode(uc, ipsr=s["xpsr"], control=s["control"], msp=s["msp"], psp=s["psp"],
                   v6m=self.v6m, masks=s)
        uc.reg_write(A.UC_ARM_REG_XPSR_NZCVQG, s["xpsr"])   # flags, GE, ITSTATE, T, IPSR
        from unicorn.unicorn_py3.unicorn import uclib
        vals = self._wvals
        for k, n in enumerate(self._wnames):
            vals[k] = s[n] & 0xFFFFFFFF
        err = uclib.uc_reg_write_batch(uc._uch, self._wids, self._wptrs, len(self._wnames))
        if err:
            from unicorn import UcError
            raise UcError(err)
        uc.reg_write(A.UC_ARM_REG_PC, s["pc"] | 1)
        write_exclusive(uc, s["exclusive"])

    def diff(self, a: tuple, b: tuple) -> dict:
        return {n: (x, y) for n, x, y in zip(self.names, a, b) if x != y}


def vector_table_reset(cpu, memory, boot: int, path: str, mcu_name: str) -> int:
    """Reset as the core takes it (Armv7-M B1.5.5): SP_main and the reset vector from the
    vector table at `boot`. Returns the PC to start at; a table that cannot be right is
    refused with one line."""
    from unicorn import UcError

    from mcusim.errors import UserError
    try:
        sp = int.from_bytes(cpu.mem_read(boot, 4), "little")
        pc = int.from_bytes(cpu.mem_read(boot + 4, 4), "little")
    except UcError:
        raise UserError(f"{mcu_name}: no memory at the boot address 0x{boot:08x}") from None
    r, _ = memory.region_at(pc & ~1)
    if r is None or r.access == "rw" and r.kind not in ("sram", "tcm"):
        raise UserError(f"{path}: the vector table's reset handler 0x{pc:08x} points "
                        f"outside flash (no vector table at 0x{boot:08x}?)")
    if not pc & 1:
        raise UserError(f"{path}: reset vector 0x{pc:08x} is not a Thumb address (bit 0 clear)")
    rs, _ = memory.region_at((sp - 4) & 0xFFFFFFFF)
    if rs is None or rs.access == "rx":
        raise UserError(f"{path}: initial stack pointer 0x{sp:08x} is not in RAM")
    cpu.reg_write(A.UC_ARM_REG_CONTROL, 0)
    cpu.reg_write(A.UC_ARM_REG_MSP, sp & ~3)
    cpu.reg_write(A.UC_ARM_REG_SP, sp & ~3)
    cpu.reg_write(A.UC_ARM_REG_LR, 0xFFFFFFFF)
    return pc & ~1
