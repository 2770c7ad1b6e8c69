"""Text helpers shared by command families (quoting like redis-server's sdscatrepr)."""

from __future__ import annotations

from typing import Final

__all__ = ["repr_bytes"]

_ESC: Final = {
    ord("\\"): "\\\\",
    ord('"'): '\\"',
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    ord("\t"): "\\t",
    7: "\\a",
    8: "\\b",
}


def repr_bytes(data: bytes) -> str:
    """``"text"`` with redis-server's escapes (\\n, \\xHH for non-printables)."""
    out = ['"']
    for b in data:
        esc = _ESC.get(b)
        if esc is not None:
            out.append(esc)
        elif 32 <= b < 127:
            out.append(chr(b))
        else:
            out.append(f"\\x{b:02x}")
    out.append('"')
    return "".join(out)
