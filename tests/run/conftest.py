"""tests/run: helpers are in run_helpers.py (a unique module name, not conftest imports)."""
