"""xgboost BDT: signal (all signal samples) against background, on the preprocessed inputs.

The trigger score is xgboost's raw margin: it is what conifer's firmware sums, with no sigmoid on chip.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def train_bdt(
    x_bkg, x_sig, x_bkg_val, x_sig_val, cfg, seed: int, progress=None, training=None, history=None
):
    """An xgboost classifier's booster. `training` ([training]) may ask for early stopping and the best
    round; `history`, a dict, receives the validation log-loss per round."""
    import xgboost as xgb

    x = np.concatenate([x_bkg, x_sig])
    y = np.concatenate([np.zeros(len(x_bkg)), np.ones(len(x_sig))])
    xv = np.concatenate([x_bkg_val, x_sig_val])
    yv = np.concatenate([np.zeros(len(x_bkg_val)), np.ones(len(x_sig_val))])
    callbacks = [_ProgressCallback(progress)] if progress is not None else []
    clf = xgb.XGBClassifier(
        n_estimators=cfg.n_estimators,
        max_depth=cfg.max_depth,
        learning_rate=0.3,
        tree_method="hist",
        random_state=seed,
        n_jobs=2,
        eval_metric="logloss",
        callbacks=callbacks,
        early_stopping_rounds=(training.early_stopping_patience or None) if training else None,
    )
    clf.fit(x, y, eval_set=[(xv, yv)], verbose=False)
    booster = clf.get_booster()
    losses = clf.evals_result().get("validation_0", {}).get("logloss", [])
    if history is not None:
        history["val_loss"] = [float(v) for v in losses]
    if training is not None and training.best_checkpoint and losses:
        best = int(np.argmin(losses))
        # Keep only the trees up to the best round: conifer converts every tree the booster holds.
        booster = booster[: best + 1]
        if history is not None:
            history["best_round"] = best
    return booster


def _ProgressCallback(progress):  # noqa: N802 - a factory that looks like a class at the call site
    import xgboost as xgb

    class Cb(xgb.callback.TrainingCallback):
        def after_iteration(self, model, epoch, evals_log):
            progress.advance("train")
            return False

    return Cb()


def margin(booster, x: np.ndarray) -> np.ndarray:
    import xgboost as xgb

    return booster.predict(xgb.DMatrix(np.asarray(x, dtype=np.float32)), output_margin=True)


def save(booster, path: Path) -> None:
    booster.save_model(str(path))


def load(path: Path):
    import xgboost as xgb

    from l1ml.errors import ConfigError

    b = xgb.Booster()
    try:
        b.load_model(str(path))
    except xgb.core.XGBoostError as exc:
        raise ConfigError(f"{path}: not an xgboost model ({str(exc).splitlines()[0]})") from None
    return b
