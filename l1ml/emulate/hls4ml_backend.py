"""l1ml's emulator behind hls4ml's own `predict`.

hls4ml 1.3's `ModelGraph.predict(x)` hands over to `config.backend.predict(model, x)` when the backend
defines one (hls4ml/model/graph.py), and finds the backend by the name in the model's config.
`L1mlBackend`, registered as "L1ml", is hls4ml's Vitis backend with that hook: a model converted with
``backend="L1ml"`` is Vitis firmware in every other respect (the Vitis instance's flows, writer, passes
and templates; hls4ml's few tests of the name treat it as Vitis: Conv2D weights are not transposed for
Resource, as for Vitis), and its `predict` returns the bit-exact batch emulator's values (nn_fixed.py)
without compiling the C simulation.

    import l1ml.emulate.hls4ml_backend                      # registers "L1ml" with hls4ml
    hls_model = hls4ml.converters.convert_from_keras_model(keras_model, backend="L1ml", ...)
    y = hls_model.predict(X)                                # hls4ml's shapes and dtype, no g++

Or with hls4ml's plugin loader: ``HLS4ML_BACKEND_PLUGINS=l1ml.emulate.hls4ml_backend``.
`predict(hls_model, X)` does the same for any Vivado or Vitis ModelGraph, compiled or not.
"""

from __future__ import annotations

import weakref

import numpy as np

from l1ml.fixed import UnsupportedError

NAME = "L1ml"
BACKENDS = ("Vivado", "Vitis", NAME)  # the C++ nn_fixed.py reproduces (nnet_utils of templates/vivado)

_EMULATORS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # ModelGraph -> (layers, NNEmulator)


def _emulator(hls_model):
    """The model's NNEmulator, built once per graph (rebuilt if its layers changed)."""
    from l1ml.emulate.nn_fixed import NNEmulator

    key = tuple((layer.name, layer.class_name) for layer in hls_model.get_layers())
    got = _EMULATORS.get(hls_model)
    if got is None or got[0] != key:
        got = (key, NNEmulator(hls_model))
        _EMULATORS[hls_model] = got
    return got[1]


def predict(hls_model, x):
    """What `hls_model.predict(x)` returns after compiling, from the emulator: the same values, shapes
    (hls4ml's squeezing of one sample or one output) and dtype (float32 for float32 inputs, else
    float64). Any Vivado or Vitis ModelGraph the emulator supports; otherwise UnsupportedError."""
    backend = getattr(hls_model.config.backend, "name", "?")
    if backend not in BACKENDS:
        raise UnsupportedError(f"backend {backend!r}: l1ml's emulator reproduces {', '.join(BACKENDS[:2])} firmware")
    emu = _emulator(hls_model)
    xs = list(x) if len(emu.input_names) > 1 else [x]
    xs = [np.asarray(a) for a in xs]
    if not all(a.dtype in (np.float32, np.float64) for a in xs):
        raise UnsupportedError(f"inputs of dtype {xs[0].dtype}: hls4ml's predict takes float32 or float64")
    ctype = np.float32 if xs[0].dtype == np.float32 else np.float64
    sizes = [emu.infos[n].size for n in emu.input_names]
    n = xs[0].size // sizes[0]
    flat = [a.reshape(n, s).astype(np.float64) for a, s in zip(xs, sizes, strict=True)]
    outs = emu(flat if len(flat) > 1 else flat[0])
    # the firmware's float output is (float) of the exact value: one rounding to nearest, as astype
    out = [outs[name].astype(ctype) for name in emu.output_names]
    if n == 1 and len(out) == 1:
        return out[0][0]
    if len(out) == 1:
        return out[0]
    if n == 1:
        return [o[0] for o in out]
    return out


def _vitis():
    from hls4ml.backends import get_backend

    return type(get_backend("Vitis"))


def _backend_class():
    vitis = _vitis()

    class L1mlBackend(vitis):
        """hls4ml's Vitis backend, sharing the registered Vitis instance's state (its flows, writer,
        passes and layer attributes), with `predict` from l1ml's emulator. Its name is "L1ml": hls4ml
        routes a model to its backend by the name in the model's config."""

        def __init__(self):  # no registration of flows or passes again: they are Vitis's
            from hls4ml.backends import get_backend

            self.__dict__.update(get_backend("Vitis").__dict__)
            self.name = NAME

        def predict(self, model, x, *args, **kwargs):
            return predict(model, x)

    return L1mlBackend


def register(register_backend=None, register_writer=None) -> None:
    """Register "L1ml" with hls4ml (once). The signature is hls4ml's plugin-loader callable's."""
    from hls4ml.backends.backend import backend_map

    if NAME.lower() in backend_map:
        return
    if register_backend is None:
        from hls4ml.backends import register_backend
    register_backend(NAME, _backend_class())


register()
