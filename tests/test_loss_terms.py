"""The loss terms a model reports itself are plotted apart (issue 9, item 3)."""

from __future__ import annotations


def test_loss_terms_the_model_reports_are_drawn_apart() -> None:
    """A custom train_step's own loss terms (a VAE's reconstruction and KL) get their own lines."""
    from ae_magic.render import plots
    from tests.fake_reports import make_report

    rep = make_report()
    n = len(rep.traces["training"]["loss"])
    rep.traces["training"]["loss_terms"] = {
        "loss": [1.0] * n, "reconstruction_loss": [0.9] * n, "kl_loss": [0.1 * (k + 1) for k in range(n)]}
    fig = plots.loss_figure(rep)
    labels = [ln.get_label() for ln in fig.axes[0].get_lines()]
    assert "term: kl_loss" in labels and "term: reconstruction_loss" in labels
    assert not any(lb == "term: loss" for lb in labels)  # the total is the training curve itself
    # One term alone is the total: nothing drawn apart.
    rep.traces["training"]["loss_terms"] = {"loss": [1.0] * n, "kl_loss": [0.1] * n}
    labels = [ln.get_label() for ln in plots.loss_figure(rep).axes[0].get_lines()]
    assert not any(lb.startswith("term:") for lb in labels)
