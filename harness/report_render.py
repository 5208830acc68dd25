"""Rendering a report: the blocks a report is made of, as Markdown or HTML. Deciding what a report says is
report.py's job; this module only turns blocks into text."""
from __future__ import annotations

import html
import math
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Note:
    text: str


@dataclass(frozen=True)
class Table:
    name: str  # also the CSV file name under tables/
    frame: pd.DataFrame  # what the report shows: numbers, or text already formatted
    caption: str = ""
    csv: pd.DataFrame | None = None  # what tables/NAME.csv holds when it differs: numbers only

    @property
    def data(self) -> pd.DataFrame:
        return self.frame if self.csv is None else self.csv


@dataclass(frozen=True)
class Figure:
    path: str  # relative to the report
    caption: str


Block = Heading | Text | Note | Table | Figure


SIGNIFICANT = 3  # figures shown for a column's largest value; every value of the column gets the same decimals
MAX_DECIMALS = 3  # a column of values near 0 (precision of noise) reads as 0.000, not as five noisy decimals


def fmt(value: object) -> str:
    """One number in running text."""
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def decimals(values: list[float]) -> int:
    """Decimal places that give the largest magnitude SIGNIFICANT figures (at most MAX_DECIMALS); none for whole
    numbers."""
    finite = [abs(v) for v in values if not math.isnan(v)]
    if all(v == int(v) for v in finite):
        return 0
    largest = max(v for v in finite if v > 0)
    return min(MAX_DECIMALS, max(0, SIGNIFICANT - 1 - math.floor(math.log10(largest))))


def fixed(value: float, places: int) -> str:
    return "-" if math.isnan(value) else f"{value:.{places}f}"


def mean_sd_cells(means: list[float], sds: list[float]) -> list[str]:
    """'mean ± sd' with one number of decimals for the whole column (the means'); sd is left out for one seed."""
    places = decimals(means)
    return [fixed(m, places) + ("" if math.isnan(s) or math.isnan(m) else f" ± {fixed(s, places)}")
            for m, s in zip(means, sds)]


def interval_cells(lows: list[float], highs: list[float]) -> list[str]:
    places = decimals(lows + highs)
    return ["-" if math.isnan(lo) else f"[{fixed(lo, places)}, {fixed(hi, places)}]" for lo, hi in zip(lows, highs)]


def column_cells(values: pd.Series) -> list[str]:
    """A column's cells: floats with the column's decimals, anything else as text."""
    if pd.api.types.is_float_dtype(values):
        places = decimals(values.tolist())
        return [fixed(v, places) for v in values]
    return [fmt(v) for v in values]


def table_rows(frame: pd.DataFrame) -> list[list[str]]:
    columns = [column_cells(frame[name]) for name in frame.columns]
    return [list(row) for row in zip(*columns)] if columns else []


def render_markdown(blocks: list[Block]) -> str:
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            lines += [f"{'#' * block.level} {block.text}", ""]
        elif isinstance(block, Text):
            lines += [block.text, ""]
        elif isinstance(block, Note):
            lines += [f"> **Note.** {block.text}", ""]
        elif isinstance(block, Table):
            if block.caption:
                lines += [f"*{block.caption}*", ""]
            cells = [[v.replace("|", "\\|").replace("\n", " ") for v in row] for row in table_rows(block.frame)]
            lines += ["| " + " | ".join(map(str, block.frame.columns)) + " |",
                      "|" + "---|" * len(block.frame.columns)] + ["| " + " | ".join(row) + " |" for row in cells]
            lines.append("")
        else:
            lines += [f"![{block.caption}]({block.path})", "", f"*{block.caption}*", ""]
    return "\n".join(lines).rstrip() + "\n"


def render_html(blocks: list[Block]) -> str:
    """The page's title is the report's first heading (an interim report's says it is provisional)."""
    title = next((b.text for b in blocks if isinstance(b, Heading) and b.level == 1), "mnist-gan-study report")
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>"
             "body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse;font-size:90%;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 6px}"
             ".note{background:#fff4d6;border-left:4px solid #e0a000;padding:0.5em 1em}img{max-width:100%}"
             "</style></head><body>"]
    for block in blocks:
        if isinstance(block, Heading):
            parts.append(f"<h{block.level}>{html.escape(block.text)}</h{block.level}>")
        elif isinstance(block, Text):
            parts.append(f"<p>{html.escape(block.text)}</p>")
        elif isinstance(block, Note):
            parts.append(f"<p class='note'><b>Note.</b> {html.escape(block.text)}</p>")
        elif isinstance(block, Table):
            head = "".join(f"<th>{html.escape(str(c))}</th>" for c in block.frame.columns)
            body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>"
                           for row in table_rows(block.frame))
            caption = f"<caption>{html.escape(block.caption)}</caption>" if block.caption else ""
            parts.append(f"<table>{caption}<tr>{head}</tr>{body}</table>")
        else:
            parts.append(f"<figure><img src='{html.escape(block.path)}' alt='{html.escape(block.caption)}'>"
                         f"<figcaption>{html.escape(block.caption)}</figcaption></figure>")
    return "\n".join(parts + ["</body></html>"]) + "\n"
