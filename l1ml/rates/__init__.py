"""L1 rates measured on ZeroBias data: streamed, normalised by the colliding-bunch rate, with their
statistical uncertainty (zerobias.py); and the same split into queue jobs whose counts merge exactly
(split.py)."""
