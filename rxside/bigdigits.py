"""Large figures for a terminal: text in a 5-row block font, readable from a step away (a person
at a dish glancing at a laptop). Used by the receiver's status panel and by ``chaincast point``."""

from __future__ import annotations

FONT = {  # 3 cells wide (the '.' 1), 5 rows
    "0": ("███", "█ █", "█ █", "█ █", "███"), "1": (" █ ", "██ ", " █ ", " █ ", "███"),
    "2": ("███", "  █", "███", "█  ", "███"), "3": ("███", "  █", "███", "  █", "███"),
    "4": ("█ █", "█ █", "███", "  █", "  █"), "5": ("███", "█  ", "███", "  █", "███"),
    "6": ("███", "█  ", "███", "█ █", "███"), "7": ("███", "  █", "  █", "  █", "  █"),
    "8": ("███", "█ █", "███", "█ █", "███"), "9": ("███", "█ █", "███", "  █", "███"),
    ".": (" ", " ", " ", " ", "█"), "-": ("   ", "   ", "███", "   ", "   "), "+": ("   ", " █ ", "███", " █ ", "   "),
    " ": ("  ",) * 5,
}


def big_text(text: str, scale: int = 1) -> list[str]:
    """``text`` (digits, '.', '-', '+', ' '; anything else shows as a space) as 5 lines, each
    font cell ``scale`` columns wide and glyphs ``scale`` columns apart."""
    glyphs = [FONT.get(c, FONT[" "]) for c in text]
    return [(" " * scale).join("".join(cell * scale for cell in glyph[row]) for glyph in glyphs) for row in range(5)]
