"""The figure pass: it draws exactly the figures the final report's sections show, and an animation only where an
arm has enough epochs."""
from __future__ import annotations

import matplotlib.pyplot as plt
from PIL import Image

from harness import figures
from harness.report_figures import draw_report_figures
from harness.report_render import Figure
from harness.report_sections import final_report
from tests.fakes import LADDER, ladder_rows, write_calibration, write_run
from tests.test_report_analysis import analysis_of


def test_the_figure_pass_draws_every_figure_the_sections_show_and_no_other(fake_study, tmp_path):
    write_calibration(fake_study, ladder_rows())
    analysis = analysis_of(fake_study)
    out = tmp_path / "report"
    draw_report_figures(analysis, out)
    drawn = {path.relative_to(out).as_posix() for path in out.rglob("*") if path.is_file()}
    shown = {block.path for block in final_report(analysis) if isinstance(block, Figure)}
    assert drawn == shown
    assert {"figures/curves.png", "figures/final-fid.png", "figures/samples-udacity.png",
            "figures/original-dcgan-xavier-nda111-dcgan-xavier.png"} <= drawn
    assert not any(name.endswith(".gif") for name in drawn)  # 3 epochs: too few frames to animate
    for name in drawn:
        with Image.open(out / name) as image:
            assert min(image.size) > 50, name


def test_an_arm_is_animated_from_four_epochs(tmp_path):
    write_run(tmp_path, "udacity", 0, epochs=3)
    write_run(tmp_path, "dcgan-xavier", 0, epochs=4)
    out = tmp_path / "report"
    analysis = analysis_of(tmp_path)
    draw_report_figures(analysis, out)
    with Image.open(out / "figures" / "samples-dcgan-xavier.gif") as animation:
        assert animation.n_frames == 4
    assert not (out / "figures" / "samples-udacity.gif").exists()


def drawn_figures(monkeypatch) -> dict[str, plt.Figure]:
    """The figures the pass draws, by file name, kept open instead of saved."""
    kept: dict[str, plt.Figure] = {}
    monkeypatch.setattr(figures, "save_figure", lambda figure, path: kept.__setitem__(path.name, figure))
    return kept


def test_every_rung_of_the_final_fid_ladder_is_named_and_no_two_names_overlap(fake_study, tmp_path, monkeypatch):
    write_calibration(fake_study, ladder_rows())
    kept = drawn_figures(monkeypatch)
    draw_report_figures(analysis_of(fake_study), tmp_path / "report")
    figure = kept["final-fid.png"]
    axis = figure.axes[0]
    figure.canvas.draw()
    names = [text.get_text() for text in axis.texts]
    assert sorted(names) == sorted(figures.rung_label(name) for name in LADDER)
    assert len([line for line in axis.lines if len(set(line.get_xdata())) == 1]) == len(LADDER)  # vertical lines
    boxes = [text.get_window_extent() for text in axis.texts]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert axis.get_xscale() == "log" and "log scale" in axis.get_xlabel()  # rungs 5 to 1000 apart on a log axis
    assert figure.get_suptitle() == "Final FID of every seed, against the calibration ladder at n = 500"


def test_curves_legends_sit_off_the_panels_and_a_flat_metric_is_named_not_drawn(fake_study, tmp_path, monkeypatch):
    write_calibration(fake_study, ladder_rows())
    kept = drawn_figures(monkeypatch)
    draw_report_figures(analysis_of(fake_study), tmp_path / "report")
    figure = kept["curves.png"]
    figure.canvas.draw()
    panels = [axis for axis in figure.axes if axis.axison]
    assert [axis.get_ylabel() for axis in panels] == ["D loss (nats)", "FID (log scale)", "classes covered (of 10)"]
    for axis in panels:
        legend = axis.get_legend()
        assert legend is not None and legend.get_window_extent().y0 >= axis.get_window_extent().y1  # above the panel
    assert "G loss (nats)\u00a0=\u00a00.8" in figure.get_suptitle()  # every fake run's G loss is 0.8 throughout


def test_a_log_drawn_against_one_seed_says_seed_not_seeds(tmp_path, monkeypatch):
    write_run(tmp_path, "udacity", 0)
    kept = drawn_figures(monkeypatch)
    draw_report_figures(analysis_of(tmp_path), tmp_path / "report")
    titles = [figure.get_suptitle() for name, figure in kept.items() if name.startswith("original-")]
    assert titles and all(title.endswith("Blue: 1 seed of udacity") for title in titles)
