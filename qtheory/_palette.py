"""The colour palette of figures (Okabe & Ito 2008, colour-blind safe) and a colour mix."""

from __future__ import annotations

PALETTE: dict[str, str] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "grey": "#7F7F7F",
}


def mix(a: str, b: str, t: float) -> str:
    """The colour ``a + t (b - a)`` of two ``#rrggbb`` colours, as ``#rrggbb`` (lower case)."""
    ca = [int(a[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    cb = [int(b[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    return "#" + "".join(f"{round((x + (y - x) * t) * 255):02x}" for x, y in zip(ca, cb))
