"""Is the input augmented inside the model while the target is not?

AE205 (data-degenerate). keras.io's classification recipe puts a
``data_augmentation = keras.Sequential([RandomFlip(...), RandomRotation(...)])``
block at the model's input. In a classifier the label does not change with
a flip; in an autoencoder trained as ``fit(x, x)`` the target is the
*un*-augmented image, which the model can't know from the flipped or rotated
one it sees, so it learns a blur of both orientations (round 23: 0.47x the
mean's error against 0.03x without the block). The layers are only active
in training, so ``predict`` looks fine and the loss is what suffers.

Geometric transforms only: brightness or contrast jitter keeps the
content in place, and noise layers are the denoising recipe.
"""

from __future__ import annotations

import numpy as np

from ..context import Context
from ..probes.traces import leaf_layers
from ..report import Finding

GEOMETRIC = ("RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom", "RandomShear", "RandomCrop",
             "RandomElasticTransform", "RandomPerspective")


def check_augmented_input(ctx: Context) -> list[Finding]:
    """AE205: a random geometric augmentation layer inside an autoencoder whose target is its own input."""
    from .gradients import locate
    from .locate import layer_line

    if ctx.model is None or ctx.data is None:
        return []
    same = (ctx.target is None or ctx.target is ctx.data or (ctx.target_name and ctx.target_name == ctx.data_name)
            or _equal(ctx.target, ctx.data))
    if not same:
        return []  # a target of its own (the pair augmented outside the model) is the user's design
    aug = [ly for ly in leaf_layers(ctx.model) if type(ly).__name__ in GEOMETRIC]
    if not aug:
        return []
    first = aug[0]
    line, text = layer_line(ctx, first)
    if line is None:
        line, text = locate(ctx, first.name)
    kinds = ", ".join(dict.fromkeys(type(ly).__name__ for ly in aug))
    return [
        Finding(
            code="AE205",
            severity="warning",
            title="The input is augmented but the target is not",
            message=(f"The model applies {kinds} to its input while training, and its target is the input as it was "
                     "before: it is asked to undo a random flip or rotation it can't know about, so it learns a blur "
                     "of the orientations. The augmentation is off at predict time, so the outputs look fine while "
                     "the training loss stays high."),
            line=line,
            layer=first.name,
            source_line=text,
            evidence={"augmentation": [ly.name for ly in aug]},
            fix=("# augment the pair instead, outside the model: the same transform on input and target, e.g.\n"
                 "#   x_aug = data_augmentation(x_batch, training=True); model.fit(x_aug, x_aug, ...)\n"
                 "# or drop the augmentation block from the autoencoder"),
        )
    ]


def _equal(a: object, b: object) -> bool:
    try:
        return bool(np.shape(a) == np.shape(b) and np.array_equal(a, b))
    except Exception:  # arrays that can't be compared are not the same target
        return False


CHECKS = [check_augmented_input]
