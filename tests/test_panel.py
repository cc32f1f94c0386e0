"""The ipywidgets panel, through its widget tree and traits (no browser)."""

from __future__ import annotations

import re
from typing import Any

import ipywidgets as widgets
import pytest
from fake_reports import make_report

from ae_magic.render import html as rhtml_mod
from ae_magic.render import panel as panel_mod
from ae_magic.render.panel import TAB_TITLES, AePanel

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


class FakeRerun:
    """Stands in for ``Session.rerun``: records calls, streams progress, returns a report."""

    def __init__(self, steps: int = 6, fail: BaseException | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.steps = steps
        self.fail = fail
        self.loss_images: list[bytes] = []
        self.panel: AePanel | None = None

    def __call__(self, *, lr: float, latent: int | None, epochs: int, train: bool, progress: Any) -> Any:
        self.calls.append({"lr": lr, "latent": latent, "epochs": epochs, "train": train})
        for k in range(self.steps):
            progress({"phase": "training", "step": k + 1, "total": self.steps, "loss": 0.5 / (k + 1)})
            if self.panel is not None:
                self.loss_images.append(self.panel.images["loss"].value)
        if self.fail is not None:
            raise self.fail
        return make_report(lr=lr, latent=latent if latent is not None else 2)


def _walk(w: widgets.Widget) -> list[widgets.Widget]:
    out = [w]
    for child in getattr(w, "children", ()):
        out.extend(_walk(child))
    return out


def test_widget_tree_has_header_findings_tabs_and_controls() -> None:
    rep = make_report()
    p = AePanel(rep, rerun_fn=FakeRerun())
    assert "ae-panel" in p._dom_classes
    tree = _walk(p)
    assert p.header in tree and p.findings in tree and p.tabs in tree
    for w in (p.lr, p.latent, p.epochs, p.button, p.progress):
        assert w in tree
    assert isinstance(p.lr, widgets.FloatLogSlider) and p.lr.base == 10
    assert p.lr.value == pytest.approx(1e-3)
    assert p.epochs.value == 3
    assert list(p.tabs.titles) == list(TAB_TITLES) == ["Loss", "Gradients", "Activations", "Reconstructions", "Graph"]
    for i, (name, img) in enumerate(p.images.items()):
        p.tabs.selected_index = i  # tabs render on first view
        assert bytes(img.value).startswith(PNG_MAGIC), name
        assert img.layout.display != "none"
    assert bytes(p.lr_range_image.value).startswith(PNG_MAGIC)
    # The verdict counts and every finding with its fix.
    assert 'data-severity="error" data-count="1"' in p.header.value
    for f in rep.findings:
        assert f'data-code="{f.code}"' in p.findings.value
    assert '<pre class="ae-fix"' in p.findings.value
    assert "cell line 4" in p.findings.value
    assert p.progress.layout.visibility == "hidden"


def test_moving_lr_slider_and_rerun_adds_a_run() -> None:
    rerun = FakeRerun()
    p = AePanel(make_report(), rerun_fn=rerun)
    loss_before = p.images["loss"].value
    p.lr.value = 1e-2
    p.epochs.value = 2
    p.button.click()
    assert len(rerun.calls) == 1
    assert rerun.calls[0]["lr"] == pytest.approx(1e-2)
    assert rerun.calls[0]["epochs"] == 2
    assert rerun.calls[0]["latent"] is None  # unchanged latent is not a rebuild
    assert rerun.calls[0]["train"] is True
    assert len(p.runs) == 2
    assert p.runs_table.value.count('class="ae-run-row"') == 2
    assert "1.0e-02" in p.runs_table.value
    assert p.images["loss"].value != loss_before
    assert [label for label, _ in p.run_select.options] == ["run 1 · lr 1e-03 · latent 2", "run 2 · lr 1e-02 · latent 2"]
    assert p.run_select.value == 1  # the new run is shown
    # A third run is added too, never replacing the last.
    p.lr.value = 1e-4
    p.button.click()
    assert len(p.runs) == 3 and p.runs_table.value.count('class="ae-run-row"') == 3
    assert not p.button.disabled and not p.running


def test_rerun_streams_progress_and_loss(monkeypatch) -> None:
    monkeypatch.setattr(panel_mod, "STREAM_INTERVAL", 0.0)
    rerun = FakeRerun(steps=5)
    p = AePanel(make_report(), rerun_fn=rerun)
    rerun.panel = p
    seen: list[tuple[int, int, str]] = []
    p.progress.observe(lambda ch: seen.append((p.progress.value, p.progress.max, p.progress.layout.visibility)),
                       names="value")
    p.button.click()
    assert seen[-1] == (5, 5, "visible")
    # The loss image was redrawn while the run went on (a growing live curve).
    assert len(set(rerun.loss_images)) >= 4
    assert p.progress.layout.visibility == "hidden"


def test_selecting_a_run_shows_its_findings() -> None:
    rerun = FakeRerun()
    p = AePanel(make_report(), rerun_fn=lambda **kw: make_report(findings=False, lr=kw["lr"]))
    del rerun
    p.button.click()
    assert "No problems found" in p.header.value
    p.run_select.value = 0
    assert "AE102" in p.findings.value


def test_failing_rerun_shows_its_error_and_keeps_the_runs() -> None:
    rerun = FakeRerun(fail=RuntimeError("optimizer exploded"))
    p = AePanel(make_report(), rerun_fn=rerun)
    p.lr.value = 0.5
    p.button.click()
    assert len(p.runs) == 1
    assert "optimizer exploded" in p.error.value and "RuntimeError" in p.error.value
    assert "lr=0.5" in p.error.value
    assert p.errors and not p.running and not p.button.disabled
    # The next successful run clears the error box.
    rerun.fail = None
    p.button.click()
    assert p.error.value == "" and len(p.runs) == 2


def test_latent_slider_disabled_with_the_reports_reason() -> None:
    rep = make_report()
    rep.model["latent"] = {"applied": 2, "user": 2, "changeable": False, "reason": "subclassed: no layer graph"}
    p = AePanel(rep, rerun_fn=FakeRerun())
    assert p.latent.disabled
    assert "subclassed: no layer graph" in p.latent_reason.value
    p.latent.value = 7  # ignored while disabled
    assert p.rerun_kwargs()["latent"] is None


def test_rerun_disabled_with_reason_without_a_live_check() -> None:
    p = AePanel(make_report())  # a report alone: no Session to re-run
    assert p.button.disabled
    assert "no live check" in p.rerun_reason.value
    p.button.click()
    assert len(p.runs) == 1


def test_retired_panel_keeps_its_runs_and_stops_rerunning() -> None:
    rerun = FakeRerun()
    p = AePanel(make_report(), rerun_fn=rerun)
    p.retire("Re-runs are off: released")
    assert p.button.disabled and "released" in p.rerun_reason.value
    p.button.click()
    assert rerun.calls == [] and len(p.runs) == 1


def test_close_all_closes_every_widget() -> None:
    p = AePanel(make_report(), rerun_fn=FakeRerun())
    tree = _walk(p)
    p.close_all()
    assert all(w.comm is None for w in tree)


def test_mimebundle_is_the_widget_view_and_the_report_is_a_separate_static_output() -> None:
    p = AePanel(make_report(), rerun_fn=FakeRerun())
    bundle = p._repr_mimebundle_()
    assert bundle[WIDGET_VIEW]["model_id"] == p.model_id
    # No HTML copy in the widget's bundle: a frontend without widgets would show it twice.
    assert "text/html" not in bundle
    assert bundle["text/plain"].startswith("ae_magic: ") and "\n" not in bundle["text/plain"]
    assert "interactive panel" in bundle["text/plain"]
    static = p.static_output()._repr_mimebundle_()
    assert 'data-code="AE102"' in static["text/html"]
    assert static["text/html"].count("data:image/png;base64,") == 6
    assert f'class="ae-report ae-static" id="{p.static_id}"' in static["text/html"]
    assert "AE102" in static["text/plain"]
    # Kernel-less views: the copy says where the panel went and hides the widget's placeholder.
    assert "run the cell again for the interactive panel" in static["text/html"]
    assert ".jupyter-widgets.jp-OutputArea-output:not(:has(*)){display:none}" in static["text/html"]
    assert "ae-static-note" not in rhtml_mod.render_html(make_report())  # not in a plain report


def test_live_panel_hides_its_static_copy_and_only_it() -> None:
    p, q = AePanel(make_report()), AePanel(make_report())
    assert p.static_id != q.static_id
    assert p.static_style in _walk(p)
    css = p.static_style.value
    assert f"#{p.static_id}{{display:none !important}}" in css
    assert f".jp-OutputArea-child:has(#{p.static_id})" in css
    assert q.static_id not in css


def test_fix_area_sits_under_the_findings_and_findings_do_not_scroll_inside_the_page() -> None:
    p = AePanel(make_report())
    kids = list(p.children)
    assert isinstance(p.fix_area, widgets.VBox) and "ae-fix-area" in p.fix_area._dom_classes
    assert kids.index(p.fix_area) == kids.index(p.findings) + 1 < kids.index(p.tabs)
    assert p.findings.layout.max_height is None and p.findings.layout.overflow is None


def test_sliders_share_one_label_width_and_rows_wrap() -> None:
    p = AePanel(make_report())
    for s in (p.lr, p.epochs, p.latent):
        assert s.style.description_width == "110px"
        assert s.layout.width == "420px"
    row = next(w for w in _walk(p) if isinstance(w, widgets.HBox) and p.lr in w.children)
    assert row.layout.flex_flow == "row wrap"


def test_runs_table_shows_exactly_the_options_each_run_applied() -> None:
    first = make_report()
    second = make_report(lr=0.3)
    second.params = {**second.params, "batch_size": 64, "seed": 7}
    p = AePanel(first)
    p.runs.append(second)
    p._refresh_runs(select=1)
    table = p.runs_table.value
    heads = re.findall(r"<th[^>]*>([^<]*)</th>", table)
    assert heads == ["run", "lr", "epochs", "latent", "batch", "seed", "train", "final loss", "findings"]
    rows = re.findall(r'<tr class="ae-run-row">(.*?)</tr>', table)
    cells = [dict(re.findall(r'data-param="([a-z_]+)">([^<]*)</td>', row)) for row in rows]
    assert cells[0] == {"lr": "1.0e-03", "epochs": "3", "latent": "2", "batch_size": "–", "seed": "–", "train": "yes"}
    assert cells[1] == {"lr": "3.0e-01", "epochs": "3", "latent": "2", "batch_size": "64", "seed": "7", "train": "yes"}


def test_missing_plots_are_explained_in_their_tab() -> None:
    rep = make_report()
    rep.traces = {}
    rep.params["train"] = False
    rep.__dict__.pop("_ae_pngs", None)
    p = AePanel(rep, rerun_fn=FakeRerun())
    p.tabs.selected_index = 1
    assert p.images["gradients"].layout.display == "none"
    assert "--no-train" in p.notes["gradients"].value
    p.tabs.selected_index = 4
    assert bytes(p.images["graph"].value).startswith(PNG_MAGIC)


# -- with the real engine ------------------------------------------------------
@pytest.fixture(scope="module")
def dense_session() -> Any:
    import zoo

    from ae_magic import Session
    from ae_magic.options import Options

    ns: dict[str, Any] = {}
    session = Session.from_cell(zoo.HEALTHY["dense"], namespace=ns, data="x", options=Options(train=False))
    session.user_ns = ns
    yield session
    session.close()


@pytest.fixture(scope="module")
def dense_report(dense_session) -> Any:
    return dense_session.run()


def test_real_report_latent_slider_state(dense_report, dense_session) -> None:
    p = AePanel(dense_report, rerun_fn=dense_session.rerun)
    latent, user, ok, _reason = panel_mod.latent_state(dense_report)
    assert ok and not p.latent.disabled
    assert user == latent == 8 and p.latent.value == 8


def test_latent_slider_rebuilds_the_model(dense_report, dense_session) -> None:
    import numpy as np

    p = AePanel(dense_report, rerun_fn=dense_session.rerun)
    assert not p.latent.disabled and p.latent.value == 8
    user_model = dense_session.user_ns["autoencoder"]
    weights = [w.copy() for w in user_model.get_weights()]
    p.latent.value = 3
    p.epochs.value = 1
    p.button.click()
    assert p.error.value == "", p.error.value
    assert len(p.runs) == 2
    new = p.runs[1]
    assert new.model["graph"]["code_width"] == 3 and new.params["latent"] == 3
    assert "latent 3" in p.run_select.options[1][0]
    # The runs table shows the applied widths: 8 for run 1, 3 for run 2.
    cells = p.runs_table.value.split('class="ae-run-row"')
    assert ">8<" in cells[1] and ">3<" in cells[2]
    # From the rebuilt run, moving back to 8 means the user's own model again.
    p.latent.value = 8
    assert p.rerun_kwargs()["latent"] is None
    # The user's model is untouched.
    after = user_model.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(weights, after, strict=True))
    assert user_model.layers[2].units == 8


def test_deferred_panel_draws_plots_on_request() -> None:
    p = AePanel(make_report(), rerun_fn=FakeRerun(), defer_plots=True)
    assert bytes(p.images["loss"].value) == b""
    assert 'data-code="AE102"' in p.findings.value  # findings are there at once
    p.tabs.selected_index = 4
    assert bytes(p.images["graph"].value) == b""
    p.draw_plots()
    assert bytes(p.images["loss"].value).startswith(PNG_MAGIC)
    assert bytes(p.images["graph"].value).startswith(PNG_MAGIC)  # the open tab


def test_real_rerun_with_another_lr_adds_a_different_run(dense_report, dense_session) -> None:
    p = AePanel(dense_report, rerun_fn=dense_session.rerun)
    assert not p.button.disabled, p.rerun_reason.value
    p.lr.value = 0.3
    p.epochs.value = 1
    p.button.click()
    assert p.error.value == "", p.error.value
    assert len(p.runs) == 2
    new = p.runs[1]
    assert new.traces["training"]["lr"] == pytest.approx(0.3)
    assert new.traces["training"]["epochs"] == 1
    assert new.params["lr"] == pytest.approx(0.3) and new.params["epochs"] == 1
    # The first run kept its structure-only findings; the re-run has the same structural ones.
    assert {f.code for f in dense_report.findings if f.code < "AE300"} <= {f.code for f in new.findings}
    assert "3.0e-01" in p.runs_table.value
    labels = [ln.get_label() for ln in panel_mod.plots.loss_figure(p.runs).axes[0].get_lines()]
    assert any(lab.startswith("run 2") and lab.endswith("train") for lab in labels)


class FakeHandle:
    def __init__(self, log: list[Any]) -> None:
        self.log = log

    def update(self, obj: Any) -> None:
        self.log.append(("update", obj, obj._repr_mimebundle_() if isinstance(obj, AePanel) else None))


def test_first_run_progress_bar_is_replaced_by_the_panel(monkeypatch) -> None:
    import IPython.display

    log: list[Any] = []

    def fake_display(obj: Any, display_id: Any = None, **kw: Any) -> FakeHandle:
        log.append(("display", obj, None))
        return FakeHandle(log)

    monkeypatch.setattr(IPython.display, "display", fake_display)
    progress = panel_mod.ProbeProgress()
    assert progress.widget is None  # nothing shown before the probes start
    for k in range(4):
        progress({"phase": "training", "step": k + 1, "total": 4, "loss": 1.0 / (k + 1)})
    assert [entry[0] for entry in log] == ["display"]
    assert log[0][1] is progress.widget and "ae-check-progress" in progress.widget._dom_classes
    assert (progress.bar.value, progress.bar.max) == (4, 4)
    assert "training 4/4" in progress.label.value and "loss 0.25" in progress.label.value

    p = panel_mod.show(make_report(), progress)
    # The panel takes the bar's place, then the static copy (every finding and
    # plot) follows as its own output, hidden while the panel is live.
    assert [entry[0] for entry in log] == ["display", "update", "display"]
    assert log[1][1] is p and isinstance(log[2][1], panel_mod.StaticReport)
    static = log[2][1]._repr_mimebundle_()["text/html"]
    assert 'data-code="AE102"' in static and static.count("data:image/png;base64,") == 6
    assert f'id="{p.static_id}"' in static
    assert bytes(p.images["loss"].value).startswith(PNG_MAGIC)
