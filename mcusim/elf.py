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
import stat
import struct
from collections import OrderedDict
from dataclasses import dataclass, field

from mcusim.errors import UserError

EM_ARM = "EM_ARM"
MAX_ELF_BYTES = 256 << 20     # a firmware ELF (with debug info) is read whole: at most this


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
    # the ELF's Arm build attributes (.ARM.attributes, "aeabi"): tag number -> value, e.g.
    # {6: 13} is Tag_CPU_arch v7E-M; empty when the ELF has none (check_core then trusts it)
    attributes: dict[int, int] = field(default_factory=dict)
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
            from elftools.elf.elffile import ELFFile   # (imported when first needed)
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
            if stat.S_ISDIR(os.fstat(f.fileno()).st_mode):
                raise UserError(f"cannot open firmware {path!r}: it is a directory")
            data = f.read(MAX_ELF_BYTES + 1)    # devices and pipes: never past the bound
    except OSError as e:
        raise UserError(f"cannot open firmware {path!r}: {e.strerror}") from None
    if len(data) > MAX_ELF_BYTES:
        raise UserError(f"{path}: larger than {MAX_ELF_BYTES >> 20} MiB: not a firmware ELF")
    key = hashlib.sha256(data).hexdigest()
    fw = _PARSED.get(key)
    if fw is None:
        fw = _disk_load(key, path)
        if fw is None:
            fw = _parse(path, io.BytesIO(data))
            _disk_save(key, fw)
        _PARSED[key] = fw
        while len(_PARSED) > _PARSED_MAX:
            _PARSED.popitem(last=False)
    else:
        _PARSED.move_to_end(key)
    if fw.path != path:
        fw = dataclasses.replace(fw, path=path)
    return fw


# The parse is also kept in the user's cache directory (MCUSIM_ELF_CACHE=0: never), keyed by
# the same sha256 and this reader's format version: a JSON header (entry, segment table,
# symbols, functions) and the segments' bytes. A file that does not check out is ignored.
_DISK_FORMAT = 2


def _disk_path(key: str):
    if os.environ.get("MCUSIM_ELF_CACHE", "1") == "0":
        return None
    from mcusim.timing.blocks import cache_dir
    d = cache_dir()
    return None if d is None else d / f"elf-{key[:32]}-v{_DISK_FORMAT}.bin"


def _disk_save(key: str, fw: Firmware) -> None:
    import json
    p = _disk_path(key)
    if p is None:
        return
    head = {"key": key, "entry": fw.entry, "symbols": fw.symbols, "sizes": fw.symbol_sizes,
            "funcs": [fw._func_addrs, fw._func_ends, fw._func_names],
            "attrs": sorted(fw.attributes.items()),
            "segments": [[s.paddr, s.vaddr, len(s.data), s.memsz] for s in fw.segments]}
    h = json.dumps(head, separators=(",", ":")).encode()
    tmp = p.with_name(f"{p.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(len(h).to_bytes(8, "little"))
            f.write(h)
            for s in fw.segments:
                f.write(s.data)
        os.replace(tmp, p)
    except OSError:
        try:
            tmp.unlink()
        except OSError:
            pass


def _disk_load(key: str, path: str) -> Firmware | None:
    import json
    p = _disk_path(key)
    if p is None:
        return None
    try:
        raw = p.read_bytes()
        n = int.from_bytes(raw[:8], "little")
        head = json.loads(raw[8:8 + n])
        if head.get("key") != key:
            return None
        off, segments = 8 + n, []
        for paddr, vaddr, size, memsz in head["segments"]:
            if off + size > len(raw):
                return None
            segments.append(Segment(paddr, vaddr, raw[off:off + size], memsz))
            off += size
        if off != len(raw) or not segments:
            return None
        fw = Firmware(path=path, entry=head["entry"], segments=segments,
                      symbols=head["symbols"], symbol_sizes=head["sizes"],
                      attributes={int(k): int(v) for k, v in head["attrs"]})
        fw._func_addrs, fw._func_ends, fw._func_names = head["funcs"]
        return fw
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _parse(path: str, f) -> Firmware:
    head = f.read(20)
    if len(head) < 20 or head[:4] != b"\x7fELF":
        raise UserError(f"{path}: not an ELF file")
    if head[4] != 1:
        raise UserError(f"{path}: a 64-bit ELF; Cortex-M firmware is 32-bit (ELFCLASS32)")
    if head[5] != 1:
        raise UserError(f"{path}: a big-endian ELF; mcusim runs little-endian Cortex-M firmware")
    f.seek(0)
    from elftools.common.exceptions import ELFError   # (imported when first needed)
    from elftools.construct import ConstructError
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection
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
        if symtab is not None and not isinstance(symtab, SymbolTableSection):
            raise UserError(f"{path}: section .symtab is not a symbol table "
                            f"(type {symtab['sh_type']})")
        if symtab is not None:
            for sym in symtab.iter_symbols():
                name = printable(sym.name)
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
        attrs = elf.get_section_by_name(".ARM.attributes")
        attributes = parse_attributes(attrs.data()) if attrs is not None else {}
    except (ELFError, ConstructError, struct.error, ValueError, IndexError, KeyError,
            UnicodeDecodeError, OverflowError) as e:
        # pyelftools' readers on bytes that do not hold what the headers say
        raise UserError(f"{path}: malformed ELF ({printable(str(e))[:200]})") from None
    if not segments:
        raise UserError(f"{path}: no loadable segments")
    funcs.sort()
    fw = Firmware(path=path, entry=entry, segments=segments, symbols=symbols, symbol_sizes=sizes,
                  attributes=attributes)
    fw._func_addrs = [a for a, _, _ in funcs]
    fw._func_ends = [e for _, e, _ in funcs]
    fw._func_names = [n for _, _, n in funcs]
    return fw


def printable(name: str) -> str:
    """A name from the ELF made safe for a terminal and a one-line report: characters that
    are not printable (newlines, escape sequences, other controls) become \\xNN / \\uNNNN."""
    if name.isprintable():
        return name
    return "".join(c if c.isprintable() else
                   (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}") for c in name)


# --------------------------------------------------------------------------- build attributes
# Arm ELF build attributes (ABI addenda, "aeabi" vendor section): the tags that say which
# core the code was compiled for.
TAG_CPU_ARCH, TAG_CPU_ARCH_PROFILE, TAG_FP_ARCH = 6, 7, 10
TAG_ABI_HARDFP_USE, TAG_ABI_VFP_ARGS, TAG_DSP_EXTENSION = 27, 28, 46
CPU_ARCH_NAMES = {
    0: "pre-Armv4", 1: "Armv4", 2: "Armv4T", 3: "Armv5T", 4: "Armv5TE", 5: "Armv5TEJ",
    6: "Armv6", 7: "Armv6KZ", 8: "Armv6T2", 9: "Armv6K", 10: "Armv7", 11: "Armv6-M",
    12: "Armv6-M", 13: "Armv7E-M", 14: "Armv8-A", 15: "Armv8-R", 16: "Armv8-M Baseline",
    17: "Armv8-M Mainline", 18: "Armv8.1-A", 19: "Armv8.2-A", 20: "Armv8.3-A",
    21: "Armv8.1-M Mainline", 22: "Armv9-A",
}
# what a core of each catalog `arch` runs: the Tag_CPU_arch values (Armv7 with profile M)
_CORE_ARCH = {"armv6-m": {11, 12}, "armv7-m": {10}, "armv7e-m": {13}, "armv8-m.main": {17},
              "armv8-m.base": {16}}
_ARCH_CORES = {11: "Cortex-M0/M0+", 12: "Cortex-M0/M0+", 13: "Cortex-M4/M7",
               16: "Cortex-M23", 17: "Cortex-M33/M35P/M55", 21: "Cortex-M55/M85"}
_STRING_TAGS = {4, 5, 67}


def parse_attributes(data: bytes) -> dict[int, int]:
    """The integer attributes of the "aeabi" file scope (section format 'A': subsections of
    length, vendor name, then tag/size/attributes; integers ULEB128, strings NUL-ended).
    Anything malformed ends the parse with what was read (attributes only inform a check)."""
    out: dict[int, int] = {}
    if not data or data[0] != 0x41:                    # 'A'
        return out
    pos, n = 1, len(data)
    while pos + 4 <= n:
        length = int.from_bytes(data[pos:pos + 4], "little")
        end = min(n, pos + length)
        if length < 5:
            break
        nul = data.find(b"\0", pos + 4, end)
        if nul < 0:
            break
        vendor = data[pos + 4:nul]
        q = nul + 1
        while vendor == b"aeabi" and q + 5 <= end:
            tag = data[q]
            size = int.from_bytes(data[q + 1:q + 5], "little")
            sub_end = min(end, q + max(size, 5))
            if tag == 1:                                  # Tag_File: the whole file
                _attrs(data, q + 5, sub_end, out)
            q = sub_end
            if size < 5:
                break
        pos = end
    return out


def _uleb(data: bytes, i: int, end: int) -> tuple[int, int]:
    v = shift = 0
    while i < end:
        b = data[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80 or shift > 63:
            return v, i
    return v, end


def _attrs(data: bytes, i: int, end: int, out: dict[int, int]) -> None:
    while i < end:
        tag, i = _uleb(data, i, end)
        if tag in _STRING_TAGS or (tag > 32 and tag % 2 == 1):
            nul = data.find(b"\0", i, end)
            i = end if nul < 0 else nul + 1
        elif tag == 32:                                   # Tag_compatibility: ULEB + string
            _, i = _uleb(data, i, end)
            nul = data.find(b"\0", i, end)
            i = end if nul < 0 else nul + 1
        else:
            v, i = _uleb(data, i, end)
            out[tag] = v


def built_for(fw: Firmware) -> str | None:
    """The architecture the ELF says it was built for ('Armv6-M (Cortex-M0/M0+)'), or None."""
    a = fw.attributes
    arch = a.get(TAG_CPU_ARCH)
    if arch is None:
        return None
    if arch == 10:
        prof = a.get(TAG_CPU_ARCH_PROFILE)
        name = {0x4D: "Armv7-M", 0x41: "Armv7-A", 0x52: "Armv7-R"}.get(prof, "Armv7")
        return name + (" (Cortex-M3)" if prof == 0x4D else "")
    name = CPU_ARCH_NAMES.get(arch, f"architecture {arch}")
    cores = _ARCH_CORES.get(arch)
    return name + (f" ({cores})" if cores else "")


def core_mismatch(fw: Firmware, core) -> str | None:
    """Why the ELF's build attributes do not fit the core (`CoreSpec`: `arch`, `fpu`,
    `has_dsp`), or None when they fit or the ELF has no attributes."""
    a = fw.attributes
    arch = a.get(TAG_CPU_ARCH)
    if arch is None:
        return None
    ok = _CORE_ARCH.get(core.arch)
    if ok is None:
        return None                                      # a core this check does not know
    if arch not in ok or (arch == 10 and a.get(TAG_CPU_ARCH_PROFILE, 0x4D) != 0x4D):
        return f"built for {built_for(fw)}"
    fp = a.get(TAG_FP_ARCH, 0)
    fpu = (core.fpu or "none").lower()
    if fp and fpu == "none":
        return "built with floating-point instructions (Tag_FP_arch), the core has no FPU"
    if fp:
        level = 5 if fp >= 7 else 4
        core_level = 5 if fpu.startswith("fpv5") else 4
        dp = a.get(TAG_ABI_HARDFP_USE, 0) != 1             # 1: single precision only
        if level > core_level:
            return f"built for an FPv{level} FPU, the core has {core.fpu}"
        if dp and fpu.endswith("-sp") and a.get(TAG_ABI_VFP_ARGS) == 1:
            return f"built for a double-precision FPU, the core has {core.fpu} (single precision)"
    if a.get(TAG_DSP_EXTENSION) == 1 and not core.has_dsp:
        return "built with the DSP extension, the core has none"
    return None


def check_core(fw: Firmware, mcu, force: bool = False) -> None:
    """Refuse (one line) an ELF built for another core than the MCU's: its numbers would
    be another core's. `force` runs it anyway."""
    why = core_mismatch(fw, mcu.core)
    if why is None or force:
        return
    arch_name = {"armv6-m": "Armv6-M", "armv7-m": "Armv7-M", "armv7e-m": "Armv7E-M",
                 "armv8-m.main": "Armv8-M Mainline", "armv8-m.base": "Armv8-M Baseline"}
    hint = _parts_for(fw)
    raise UserError(f"{os.path.basename(fw.path)}: {why}; {mcu.name} has a {mcu.core.name} "
                    f"({arch_name.get(mcu.core.arch, mcu.core.arch)}, FPU {mcu.core.fpu or 'none'})"
                    + (f": use --mcu {hint}" if hint else ": use --mcu with a part of that core")
                    + ", or --force to run it anyway")


def _parts_for(fw: Firmware) -> str | None:
    """Catalog MCUs whose core fits the ELF, for the hint ('stm32g0b1 or generic-m0plus')."""
    try:
        from mcusim.catalog import list_catalog, load_mcu
        names = [n for n, _ in list_catalog().get("mcus", [])]
        fp = fw.attributes.get(TAG_FP_ARCH, 0)
        want = "none" if not fp else "fpv5" if fp >= 7 else "fpv4"
        fits = []
        for n in names:
            try:
                core = load_mcu(n).core
            except UserError:
                continue
            if core_mismatch(fw, core) is None:
                # the closest parts first: the same FPU generation, real parts before generic
                fits.append(((core.fpu or "none")[:4] != want, n.startswith("generic"), n))
        return " or ".join(n for *_, n in sorted(fits)[:3]) if fits else None
    except UserError:
        return None
