"""Static HTML and plots: every finding and every plot, with no widget manager."""

from __future__ import annotations

import base64
import re

import pytest
from fake_reports import make_report

from ae_magic.render import html as rhtml
from ae_magic.render import plots
from ae_magic.report import Finding, Report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _imgs(page: str) -> dict[str, bytes]:
    return {
        m.group(1): base64.b64decode(m.group(2))
        for m in re.finditer(r'data-plot="([a-z_]+)"[^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    }


def test_every_finding_is_rendered_with_code_title_message_evidence_fix_and_line() -> None:
    rep = make_report()
    page = rhtml.render_html(rep)
    assert len(rep.findings) == 3
    for f in rep.findings:
        block = re.search(rf'<div class="ae-finding [^"]*" data-code="{f.code}".*?(?=<div class="ae-finding |$)', page,
                          re.S)
        assert block, f.code
        text = block.group(0)
        assert rhtml.esc(f.title) in text
        assert f"data-severity=\"{f.severity}\"" in text
        for key in f.evidence:
            assert rhtml.esc(key) in text
        if f.fix:
            assert '<pre class="ae-fix"' in text and f"<code>{rhtml.esc(f.fix)}</code>" in text
        if f.line:
            assert f"cell line {f.line}" in text
        if f.source_line:
            assert rhtml.esc(f.source_line) in text
    # Findings keep the report's order (errors first).
    codes = re.findall(r'class="ae-finding [^"]*" data-code="(AE\d+)"', page)
    assert codes == rep.codes == ["AE102", "AE106", "AE406"]


def test_user_text_is_escaped() -> None:
    page = rhtml.render_html(make_report())
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_counts_by_severity_are_colour_coded() -> None:
    page = rhtml.header_html(make_report())
    assert 'data-severity="error" data-count="1"' in page
    assert 'data-severity="warning" data-count="1"' in page
    assert 'data-severity="info" data-count="1"' in page
    assert rhtml.SEVERITY_COLORS["error"] in page
    ok = rhtml.header_html(make_report(findings=False))
    assert "No problems found" in ok and rhtml.OK_COLOR in ok


def test_every_plot_is_embedded_as_png() -> None:
    rep = make_report()
    imgs = _imgs(rhtml.render_html(rep))
    assert set(imgs) == {"loss", "lr_range", "gradients", "activations", "reconstructions", "graph"}
    for png in imgs.values():
        assert png.startswith(PNG_MAGIC) and len(png) > 2000


def test_plots_missing_without_probe_data_are_explained() -> None:
    rep = Report(findings=[], params={"train": False}, model={"variable": "m"})
    page = rhtml.render_html(rep)
    assert _imgs(page) == {}
    assert "not measured" in page and "--no-train" in page


def test_repr_html_and_mimebundle_are_the_static_report() -> None:
    rep = make_report()
    assert rep._repr_html_() == rhtml.render_html(rep)
    bundle = rep._repr_mimebundle_()
    assert bundle["text/html"] == rhtml.render_html(rep)
    assert "AE102" in bundle["text/plain"]


def test_write_html_is_a_standalone_page(tmp_path) -> None:
    path = rhtml.write_html(make_report(label="demo"), tmp_path / "out" / "r.html")
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and "<title>demo</title>" in page
    assert len(_imgs(page)) == 6


def test_cell_error_and_internal_errors_are_shown() -> None:
    rep = Report(
        findings=[Finding("AE100", "error", "The cell raised an exception", "ValueError: boom", line=2)],
        cell_error={"type": "ValueError", "message": "boom", "line": 2, "traceback": "..."},
        internal_errors=[{"check": "ae_magic.checks.x", "error": "KeyError: 1", "traceback": "..."}],
    )
    page = rhtml.render_html(rep)
    assert "ValueError: boom" in page and "cell line 2" in page
    assert "ae_magic.checks.x" in page and "bug of ours" in page


# -- plots ------------------------------------------------------------------
def test_loss_figure_draws_one_train_and_one_val_line_per_run() -> None:
    runs = [make_report(lr=1e-3), make_report(lr=1e-2)]
    fig = plots.loss_figure(runs)
    labels = [ln.get_label() for ln in fig.axes[0].get_lines()]
    assert sum(lab.endswith(" train") for lab in labels) == 2
    assert sum(lab.endswith(" val") for lab in labels) == 2
    assert any("lr 1e-02" in lab for lab in labels)
    live = plots.loss_figure(runs, live={"loss": [0.5, 0.4], "label": "run 3 (running)"})
    assert any(ln.get_label().startswith("run 3 (running)") for ln in live.axes[0].get_lines())


def test_loss_figure_marks_divergence() -> None:
    fig = plots.loss_figure(make_report(diverge=True))
    assert any("NaN" in t.get_text() for t in fig.axes[0].texts)


def test_gradients_figure_is_log_scale_and_flags_missing_gradients() -> None:
    fig = plots.gradients_figure(make_report())
    assert [ax.get_xscale() for ax in fig.axes[:1]] == ["log"]
    assert fig.axes[1].get_yscale() == "log"
    assert len(fig.axes[1].get_lines()) == 3  # one line per layer over steps
    assert any("no grad" in t.get_text() for t in fig.axes[0].texts)


def test_activation_figure_shows_dead_and_saturated_shares() -> None:
    fig = plots.activations_figure(make_report())
    ax = fig.axes[0]
    widths = sorted(round(p.get_width()) for p in ax.patches)
    assert 25 in widths and 80 in widths  # 25% dead (enc), 80% saturated (code)


def test_reconstructions_images_for_image_data_lines_for_vectors() -> None:
    img = plots.reconstructions_figure(make_report(image=True))
    assert all(ax.images for ax in img.axes)  # a 3 x 4 grid of images
    assert len(img.axes) == 12
    vec = plots.reconstructions_figure(make_report(image=False))
    assert all(len(ax.get_lines()) == 3 for ax in vec.axes)  # input, before, after overlaid
    assert not any(ax.images for ax in vec.axes)


def test_graph_figure_highlights_bottleneck_bypass_and_dangling() -> None:
    fig = plots.graph_figure(make_report())
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "bottleneck" in texts
    assert any("bypasses the" in t for t in texts)
    assert any(t.startswith("stray") and "dangling" in t for t in texts)
    code_box = next(t for t in fig.axes[0].texts if t.get_text().startswith("code "))
    assert code_box.get_bbox_patch().get_facecolor()[:3] != (1.0, 1.0, 1.0)


@pytest.mark.parametrize("name", ["loss", "gradients", "activations", "reconstructions", "graph"])
def test_figures_are_none_without_data(name: str) -> None:
    assert plots.figures(Report())[name] is None


def test_graph_figure_marks_a_decoder_reading_the_input() -> None:
    rep = make_report()
    g = rep.model["graph"]
    g["nodes"] = [g["nodes"][0], {**g["nodes"][4], "id": 1, "parents": [0], "width": 6}]
    g.update(main_path=[0, 1], code=1, bypass_paths=[], outputs=[1])
    rep.findings = [Finding("AE103", "warning", "Bypass", "`dec` reads the input", evidence={"reader": "dec"})]
    texts = [t.get_text() for t in plots.graph_figure(rep).axes[0].texts]
    assert any("bypasses the" in t for t in texts)
    assert "bottleneck" not in texts  # the reader is the narrowest layer, not a code


def test_html_follows_the_jupyterlab_theme_variables() -> None:
    page = rhtml.render_html(make_report(), with_plots=False)
    for var in ("--jp-ui-font-color1", "--jp-ui-font-color2", "--jp-layout-color2", "--jp-ui-font-family"):
        assert f"var({var}," in page, var  # with a fallback for pages outside JupyterLab
    # No fixed light backgrounds that would glare on a dark theme.
    assert "#fdecea" not in page and "#f6f8fa;" not in page.replace("var(--jp-layout-color2, #f6f8fa)", "")


def test_plots_are_transparent_and_their_text_reads_on_dark_pages() -> None:
    from matplotlib.colors import to_rgba
    from matplotlib.text import Text

    fig = plots.gradients_figure(make_report())
    plots.figure_png(fig)  # restyles the figure it saves
    assert fig.patch.get_alpha() == 0.0
    texts = [t for t in fig.findobj(Text) if t.get_text()]
    assert texts and not any(to_rgba(t.get_color()) == to_rgba("black") for t in texts)


def _zero_grad_report() -> Report:
    rep = make_report()
    rep.traces["training"]["grad_norms"] = {"enc": [0.5, 0.0, 0.2], "code": [0.0, 0.0, 0.0], "dec": [1.0, "nan", 0.4]}
    return rep


def test_over_the_run_chart_marks_zero_and_missing_gradients() -> None:
    fig = plots.gradients_figure(_zero_grad_report())
    ax = fig.axes[1]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "zero gradient" in legend and "no gradient / NaN" in legend
    zero = next(c for c in ax.collections if c.get_label() == "zero gradient")
    missing = next(c for c in ax.collections if c.get_label() == "no gradient / NaN")
    assert len(zero.get_offsets()) == 4  # enc once, code three times
    assert len(missing.get_offsets()) == 1
    # Drawn below every measured norm, on the log axis.
    measured = min(y for line in ax.get_lines() if not line.get_label().startswith("_")
                   for y in line.get_ydata() if y > 0)
    assert max(zero.get_offsets()[:, 1]) < measured
    # The all-zero layer still has its legend entry.
    assert "code" in legend
    # A run with no zero gradient shows neither entry.
    clean = plots.gradients_figure(make_report()).axes[1]
    assert not ({"zero gradient", "no gradient / NaN"} & {t.get_text() for t in clean.get_legend().get_texts()})


def test_bar_chart_legend_names_zero_and_missing_gradients() -> None:
    rep = make_report()
    rep.traces["gradients"]["layers"][1]["grad_norm"] = 0.0
    ax = plots.gradients_figure(rep).axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "zero gradient (drawn at a floor)" in legend and "no gradient / NaN" in legend


def test_plot_labels_use_the_cells_variable_names() -> None:
    rep = make_report()
    for n in rep.model["graph"]["nodes"]:  # the cell bound `enc` to `hidden`, ...
        n["variable"] = {"enc": "hidden", "code": "z"}.get(n["name"], n["variable"])
    assert plots.layer_names(rep)["enc"] == "hidden (enc)"
    grads = plots.gradients_figure(rep)
    ticks = [t.get_text() for t in grads.axes[0].get_yticklabels()]
    assert "hidden (enc)" in ticks and "z (code)" in ticks and "dec" in ticks
    legend = [t.get_text() for t in grads.axes[1].get_legend().get_texts()]
    assert "hidden (enc)" in legend and "z (code)" in legend
    acts = [t.get_text() for t in plots.activations_figure(rep).axes[0].get_yticklabels()]
    assert any(t.startswith("hidden (enc)") for t in acts)
    graph_text = [t.get_text() for t in plots.graph_figure(rep).axes[0].texts]
    assert any(t.startswith("z (code)") for t in graph_text)


def test_graph_lines_follow_the_calls_lines() -> None:
    rep = make_report()
    nodes = rep.model["graph"]["nodes"]
    # Under %%ae_check the calls (and findings) count the magic line; the graph's nodes don't.
    rep.calls = [{"line": n["line"] + 1, "layer": n["name"], "variable": n["name"]} for n in nodes[1:] if n.get("line")]
    lines = plots.graph_lines(rep)
    assert lines[nodes[0]["id"]] == nodes[0]["line"] + 1  # the Input, shifted like the calls
    assert all(lines[n["id"]] == n["line"] + 1 for n in nodes if n.get("line"))
    labels = [t.get_text() for t in plots.graph_figure(rep).axes[0].texts if t.get_text().startswith("line ")]
    assert sorted(labels) == sorted(f"line {n['line'] + 1}" for n in nodes if n.get("line"))
