"""How a finding names the longer confirmation run: its length, and why it ended where it did.

The training check runs one run ``BASELINE_CONFIRM_FACTOR`` times as long as
the probe run to tell a slow start from a stall (AE405, AE404, AE407). It
may end early, for one of two reasons the trace records: it left the
baseline (``stopped_early``: the slow start has shown itself), or it froze
(``frozen``: every gradient exactly zero and the weights unchanged bit for
bit, so the rest of it would end on the same weights). A message that says
"a run 4x as long" must say which.
"""

from __future__ import annotations

from typing import Any

# AE405 is confirmed on a run this many times as long as the probe run: a
# plateau at the mean that a healthy model leaves later (a GRU seq2seq at
# Adam(1e-3) sits at the mean for ~8 epochs, then falls to 0.76x of it by 30;
# measured) is a slow start, not a fault.
BASELINE_CONFIRM_FACTOR = 4


def describe(longer: dict[str, Any], factor: int) -> str:
    """The longer run as a message names it, e.g. ``"a run 4x as long (580 steps)"``.

    ``factor``: the length asked for, as a multiple of the probe run's.
    """
    m = len(longer.get("loss") or [])
    if longer.get("frozen"):
        return (f"a run of up to {factor}x as long (stopped after {m} steps, once it could no longer change: every "
                "gradient exactly zero and the weights the same bit for bit, so the rest would end on them)")
    if longer.get("stopped_early"):
        return f"a run of up to {factor}x as long (stopped after {m} steps, once it had left the baseline)"
    return f"a run {factor}x as long ({m} steps)"


def sentence_start(phrase: str) -> str:
    """``phrase`` as the start of a sentence (its first letter upper case, the rest as it is)."""
    return phrase[:1].upper() + phrase[1:]
