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


# The objectives whose raw margin is the one score conifer's firmware sums: one output, no class vector.
def objective(booster) -> tuple[str, int]:
    """xgboost's objective name and its number of classes (1 unless multi:softmax / multi:softprob)."""
    import json

    learner = json.loads(booster.save_config())["learner"]
    name = learner["objective"]["name"]
    n_class = int(learner.get("learner_model_param", {}).get("num_class", "0") or 0)
    return name, max(n_class, 1)


def missing_value_splits(booster) -> tuple[int, int]:
    """(splits whose default direction for a missing input is left, all splits) over every tree.

    xgboost sends a missing input (NaN) the node's default direction. Trained without missing values,
    xgboost 3 leaves every default the same way (hist and approx: right; exact: left), because no event
    taught it one; a mix of both directions is direction *learned* from events with NaN inputs."""
    import json

    model = json.loads(bytes(booster.save_raw("json")))
    left = splits = 0
    for tree in model["learner"]["gradient_booster"]["model"]["trees"]:
        for is_left, child in zip(tree["default_left"], tree["left_children"], strict=True):
            if child != -1:
                splits += 1
                left += int(is_left)
    return left, splits


def refusal(booster) -> str | None:
    """Why conifer's fixed-point firmware cannot compute what this booster computes, or None.

    - A multi-class objective: l1ml's trigger score is one raw margin; conifer turns xgboost 3's per-class
      base_score vector into a per-class init_predict that is not the model's, so it is refused by name.
    - Learned default directions (trained with NaN inputs): a fixed-point input has no NaN, so the firmware
      sends every input down its comparison and never the direction xgboost learned for missing values.
      On the model's own NaN encoding the firmware and xgboost then disagree, while a validation on the
      project's (NaN-free) inputs passes; the model relies on an encoding the firmware does not receive."""
    name, n_class = objective(booster)
    if n_class > 1 or name.startswith("multi:"):
        return (
            f"objective '{name}' ({n_class} classes) is multi-class; l1ml's BDT trigger score is one raw "
            "margin (binary:logistic, binary:logitraw or a regression objective), and conifer's multi-class "
            "path does not reproduce xgboost 3's per-class base_score. Train a binary classifier"
        )
    left, splits = missing_value_splits(booster)
    if 0 < left < splits:
        return (
            f"the model was trained with missing values (NaN): {left} of {splits} splits learned to send a "
            "missing input left and the others right. The firmware's fixed-point inputs have no NaN (an "
            "absent object arrives as 0), so it never takes those default directions and disagrees with "
            "xgboost on the model's own NaN encoding. Retrain with absent objects encoded as the firmware "
            "receives them (0 after preprocessing, no NaN)"
        )
    return None
