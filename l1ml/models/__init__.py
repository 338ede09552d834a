"""Models: QKeras autoencoders, xgboost BDTs, the deployed (firmware-ready) forms, trigger metrics."""
