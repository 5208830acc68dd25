"""The figure pass: it draws exactly the figures the final report's sections show, and an animation only where an
arm has enough epochs."""
from __future__ import annotations

from PIL import Image

from harness.report_figures import draw_report_figures
from harness.report_render import Figure
from harness.report_sections import final_report
from tests.fakes import ladder_rows, write_calibration, write_run
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
