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
    frame: pd.DataFrame
    caption: str = ""


@dataclass(frozen=True)
class Figure:
    path: str  # relative to the report
    caption: str


Block = Heading | Text | Note | Table | Figure


def fmt(value: object) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.4g}"
    return str(value)


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
            cells = [[fmt(v).replace("|", "\\|").replace("\n", " ") for v in row] for row in
                     block.frame.itertuples(index=False)]
            lines += ["| " + " | ".join(map(str, block.frame.columns)) + " |",
                      "|" + "---|" * len(block.frame.columns)] + ["| " + " | ".join(row) + " |" for row in cells]
            lines.append("")
        else:
            lines += [f"![{block.caption}]({block.path})", "", f"*{block.caption}*", ""]
    return "\n".join(lines).rstrip() + "\n"


def render_html(blocks: list[Block]) -> str:
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>mnist-gan-study report</title><style>"
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
            body = "".join("<tr>" + "".join(f"<td>{html.escape(fmt(v))}</td>" for v in row) + "</tr>"
                           for row in block.frame.itertuples(index=False))
            caption = f"<caption>{html.escape(block.caption)}</caption>" if block.caption else ""
            parts.append(f"<table>{caption}<tr>{head}</tr>{body}</table>")
        else:
            parts.append(f"<figure><img src='{html.escape(block.path)}' alt='{html.escape(block.caption)}'>"
                         f"<figcaption>{html.escape(block.caption)}</figcaption></figure>")
    return "\n".join(parts + ["</body></html>"]) + "\n"
