"""The synthetic event model behind l1ml.data.generate: parameters, kinematics, processes, L1 response."""
