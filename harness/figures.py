"""The report's figures: curves over epochs with a band over seeds, final scores per seed with the calibration
ladder, sample strips, GIFs."""
from __future__ import annotations

import io
import math
import statistics
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

from harness.runs import Run  # noqa: E402
from harness.storage import atomic_write_bytes  # noqa: E402

LN4, LN2 = math.log(4), math.log(2)
# (column, axis label, reference line and its label)
CURVES = [("d_loss", "D loss (nats)", (LN4, "ln 4: D at the optimum")),
          ("g_loss", "G loss (nats)", (LN2, "ln 2: D(G(z)) = 0.5")),
          ("d_real", "mean D(x)", (0.5, "0.5")),
          ("d_fake", "mean D(G(z))", (0.5, "0.5")),
          ("d_accuracy", "D accuracy at 0.5", (0.5, "chance")),
          ("fid", "FID", None),
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


FEW_EPOCHS = 12  # up to this many epochs every epoch gets a tick and a marker, and arms are drawn side by side
ARM_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "*"]
SEED_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "*"]
LOG_SPAN = 10  # a log axis only when the values span more than this factor


def scale_for(values: pd.Series) -> str:
    """Log when the data spans more than LOG_SPAN times (a log axis over a narrow range hides the spread)."""
    finite = values[(values > 0) & values.notna()]
    return "log" if len(finite) and finite.max() / finite.min() > LOG_SPAN else "linear"


def draw_levels(axis: plt.Axes, levels: dict[str, float], vertical: bool) -> None:
    """The calibration floor and ceiling as labelled lines (the rest of the ladder fainter)."""
    styles = {"real": ("tab:green", "real-data floor"), "uniform noise": ("tab:red", "uniform-noise ceiling")}
    for name, value in levels.items():
        colour, label = styles.get(name, ("0.6", name))
        line = axis.axvline if vertical else axis.axhline
        line(value, color=colour, linestyle="--" if name in styles else ":", linewidth=1.2 if name in styles else 0.8,
             label=label if name in styles else None)


def dodge(arms: list[str], epochs: int) -> dict[str, float]:
    """Horizontal offsets that keep arms with equal values from hiding each other; none over many epochs."""
    if epochs > FEW_EPOCHS or len(arms) < 2:
        return {arm: 0.0 for arm in arms}
    width = min(0.5, 0.12 * len(arms))
    return {arm: -width / 2 + width * i / (len(arms) - 1) for i, arm in enumerate(arms)}


def epoch_axis(axis: plt.Axes, epochs: list[int]) -> None:
    """Whole-number epoch ticks; every epoch labelled when there are few."""
    if len(epochs) <= FEW_EPOCHS:
        axis.set_xticks(epochs)
        axis.set_xlim(min(epochs) - 0.5, max(epochs) + 0.5)
    else:
        axis.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))


def curves_figure(groups: dict[str, list[Run]], colours: dict[str, tuple], path: Path, title: str,
                  fid_levels: dict[str, float]) -> None:
    """groups: arm label -> runs of one set; fid_levels: calibration FIDs at the runs' n, drawn on the FID panel."""
    data = long_metrics(groups)
    epochs = sorted(int(e) for e in data["epoch"].unique())
    arms = [arm for arm in colours if arm in set(data["arm"])]
    offsets = dodge(arms, len(epochs))
    data["x"] = data["epoch"] + data["arm"].map(offsets)
    markers = {arm: ARM_MARKERS[i % len(ARM_MARKERS)] for i, arm in enumerate(arms)}
    panels = [c for c in CURVES if c[0] in data and data[c[0]].notna().any()]
    columns = 4
    rows = math.ceil(len(panels) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False)
    for axis, (column, label, reference) in zip(axes.flat, panels):
        sns.lineplot(data=data.dropna(subset=[column]), x="x", y=column, hue="arm", style="arm", palette=colours,
                     markers=markers if len(epochs) <= FEW_EPOCHS else False, dashes=False,
                     errorbar=("pi", 100), ax=axis, legend=False)
        if reference is not None:
            axis.axhline(reference[0], color="grey", linestyle="--", linewidth=1, label=reference[1])
        if column == "fid":
            draw_levels(axis, fid_levels, vertical=False)
            if scale_for(data[column]) == "log":
                axis.set_yscale("log")
                label += " (log scale)"
        elif column in ("d_loss", "g_loss") and data[column].max() > 10:  # one diverged arm would flatten the rest
            axis.set_yscale("symlog", linthresh=1)
            axis.set_ylim(bottom=0)
            label += ", symlog"
        if axis.get_legend_handles_labels()[0]:
            axis.legend(loc="best", fontsize=7, frameon=False)
        epoch_axis(axis, epochs)
        axis.set(xlabel="epoch", ylabel=label)
    for axis in list(axes.flat)[len(panels):]:
        axis.axis("off")
    handles = [plt.Line2D([], [], color=colours[arm], linewidth=2,
                          marker=markers[arm] if len(epochs) <= FEW_EPOCHS else None) for arm in arms]
    figure.legend(handles, arms, loc="upper center", ncol=min(5, len(arms)), frameon=False,
                  bbox_to_anchor=(0.5, 1.04))
    shifted = " (arms shifted sideways so none hides another)" if any(offsets.values()) else ""
    figure.suptitle(f"{title}: mean over seeds, band = min to max{shifted}", y=1.08)
    save_figure(figure, path)


def final_scores_figure(scores: pd.DataFrame, colours: dict[str, tuple], path: Path, label: str,
                        levels: dict[str, float]) -> None:
    """scores: arm, seed, value. Each seed's final score with its own marker, the mean as a black bar, and the
    calibration levels as vertical lines, so a reader sees both the spread and where it sits on the ladder."""
    order = [arm for arm in colours if arm in set(scores["arm"])]
    figure, axis = plt.subplots(figsize=(8, 1.2 + 0.5 * len(order)))
    seeds = sorted(scores["seed"].unique())
    for row, arm in enumerate(order):
        mine = scores[scores["arm"] == arm]
        for i, seed in enumerate(seeds):
            values = mine[mine["seed"] == seed]["value"]
            spread = 0.3 * (i / max(1, len(seeds) - 1) - 0.5)  # seeds on separate lines within the arm's row
            axis.scatter(values, [row + spread] * len(values), color=colours[arm], s=50, zorder=3,
                         marker=SEED_MARKERS[i % len(SEED_MARKERS)], edgecolors="black", linewidths=0.5)
        axis.scatter([mine["value"].mean()], [row], color="black", marker="|", s=500, zorder=4)
    draw_levels(axis, levels, vertical=True)
    if scale_for(scores["value"]) == "log":
        axis.set_xscale("log")
        label += ", log scale"
    elif levels:
        axis.set_xlim(left=0)
    axis.set_yticks(range(len(order)), order)
    axis.set_ylim(len(order) - 0.5, -0.5)
    seed_handles = [plt.Line2D([], [], color="grey", marker=SEED_MARKERS[i % len(SEED_MARKERS)], linestyle="none",
                               markeredgecolor="black", label=f"seed {seed}") for i, seed in enumerate(seeds)]
    line_handles, _ = axis.get_legend_handles_labels()
    axis.legend(handles=seed_handles + line_handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8,
                frameon=False)
    axis.set(xlabel=label, ylabel="")
    save_figure(figure, path)


TILE_SCALE = 2  # sample grids are 28-pixel digits: drawn at twice their size to be readable
LABEL_HEIGHT = 22


def _labelled(image: Image.Image, text: str) -> Image.Image:
    image = image.convert("RGB")
    image = image.resize((image.width * TILE_SCALE, image.height * TILE_SCALE), Image.Resampling.NEAREST)
    font = ImageFont.load_default(size=14)
    width = max(image.width, int(ImageDraw.Draw(image).textlength(text, font=font)) + 6)
    canvas = Image.new("RGB", (width, image.height + LABEL_HEIGHT), "white")
    canvas.paste(image, (0, LABEL_HEIGHT))
    ImageDraw.Draw(canvas).text((3, 3), text, fill="black", font=font)
    return canvas


def strip(images: list[tuple[str, Path]], path: Path) -> None:
    """Sample grids side by side, each enlarged and labelled, in one PNG."""
    tiles = [_labelled(Image.open(file), label) for label, file in images]
    canvas = Image.new("RGB", (sum(t.width for t in tiles) + 12 * (len(tiles) - 1), max(t.height for t in tiles)),
                       "white")
    x = 0
    for tile in tiles:
        canvas.paste(tile, (x, 0))
        x += tile.width + 12
    buffer = io.BytesIO()
    canvas.save(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())


def progress_gif(frames: list[tuple[int, Path]], path: Path) -> None:
    images = [_labelled(Image.open(file), f"epoch {epoch}") for epoch, file in frames]
    buffer = io.BytesIO()
    images[0].save(buffer, format="gif", save_all=True, append_images=images[1:], duration=400, loop=0)
    atomic_write_bytes(path, buffer.getvalue())


def original_log_figure(placements: list, steps_per_epoch: int, title: str, path: Path) -> None:
    """The author's logged values (black) over the seeds' band (min to max, shaded; line: median), one panel per
    logged column, over the epochs of training done: an epoch's mean at its end, a value printed at batch b of epoch e
    at e - 1 + b / the original's steps per epoch."""
    columns = list(dict.fromkeys(p.column for p in placements))
    figure, axes = plt.subplots(1, len(columns), figsize=(4.6 * len(columns), 3.4), squeeze=False)
    figure.subplots_adjust(wspace=0.35)  # room for each panel's tick labels
    for axis, column in zip(axes.flat, columns):
        points = sorted((p for p in placements if p.column == column),
                        key=lambda p: (p.epoch, p.step if p.step is not None else 0))
        x = [p.epoch if p.step is None else p.epoch - 1 + p.step / steps_per_epoch for p in points]
        axis.fill_between(x, [min(p.seeds) for p in points], [max(p.seeds) for p in points], color="tab:blue",
                          alpha=0.25, linewidth=0, label="seeds: min to max")
        axis.plot(x, [statistics.median(p.seeds) for p in points], color="tab:blue", linewidth=1,
                  label="seeds: median")
        axis.plot(x, [p.author for p in points], color="black", marker="o", markersize=2.5, linewidth=0.6,
                  label="the author's run")
        axis.set(xlabel="epochs trained", ylabel=column)
        axis.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    axes.flat[0].legend(loc="best", fontsize=7, frameon=False)
    figure.suptitle(title, y=1.02)
    save_figure(figure, path)
