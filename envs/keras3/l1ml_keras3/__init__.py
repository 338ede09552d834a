"""The Keras 3 / HGQ2 worker (issue 28). It runs only inside .venv-keras3, started by l1ml's
l1ml/frontends/keras3.py as `python -m l1ml_keras3 REQUEST.json`, and talks through files: it never imports
l1ml, and l1ml never imports it. Exit 0: RESULT.json written; exit 2: a one-line error on stderr."""
