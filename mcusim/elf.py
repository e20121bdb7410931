"""Firmware ELF reader: validated load segments, symbols and source lines.

Bytes in, typed records out: every check a user's file can fail happens here, at the
edge, and raises `UserError` with one clear line.
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import io
import os
from collections import OrderedDict
from dataclasses import dataclass, field

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from mcusim.errors import UserError

EM_ARM = "EM_ARM"


@dataclass(frozen=True)
class Segment:
    """One PT_LOAD segment: `data` goes to `paddr` (its load address, the LMA)."""

    paddr: int
    vaddr: int
    data: bytes
    memsz: int


@dataclass
class Firmware:
    path: str
    entry: int
    segments: list[Segment]
    symbols: dict[str, int]            # name -> address (all symbols with a name)
    symbol_sizes: dict[str, int]
    _func_addrs: list[int] = field(default_factory=list, repr=False)
    _func_names: list[str] = field(default_factory=list, repr=False)
    _func_ends: list[int] = field(default_factory=list, repr=False)
    _lines: list | None = field(default=None, repr=False)

    def function_at(self, address: int) -> str | None:
        """Name of the function containing `address` (Thumb bit ignored), or None."""
        address &= ~1
        i = bisect.bisect_right(self._func_addrs, address) - 1
        if i < 0:
            return None
        if address < self._func_ends[i] or self._func_ends[i] == self._func_addrs[i]:
            return self._func_names[i]
        return None

    def function_ranges(self) -> list[tuple[int, int, str]]:
        """(start, end, name) of every sized function symbol, sorted by start."""
        return list(zip(self._func_addrs, self._func_ends, self._func_names))

    def line_at(self, address: int) -> str | None:
        """'file:line' of the source line containing `address`, when the ELF has DWARF."""
        if self._lines is None:
            self._lines = _read_lines(self.path)
        if not self._lines:
            return None
        address &= ~1
        addrs = [a for a, _ in self._lines]
        i = bisect.bisect_right(addrs, address) - 1
        return self._lines[i][1] if i >= 0 else None

    def symbol(self, name: str) -> int | None:
        return self.symbols.get(name)

    def symbol_at(self, address: int) -> str | None:
        """'name+0xoff' of the sized symbol (variable or function) containing `address`."""
        if not hasattr(self, "_sym_sorted"):
            rows = sorted((a & ~1, self.symbol_sizes.get(n, 0), n) for n, a in self.symbols.items()
                          if self.symbol_sizes.get(n, 0) > 0)
            self._sym_sorted = rows
            self._sym_addrs = [r[0] for r in rows]
        i = bisect.bisect_right(self._sym_addrs, address) - 1
        while i >= 0:
            a, size, name = self._sym_sorted[i]
            if a <= address < a + size:
                off = address - a
                return name + (f"+0x{off:x}" if off else "")
            if address - a > 1 << 20:
                break
            i -= 1
        return None


def _read_lines(path: str) -> list:
    rows: list[tuple[int, str]] = []
    try:
        with open(path, "rb") as f:
            elf = ELFFile(f)
            if not elf.has_dwarf_info():
                return []
            dwarf = elf.get_dwarf_info()
            for cu in dwarf.iter_CUs():
                lp = dwarf.line_program_for_CU(cu)
                if lp is None:
                    continue
                files = lp["file_entry"]
                for entry in lp.get_entries():
                    st = entry.state
                    if st is None or st.end_sequence:
                        continue
                    idx = st.file - 1 if lp.header["version"] < 5 else st.file
                    name = "?"
                    if 0 <= idx < len(files):
                        raw = files[idx].name
                        name = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
                    rows.append((st.address, f"{os.path.basename(name)}:{st.line}"))
    except Exception:  # debug info is optional; a broken one must not break a fault report
        return []
    rows.sort()
    return rows


_PARSED: "OrderedDict[str, Firmware]" = OrderedDict()   # sha256 of the ELF -> parsed
_PARSED_MAX = 8


def load_firmware(path: str) -> Firmware:
    """Read and validate a firmware ELF for a 32-bit little-endian Arm M-profile core.

    The parse is kept per process, keyed by the sha256 of the file's bytes (the last few
    ELFs): runs of the same image (a bench, a sweep worker's points) read it once. A
    Firmware is not changed by the runs that use it."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise UserError(f"cannot open firmware {path!r}: {e.strerror}") from None
    key = hashlib.sha256(data).hexdigest()
    fw = _PARSED.get(key)
    if fw is None:
        fw = _parse(path, io.BytesIO(data))
        _PARSED[key] = fw
        while len(_PARSED) > _PARSED_MAX:
            _PARSED.popitem(last=False)
    else:
        _PARSED.move_to_end(key)
    if fw.path != path:
        fw = dataclasses.replace(fw, path=path)
    return fw


def _parse(path: str, f) -> Firmware:
    head = f.read(20)
    if len(head) < 20 or head[:4] != b"\x7fELF":
        raise UserError(f"{path}: not an ELF file")
    if head[4] != 1:
        raise UserError(f"{path}: a 64-bit ELF; Cortex-M firmware is 32-bit (ELFCLASS32)")
    if head[5] != 1:
        raise UserError(f"{path}: a big-endian ELF; mcusim runs little-endian Cortex-M firmware")
    f.seek(0)
    try:
        elf = ELFFile(f)
        machine = elf["e_machine"]
        if machine != EM_ARM:
            raise UserError(f"{path}: an ELF for {machine}, not for Arm (EM_ARM)")
        segments: list[Segment] = []
        for seg in elf.iter_segments():
            if seg["p_type"] != "PT_LOAD":
                continue
            data = seg.data()
            if len(data) != seg["p_filesz"]:
                raise UserError(f"{path}: truncated ELF (segment at 0x{seg['p_paddr']:08x})")
            segments.append(Segment(seg["p_paddr"], seg["p_vaddr"], data, seg["p_memsz"]))
        symbols: dict[str, int] = {}
        sizes: dict[str, int] = {}
        funcs: list[tuple[int, int, str]] = []
        symtab = elf.get_section_by_name(".symtab")
        if symtab is not None:
            for sym in symtab.iter_symbols():
                name = sym.name
                if not name or name.startswith("$"):
                    continue
                value = sym["st_value"]
                typ = sym["st_info"]["type"]
                if typ == "STT_FUNC":
                    value &= ~1
                    funcs.append((value, value + sym["st_size"], name))
                if name not in symbols or sym["st_info"]["bind"] == "STB_GLOBAL":
                    symbols[name] = value
                    sizes[name] = sym["st_size"]
        entry = elf["e_entry"]
    except ELFError as e:
        raise UserError(f"{path}: malformed ELF ({e})") from None
    if not segments:
        raise UserError(f"{path}: no loadable segments")
    funcs.sort()
    fw = Firmware(path=path, entry=entry, segments=segments, symbols=symbols, symbol_sizes=sizes)
    fw._func_addrs = [a for a, _, _ in funcs]
    fw._func_ends = [e for _, e, _ in funcs]
    fw._func_names = [n for _, _, n in funcs]
    return fw
