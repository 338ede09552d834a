"""Bit-exact batch emulation of the firmware: hls4ml networks (nn_fixed) and conifer BDTs (bdt_fixed)."""
