"""How `study list` and `study show` lay the catalogue out: a block per variant, quirk, claim or draw, with a label
column and text wrapped under itself. It reads the same at 80 columns as on a wide terminal, where tables of four or
more columns fall apart into one-word cells when narrow. Lines stop at MAX_WIDTH on wide terminals (longer ones are
hard to read) and carry no trailing spaces. Texts are rich Text, never markup, so brackets in a write-up's strings
print as they are."""
from __future__ import annotations

import textwrap
from typing import Any, Iterable

from rich.console import Console
from rich.text import Text

MAX_WIDTH = 100
INDENT, BODY_INDENT = 2, 4  # a block's first line, and the lines under it
MIN_TEXT_WIDTH = 24  # beside a label; on a terminal narrower than label + this, lines run over rather than into slivers


def print_lines(console: Console, lines: Iterable[Text]) -> None:
    for line in lines:
        console.print(line, soft_wrap=True, highlight=False)  # each line already fits: no re-wrapping


def text_width(console: Console) -> int:
    return min(console.width, MAX_WIDTH)


def wrap(text: str, width: int) -> list[str]:
    # Hyphens stay inside their words: option names (--fix g-backward) and ranges (uniform(-1,1)) read whole.
    return textwrap.wrap(text, max(width, 1), break_on_hyphens=False) or [""]


def paragraph(text: str, indent: int, width: int, lead: str = "") -> list[Text]:
    """``lead`` (in bold) and ``text`` wrapped to ``width`` at ``indent``."""
    lines = [Text(" " * indent + line) for line in wrap(lead + text, width - indent)]
    lines[0].stylize("bold", indent, indent + len(lead))
    return lines


def labelled(pairs: list[tuple[str, str]], indent: int, width: int) -> list[Text]:
    """Labels in a column of their own, each text wrapped under itself beside its label."""
    column = max(len(label) for label, _ in pairs) + 2
    text_room = max(width - indent - column, MIN_TEXT_WIDTH)
    lines = []
    for label, text in pairs:
        for number, line in enumerate(wrap(text, text_room)):
            prefix = label.ljust(column) if number == 0 else " " * column
            lines.append(Text.assemble(" " * indent, (prefix, "dim"), line))
    return lines


def heading(title: str) -> list[Text]:
    return [Text(""), Text(title, style="bold underline")]


def sizes(row: dict[str, Any]) -> str:
    return (f"{row['epochs']} epochs, batch {row['batch_size']}, G {row['g_params']:,} and D {row['d_params']:,} "
            f"parameters")


def variant_list(rows: list[dict[str, Any]], width: int) -> list[Text]:
    """`study list`: a line per variant with its numbers, then its write-up, architecture, loss and fixes."""
    lines = paragraph(f"The {len(rows)} write-ups (`study show VARIANT`: ledger, quirks, claims)", 0, width)
    for row in rows:
        lines += [Text(""), *paragraph(sizes(row), 0, width, lead=f"{row['name']}  ")]
        lines += labelled([("write-up", row["title"]), ("architecture", row["architecture"]), ("loss", row["loss"]),
                           ("fixes", ", ".join(row["fixes"]) or "none")], INDENT, width)
    return lines


def variant_details(details: dict[str, Any], width: int) -> list[Text]:
    """`study show`: the variant, its ledger, quirks, claims and RNG draws, the seed contract and the schedule."""
    lines = paragraph(details["title"], 0, width, lead=f"{details['name']}: ")
    lines += paragraph(f"spec and write-up: {details['writeup']}", 0, width) + paragraph(sizes(details), 0, width)
    lines += heading("Ledger") + labelled([(h["name"], f"{h['value']} ({h['source']})") for h in details["ledger"]],
                                          INDENT, width)
    lines += heading("Quirks")
    for quirk in details["quirks"]:
        lines += quirk_lines(quirk, width)
    lines += heading("Claims")
    for claim in details["claims"]:
        lines += claim_lines(claim, width)
    lines += draw_lines(details["draws"], width)
    for text in (details["seed_contract"], details["schedule"]):
        lines += [Text(""), *paragraph(text, 0, width)]
    return lines


def quirk_lines(quirk: dict[str, Any], width: int) -> list[Text]:
    toggle = f"opt-in {quirk['toggle']}" if quirk["toggle"] else "no toggle"
    what = quirk["what"] + (f" Inert: {quirk['inert']}." if quirk["inert"] else "")
    return (paragraph(f"{quirk['status']}, {toggle}", INDENT, width, lead=f"{quirk['name']}  ")
            + paragraph(what, BODY_INDENT, width))


def claim_lines(claim: dict[str, Any], width: int) -> list[Text]:
    if claim["contradicted_by_the_code"]:
        check = f"contradicted by the code: {claim['contradicted_by_the_code']}"
    else:
        check = claim["check"] + (f"; assumes {claim['assumes']}" if claim["assumes"] else "")
    return (paragraph("", INDENT, width, lead=claim["key"])
            + labelled([("quote", claim["quote"]), ("checked as", claim["checkable"]), ("check", check),
                        ("runs", claim["runs"])], BODY_INDENT, width))


def draw_lines(draws: list[dict[str, Any]], width: int) -> list[Text]:
    title = "RNG draws outside the training steps"
    if not draws:
        return [Text(""), *paragraph(f"{title}: none (the original draws only in its training loop).", 0, width)]
    lines = heading(title)
    for draw in draws:
        lines += paragraph(f"{draw['moment']}, {draw['source']}", INDENT, width, lead=f"{draw['name']}  ")
        lines += paragraph(draw["what"], BODY_INDENT, width)
    return lines
