#!/usr/bin/env python3
"""Renders a terminal capture with ANSI colours (tmux capture-pane -e) to a PNG.

Usage: ansi2png.py CAPTURE.ans OUT.png
Needs Pillow (pip install pillow) and the DejaVu fonts (fonts-dejavu-core).
"""
import re
import sys

from PIL import Image, ImageDraw, ImageFont

FONT_DIR = "/usr/share/fonts/truetype/dejavu/"
SIZE = 16
BG = (24, 26, 31)
FG = (212, 214, 220)
# xterm-ish 16 colours, tuned for a dark background.
BASE = [
    (40, 42, 46), (224, 108, 117), (152, 195, 121), (229, 192, 123),
    (97, 175, 239), (198, 120, 221), (86, 182, 194), (171, 178, 191),
    (92, 99, 112), (240, 113, 120), (166, 226, 46), (249, 226, 128),
    (102, 217, 239), (217, 139, 240), (115, 218, 229), (255, 255, 255),
]


def xterm256(n):
    if n < 16:
        return BASE[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return (steps[n // 36], steps[(n // 6) % 6], steps[n % 6])
    v = 8 + (n - 232) * 10
    return (v, v, v)


def parse(text):
    """Yields rows of (char, fg, bg, bold)."""
    rows = []
    fg, bg, bold, reverse = None, None, False, False
    for line in text.split("\n"):
        row = []
        for part in re.split(r"(\x1b\[[0-9;]*m)", line):
            if part.startswith("\x1b["):
                codes = [int(c) if c else 0 for c in part[2:-1].split(";")]
                i = 0
                while i < len(codes):
                    c = codes[i]
                    if c == 0:
                        fg, bg, bold, reverse = None, None, False, False
                    elif c == 1:
                        bold = True
                    elif c == 22:
                        bold = False
                    elif c == 7:
                        reverse = True
                    elif c == 27:
                        reverse = False
                    elif 30 <= c <= 37:
                        fg = BASE[c - 30]
                    elif 90 <= c <= 97:
                        fg = BASE[c - 90 + 8]
                    elif 40 <= c <= 47:
                        bg = BASE[c - 40]
                    elif 100 <= c <= 107:
                        bg = BASE[c - 100 + 8]
                    elif c == 39:
                        fg = None
                    elif c == 49:
                        bg = None
                    elif c in (38, 48) and i + 1 < len(codes):
                        if codes[i + 1] == 5 and i + 2 < len(codes):
                            col = xterm256(codes[i + 2])
                            i += 2
                        elif codes[i + 1] == 2 and i + 4 < len(codes):
                            col = tuple(codes[i + 2:i + 5])
                            i += 4
                        else:
                            col = None
                        if c == 38:
                            fg = col
                        else:
                            bg = col
                    i += 1
                continue
            for ch in part:
                f, b = (bg or BG, fg or FG) if reverse else (fg, bg)
                row.append((ch, f, b, bold))
        rows.append(row)
    while rows and not rows[-1]:
        rows.pop()
    return rows


def main():
    src, out = sys.argv[1], sys.argv[2]
    rows = parse(open(src, encoding="utf-8").read())
    mono = ImageFont.truetype(FONT_DIR + "DejaVuSansMono.ttf", SIZE)
    mono_bold = ImageFont.truetype(FONT_DIR + "DejaVuSansMono-Bold.ttf", SIZE)
    fallback = ImageFont.truetype(FONT_DIR + "DejaVuSans.ttf", SIZE - 2)
    notdef = bytes(mono.getmask("\uffff"))
    cw = round(mono.getlength("M"))
    ch = SIZE + 4
    width = max(len(r) for r in rows)
    pad = 12
    img = Image.new("RGB", (width * cw + 2 * pad, len(rows) * ch + 2 * pad), BG)
    draw = ImageDraw.Draw(img)
    for y, row in enumerate(rows):
        for x, (c, fg, bg, bold) in enumerate(row):
            px, py = pad + x * cw, pad + y * ch
            if bg:
                draw.rectangle([px, py, px + cw, py + ch], fill=bg)
            if c == " ":
                continue
            # Box drawing spans the whole cell so borders join up.
            if "\u2500" <= c <= "\u257f":
                draw_box(draw, c, px, py, cw, ch, fg or FG)
                continue
            font = mono_bold if bold else mono
            if bytes(mono.getmask(c)) == notdef:
                font = fallback
            draw.text((px, py + 1), c, font=font, fill=fg or FG)
    img.save(out)


def draw_box(draw, c, x, y, w, h, col):
    mx, my = x + w // 2, y + h // 2
    segs = {
        "─": [(x, my, x + w, my)], "│": [(mx, y, mx, y + h)],
        "┌": [(mx, my, x + w, my), (mx, my, mx, y + h)], "┐": [(x, my, mx, my), (mx, my, mx, y + h)],
        "└": [(mx, y, mx, my), (mx, my, x + w, my)], "┘": [(mx, y, mx, my), (x, my, mx, my)],
        "├": [(mx, y, mx, y + h), (mx, my, x + w, my)], "┤": [(mx, y, mx, y + h), (x, my, mx, my)],
        "┄": [(x + i, my, x + i + 1, my) for i in range(0, w, 3)],
        "└ ": [],
    }
    for s in segs.get(c, []):
        draw.line(s, fill=col, width=1)
    if c not in segs:
        draw.text((x, y + 1), c, fill=col)


if __name__ == "__main__":
    main()
