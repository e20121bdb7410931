"""Arm semihosting (BKPT 0xAB on M-profile), as the Arm "Semihosting for AArch32 and
AArch64" specification (version 3) defines the operations.

Console operations go to the run's output. Host file operations are refused (-1, errno
EACCES) unless the user gave a sandbox directory; then every path is resolved inside it and
a path that escapes it (.., absolute, symlink out) is refused.
"""

from __future__ import annotations

import errno
import os

SYS_OPEN, SYS_CLOSE, SYS_WRITEC, SYS_WRITE0, SYS_WRITE = 0x01, 0x02, 0x03, 0x04, 0x05
SYS_READ, SYS_READC, SYS_ISERROR, SYS_ISTTY, SYS_SEEK = 0x06, 0x07, 0x08, 0x09, 0x0A
SYS_FLEN, SYS_TMPNAM, SYS_REMOVE, SYS_RENAME, SYS_CLOCK = 0x0C, 0x0D, 0x0E, 0x0F, 0x10
SYS_TIME, SYS_SYSTEM, SYS_ERRNO, SYS_GET_CMDLINE, SYS_HEAPINFO = 0x11, 0x12, 0x13, 0x15, 0x16
SYS_EXIT, SYS_EXIT_EXTENDED, SYS_ELAPSED, SYS_TICKFREQ = 0x18, 0x20, 0x30, 0x31

ADP_STOPPED_APPLICATION_EXIT = 0x20026

# Handles 1 and 2 are stdout and stderr (as ":tt" opened for write/append gives);
# handle 0 is stdin. Files opened in the sandbox get 3 and up.
_OPEN_MODES = ["rb", "rb", "r+b", "r+b", "wb", "wb", "w+b", "w+b", "ab", "ab", "a+b", "a+b"]


class Exit(Exception):
    def __init__(self, status: int):
        self.status = status


class Semihosting:
    def __init__(self, machine, sandbox: str | None = None, cmdline: str = ""):
        self.m = machine
        self.sandbox = os.path.realpath(sandbox) if sandbox else None
        self.files: dict[int, object] = {}
        self.next_handle = 3
        self.errno = 0
        self.cmdline = cmdline
        self.stdin = b""
        self.stdin_source = None      # a binary file read lazily (the CLI's stdin)

    # -- helpers ---------------------------------------------------------------------
    def _words(self, addr: int, n: int) -> list[int]:
        data = self.m.uc.mem_read(addr, 4 * n)
        return [int.from_bytes(data[4 * i:4 * i + 4], "little") for i in range(n)]

    def _cstr(self, addr: int, limit: int = 4096) -> bytes:
        out = bytearray()
        while len(out) < limit:
            chunk = bytes(self.m.uc.mem_read(addr + len(out), 64))
            z = chunk.find(b"\0")
            if z >= 0:
                out += chunk[:z]
                return bytes(out)
            out += chunk
        return bytes(out)

    def _path(self, name: bytes) -> str | None:
        if self.sandbox is None:
            return None
        rel = name.decode("utf-8", "replace")
        full = os.path.realpath(os.path.join(self.sandbox, rel.lstrip("/")))
        if full != self.sandbox and not full.startswith(self.sandbox + os.sep):
            return None
        return full

    # -- dispatch --------------------------------------------------------------------
    def call(self, op: int, arg: int) -> int:
        m = self.m
        if op == SYS_WRITEC:
            m.output(bytes(m.uc.mem_read(arg, 1)), 1)
            return 0
        if op == SYS_WRITE0:
            m.output(self._cstr(arg, 1 << 20), 1)
            return 0
        if op == SYS_WRITE:
            handle, buf, n = self._words(arg, 3)
            data = bytes(m.uc.mem_read(buf, n)) if n else b""
            if handle in (1, 2):
                m.output(data, handle)
                return 0
            f = self.files.get(handle)
            if f is None:
                self.errno = errno.EBADF
                return n
            f.write(data)
            return 0
        if op == SYS_READC:
            self._fill(1)
            if self.stdin:
                c, self.stdin = self.stdin[0], self.stdin[1:]
                return c
            return 0xFFFFFFFF
        if op == SYS_READ:
            handle, buf, n = self._words(arg, 3)
            if handle == 0:
                self._fill(n)
                data, self.stdin = self.stdin[:n], self.stdin[n:]
            else:
                f = self.files.get(handle)
                if f is None:
                    self.errno = errno.EBADF
                    return n
                data = f.read(n)
            if data:
                m.host_write(buf, data)
            return n - len(data)
        if op == SYS_CLOCK:
            return int(m.seconds() * 100) & 0xFFFFFFFF
        if op == SYS_ELAPSED:
            c = m.now()
            m.host_write(arg, (c & 0xFFFFFFFF).to_bytes(4, "little") + (c >> 32).to_bytes(4, "little"))
            return 0
        if op == SYS_TICKFREQ:
            return int(m.clock_hz) & 0xFFFFFFFF
        if op == SYS_TIME:
            return 0  # simulated wall clock starts at the epoch: deterministic
        if op == SYS_EXIT:
            # AArch32: r1 holds the reason code itself.
            raise Exit(0 if arg == ADP_STOPPED_APPLICATION_EXIT else 1)
        if op == SYS_EXIT_EXTENDED:
            reason, sub = self._words(arg, 2)
            if reason == ADP_STOPPED_APPLICATION_EXIT:
                raise Exit(sub & 0xFF if sub < 256 else sub & 0xFFFFFFFF)
            raise Exit(1)
        if op == SYS_ERRNO:
            return self.errno
        if op == SYS_ISTTY:
            (handle,) = self._words(arg, 1)
            return 1 if handle in (0, 1, 2) else 0
        if op == SYS_ISERROR:
            (status,) = self._words(arg, 1)
            return 1 if status & 0x80000000 else 0
        if op == SYS_HEAPINFO:
            (block,) = self._words(arg, 1)
            m.host_write(block, bytes(16))  # "not known": the C library uses its own
            return 0
        if op == SYS_GET_CMDLINE:
            buf, size = self._words(arg, 2)
            data = self.cmdline.encode()[: max(0, size - 1)] + b"\0"
            m.host_write(buf, data)
            m.host_write(arg + 4, (len(data) - 1).to_bytes(4, "little"))
            return 0
        if op == SYS_OPEN:
            name_p, mode, _len = self._words(arg, 3)
            name = self._cstr(name_p)
            if name == b":tt":
                return 0 if mode < 4 else (1 if mode < 8 else 2)
            path = self._path(name)
            if path is None or mode >= len(_OPEN_MODES):
                self.errno = errno.EACCES
                if self.sandbox is None:
                    m.warn_once("semihost-file", "firmware asked for a host file; refused "
                                "(pass --semihost-dir DIR to allow files inside DIR)")
                return 0xFFFFFFFF
            try:
                f = open(path, _OPEN_MODES[mode])
            except OSError as e:
                self.errno = e.errno or errno.EIO
                return 0xFFFFFFFF
            h = self.next_handle
            self.next_handle += 1
            self.files[h] = f
            return h
        if op == SYS_CLOSE:
            (handle,) = self._words(arg, 1)
            f = self.files.pop(handle, None)
            if f is not None:
                f.close()
            return 0
        if op == SYS_SEEK:
            handle, pos = self._words(arg, 2)
            f = self.files.get(handle)
            if f is None:
                return 0xFFFFFFFF
            f.seek(pos)
            return 0
        if op == SYS_FLEN:
            (handle,) = self._words(arg, 1)
            f = self.files.get(handle)
            if f is None:
                return 0xFFFFFFFF
            return os.fstat(f.fileno()).st_size
        if op == SYS_REMOVE:
            name_p, _n = self._words(arg, 2)
            path = self._path(self._cstr(name_p))
            if path is None:
                self.errno = errno.EACCES
                return 0xFFFFFFFF
            try:
                os.remove(path)
            except OSError as e:
                self.errno = e.errno or errno.EIO
                return 0xFFFFFFFF
            return 0
        if op == SYS_SYSTEM:
            self.errno = errno.EACCES
            return 0xFFFFFFFF  # never run host commands
        m.warn_once(f"semihost-{op}", f"semihosting operation 0x{op:02x} not supported; returned -1")
        return 0xFFFFFFFF

    def _fill(self, n: int) -> None:
        if len(self.stdin) < n and self.stdin_source is not None:
            try:
                more = self.stdin_source.read(n - len(self.stdin)) if n > 1 else self.stdin_source.read(1)
            except (OSError, ValueError):
                more = b""
            if not more:
                self.stdin_source = None
            self.stdin += more or b""

    def close(self) -> None:
        for f in self.files.values():
            f.close()
        self.files.clear()
