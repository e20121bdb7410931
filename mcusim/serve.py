"""`mcusim serve`: the simulated board on a serial link, so unmodified host programs (such
as the MLPerf Tiny runner) drive it as they drive a real board.

The console UART of the inference image (in MLPerf Tiny protocol mode) is bridged to a
pseudo-terminal (`--pty`, prints the device path) or to this process's stdin/stdout.
Simulated time runs while the firmware waits for the host; the timestamps the firmware
reports (m-lap-us) are simulated time, as on the board.
"""

from __future__ import annotations

import os
import select
import sys


class HostLink:
    def __init__(self, rfd: int, wfd: int):
        self.rfd, self.wfd = rfd, wfd
        self.closed = False

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
        try:
            os.write(self.wfd, data)
        except OSError:
            self.closed = True


def open_pty():
    import tty
    master, slave = os.openpty()
    tty.setraw(slave)
    return master, os.ttyname(slave), slave


def serve(model: str, mcu: str, kernels: str, use_pty: bool, clock_mhz=None, mode="fast") -> int:
    from mcusim.infer import run_inference

    if use_pty:
        master, path, _slave = open_pty()
        link = HostLink(master, master)
        print(f"mcusim: serving {model} on {mcu}: serial device {path} (Ctrl-C to stop)",
              file=sys.stderr, flush=True)
    else:
        link = HostLink(sys.stdin.fileno(), sys.stdout.fileno())

    def attach(m):
        m.uart_host = link

    r = run_inference(model, mcu, kernels=kernels, protocol_input=b"", clock_mhz=clock_mhz,
                      mode=mode, machine_setup=attach, power=False)
    return 0 if r.machine.outcome == "exit" else 3
