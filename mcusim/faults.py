"""Faults: what Unicorn reports, mapped onto the architecture's fault classes, and the
report a debugger would give (type, cause, PC, symbol, source line, fault address, the
callers found on the stack)."""

from __future__ import annotations

from dataclasses import dataclass, field

from unicorn import UcError
from unicorn.unicorn_const import (UC_ERR_EXCEPTION, UC_ERR_FETCH_PROT, UC_ERR_FETCH_UNMAPPED,
                                   UC_ERR_INSN_INVALID, UC_ERR_READ_PROT, UC_ERR_READ_UNALIGNED,
                                   UC_ERR_READ_UNMAPPED, UC_ERR_WRITE_PROT,
                                   UC_ERR_WRITE_UNALIGNED, UC_ERR_WRITE_UNMAPPED)

from mcusim import nvic as N


@dataclass
class FaultInfo:
    type: str                  # HardFault, BusFault, UsageFault, MemManage, Lockup
    pc: int
    address: int | None
    cause: str                 # e.g. "PRECISERR", "UNDEFINSTR", "FORCED <- PRECISERR"
    symbol: str | None = None
    line: str | None = None
    lr: int | None = None
    sp: int | None = None
    call_chain: list = field(default_factory=list)
    message: str = ""


def execute_never(addr: int) -> bool:
    """XN regions of the default memory map: Peripheral 0x40000000-0x5FFFFFFF, Device
    0xA0000000-0xDFFFFFFF, System 0xE0000000- (Armv7-M ARM B3.1, Table B3-1)."""
    return 0x40000000 <= addr < 0x60000000 or addr >= 0xA0000000


# Faults QEMU's M-profile model raises itself (UC_HOOK_INTR numbers)
_INTR_FAULTS = {17: (N.USAGEFAULT, N.CFSR_NOCP), 18: (N.USAGEFAULT, N.CFSR_INVSTATE),
                22: (N.USAGEFAULT, N.CFSR_UNALIGNED), 23: (N.USAGEFAULT, N.CFSR_DIVBYZERO),
                1: (N.USAGEFAULT, N.CFSR_UNDEFINSTR), 3: (N.BUSFAULT, N.CFSR_IBUSERR)}


def fault_of_intr(intno: int, pc: int) -> tuple[int, int] | None:
    """(exception, CFSR bit) of an interrupt number Unicorn raised, or None."""
    fault = _INTR_FAULTS.get(intno)
    if fault is not None and intno in (1, 3) and execute_never(pc):
        fault = (N.MEMMANAGE, N.CFSR_IACCVIOL)
    return fault


def fault_of_error(code: int, pc: int, is_coprocessor) -> tuple[int, int]:
    """(exception, CFSR bit) of an emulation error at `pc` (not an EXC_RETURN fetch)."""
    if code in (UC_ERR_READ_UNMAPPED, UC_ERR_WRITE_UNMAPPED, UC_ERR_WRITE_PROT,
                UC_ERR_READ_PROT, UC_ERR_READ_UNALIGNED, UC_ERR_WRITE_UNALIGNED):
        return N.BUSFAULT, N.CFSR_PRECISERR
    if code in (UC_ERR_FETCH_UNMAPPED, UC_ERR_FETCH_PROT, UC_ERR_INSN_INVALID,
                UC_ERR_EXCEPTION) and execute_never(pc):
        # The default memory map marks the Peripheral, Device and System regions Execute
        # Never (Armv7-M B3.1): a MemManage fault (IACCVIOL) on Armv7-M/v8-M.
        return N.MEMMANAGE, N.CFSR_IACCVIOL
    if code in (UC_ERR_FETCH_UNMAPPED, UC_ERR_FETCH_PROT):
        return N.BUSFAULT, N.CFSR_IBUSERR       # a branch to a bad address
    if code == UC_ERR_INSN_INVALID:
        return N.USAGEFAULT, (N.CFSR_NOCP if is_coprocessor(pc) else N.CFSR_UNDEFINSTR)
    if code == UC_ERR_EXCEPTION:
        return N.USAGEFAULT, N.CFSR_UNDEFINSTR
    return N.HARDFAULT, 0


def is_fetch_error(code: int) -> bool:
    return code in (UC_ERR_FETCH_UNMAPPED, UC_ERR_FETCH_PROT)


def is_coprocessor(cpu, pc: int) -> bool:
    """Thumb-2 coprocessor space: 111x 11xx xxxx xxxx with coprocessor 10/11 (FP)."""
    try:
        hw = int.from_bytes(cpu.mem_read(pc, 2), "little")
        hw2 = int.from_bytes(cpu.mem_read(pc + 2, 2), "little")
    except UcError:
        return False
    return (hw & 0xEC00) == 0xEC00 and ((hw2 >> 8) & 0xE) == 0xA


def annotate(f: FaultInfo, fw, cpu) -> None:
    """Symbol, source line and callers of a fault (needs the firmware's symbols)."""
    if fw is None:
        return
    f.symbol = fw.function_at(f.pc)
    f.line = fw.line_at(f.pc)
    chain = []
    if f.lr is not None and f.lr < 0xF0000000:
        chain.append((f.lr & ~1, fw.function_at(f.lr)))
    chain += stack_return_addresses(cpu, f.sp, fw, skip={a for a, _ in chain}, limit=4)
    f.call_chain = chain


def stack_return_addresses(cpu, sp, fw, skip=(), limit=4) -> list:
    """Callers further up: words on the faulting context's stack that are return
    addresses, i.e. Thumb addresses inside a function right after a BL/BLX (a heuristic,
    as debuggers' stack scans without unwind tables)."""
    out = []
    if sp is None:
        return out
    try:
        words = bytes(cpu.mem_read(sp, 256))
    except UcError:
        return out
    skip = set(skip)
    for i in range(0, len(words), 4):
        v = int.from_bytes(words[i:i + 4], "little")
        a = v & ~1
        if not v & 1 or a in skip or fw.function_at(a) is None:
            continue
        try:
            prev = bytes(cpu.mem_read(a - 4, 4))
        except UcError:
            continue
        hw1 = int.from_bytes(prev[:2], "little")
        hw2 = int.from_bytes(prev[2:], "little")
        bl = (hw1 & 0xF800) == 0xF000 and (hw2 & 0xD000) in (0xD000, 0xC000)
        blx_reg = (hw2 & 0xFF87) == 0x4780
        if bl or blx_reg:
            out.append((a, fw.function_at(a)))
            skip.add(a)
            if len(out) >= limit:
                break
    return out
