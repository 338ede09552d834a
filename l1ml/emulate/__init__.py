"""Bit-exact batch emulation of the firmware: hls4ml networks (nn_fixed) and conifer BDTs (bdt_fixed)."""


def predict(hls_model, x):
    """What `hls_model.predict(x)` returns after compiling (hls4ml's C simulation), from l1ml's bit-exact
    emulator without compiling: any Vivado or Vitis ModelGraph it supports (hls4ml_backend.predict)."""
    from l1ml.emulate.hls4ml_backend import predict as emulated

    return emulated(hls_model, x)
