"""The report page's style sheet: one A4 sheet, the same on screen and on paper.

Fonts: DejaVu Sans for Latin letters and digits, then a Khmer face from Debian's
`fonts-khmeros` (Khmer OS Battambang, a plain text face that prints well small), then
Noto Sans Khmer where a machine has that instead; the charts name the same faces
(`charts.FONTS`). Khmer stacks vowels and subscript consonants above and below the
line, so a Khmer page gets more line height and slightly smaller type to stay on one
sheet.
"""

from __future__ import annotations

from tonle.look import BAD, GOOD, LEVEL_COLOURS, MID

__all__ = ["CSS", "LEVEL_CSS"]

# A figure's band as a class and its colour: `tonle.look` decides both (the dashboards use the same).
LEVEL_CSS = " ".join(f".{level} {{ color: {LEVEL_COLOURS[level]}; }}" for level in (GOOD, MID, BAD))

CSS = (
    """
@page { size: A4; margin: 0; }
* { box-sizing: border-box; }
html, body { margin: 0; padding: 0; background: #fff; }
body { font-family: "DejaVu Sans", "Liberation Sans", "Khmer OS Battambang", "Khmer OS", "Noto Sans Khmer",
       Arial, sans-serif; font-size: 7.6pt; color: #212121; }
.page { width: 210mm; height: 296mm; padding: 8mm 9mm 6mm; overflow: hidden; display: flex;
        flex-direction: column; gap: 2.2mm; }
header { display: flex; justify-content: space-between; align-items: flex-end;
         border-bottom: 0.6mm solid #212121; padding-bottom: 1.5mm; }
h1 { font-size: 15pt; margin: 0; }
h2 { font-size: 9pt; margin: 0 0 1mm; }
.when { text-align: right; font-size: 8pt; line-height: 1.35; }
.tiles { display: grid; grid-template-columns: 1.25fr repeat(6, 1fr); gap: 1.6mm; }
.tile { border: 0.3mm solid #cfcfcf; border-radius: 1.2mm; padding: 1.4mm 1.8mm; }
.tile b { display: block; font-size: 13pt; margin: 0.3mm 0; }
.tile.main b { font-size: 20pt; }
.tile span { color: #555; font-size: 6.6pt; line-height: 1.25; display: block; }
.tile .name { color: #212121; font-weight: bold; font-size: 7.4pt; }
"""
    + LEVEL_CSS
    + """
.row { display: grid; gap: 3mm; }
.row.a { grid-template-columns: 104mm 1fr; }
.row.b, .row.c { grid-template-columns: 1fr 1fr; }
section { min-width: 0; }
svg.chart { width: 100%; height: auto; display: block; }
table { border-collapse: collapse; width: 100%; }
th, td { padding: 0.7mm 1mm; text-align: right; border-bottom: 0.2mm solid #e0e0e0; }
th:first-child, td:first-child { text-align: left; }
th { font-size: 6.8pt; color: #444; }
p { margin: 0.8mm 0; line-height: 1.35; }
.note { color: #555; font-size: 6.6pt; }
.alerts td { text-align: left; vertical-align: top; font-size: 6.6pt; }
.alerts td:nth-child(4) { width: 70%; }
.alerts th { text-align: left; }
.sev-critical, .sev-alarm { color: """
    + LEVEL_COLOURS[BAD]
    + """; font-weight: bold; }
.sev-warning { color: """
    + LEVEL_COLOURS[MID]
    + """; font-weight: bold; }
footer { margin-top: auto; border-top: 0.3mm solid #cfcfcf; padding-top: 1.2mm; }
:lang(km) body { font-size: 7.2pt; }
:lang(km) p, :lang(km) .tile span { line-height: 1.5; }
:lang(km) h1 { font-size: 14pt; }
:lang(km) .note, :lang(km) .tile span, :lang(km) .alerts td { font-size: 6.3pt; }
"""
)
