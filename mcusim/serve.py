"""`mcusim serve`: the simulated board on a serial link, so unmodified host programs (such
as the MLPerf Tiny runner) drive it as they drive a real board.

The console UART of the inference image (in MLPerf Tiny protocol mode) is bridged to a
pseudo-terminal (`--pty`, prints the device path) or to this process's stdin/stdout.
Simulated time runs while the firmware waits for the host; the timestamps the firmware
reports (m-lap-us) are simulated time, as on the board.

Keep-alive: a host such as the MLPerf Tiny runner waits a limited wall time for each reply
line (its serial_device.py read_line: 5 s by default in current versions, 30 s in older
performance scripts), while the simulated board may compute longer (`infer 70 10` on kws). Whenever the link has been silent for `keepalive` seconds at a line
boundary, an empty line is sent; the runner ignores empty lines. It never splits a line
and never reaches the run record (the firmware's output is unchanged).
"""

from __future__ import annotations

import os
import select
import sys
import time

KEEPALIVE_S = 1.0        # wall seconds of silence before an empty line is sent


class HostLink:
    def __init__(self, rfd: int, wfd: int, keepalive: float | None = KEEPALIVE_S):
        self.rfd, self.wfd = rfd, wfd
        self.closed = False
        self.keepalive_s = keepalive          # None or 0: no keep-alive
        self.last_tx = time.monotonic()
        self.line_start = True                # the last byte sent ended a line
        self.keepalives = 0

    def poll(self, timeout: float) -> bytes:
        if self.closed:
            return b""
        r, _, _ = select.select([self.rfd], [], [], timeout)
        if not r:
            return b""
        try:
            data = os.read(self.rfd, 4096)
        except OSError:
            data = b""
        if not data:
            self.closed = True
        return data

    def send(self, data: bytes) -> None:
        if not data:
            return
        try:
            os.write(self.wfd, data)
        except OSError:
            self.closed = True
        self.last_tx = time.monotonic()
        self.line_start = data.endswith(b"\n")

    def keep_alive(self, now: float | None = None) -> None:
        """An empty line when the link has been silent for `keepalive_s` at a line
        boundary (called by the simulator between CPU slices)."""
        if not self.keepalive_s or self.closed or not self.line_start:
            return
        now = time.monotonic() if now is None else now
        if now - self.last_tx >= self.keepalive_s:
            self.send(b"\r\n")
            self.keepalives += 1


# cycles per CPU slice while serving (the keep-alive check interval): 250,000 cycles is
# 2-10 ms of host time in fast mode
SERVE_SLICE = 250_000


def open_pty():
    import tty
    master, slave = os.openpty()
    tty.setraw(slave)
    return master, os.ttyname(slave), slave


def serve(model: str, mcu: str, kernels: str, use_pty: bool, clock_mhz=None, mode="fast",
          keepalive: float | None = KEEPALIVE_S) -> int:
    from mcusim.infer import run_inference

    if use_pty:
        master, path, _slave = open_pty()
        link = HostLink(master, master, keepalive)
        print(f"mcusim: serving {model} on {mcu}: serial device {path} (Ctrl-C to stop)",
              file=sys.stderr, flush=True)
    else:
        link = HostLink(sys.stdin.fileno(), sys.stdout.fileno(), keepalive)
    from mcusim.api import BUILTIN_MODELS
    if model in BUILTIN_MODELS:
        # the protocol names it like the MLPerf Tiny model (the runner picks its dataset by
        # that name); the host side is told what it is
        print(f"mcusim: {model} is the built-in model: the MLPerf Tiny architecture with random "
              "weights (latency and energy as the real model's, accuracy meaningless); serve "
              f"../shared/models/{model}.tflite for the trained model", file=sys.stderr, flush=True)

    def attach(m):
        m.uart_host = link
        # the keep-alive is checked between CPU slices: bound a slice to SERVE_SLICE cycles
        # (a few ms of host time) so the link is looked at often, however fast the
        # simulator runs; slice boundaries do not change results
        m.slice_cycles = min(m.slice_cycles, SERVE_SLICE)

    r = run_inference(model, mcu, kernels=kernels, protocol_input=b"", clock_mhz=clock_mhz,
                      mode=mode, machine_setup=attach, power=False,
                      progress=lambda m: link.keep_alive())
    return 0 if r.machine.outcome == "exit" else 3
