"""The firmware's console output (UART, semihosting, ITM): echoed to the user's streams as it
comes and captured for the run record, with a bound: a firmware printing in a loop must not
grow memory without limit, so each captured stream keeps its last MAX_CAPTURE bytes and the
record says how many earlier bytes were dropped."""

from __future__ import annotations

import sys

MAX_CAPTURE = 1 << 20       # bytes of program output kept per stream (the last ones)


class ProgramOutput:
    def __init__(self, stdout=None, stderr=None, warn_once=None):
        self.sinks = {1: stdout if stdout is not None else sys.stdout.buffer,
                      2: stderr if stderr is not None else sys.stderr.buffer}
        self.out, self.err = bytearray(), bytearray()     # what the record keeps
        self.dropped: dict[str, int] = {}                  # bytes not kept, per stream
        self._warn_once = warn_once or (lambda key, msg: None)

    def write(self, data: bytes, handle: int = 1) -> None:
        buf = self.err if handle == 2 else self.out
        buf += data
        if len(buf) > 2 * MAX_CAPTURE:
            self._trim(buf, handle)
        sink = self.sinks[2 if handle == 2 else 1]
        if sink is not None:
            sink.write(data)
            sink.flush()

    def _trim(self, buf: bytearray, handle: int) -> None:
        drop = len(buf) - MAX_CAPTURE
        if drop <= 0:
            return
        del buf[:drop]
        key = "stderr" if handle == 2 else "stdout"
        self.dropped[key] = self.dropped.get(key, 0) + drop
        self._warn_once(f"output-{key}", f"the firmware's {key} passed {MAX_CAPTURE >> 20} MiB: "
                        f"the run record keeps its last {MAX_CAPTURE >> 20} MiB")

    def finish(self) -> None:
        """At the end of the run: the kept tails, each headed by what was dropped."""
        for buf, handle, key in ((self.out, 1, "stdout"), (self.err, 2, "stderr")):
            self._trim(buf, handle)
            if self.dropped.get(key):
                buf[:0] = f"[mcusim: {self.dropped[key]:,} earlier bytes of {key} not kept]\n".encode()
