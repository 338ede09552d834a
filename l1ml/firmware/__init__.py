"""Firmware generation: thin adapters over hls4ml and conifer."""
