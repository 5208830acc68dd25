"""The report's figures: curves over epochs with a band over seeds, final scores per seed, sample strips, GIFs."""
from __future__ import annotations

import io
import math
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from harness.runs import Run  # noqa: E402
from harness.storage import atomic_write_bytes  # noqa: E402

LN4, LN2 = math.log(4), math.log(2)
# (column, axis label, reference line and its label)
CURVES = [("d_loss", "D loss (nats)", (LN4, "ln 4: D at the optimum")),
          ("g_loss", "G loss (nats)", (LN2, "ln 2: D(G(z)) = 0.5")),
          ("d_real", "mean D(x)", (0.5, "0.5")),
          ("d_fake", "mean D(G(z))", (0.5, "0.5")),
          ("d_accuracy", "D accuracy at 0.5", (0.5, "chance")),
          ("fid", "FID (log scale)", None),
          ("classes_covered", "classes covered (of 10)", (10, "all")),
          ("inception_score", "classifier inception score", (10, "max"))]


def palette(arms: list[str]) -> dict[str, tuple]:
    """One colour per arm, in a fixed order, used by every figure."""
    colours = sns.color_palette("tab10", n_colors=max(10, len(arms)))
    return {arm: colours[i] for i, arm in enumerate(arms)}


def save_figure(figure: plt.Figure, path: Path) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(figure)
    atomic_write_bytes(path, buffer.getvalue())


def long_metrics(groups: dict[str, list[Run]]) -> pd.DataFrame:
    frames = [run.metrics.assign(arm=label, seed=run.seed) for label, runs in groups.items() for run in runs]
    return pd.concat(frames, ignore_index=True)


def curves_figure(groups: dict[str, list[Run]], colours: dict[str, tuple], path: Path, title: str) -> None:
    """groups: arm label -> runs of one protocol."""
    data = long_metrics(groups)
    panels = [c for c in CURVES if c[0] in data and data[c[0]].notna().any()]
    columns = 4
    rows = math.ceil(len(panels) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False)
    for axis, (column, label, reference) in zip(axes.flat, panels):
        sns.lineplot(data=data.dropna(subset=[column]), x="epoch", y=column, hue="arm", palette=colours,
                     errorbar=("pi", 100), marker="o" if data["epoch"].nunique() < 12 else None, ax=axis,
                     legend=False)
        if reference is not None:
            axis.axhline(reference[0], color="grey", linestyle="--", linewidth=1, label=reference[1])
            axis.legend(loc="best", fontsize=7, frameon=False)
        if column == "fid":
            axis.set_yscale("log")
        elif column in ("d_loss", "g_loss") and data[column].max() > 10:  # one diverged arm would flatten the rest
            axis.set_yscale("symlog", linthresh=1)
            axis.set_ylim(bottom=0)
            label += ", symlog"
        axis.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        axis.set(xlabel="epoch", ylabel=label)
    for axis in list(axes.flat)[len(panels):]:
        axis.axis("off")
    arms = [arm for arm in colours if arm in set(data["arm"])]
    handles = [plt.Line2D([], [], color=colours[arm], linewidth=2) for arm in arms]
    figure.legend(handles, arms, loc="upper center", ncol=min(5, len(arms)), frameon=False,
                  bbox_to_anchor=(0.5, 1.04))
    figure.suptitle(f"{title}: mean over seeds, band = min to max", y=1.08)
    save_figure(figure, path)


def final_scores_figure(summary: pd.DataFrame, colours: dict[str, tuple], path: Path, column: str,
                        label: str) -> None:
    """Each seed's final score as a dot, the mean as a black bar: the spread is visible at a glance."""
    figure, axis = plt.subplots(figsize=(7, 0.5 + 0.45 * summary["arm"].nunique()))
    order = [arm for arm in colours if arm in set(summary["arm"])]
    sns.stripplot(data=summary, y="arm", x=column, hue="arm", order=order, palette=colours, size=8, jitter=0.15,
                  ax=axis, legend=False)
    sns.pointplot(data=summary, y="arm", x=column, order=order, color="black", markers="|", markersize=18,
                  linestyle="none", errorbar=None, ax=axis)
    if column == "fid":
        axis.set_xscale("log")
    axis.set(xlabel=label, ylabel="")
    save_figure(figure, path)


def _labelled(image: Image.Image, text: str) -> Image.Image:
    canvas = Image.new("RGB", (image.width, image.height + 16), "white")
    canvas.paste(image.convert("RGB"), (0, 16))
    ImageDraw.Draw(canvas).text((2, 2), text, fill="black")
    return canvas


def strip(images: list[tuple[str, Path]], path: Path) -> None:
    """Sample grids side by side, each labelled, in one PNG."""
    tiles = [_labelled(Image.open(file), label) for label, file in images]
    canvas = Image.new("RGB", (sum(t.width for t in tiles) + 8 * (len(tiles) - 1), max(t.height for t in tiles)),
                       "white")
    x = 0
    for tile in tiles:
        canvas.paste(tile, (x, 0))
        x += tile.width + 8
    buffer = io.BytesIO()
    canvas.save(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())


def progress_gif(frames: list[tuple[int, Path]], path: Path) -> None:
    images = [_labelled(Image.open(file), f"epoch {epoch}") for epoch, file in frames]
    buffer = io.BytesIO()
    images[0].save(buffer, format="gif", save_all=True, append_images=images[1:], duration=400, loop=0)
    atomic_write_bytes(path, buffer.getvalue())
