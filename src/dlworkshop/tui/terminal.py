"""What the terminal can draw, asked once in one round trip before the app owns it."""

from __future__ import annotations

import contextlib
import os
import re
import select
import sys
import time
from dataclasses import dataclass

# A Kitty graphics query (answered only by terminals that speak the protocol), then DA1,
# which every terminal answers: terminals answer in order, so DA1's reply arriving first
# means "no Kitty graphics" at once, instead of waiting for a reply that never comes.
_KITTY_ID = 4242
_KITTY_QUERY = f"\x1b_Gi={_KITTY_ID},s=1,v=1,a=q,t=d,f=24;AAAA\x1b\\"
_CELL_QUERY = "\x1b[16t"  # cell size in pixels, when the window size does not say
_DA1 = "\x1b[c"
_DA1_REPLY = re.compile(r"\x1b\[\?([\d;]*)c")
_KITTY_REPLY = re.compile(rf"\x1b_Gi={_KITTY_ID};([^\x1b]*)\x1b\\")
_CELL_REPLY = re.compile(r"\x1b\[6;(\d+);(\d+)t")


@dataclass(frozen=True)
class Graphics:
    """How photos can be drawn here: "sixel", "kitty", "halfcell" or "unicode"."""

    kind: str
    cell: tuple[int, int]  # pixels per cell: width, height


# What textual-image assumes when nothing answers (a VT340's cell).
NO_TERMINAL = Graphics("unicode", (10, 20))
_found: Graphics | None = None


def graphics() -> Graphics:
    """What `probe` found; a non-terminal's answer when it never ran (tests, pipes)."""
    return _found or NO_TERMINAL


def probe(timeout: float = 0.3) -> Graphics:
    """Ask the terminal what it can draw; call it before Textual starts reading the keys."""
    global _found
    _found = NO_TERMINAL
    with contextlib.suppress(Exception):  # a terminal that will not answer gets text
        _found = _ask(timeout)
    return _found


def _ask(timeout: float) -> Graphics:
    stdin, stdout = sys.__stdin__, sys.__stdout__
    if stdin is None or stdout is None or not (stdin.isatty() and stdout.isatty()):
        return NO_TERMINAL
    import fcntl
    import struct
    import termios
    import tty

    size = fcntl.ioctl(stdout.fileno(), termios.TIOCGWINSZ, b"\0" * 8)
    rows, cols, width, height = struct.unpack("HHHH", size)
    cell = (width // cols, height // rows) if rows and cols and width and height else None
    fd = stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd, termios.TCSANOW)
    try:
        os.write(stdout.fileno(), (_KITTY_QUERY + ("" if cell else _CELL_QUERY) + _DA1).encode())
        reply = _read_until_da1(fd, timeout)
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, saved)
    if cell is None and (match := _CELL_REPLY.search(reply)):
        cell = (int(match[2]), int(match[1]))
    da1 = _DA1_REPLY.search(reply)
    kitty = _KITTY_REPLY.search(reply)
    # Sixel before Kitty, as textual-image orders them: terminals that report both draw
    # Sixel more reliably with its widgets.
    if da1 and "4" in da1[1].split(";"):
        kind = "sixel"
    elif kitty and kitty[1] == "OK":
        kind = "kitty"
    else:
        kind = "halfcell"
    return Graphics(kind, cell or NO_TERMINAL.cell)


def _read_until_da1(fd: int, timeout: float) -> str:
    """Bytes from the terminal until DA1's reply (or the timeout)."""
    reply = b""
    deadline = time.monotonic() + timeout
    while not _DA1_REPLY.search(reply.decode(errors="replace")):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        reply += os.read(fd, 1024)
    return reply.decode(errors="replace")
