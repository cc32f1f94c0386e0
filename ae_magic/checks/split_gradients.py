"""An encoder whose gradient is taken of the KL term alone (AE407), in a train_step with one optimizer a part.

Round 38: a tabular VAE written GAN-style, ``compile(encoder_optimizer, decoder_optimizer)``, takes
``enc_grads = tape.gradient(kl_loss, self.encoder.trainable_weights)`` and
``dec_grads = tape.gradient(rec_loss, self.decoder.trainable_weights)``. The reconstruction never reaches
the encoder: it is pulled onto the prior, the KL falls to zero and the decoder outputs the average row.
The run shows the collapse (AE407/AE404); this names the gradient call that causes it.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from ..context import Context
from ..report import Finding

_KL = re.compile(r"kl|kullback|latent_loss|divergence|prior", re.IGNORECASE)
_ENCODER = re.compile(r"enc", re.IGNORECASE)
_SYMPTOMS = ("AE407", "AE404", "AE405", "AE402")


def _gradient_calls(fn: ast.FunctionDef) -> list[ast.Call]:
    return [n for n in ast.walk(fn) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
            and n.func.attr == "gradient" and len(n.args) >= 2]


def kl_only_encoder(source: str) -> tuple[ast.Call, str, str | None, bool] | None:
    """``(call, kl_term, other_term, in_tape_block)`` for a ``gradient(kl_term, <encoder vars>)`` call in a
    train_step that takes another part's gradient of another term; None when there is none."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for fn in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "train_step"):
        calls = _gradient_calls(fn)
        if len(calls) < 2:
            continue
        for call in calls:
            term, target = call.args[0], ast.unparse(call.args[1])
            if not (isinstance(term, ast.Name) and _KL.search(term.id) and _ENCODER.search(target)):
                continue
            others = [c.args[0] for c in calls if c is not call and isinstance(c.args[0], ast.Name)
                      and c.args[0].id != term.id and not _KL.search(c.args[0].id)]
            taped = any(isinstance(w, ast.With) and "GradientTape" in ast.unparse(w.items[0])
                        and any(n is call for n in ast.walk(w)) for w in ast.walk(fn))
            return call, term.id, others[0].id if others else None, taped
    return None


def name_kl_only_encoder(ctx: Context, tr: dict[str, Any], found: list[Finding]) -> list[Finding]:
    """The collapse the run measured, named at the encoder's KL-only gradient call."""
    hit = next((f for code in _SYMPTOMS for f in found if f.code == code and f.severity in ("warning", "error")), None)
    if hit is None or not ctx.source:
        return found
    got = kl_only_encoder(ctx.source)
    if got is None:
        return found
    call, kl, rec, taped = got
    line, text = ctx.cell_line(call.lineno), ctx.line_text(call.lineno)
    total = f"{rec} + {kl}" if rec else f"reconstruction_loss + {kl}"
    raw = ctx.source.splitlines()[call.lineno - 1]
    # Outside the tape's block a sum is not recorded (its gradient would be None): the edit then needs the sum
    # made inside the block, which the fix says instead.
    edit = ({"start_line": line, "end_line": line, "replacement": raw.replace(f"({kl},", f"({total},", 1).rstrip()}
            if taped and line is not None and call.lineno == call.end_lineno and f"({kl}," in raw else None)
    # The symptom's own guess at the cause (a KL that outweighs the reconstruction) is not this one.
    hit.message = hit.message.split(" This usually means")[0]
    hit.message += (
        f" The cause is the encoder's gradient: `{ast.unparse(call)}` takes it of the KL term alone, so the "
        "reconstruction never reaches the encoder. Nothing asks its code to describe the input: the KL pulls every "
        "code onto the prior, and the decoder can only learn the average."
    )
    hit.evidence["encoder_gradient_of"] = kl
    hit.line, hit.source_line, hit.layer = line, text, None
    hit.fix = (f"tape.gradient({total}, ...)  # the encoder learns from the whole loss (the ELBO), not the KL alone"
               if taped else
               f"total_loss = {total}  # inside the `with tf.GradientTape()` block, where the tape records it\n"
               f"{ast.unparse(call).replace(f'({kl},', '(total_loss,', 1)}  # the encoder learns from the whole loss")
    hit.edit = edit
    return found
