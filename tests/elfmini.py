"""Tiny hand-assembled Cortex-M ELFs for tests that need a program no compiler would emit
(an endless printing loop, a symbol name with a newline and a terminal escape).

`elf(code, symbols)` writes a 32-bit little-endian EM_ARM executable: one PT_LOAD segment
at the flash base (a vector table: initial SP, reset vector) followed by `code` (Thumb
halfwords), and a .symtab whose function symbols are (name, offset in code, size).
"""

from __future__ import annotations

import struct

FLASH = 0x08000000
SRAM_TOP = 0x20001000

SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB = 1, 2, 3
STT_FUNC, STB_GLOBAL = 2, 1


def thumb(*halfwords: int) -> bytes:
    return b"".join(struct.pack("<H", h) for h in halfwords)


def elf(code: bytes, symbols=(), data: bytes = b"") -> bytes:
    """An ELF whose flash image is [SP, reset] + code + data; the reset vector is the first
    byte of code (Thumb bit set)."""
    entry = FLASH + 8
    image = struct.pack("<II", SRAM_TOP, entry | 1) + code + data
    seg_off = 0x100
    # string tables
    strtab = b"\0"
    syms = [b"\0" * 16]
    for name, off, size in symbols:
        nidx = len(strtab)
        strtab += name.encode("utf-8", "surrogateescape") + b"\0"
        syms.append(struct.pack("<IIIBBH", nidx, (entry + off) | 1, size,
                                (STB_GLOBAL << 4) | STT_FUNC, 0, 1))
    symtab = b"".join(syms)
    shstr = b"\0.text\0.symtab\0.strtab\0.shstrtab\0"
    names = {n: shstr.index(n.encode()) for n in (".text", ".symtab", ".strtab", ".shstrtab")}
    off = seg_off + len(image)
    sym_off = (off + 3) & ~3
    str_off = sym_off + len(symtab)
    shs_off = str_off + len(strtab)
    sh_off = (shs_off + len(shstr) + 3) & ~3

    def sh(name, typ, flags, addr, offset, size, link=0, info=0, align=1, entsize=0):
        return struct.pack("<10I", name, typ, flags, addr, offset, size, link, info, align, entsize)

    shdrs = [sh(0, 0, 0, 0, 0, 0),
             sh(names[".text"], SHT_PROGBITS, 6, FLASH, seg_off, len(image), align=4),
             sh(names[".symtab"], SHT_SYMTAB, 0, 0, sym_off, len(symtab), link=3,
                info=1, align=4, entsize=16),
             sh(names[".strtab"], SHT_STRTAB, 0, 0, str_off, len(strtab)),
             sh(names[".shstrtab"], SHT_STRTAB, 0, 0, shs_off, len(shstr))]
    ehdr = (b"\x7fELF" + bytes([1, 1, 1, 0]) + bytes(8)
            + struct.pack("<HHIIIIIHHHHHH", 2, 40, 1, entry | 1, 52, sh_off, 0x05000200,
                          52, 32, 1, 40, len(shdrs), 4))
    phdr = struct.pack("<8I", 1, seg_off, FLASH, FLASH, len(image), len(image), 5, 4)
    out = bytearray(ehdr + phdr)
    out += bytes(seg_off - len(out)) + image
    out += bytes(sym_off - len(out)) + symtab + strtab + shstr
    out += bytes(sh_off - len(out)) + b"".join(shdrs)
    return bytes(out)


def print_loop() -> bytes:
    """Prints 'hello, again' through semihosting SYS_WRITE0 forever."""
    code = thumb(
        0x2004,          # 08: movs r0, #4           (SYS_WRITE0)
        0xA101,          # 0a: adr  r1, msg          (0x10)
        0xBEAB,          # 0c: bkpt 0xab
        0xE7FB,          # 0e: b    0x08
    )
    return elf(code, [("print_loop", 0, 8)], data=b"hello, again\n\0")


def fault_in(name: str) -> bytes:
    """Loads from unmapped 0x60000000 inside a function called `name` (no fault handler)."""
    code = thumb(
        0x2160,          # movs r1, #0x60
        0x0609,          # lsls r1, r1, #24
        0x6808,          # ldr  r0, [r1]
        0xE7FE,          # b    .
    )
    return elf(code, [(name, 0, 8)])
