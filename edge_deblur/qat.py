"""Quantization-aware fine-tuning for the int8 export.

A deblurring net amplifies high frequencies, so the int8 rounding noise of ~20 layers adds up at its output
(post-training int8 cost our U-Net 0.3-0.5 dB). Fine-tuning with simulated int8 rounding after every layer teaches
the float weights to tolerate it. `with_fake_quant(model)` inserts a `FakeQuant` layer after each layer; it rounds
to 256 levels between moving min/max ranges (learnt while training, then also applied at inference, so validation
scores the simulated int8 model and picks the checkpoint by it). `strip_fake_quant` removes the layers again,
leaving the plain float network, whose `.keras` file and TFLite conversion are unchanged in structure.
"""

from __future__ import annotations

_CLASSES: dict = {}


def fake_quant_class():
    """The `FakeQuant` Keras layer class (defined once, registered for .keras (de)serialisation)."""
    if _CLASSES:
        return _CLASSES["FakeQuant"]
    import keras
    import tensorflow as tf

    @keras.saving.register_keras_serializable(package="edge_deblur")
    class FakeQuant(keras.layers.Layer):
        """Round to 8 bits between moving-average min/max (straight-through gradient); ranges update in training."""

        def __init__(self, momentum: float = 0.99, **kwargs):
            super().__init__(**kwargs)
            self.momentum = momentum

        def build(self, input_shape):
            self.lo = self.add_weight(shape=(), initializer="zeros", trainable=False, name="lo")
            self.hi = self.add_weight(shape=(), initializer="zeros", trainable=False, name="hi")
            self.seen = self.add_weight(shape=(), initializer="zeros", trainable=False, name="seen")

        def call(self, x, training=None):
            if not training:  # validation sees the simulated int8 model too, so checkpoints are picked by it
                return tf.cond(self.seen > 0,
                               lambda: tf.quantization.fake_quant_with_min_max_vars(x, self.lo, self.hi, num_bits=8),
                               lambda: tf.identity(x))
            m = tf.where(self.seen > 0, self.momentum, 0.0)
            lo = m * self.lo + (1 - m) * tf.minimum(tf.reduce_min(x), 0.0)
            hi = m * self.hi + (1 - m) * tf.maximum(tf.reduce_max(x), 1e-3)
            self.lo.assign(lo)
            self.hi.assign(hi)
            self.seen.assign(1.0)
            return tf.quantization.fake_quant_with_min_max_vars(x, lo, hi, num_bits=8, narrow_range=False)

        def get_config(self):
            return {**super().get_config(), "momentum": self.momentum}

    _CLASSES["FakeQuant"] = FakeQuant
    return FakeQuant


def _rebuild(model, insert: bool):
    """Copy a single-input functional model (fresh layers, same weights), adding or dropping FakeQuant layers."""
    import keras

    fq = fake_quant_class()
    inp = keras.Input(model.inputs[0].shape[1:], name=model.inputs[0].name.split(":")[0])
    mapped = {id(model.inputs[0]): inp}
    last = inp
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        src = layer.input
        if isinstance(layer, fq):
            mapped[id(layer.output)] = mapped[id(src)]
            continue
        args = [mapped[id(t)] for t in src] if isinstance(src, (list, tuple)) else mapped[id(src)]
        clone = layer.__class__.from_config(layer.get_config())  # fresh layer: one graph node, own weights
        out = clone(args)
        clone.set_weights(layer.get_weights())
        if insert:
            out = fq(name=f"{layer.name}_fq")(out)
        mapped[id(layer.output)] = out
        last = out
    return keras.Model(inp, mapped.get(id(model.outputs[0]), last), name=model.name)


def with_fake_quant(model):
    """A copy of `model` (same weights) with a FakeQuant layer after every layer."""
    return _rebuild(model, insert=True)


def strip_fake_quant(model):
    """A copy of the network without its FakeQuant layers (same weights)."""
    return _rebuild(model, insert=False)
