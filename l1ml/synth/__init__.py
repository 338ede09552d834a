"""The shared synthesis queue: a durable SQLite job store, memory-aware scheduling, local workers,
and an HTTP API.

Nothing here imports TensorFlow or the HLS libraries at module level; reports.py loads hls4ml's report
parser lazily.
"""
