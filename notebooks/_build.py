"""Write the tutorial notebooks from the cell lists below (outputs are added by running them).

    python notebooks/_build.py            # rewrite every notebook, without outputs
    python benchmarks/notebooks.py --write  # execute them, keep outputs, measure time and memory

The quickstart's broken and fixed cells come from ``ae_magic.demo`` so that
``ae-magic demo`` and the notebook always show the same model.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from ae_magic import demo  # noqa: E402

# How a tutorial cell gets the report of the %%ae_check cell above it.
GET_REPORT = "report = ae_magic.last_report()"
CHECK_NOTE = (
    "*(The next cell is for the test suite: it fails if the check above stops finding "
    "what this text describes. You can skip it.)*"
)
SETUP = """\
%load_ext ae_magic
import ae_magic
import keras
from ae_magic.datasets import load, show_digits

keras.utils.set_random_seed(0)  # the same starting weights on every run"""


def md(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(text.strip("\n"))


def code(text: str, *tags: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(text.strip("\n"))
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def expect(codes: set[str] | None, *, ok: bool = False, absent: set[str] | None = None) -> list:
    """A note and an assert cell on the report of the check just above."""
    lines = [GET_REPORT]
    if codes:
        lines.append(f"assert {sorted(codes)!r} and set({sorted(codes)!r}) <= set(report.codes), report.codes")
    if absent:
        lines.append(f"assert not set({sorted(absent)!r}) & set(report.codes), report.codes")
    if ok:
        lines.append('assert report.ok, [(f.code, f.severity) for f in report.findings]')
    lines.append("print(sorted(set(report.codes)) or 'no findings')")
    return [md(CHECK_NOTE), code("\n".join(lines))]


def check_cell(body: str, flags: str = "--data x_train", *tags: str) -> nbformat.NotebookNode:
    return code(f"%%ae_check {flags}\n{body.strip()}", *tags)


NEXT = """
## Where next

- [00 Quickstart](00-quickstart.ipynb): three mistakes in one cell
- [01 The disconnected encoder](01-disconnected-encoder.ipynb): dangling layers and "Graph disconnected"
- [02 Vanishing and exploding gradients](02-vanishing-exploding-gradients.ipynb) in a deep convolutional autoencoder
- [03 The same output for every input](03-identical-outputs.ipynb)
- [04 Wrong reconstructions](04-wrong-reconstructions.ipynb): capacity, learning rate, normalisation
"""


# ---------------------------------------------------------------------------
# 00 quickstart
# ---------------------------------------------------------------------------
def quickstart() -> list:
    return [
        md("""
# Quickstart: your first `%%ae_check`

An autoencoder squeezes each input through a narrow *code* and rebuilds it.
When it goes wrong it rarely crashes: it trains, the loss moves a little, and
the pictures come out grey. **ae_magic** looks at the cell that builds the
model, at the data, and at a short training run on a *copy* of the model, and
tells you what is wrong, on which line, and how to fix it.

This notebook takes about a minute to run. Run the cells from top to bottom
(**Shift + Enter**).
"""),
        md("""
## 1. Load the extension and some real data

`%load_ext ae_magic` adds the `%%ae_check` cell magic. The data are 5,000 real
handwritten digits (from MNIST) that ship with ae_magic, so nothing needs
downloading.
"""),
        code(SETUP),
        code(demo.DATA_CELL.strip() + "\nprint(x_train.shape, x_train.dtype, x_train.min(), x_train.max())  # NBVAL_CHECK_OUTPUT"),
        md("Each row of `x_train` is one 28x28 picture, unrolled into 784 numbers. Here are the first eight:"),
        code("show_digits(x_train)"),
        md("""
## 2. A first autoencoder, checked

A classic dense autoencoder: 784 pixels, down to a 32-number code, back up to
784. It has **three mistakes** that many people make; see if you can spot them
before you run the cell.

Putting `%%ae_check --data x_train` on the first line runs the cell exactly as
usual (the variables exist afterwards) and then shows the diagnosis.
"""),
        check_cell(demo.BROKEN_CELL),
        md("""
### What it found

Read the panel from the top; the most serious problems come first.

- **AE201, the data is not normalised.** The pixels go from 0 to 255. A
  network's weights start small and expect inputs around 0 to 1; numbers in
  the hundreds make the first layer's outputs and gradients huge.
- **AE203, the targets are out of reach.** An autoencoder's target is its own
  input. The last layer uses `sigmoid`, which can only produce numbers between
  0 and 1, so a pixel value of 255 can never be reconstructed.
- **AE106, a saturating bottleneck.** The code layer uses `sigmoid` too. When
  its inputs are large (and with 0-255 pixels they are), sigmoid sits flat at 0
  or 1 and passes almost no gradient back to the encoder. ae_magic measured it:
  practically every code unit is stuck (that is why it is an *error*; the
  related **AE305** lists the saturated units).
- **AE404, output collapse.** ae_magic trained a *copy* of the model for a few
  seconds (your `autoencoder` is untouched) and looked at what comes out: the
  same picture for every input. **AE402** adds that the loss barely moved, and
  a learning-rate range test says `0.1` is far too high.

Each finding names the line of the cell it is about and shows a fix. The tabs
(Loss, Gradients, Activations, Reconstructions, Graph) show the evidence.
"""),
        *expect({"AE201", "AE203", "AE106", "AE404"}),
        md("""
## 3. The fix

Three small changes, each suggested in the panel:

1. Scale the pixels into [0, 1]: `load(...)` does it by default (`normalize=True`).
2. Use `relu` in the code layer.
3. Use Adam's usual learning rate, `1e-3`.
"""),
        code(demo.FIXED_DATA_CELL),
        check_cell(demo.FIXED_CELL),
        md("No errors and no warnings: the model is ready to train."),
        *expect(None, ok=True),
        md("""
## 4. Train it and look

A few epochs are enough to see digits come back through a 32-number code
(top: inputs it never saw during training; bottom: reconstructions).
"""),
        code("""
x_test = load(flatten=True)[4000:]
autoencoder.fit(x_train, x_train, epochs=5, batch_size=64, verbose=0)
show_digits(x_test, autoencoder.predict(x_test[:8], verbose=0), titles=["input", "rebuilt"])
"""),
        md("""
## 5. Your turn: move a slider

The panel under the fixed cell has sliders. Try these and press **Re-run**
after each; every run is added to the loss plot, so you can compare:

- Drag the **learning rate** up to about `0.1`. What happens to the loss curve?
  Which finding comes back?
- Drag the **latent size** (the code width) down to 2, then up to 128. How do
  the reconstructions change?

Without widgets (for example on a static page) you can do the same from code:
`%ae_probe autoencoder --data x_train --lr 0.1`.

On Binder (or anywhere with a network) you can also try the full MNIST
training set, 60,000 digits; without a network this quietly gives you the
bundled 5,000 instead:

```python
from ae_magic.datasets import load_mnist
x_full, source = load_mnist(allow_download=True, flatten=True, return_source=True)
print(source, x_full.shape)
%ae_probe autoencoder --data x_full
```
"""),
        md(NEXT),
    ]


# ---------------------------------------------------------------------------
# 01 disconnected / dangling encoder (seeds 000, 001)
# ---------------------------------------------------------------------------
DANGLING = """
import keras
from keras import layers

input_img = keras.Input(shape=(784,))
encoded = layers.Dense(32, activation="relu")(input_img)
decoded = layers.Dense(784, activation="sigmoid")(input_img)

autoencoder = keras.Model(input_img, decoded)
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
"""
DANGLING_FIXED = DANGLING.replace(
    'decoded = layers.Dense(784, activation="sigmoid")(input_img)',
    'decoded = layers.Dense(784, activation="sigmoid")(encoded)',
)
SPLIT_BROKEN = """
import keras
from keras import layers

input_img = keras.Input(shape=(784,))
h = layers.Dense(128, activation="relu")(input_img)
encoded = layers.Dense(32, activation="relu")(h)
encoder = keras.Model(input_img, encoded)

latent = keras.Input(shape=(32,))
h = layers.Dense(128, activation="relu")(encoded)
decoded = layers.Dense(784, activation="sigmoid")(h)
decoder = keras.Model(latent, decoded)

autoencoder = keras.Model(input_img, decoder(encoder(input_img)))
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
"""
SPLIT_FIXED = SPLIT_BROKEN.replace(
    'h = layers.Dense(128, activation="relu")(encoded)',
    'h = layers.Dense(128, activation="relu")(latent)',
)


def disconnected() -> list:
    return [
        md("""
# 01 The disconnected encoder

*"Why is my Keras autoencoder graph disconnected?"* is one of the most asked
autoencoder questions. Behind it are two different mistakes:

1. a layer is computed but **never used** (a *dangling* layer), and the model
   quietly does something else than you think; Keras says nothing;
2. a model is built from an input its output does **not** depend on, and Keras
   stops with a cryptic error such as `Graph disconnected` or
   ``Output with path `` is not connected to `inputs` ``.

ae_magic explains both in terms of your own variables and lines.
"""),
        code(SETUP),
        code("x_train = load(flatten=True)[:2000]  # 2,000 digits, 784 pixels in [0, 1]\nshow_digits(x_train)"),
        md("""
## Part 1: the encoder nobody uses

Look closely at which tensor the decoder layer is called on.
"""),
        check_cell(DANGLING),
        md("""
### What it found

- **AE102, dangling layer:** `encoded` is computed on line 5, but nothing uses
  it. Its layer is not part of `autoencoder` and is never trained.
- **AE103, bottleneck bypass:** the decoder is called on `input_img`, the
  784-pixel input itself. The model maps 784 numbers straight to 784 numbers.
  It can learn to *copy* its input, so its loss can look excellent while it
  learns nothing about digits.

This is the dangerous kind of bug: Keras builds and trains this model without
a word. (Some articles say this gives a "Graph disconnected" error. It does
not: the graph is connected, just not through the code.)
"""),
        *expect({"AE102", "AE103"}),
        md("**The fix:** call the decoder on `encoded`, one word on line 6."),
        check_cell(DANGLING_FIXED),
        *expect(None, ok=True),
        md("""
## Part 2: "Graph disconnected"

It is handy to have a separate `encoder` and `decoder`, for example to decode
points of the code space later. The decoder gets its own input, `latent`.
This cell stops with an error: read Keras's message first, then the panel.
"""),
        check_cell(SPLIT_BROKEN, "--data x_train", "raises-exception"),
        md("""
### What it found

Keras's message (in Keras 3: ``Output with path `` is not connected to
`inputs` ``; older versions say `Graph disconnected: cannot find parent for
tensor ...`) does not say which line is wrong. ae_magic does:

- **AE101, graph disconnected:** on line 12, `keras.Model(latent, decoded)`
  asks for a model from `latent` to `decoded`, but `decoded` was computed from
  `input_img`. The culprit is line 10: the decoder's first layer is called on
  `encoded` (the encoder's output) instead of on `latent`.

Because the cell stopped at line 12, `autoencoder` was never built. The only
model that exists is `encoder`, a part rather than an autoencoder, so the
panel does not pretend it is one: it shows the error and says so in a note.
"""),
        *expect({"AE101"}),
        md("**The fix:** start the decoder from its own input, `latent`, on line 10."),
        check_cell(SPLIT_FIXED),
        *expect(None, ok=True),
        md("""
Now `encoder`, `decoder` and `autoencoder` all exist and share their layers:
training `autoencoder` trains the other two.
"""),
        code("""
autoencoder.fit(x_train, x_train, epochs=5, batch_size=64, verbose=0)
codes = encoder.predict(x_train[:8], verbose=0)
print("code of the first digit:", codes[0].round(2))
show_digits(x_train, decoder.predict(codes, verbose=0), titles=["input", "decoded"])
"""),
        md("""
## Your turn

In the last panel, drag the **latent size** slider to 784 (as wide as the
input) and press **Re-run**. Which finding appears, and why is a code as wide
as the input a problem for an autoencoder? (Hint: think about Part 1.)
"""),
        md(NEXT),
    ]


# ---------------------------------------------------------------------------
# 02 vanishing / exploding gradients in a deep conv AE (seed 002)
# ---------------------------------------------------------------------------
CONV_SHAPE = """
import keras
from keras import layers

inputs = keras.Input(shape=(28, 28, 1))
x = layers.Conv2D(16, 3, activation="relu", padding="same")(inputs)
x = layers.MaxPooling2D(2, padding="same")(x)
x = layers.Conv2D(8, 3, activation="relu", padding="same")(x)
x = layers.MaxPooling2D(2, padding="same")(x)
x = layers.Conv2D(8, 3, activation="relu", padding="same")(x)
encoded = layers.MaxPooling2D(2, padding="same")(x)

x = layers.Conv2D(8, 3, activation="relu", padding="same")(encoded)
x = layers.UpSampling2D(2)(x)
x = layers.Conv2D(8, 3, activation="relu", padding="same")(x)
x = layers.UpSampling2D(2)(x)
x = layers.Conv2D(16, 3, activation="relu", padding="same")(x)
x = layers.UpSampling2D(2)(x)
decoded = layers.Conv2D(1, 3, activation="sigmoid", padding="same")(x)

autoencoder = keras.Model(inputs, decoded)
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
"""
CONV_SIGMOID = """
import keras
from keras import layers

autoencoder = keras.Sequential([
    keras.Input(shape=(28, 28, 1)),
    layers.Conv2D(16, 3, activation="sigmoid", padding="same"),
    layers.MaxPooling2D(2),
    layers.Conv2D(16, 3, activation="sigmoid", padding="same"),
    layers.MaxPooling2D(2),
    layers.Conv2D(16, 3, activation="sigmoid", padding="same"),
    layers.Flatten(),
    layers.Dense(32, activation="sigmoid"),
    layers.Dense(784, activation="sigmoid"),
    layers.Reshape((28, 28, 1)),
])
autoencoder.compile(optimizer="adam", loss="mse")
"""
CONV_RAW = """
import keras
from keras import layers

autoencoder = keras.Sequential([
    keras.Input(shape=(28, 28, 1)),
    layers.Conv2D(16, 3, activation="relu", padding="same"),
    layers.MaxPooling2D(2),
    layers.Conv2D(8, 3, activation="relu", padding="same"),
    layers.MaxPooling2D(2),
    layers.Flatten(),
    layers.Dense(32, activation="relu"),
    layers.Dense(7 * 7 * 8, activation="relu"),
    layers.Reshape((7, 7, 8)),
    layers.Conv2DTranspose(8, 3, strides=2, activation="relu", padding="same"),
    layers.Conv2DTranspose(16, 3, strides=2, activation="relu", padding="same"),
    layers.Conv2D(1, 3, padding="same"),
])
autoencoder.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01), loss="mse")
"""
CONV_FIXED = """
import keras
from keras import layers

autoencoder = keras.Sequential([
    keras.Input(shape=(28, 28, 1)),
    layers.Conv2D(16, 3, activation="relu", padding="same", kernel_initializer="he_normal"),
    layers.MaxPooling2D(2),
    layers.Conv2D(8, 3, activation="relu", padding="same", kernel_initializer="he_normal"),
    layers.MaxPooling2D(2),
    layers.Flatten(),
    layers.Dense(32, activation="relu", kernel_initializer="he_normal"),
    layers.Dense(7 * 7 * 8, activation="relu", kernel_initializer="he_normal"),
    layers.Reshape((7, 7, 8)),
    layers.Conv2DTranspose(8, 3, strides=2, activation="relu", padding="same", kernel_initializer="he_normal"),
    layers.Conv2DTranspose(16, 3, strides=2, activation="relu", padding="same", kernel_initializer="he_normal"),
    layers.Conv2D(1, 3, activation="sigmoid", padding="same"),
])
autoencoder.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss="mse")
"""


def gradients() -> list:
    return [
        md("""
# 02 Vanishing and exploding gradients in a deep convolutional autoencoder

A convolutional autoencoder stacks many layers. Training works by sending a
*gradient* (how much each weight should change) backwards through all of
them. Each layer multiplies it by something, so after many layers it can
shrink to almost nothing (**vanishing**: the first layers stop learning) or
grow without bound (**exploding**: the loss jumps to huge values or `nan`).

We take a small convolutional autoencoder through three classic failures: a
shape that does not add up, a stack of sigmoids, and a learning rate that is
too high.
"""),
        code(SETUP),
        code("""
x_train = load(limit=1000)[..., None]  # 1,000 digits as images: (1000, 28, 28, 1)
print(x_train.shape)  # NBVAL_CHECK_OUTPUT
show_digits(x_train)
"""),
        md("""
## Part 1: the error before the gradients

Three poolings halve 28 to 14, 7 and then 4 (7 is odd, `padding="same"` rounds
up). Three upsamplings double 4 to 8, 16, 32. Keras builds this model; it only
fails later inside `fit` with a long shape error.
"""),
        check_cell(CONV_SHAPE),
        md("""
### What it found

- **AE105, shape mismatch:** the model turns a 28x28 image into a 32x32 one.
  ae_magic names the layer where the decoder's sizes stop mirroring the
  encoder's, and how to fix it: here, two poolings are enough (28, 14, 7) or a
  `Cropping2D` at the end trims 32 back to 28.
"""),
        *expect({"AE105"}),
        md("""
## Part 2: a stack of sigmoids (vanishing gradients)

The article this story comes from uses `sigmoid` everywhere. A sigmoid is flat
for large positive or negative inputs, and its slope is at most 0.25, so each
sigmoid layer shrinks the gradient on its way back.
"""),
        check_cell(CONV_SIGMOID),
        md("""
### What it found

- **AE107, saturating stack:** three or more sigmoid layers in a row, with no
  normalisation in between.
- **AE106, saturating bottleneck:** the 32-number code itself is a sigmoid.
- The gradient probe measures what these predict: the gradient reaching the
  first layers is orders of magnitude smaller than at the last ones
  (**AE302, vanishing gradient**), and many units sit in sigmoid's flat region
  (**AE305, saturated units**). Open the *Gradients* tab to see it per layer.
- After the short probe run the model gives the same output for every input
  (**AE404, output collapse**): with the gradient gone, it can only learn the
  average picture.
"""),
        *expect({"AE107", "AE106", "AE302"}),
        md("""
## Part 3: unscaled pixels and plain SGD (exploding)

Now with `relu`, a decoder that mirrors the encoder (28, 14, 7 and back), and
a linear last layer. But the pixels are left at 0-255 and the optimizer is
plain SGD with a learning rate of 0.01, a common choice for scaled data.
"""),
        code("x_raw = load(limit=1000, normalize=False)[..., None].astype(\"float32\")  # 0-255, not scaled"),
        check_cell(CONV_RAW, "--data x_raw"),
        md("""
### What it found

The structure is fine, so most of this comes from the probes, which train a
*copy* of the model for a few steps:

- **AE303, exploding gradient:** at the start, the gradient of the last layer
  is hundreds of times larger than its weights. One SGD step moves each weight
  by far more than its own size.
- **AE401, loss diverged:** and so it does. The loss of the probe run jumps
  from thousands to astronomical numbers (or `nan`). The message gives the
  learning rate that the range test found workable.
- **AE201** names the root cause, the unscaled data, and **AE304** the
  damage: after those huge steps most `relu` units output zero for every input.

The article this story comes from blames exploding gradients on Adam with a
learning rate of 0.1. Adam scales every step to about the learning rate, so
with scaled data it does not explode; it fails differently (notebook 04,
part 3). You can try it with the slider at the end.
"""),
        *expect({"AE303", "AE401"}),
        md("""
## The fix

What the seed article recommends, and ae_magic agrees: pixels scaled to
[0, 1] (`x_train`), `relu` with He initialisation (`he_normal`, made for
`relu`), a decoder that mirrors the encoder, a sigmoid output for [0, 1]
pixels, and Adam with a learning rate of `1e-3`. (The article also adds
`layers.BatchNormalization()` after each convolution, which helps deeper
stacks; this one is shallow enough without it.)
"""),
        check_cell(CONV_FIXED),
        *expect(None, ok=True),
        md("Train it for real, for a few seconds, and look:"),
        code("""
autoencoder.fit(x_train, x_train, epochs=10, batch_size=32, verbose=0)
show_digits(x_train, autoencoder.predict(x_train[:8], verbose=0), titles=["input", "rebuilt"])
"""),
        md("""
## Your turn

In the last panel, drag the **learning rate** slider from `1e-3` up to `0.1`
in a few steps, pressing **Re-run** each time. Watch the loss curves in the
*Loss* tab and the gradient norms in the *Gradients* tab: at which learning
rate does training stop going downhill? What does ae_magic say at `0.1`, the
value the article blames for exploding gradients?
"""),
        md(NEXT),
    ]


# ---------------------------------------------------------------------------
# 03 identical outputs (seed 003)
# ---------------------------------------------------------------------------
UNBUILT = """
import keras
from keras import layers

latent_dim = 32
encoder = keras.Sequential([
    layers.Dense(128, activation="relu"),
    layers.Dense(latent_dim),
])
decoder = keras.Sequential([
    layers.Dense(128, activation="relu"),
    layers.Dense(784, activation="sigmoid"),
])
autoencoder = keras.Model(inputs=encoder.input, outputs=decoder(encoder.output))
autoencoder.compile(optimizer="adam", loss="mse")
"""
ZEROS = """
import keras
from keras import layers

latent_dim = 32
encoder = keras.Sequential([
    keras.Input(shape=(784,)),
    layers.Dense(128, activation="relu", kernel_initializer="zeros"),
    layers.Dense(latent_dim, activation="relu", kernel_initializer="zeros"),
])
decoder = keras.Sequential([
    keras.Input(shape=(latent_dim,)),
    layers.Dense(128, activation="relu", kernel_initializer="zeros"),
    layers.Dense(784, activation="sigmoid", kernel_initializer="zeros"),
])
autoencoder = keras.Sequential([encoder, decoder])
autoencoder.compile(optimizer="adam", loss="mse")
"""
ZEROS_FIXED = ZEROS.replace(', kernel_initializer="zeros"', "")
WIDE = ZEROS_FIXED.replace("latent_dim = 32", "latent_dim = 1024").replace("Dense(128", "Dense(1024")


def identical() -> list:
    return [
        md("""
# 03 The same output for every input

You train an autoencoder, feed it different digits, and get back the **same
blurry picture every time**: an average of all digits. The network found a
shortcut: if it cannot use the input, predicting the average is the best it
can do. This notebook shows three causes and how ae_magic tells them apart.
"""),
        code(SETUP),
        code("x_train = load(flatten=True)[:2000]\nshow_digits(x_train)"),
        md("""
## Part 1: first, the code must run

The article this story is based on builds the autoencoder from two
`Sequential` models without an `Input` layer, then reads `encoder.input`.
In Keras 3 that fails: a `Sequential` without an input shape has no `.input`
until it has been called on data.
"""),
        check_cell(UNBUILT, "--data x_train", "raises-exception"),
        md("""
### What it found

- **AE112, unbuilt model:** `encoder` has no input shape yet, so
  `encoder.input` does not exist (Keras 3 raises `AttributeError`; Keras 2 used
  to build such models silently). Since we gave it data, ae_magic builds a
  *copy* from the data's shape to go on checking. The fix: start each
  `Sequential` with `keras.Input(shape=...)`.
"""),
        *expect({"AE112"}),
        md("""
## Part 2: every unit starts the same

Now with `Input` layers, and with every kernel initialised to zero (a tempting
"clean start"). With all weights zero, every hidden unit computes the same
number for every picture: zero.
"""),
        check_cell(ZEROS),
        md("""
### What it found

- **AE111, output ignores the input:** ae_magic fed 8 different digits
  through the untrained model and got exactly the same output 8 times.
- **AE110, constant initialiser:** four layers start with all-zero kernels.
  All units of such a layer get the same gradient, so they stay identical
  forever; and with `relu` a zero input gives zero gradient, so nothing before
  the last layer ever changes.
- AE111 is an error: a model whose output ignores its input cannot learn to
  reconstruct anything, so ae_magic does not even start its training probe.

Let us see it for real: train it for a couple of epochs and look.
"""),
        *expect({"AE111", "AE110"}),
        code("""
autoencoder.fit(x_train, x_train, epochs=2, batch_size=64, verbose=0)
show_digits(x_train, autoencoder.predict(x_train[:8], verbose=0), titles=["input", "output"])
"""),
        md("""
Eight different digits in, eight identical grey pictures out. Trained longer,
that picture slowly turns into the average of all digits (a blurry blob), but
it stays the same for every input.
"""),
        md("""
## Part 3: a code wider than the picture

The article also warns about a latent space that is too large. Here is the
extreme: a 1024-number code for a 784-pixel picture.
"""),
        check_cell(WIDE),
        md("""
### What it found

- **AE104, no compression:** the narrowest layer (1024) is wider than the
  input (784). The model can learn to pass each pixel through unchanged. The
  reconstructions can look perfect while the code is useless for what
  autoencoders are for (compression, denoising, anomaly scores).

(This one does *not* give identical outputs; the article lists it as a cause,
but it is the opposite problem.)
"""),
        *expect({"AE104"}),
        md("""
## The fix

`keras.Input` at the start of each `Sequential`, the default initialiser
(just drop `kernel_initializer`), and a 32-number code.
"""),
        check_cell(ZEROS_FIXED),
        *expect(None, ok=True),
        code("""
autoencoder.fit(x_train, x_train, epochs=5, batch_size=64, verbose=0)
show_digits(x_train, autoencoder.predict(x_train[:8], verbose=0), titles=["input", "output"])
"""),
        md("""
## Your turn

In the last panel, drag the **latent size** slider down to 1, then 2, 4, 8,
pressing **Re-run** each time. With a one-number code, what do the
reconstructions look like? Does ae_magic call it a collapse?
"""),
        md(NEXT),
    ]


# ---------------------------------------------------------------------------
# 04 wrong reconstructions: capacity, lr, normalisation (seed 004)
# ---------------------------------------------------------------------------
DENSE = """
import keras
from keras import layers

autoencoder = keras.Sequential([
    keras.Input(shape=(784,)),
    layers.Dense(128, activation="relu"),
    layers.Dense(32, activation="relu"),
    layers.Dense(128, activation="relu"),
    layers.Dense(784, activation="sigmoid"),
])
autoencoder.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss="mse")
"""
TINY = """
import keras
from keras import layers

autoencoder = keras.Sequential([
    keras.Input(shape=(784,)),
    layers.Dense(16, activation="relu"),
    layers.Dense(2, activation="relu"),
    layers.Dense(16, activation="relu"),
    layers.Dense(784, activation="sigmoid"),
])
autoencoder.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss="mse")
"""
HIGH_LR = DENSE.replace("learning_rate=1e-3", "learning_rate=0.1")
RAW_LINEAR = DENSE.replace('layers.Dense(784, activation="sigmoid")', "layers.Dense(784)")
BCE_LINEAR = RAW_LINEAR.replace('loss="mse"', 'loss="binary_crossentropy"')


def reconstructions() -> list:
    return [
        md("""
# 04 Wrong reconstructions: capacity, learning rate and normalisation

The model trains, nothing crashes, and the reconstructions are just *bad*.
The article behind this story lists the usual suspects: too little capacity,
a learning rate that is too high, unscaled data, and a loss that does not fit
the output. We try each on the same digits and read what ae_magic says.
"""),
        code(SETUP),
        code("""
x_train = load(flatten=True)[:2000]                                # float32 in [0, 1]
x_raw = load(normalize=False, flatten=True)[:2000].astype("float32")  # 0-255: unscaled
print(x_train.max(), x_raw.max())  # NBVAL_CHECK_OUTPUT
"""),
        md("""
## Part 1: unscaled data

Same healthy architecture as in the quickstart, but with a plain linear output
(so it *could* produce large numbers) and the unscaled `x_raw`.
"""),
        check_cell(RAW_LINEAR, "--data x_raw"),
        md("""
### What it found

- **AE201, data not normalised:** values up to 255. Layers start with small
  weights and expect inputs near 0-1.
- **AE303, exploding gradient:** the gradient probe shows what that does: at
  the start, the gradients are about a hundred times larger than the weights
  they update, so the first training steps overshoot wildly.

The fix is one line: divide by the maximum (255), or standardise.
"""),
        *expect({"AE201"}),
        md("""
## Part 2: a loss that does not fit the output

Binary cross-entropy compares *probabilities*: both the target and the output
must lie between 0 and 1. A linear output can be anything.
"""),
        check_cell(BCE_LINEAR),
        md("""
### What it found

- **AE108, output and loss disagree:** binary cross-entropy on a linear output.
  Keras clips outputs outside [0, 1], and where it clips the gradient is zero.
  Use a `sigmoid` output with BCE, or keep the linear output and use `mse`.
- **AE405, worse than a trivial baseline:** the probe run shows the result.
  After a few seconds of training the reconstructions are *worse* than simply
  predicting the average image for every input, and no longer improving.
"""),
        *expect({"AE108"}),
        md("""
## Part 3: a learning rate of 0.1

The article's second example: Adam with `learning_rate=0.1`.
"""),
        check_cell(HIGH_LR),
        md("""
### What it found

Nothing is wrong with the structure or the data, so this needs the training
probe. On a copy of the model, ae_magic trains for a few steps:

- **AE404, output collapse:** after the probe run every input gives the same
  reconstruction, an average digit. The first few steps of size 0.1 push most
  `relu` units to where they output zero for every input (ae_magic may list
  them as **AE304, dead ReLU**), and what is left can only predict the mean.
- The message ends with what a learning-rate range test found: a learning
  rate many times smaller learns fastest on this model.

This is the same symptom as notebook 03 (identical outputs), from a different
cause, which is why the evidence matters more than the symptom.
"""),
        *expect({"AE404"}),
        md("""
## Part 4: too little capacity

A 2-number code for a 784-pixel digit. This is not a bug: it is a design
choice with a price, and ae_magic has no rule that says "2 is too small".
What it can do is compare the result with simple baselines: predicting the
average image, and PCA with the same number of components.
"""),
        check_cell(TINY),
        md("""
No warning. The report keeps the numbers the *Loss* tab plots: the probe
run's final loss next to two baselines, predicting the average image and PCA
with as many components as the code is wide.
"""),
        code("""
report = ae_magic.last_report()
assert report.ok, report.codes  # no warning: a narrow code is a choice, not a bug
tiny = report.traces["training"]["baselines"]
print(f"2-number code after the probe run: {tiny['final']:.4f}")
print(f"predicting the average image:      {tiny['mean']:.4f}")
print(f"PCA with {tiny['pca_width']} components:            {tiny['pca']:.4f}")
"""),
        md("""
Compare the three numbers. The probe run is short and this small model is
still improving, which is why ae_magic does not call it a failure (AE405 is
only for a model that has stopped getting better). But two numbers cannot
hold much of a digit however long you train: the cure for a code that is
simply too narrow is a wider one. The fix below uses 32, and we compare.
"""),
        md("""
## The fix

Scaled data, a sigmoid output with a loss that fits it, Adam at `1e-3`, and a
32-number code.
"""),
        check_cell(DENSE),
        *expect(None, ok=True),
        code("""
wide = ae_magic.last_report().traces["training"]["baselines"]
print(f"32-number code: {wide['final']:.4f}   2-number code: {tiny['final']:.4f}")
assert wide["final"] < tiny["final"]
"""),
        code("""
x_test = load(flatten=True)[4000:]
autoencoder.fit(x_train, x_train, epochs=5, batch_size=64, verbose=0)
show_digits(x_test, autoencoder.predict(x_test[:8], verbose=0), titles=["input", "rebuilt"])
"""),
        md("""
## Your turn

In the last panel, use the **latent size** slider to find the smallest code
that still gives readable digits: try 2, 4, 8, 16 and 32, pressing **Re-run**
each time, and compare the final losses in the runs table. Then set the
**learning rate** to 0.1 and see which findings appear.
"""),
        md(NEXT),
    ]


NOTEBOOKS = {
    "00-quickstart.ipynb": quickstart,
    "01-disconnected-encoder.ipynb": disconnected,
    "02-vanishing-exploding-gradients.ipynb": gradients,
    "03-identical-outputs.ipynb": identical,
    "04-wrong-reconstructions.ipynb": reconstructions,
}


def build(names: list[str] | None = None) -> list[Path]:
    """Write the notebooks (all, or the given file names) without outputs."""
    written = []
    for name, fn in NOTEBOOKS.items():
        if names and name not in names:
            continue
        nb = nbformat.v4.new_notebook()
        nb.cells = fn()
        stem = name.split("-", 1)[0]
        for i, cell in enumerate(nb.cells):
            cell.id = f"nb{stem}-{i:02d}"  # stable ids: rebuilding gives clean diffs
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
        nb.metadata["language_info"] = {"name": "python"}
        path = HERE / name
        nbformat.write(nb, path)
        written.append(path)
    return written


if __name__ == "__main__":
    for p in build(sys.argv[1:] or None):
        print("wrote", p.relative_to(HERE.parent))
