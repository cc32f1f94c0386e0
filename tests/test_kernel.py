"""A real Jupyter kernel (nbclient) runs %load_ext and %%ae_check: the outputs
carry the widget view and the static HTML fallback, and nbconvert (what
nbviewer runs) shows the findings and plots without any widget state."""

from __future__ import annotations

import base64
import re
from typing import Any

import nbformat
import pytest

pytestmark = pytest.mark.kernel

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"

DATA_CELL = """\
import numpy as np
rng = np.random.default_rng(0)
z = rng.normal(size=(256, 3))
x = (1 / (1 + np.exp(-(z @ rng.normal(size=(3, 16))) / 2))).astype("float32")
"""

# Dense autoencoder with a sigmoid code: AE106 (warning) from structure alone.
AE_CELL = """\
%%ae_check --data x --no-train
import keras
from keras import layers
inp = keras.Input(shape=(16,))
h = layers.Dense(8, activation="relu")(inp)
code = layers.Dense(3, activation="sigmoid")(h)
out = layers.Dense(16, activation="sigmoid")(layers.Dense(8, activation="relu")(code))
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="mse")
print("cell output:", autoencoder.count_params())
"""

FAILING_CELL = """\
%%ae_check --no-train
before_error = 1
raise ValueError("boom in the cell")
"""

# The same model with the probes on (one short epoch): a progress bar first,
# replaced in place by the panel.
TRAIN_CELL = AE_CELL.replace("--no-train", "--epochs 1")

CHECK_CALL_CELL = """\
import ae_magic
ae_magic.check("import keras\\nm = keras.Sequential([keras.Input((16,)), keras.layers.Dense(4), "
               "keras.layers.Dense(16)])\\nm.compile('adam', 'mse')", namespace={"x": x}, data="x", train=False)
"""


@pytest.fixture(scope="module")
def executed() -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    failing = nbformat.v4.new_code_cell(FAILING_CELL)
    failing.metadata["tags"] = ["raises-exception"]
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext ae_magic"),
        nbformat.v4.new_code_cell(DATA_CELL),
        nbformat.v4.new_code_cell(AE_CELL),
        failing,
        nbformat.v4.new_code_cell("print('still alive', type(autoencoder).__name__, before_error)"),
        nbformat.v4.new_code_cell(CHECK_CALL_CELL),
        nbformat.v4.new_code_cell(TRAIN_CELL),
    ]
    client = NotebookClient(nb, timeout=600, kernel_name="python3", store_widget_state=True)
    client.execute()
    return nb


def _outputs(nb: nbformat.NotebookNode, index: int, output_type: str) -> list[Any]:
    return [o for o in nb.cells[index].outputs if o.output_type == output_type]


def _panel_output(nb: nbformat.NotebookNode, index: int) -> Any:
    found = [o for o in _outputs(nb, index, "display_data") if WIDGET_VIEW in o.data]
    assert len(found) == 1, nb.cells[index].outputs
    return found[0]


def _static_output(nb: nbformat.NotebookNode, index: int) -> Any:
    """The static report: its own output, with no widget view (shown when no widget manager is)."""
    found = [o for o in _outputs(nb, index, "display_data")
             if WIDGET_VIEW not in o.data and 'class="ae-report' in o.data.get("text/html", "")]
    assert len(found) == 1, nb.cells[index].outputs
    return found[0]


def test_cell_output_and_panel_with_widget_view_and_static_html(executed) -> None:
    streams = "".join(o.text for o in _outputs(executed, 2, "stream") if o.name == "stdout")
    assert "cell output:" in streams
    out = _panel_output(executed, 2)
    model_id = out.data[WIDGET_VIEW]["model_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", model_id)
    # The widget's output carries no copy of the report (it would show twice).
    assert 'class="ae-report' not in out.data.get("text/html", "")
    html = _static_output(executed, 2).data["text/html"]
    assert 'class="ae-report ae-static"' in html
    assert 'data-code="AE106"' in html  # the sigmoid code layer
    assert "cell line 6" in html  # line 1 is %%ae_check; the code layer is line 6
    assert "ae_magic" in out.data["text/plain"]


def test_widget_state_holds_the_panel(executed) -> None:
    state = executed.metadata["widgets"][WIDGET_STATE]["state"]
    model_id = _panel_output(executed, 2).data[WIDGET_VIEW]["model_id"]
    panel = state[model_id]
    assert panel["model_name"] == "VBoxModel"
    assert "ae-panel" in panel["state"]["_dom_classes"]
    # The sliders are in the saved state too (the frontend can rebuild the view).
    names = {s["model_name"] for s in state.values()}
    assert {"FloatLogSliderModel", "IntSliderModel", "ButtonModel", "TabModel", "ImageModel"} <= names


def test_the_cells_exception_shows_and_the_panel_still_reports(executed) -> None:
    errors = _outputs(executed, 3, "error")
    assert len(errors) == 1 and errors[0].ename == "ValueError" and "boom in the cell" in errors[0].evalue
    _panel_output(executed, 3)
    html = _static_output(executed, 3).data["text/html"]
    assert "boom in the cell" in html
    # The kernel lives on and the cell's assignments before the error exist.
    later = "".join(o.text for o in _outputs(executed, 4, "stream"))
    assert "still alive Functional 1" in later


def test_check_call_displays_the_static_report(executed) -> None:
    res = _outputs(executed, 5, "execute_result")
    assert len(res) == 1
    assert 'class="ae-report"' in res[0].data["text/html"]
    assert "text/plain" in res[0].data


def test_nbconvert_without_widget_state_shows_findings_and_plots(executed) -> None:
    from nbconvert import HTMLExporter

    nb = nbformat.from_dict(executed)
    nb.metadata.pop("widgets", None)
    body, _ = HTMLExporter().from_notebook_node(nb)
    assert 'data-code="AE106"' in body
    assert "ae-finding" in body
    pngs = re.findall(r'data-plot="graph"[^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', body)
    assert pngs and base64.b64decode(pngs[0]).startswith(b"\x89PNG")


def test_a_failing_checked_cell_stops_run_all_like_any_failing_cell() -> None:
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext ae_magic"),
        nbformat.v4.new_code_cell(FAILING_CELL),
        nbformat.v4.new_code_cell("never = 1"),
    ]
    client = NotebookClient(nb, timeout=600, kernel_name="python3")
    with pytest.raises(CellExecutionError, match="boom in the cell"):
        client.execute()
    assert nb.cells[2].outputs == [] and nb.cells[2].execution_count is None
    # The traceback appears once, and the panel was still displayed.
    assert [o.output_type for o in nb.cells[1].outputs].count("error") == 1
    assert any(WIDGET_VIEW in o.get("data", {}) for o in nb.cells[1].outputs)


def test_probe_run_progress_bar_is_replaced_by_the_panel_with_plots(executed) -> None:
    out = _panel_output(executed, 6)  # exactly one widget output: the bar became the panel
    state = executed.metadata["widgets"][WIDGET_STATE]["state"]
    assert "ae-panel" in state[out.data[WIDGET_VIEW]["model_id"]]["state"]["_dom_classes"]
    html = _static_output(executed, 6).data["text/html"]
    for plot in ("loss", "gradients", "activations", "reconstructions", "graph"):
        assert f'data-plot="{plot}"' in html, plot


def test_extension_listed_in_ipython_config_loads_at_kernel_start() -> None:
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("%%ae_check --no-train\nvalue = 40 + 2\nprint(value)\n")]
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", extra_arguments=["--InteractiveShellApp.extensions=['ae_magic']"]
    )
    client.execute()
    outputs = nb.cells[0].outputs
    assert [o.output_type for o in outputs].count("error") == 0, outputs
    assert any(o.output_type == "stream" and "42" in o.text for o in outputs)
    assert any(WIDGET_VIEW in o.get("data", {}) for o in outputs)
