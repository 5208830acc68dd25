"""The report's figures: curves over epochs with a band over seeds, final scores per seed with the calibration
ladder, sample strips, GIFs."""
from __future__ import annotations

import io
import math
import statistics
import textwrap
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
    # copies: a run's metrics arrive column by column, and adding columns to such a frame is slow (pandas warns)
    frames = [run.metrics.copy().assign(arm=label, seed=run.seed) for label, runs in groups.items() for run in runs]
    return pd.concat(frames, ignore_index=True)


FEW_EPOCHS = 12  # up to this many epochs every epoch gets a tick and a marker, and arms are drawn side by side
ARM_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "*"]
SEED_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "*"]
LOG_SPAN = 10  # a log axis only when the values span more than this factor


def levels_series(levels: dict[str, float]) -> pd.Series:
    return pd.Series(list(levels.values()), dtype=float)


def scale_for(values: pd.Series) -> str:
    """Log when the data spans more than LOG_SPAN times (a log axis over a narrow range hides the spread)."""
    finite = values[(values > 0) & values.notna()]
    return "log" if len(finite) and finite.max() / finite.min() > LOG_SPAN else "linear"


FLOOR_AND_CEILING = {"real": ("tab:green", "real-data floor"), "uniform noise": ("tab:red", "uniform-noise ceiling")}
RUNG_LABEL_GAP = 0.025  # the least distance, as a fraction of the axis, between two rungs' labels (about 15 pixels)


def draw_floor_and_ceiling(axis: plt.Axes, levels: dict[str, float]) -> None:
    """The calibration floor and ceiling as horizontal dashed lines with legend labels (the curves' FID panel is too
    small to label every rung of the ladder; the final-FID figure labels them all)."""
    for name, (colour, label) in FLOOR_AND_CEILING.items():
        if name in levels:
            axis.axhline(levels[name], color=colour, linestyle="--", linewidth=1.2, label=label)


def rung_label(name: str) -> str:
    floor_or_ceiling = FLOOR_AND_CEILING.get(name)
    return floor_or_ceiling[1] if floor_or_ceiling else name.replace("sigma ", "σ ")


def spread_apart(positions: list[float], gap: float) -> list[float]:
    """Sorted positions moved right where needed so that no two are closer than ``gap`` (labels that would overlap)."""
    spread: list[float] = []
    for position in positions:
        spread.append(max(position, spread[-1] + gap) if spread else position)
    return spread


def draw_ladder(axis: plt.Axes, levels: dict[str, float]) -> None:
    """Every rung of the calibration ladder as a vertical line named above the axes: the floor and ceiling dashed and
    coloured, the rest dotted grey. Call after the axis's scale is set: the labels are placed by it."""
    rungs = sorted(levels.items(), key=lambda item: item[1])
    colours = [FLOOR_AND_CEILING.get(name, ("0.45", ""))[0] for name, _ in rungs]
    for (name, value), colour in zip(rungs, colours):
        styled = name in FLOOR_AND_CEILING
        axis.axvline(value, color=colour, linestyle="--" if styled else ":", linewidth=1.2 if styled else 0.9)
    axis.set_xlim(axis.get_xlim())  # the limits the lines and points asked for, fixed before placing labels by them
    fractions = [axis.transLimits.transform(axis.transScale.transform((value, 0)))[0] for _, value in rungs]
    for (name, _), colour, fraction in zip(rungs, colours, spread_apart(fractions, RUNG_LABEL_GAP)):
        axis.text(fraction, 1.02, rung_label(name), transform=axis.transAxes, rotation=90, ha="center", va="bottom",
                  fontsize=7, color=colour)


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


def constant_columns(data: pd.DataFrame, panels: list[tuple]) -> dict[str, float]:
    """Panel label -> the one value its column takes in every arm at every epoch (a flat panel says no more than
    that number)."""
    constant = {}
    for column, label, _ in panels:
        values = data[column].dropna().unique()
        if len(values) == 1:
            constant[label] = float(values[0])
    return constant


def reference_legend(axis: plt.Axes) -> None:
    """The panel's reference lines named above it, where they cover no curve."""
    if axis.get_legend_handles_labels()[0]:
        axis.legend(loc="lower left", bbox_to_anchor=(0, 1), ncol=2, fontsize=7, frameon=False, borderaxespad=0.2,
                    handlelength=1.6)


def loss_scale(axis: plt.Axes, column: str, largest: float) -> str:
    """A symlog axis for a loss that one diverged arm or seed drives past 10 (a linear one would flatten the rest);
    the words to add to the axis label."""
    if column in ("d_loss", "g_loss") and largest > 10:
        axis.set_yscale("symlog", linthresh=1)
        axis.set_ylim(bottom=0)
        return ", symlog"
    return ""


def curves_figure(groups: dict[str, list[Run]], colours: dict[str, tuple], path: Path, title: str,
                  fid_levels: dict[str, float]) -> None:
    """groups: arm label -> runs of one set; fid_levels: calibration FIDs at the runs' n (the floor and ceiling are
    drawn on the FID panel). A metric with one value throughout is named in the title, not drawn, unless none varies."""
    data = long_metrics(groups)
    epochs = sorted(int(e) for e in data["epoch"].unique())
    arms = [arm for arm in colours if arm in set(data["arm"])]
    offsets = dodge(arms, len(epochs))
    data["x"] = data["epoch"] + data["arm"].map(offsets)
    markers = {arm: ARM_MARKERS[i % len(ARM_MARKERS)] for i, arm in enumerate(arms)}
    measured = [c for c in CURVES if c[0] in data and data[c[0]].notna().any()]
    constant = constant_columns(data, measured)
    if len(constant) == len(measured):  # nothing varies (one epoch of one arm): the values are all there is to show
        constant = {}
    panels = [c for c in measured if c[1] not in constant]
    columns = min(4, max(1, len(panels)))
    rows = math.ceil(len(panels) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.4 * rows), squeeze=False,
                                layout="constrained")
    for axis, (column, label, reference) in zip(axes.flat, panels):
        sns.lineplot(data=data.dropna(subset=[column]), x="x", y=column, hue="arm", style="arm", palette=colours,
                     markers=markers if len(epochs) <= FEW_EPOCHS else False, dashes=False,
                     errorbar=("pi", 100), ax=axis, legend=False)
        if reference is not None:
            axis.axhline(reference[0], color="grey", linestyle="--", linewidth=1, label=reference[1])
        if column == "fid":
            draw_floor_and_ceiling(axis, fid_levels)
            if scale_for(pd.concat([data[column], levels_series(fid_levels)])) == "log":
                axis.set_yscale("log")
                label += " (log scale)"
        else:
            label += loss_scale(axis, column, data[column].max())
        reference_legend(axis)
        epoch_axis(axis, epochs)
        axis.set(xlabel="epoch", ylabel=label)
    for axis in list(axes.flat)[len(panels):]:
        axis.axis("off")
    handles = [plt.Line2D([], [], color=colours[arm], linewidth=2,
                          marker=markers[arm] if len(epochs) <= FEW_EPOCHS else None) for arm in arms]
    figure.legend(handles, arms, loc="outside lower center", ncol=min(5, len(arms)), frameon=False)
    shifted = " (arms shifted sideways so none hides another)" if any(offsets.values()) else ""
    unbroken = [f"{label}\u00a0=\u00a0{value:g}" for label, value in constant.items()]  # lines never break at "="
    flat = "\n" + textwrap.fill("Not drawn, the same in every arm at every epoch: " + ", ".join(unbroken), 130) \
        if constant else ""
    figure.suptitle(f"{title}: mean over seeds, band = min to max{shifted}{flat}")
    save_figure(figure, path)


def plain_log_ticks(axis: matplotlib.axis.Axis) -> None:
    """A log axis read in plain numbers at 1, 2 and 5 of every decade (10^2 alone leaves a reader guessing)."""
    axis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1, 2, 5)))
    axis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:g}"))
    axis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def seed_word(seeds: int) -> str:
    return f"{seeds} seed{'' if seeds == 1 else 's'}"


def final_scores_figure(scores: pd.DataFrame, colours: dict[str, tuple], path: Path, label: str, title: str,
                        levels: dict[str, float]) -> None:
    """scores: arm, seed, value. Each seed's final score with its own marker, the mean as a black bar, and every
    calibration level as a named vertical line, so a reader sees both the spread and where it sits on the ladder. A
    log axis where the scores and the ladder span more than LOG_SPAN times, so the low rungs are not squeezed."""
    order = [arm for arm in colours if arm in set(scores["arm"])]
    figure, axis = plt.subplots(figsize=(8, 2.4 + 0.5 * len(order)), layout="constrained")  # rung names above
    seeds = sorted(scores["seed"].unique())
    for row, arm in enumerate(order):
        mine = scores[scores["arm"] == arm]
        for i, seed in enumerate(seeds):
            values = mine[mine["seed"] == seed]["value"]
            spread = 0.3 * (i / max(1, len(seeds) - 1) - 0.5)  # seeds on separate lines within the arm's row
            axis.scatter(values, [row + spread] * len(values), color=colours[arm], s=50, zorder=3,
                         marker=SEED_MARKERS[i % len(SEED_MARKERS)], edgecolors="black", linewidths=0.5)
        axis.scatter([mine["value"].mean()], [row], color="black", marker="|", s=500, zorder=4)
    if scale_for(pd.concat([scores["value"], levels_series(levels)])) == "log":
        axis.set_xscale("log")
        plain_log_ticks(axis.xaxis)
        label += ", log scale"
    elif levels:
        axis.set_xlim(left=0)
    draw_ladder(axis, levels)
    axis.set_yticks(range(len(order)), order)
    axis.set_ylim(len(order) - 0.5, -0.5)
    seed_handles = [plt.Line2D([], [], color="grey", marker=SEED_MARKERS[i % len(SEED_MARKERS)], linestyle="none",
                               markeredgecolor="black", label=f"seed {seed}") for i, seed in enumerate(seeds)]
    mean_handle = plt.Line2D([], [], color="black", marker="|", markersize=14, linestyle="none",
                             label="mean over seeds")
    axis.legend(handles=seed_handles + [mean_handle], loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8,
                frameon=False)
    axis.set(xlabel=label, ylabel="")
    figure.suptitle(title)
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


TILES_PER_ROW = 4  # a strip of 8-9 grids in one row is shrunk to unreadable digits at a page's width
TILE_GAP = 12


def strip(images: list[tuple[str, Path]], path: Path) -> None:
    """Sample grids in rows of TILES_PER_ROW, each enlarged and labelled, in one PNG."""
    tiles = [_labelled(Image.open(file), label) for label, file in images]
    rows = [tiles[i:i + TILES_PER_ROW] for i in range(0, len(tiles), TILES_PER_ROW)]
    width = max(sum(t.width for t in row) + TILE_GAP * (len(row) - 1) for row in rows)
    heights = [max(t.height for t in row) for row in rows]
    canvas = Image.new("RGB", (width, sum(heights) + TILE_GAP * (len(rows) - 1)), "white")
    y = 0
    for row, height in zip(rows, heights):
        x = 0
        for tile in row:
            canvas.paste(tile, (x, y))
            x += tile.width + TILE_GAP
        y += height + TILE_GAP
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
    at e - 1 + b / the original's steps per epoch. The legend sits under the panels, covering none."""
    columns = list(dict.fromkeys(p.column for p in placements))
    axis_labels = {column: label for column, label, _ in CURVES}
    figure, axes = plt.subplots(1, len(columns), figsize=(4.6 * len(columns), 3.6), squeeze=False,
                                layout="constrained")
    for axis, column in zip(axes.flat, columns):
        points = sorted((p for p in placements if p.column == column),
                        key=lambda p: (p.epoch, p.step if p.step is not None else 0))
        x = [p.epoch if p.step is None else p.epoch - 1 + p.step / steps_per_epoch for p in points]
        highest = [max(p.seeds) for p in points]
        axis.fill_between(x, [min(p.seeds) for p in points], highest, color="tab:blue",
                          alpha=0.25, linewidth=0, label="seeds: min to max")
        axis.plot(x, [statistics.median(p.seeds) for p in points], color="tab:blue", linewidth=1,
                  label="seeds: median")
        axis.plot(x, [p.author for p in points], color="black", marker="o", markersize=2.5, linewidth=0.6,
                  label="the author's run")
        label = axis_labels.get(column, column)
        label += loss_scale(axis, column, max(highest + [p.author for p in points]))
        axis.set(xlabel="epochs trained", ylabel=label)
        axis.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    handles, labels = axes.flat[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncol=len(labels), fontsize=8, frameon=False)
    figure.suptitle(title)
    save_figure(figure, path)
