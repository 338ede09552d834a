"""tests/lifecycle: helpers in lifecycle_helpers.py."""
