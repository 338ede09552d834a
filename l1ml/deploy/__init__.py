"""Deployment of a validated model version: the CMSSW emulator library (package.py, build.py, audit.py),
the trigger thresholds as hardware integers (thresholds.py) and the board bundle (bundle.py).
`core.deploy` runs them in that order into a staging directory and renames it into place."""
