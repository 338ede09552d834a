"""Import says what it did to the user's model and what it cost; --no-fold keeps the model as it is and
convert then refuses it with the reason; validation labels each comparison for what it measures; the
manifest records only what happened."""

from __future__ import annotations

import json

import pytest
from _fidelity import dense_ae, save_h5, tiny_project

from l1ml.firmware import convert
from l1ml.models.importer import import_model, summary


def _manifest(d) -> dict:
    return json.loads((d / "manifest.json").read_text())


@pytest.mark.slow
def test_import_reports_folding_finetuning_and_their_cost(tmp_path, small_data):
    from l1ml.validate import validate
    from l1ml.validate.verdict import ROLES

    proj = tiny_project(tmp_path, "dense_ae", small_data)
    d = import_model(proj, save_h5(dense_ae(bn=True), tmp_path / "bn.h5"))
    man = _manifest(d)
    what = man["origin"]["import"]
    assert what["folded"] == [{"layer": "enc_dense", "batchnorm": "enc_bn"}]
    assert what["finetune_epochs"] == proj.training.finetune_epochs == 1 and man["origin"]["finetuned"]
    cost = what["cost"]
    assert cost["events"] > 0 and cost["score_max_abs_diff"] > 0  # folding changed the user's model
    assert set(cost["signals"]) and all(
        "tpr_change" in s and "auc_change" in s for s in cost["signals"].values()
    )
    lines = "\n".join(summary(man))
    assert "folded BatchNormalization: enc_bn into enc_dense" in lines
    assert "fine-tuned for 1 epochs" in lines and "TPR at" in lines and "AUC" in lines
    convert(proj)
    v = validate(proj, events=40)
    assert v.passed and all(c.mismatches == 0 for c in v.comparisons)  # deployed vs firmware: exact
    names = [c.name for c in v.quantization]
    folding = [c for c in v.quantization if ROLES["folding"] in c.name]
    assert {c.name for c in folding} == {
        f"reconstruction ({ROLES['folding']})",
        f"score ({ROLES['folding']})",
    }
    assert any(c.mismatches > 0 for c in folding)  # the retraining shows here, labelled as such
    assert f"score ({ROLES['quantization']})" in names


def test_no_fold_keeps_the_model_and_convert_refuses_with_the_reason(tmp_path, small_data):
    from l1ml.errors import ConversionError
    from l1ml.models.io import load_model

    proj = tiny_project(tmp_path, "dense_ae", small_data)
    src = save_h5(dense_ae(bn=True), tmp_path / "bn.h5")
    d = import_model(proj, src, fold=False)
    man = _manifest(d)
    what = man["origin"]["import"]
    assert what["folded"] == [] and what["batchnorm_kept"] == ["enc_bn"] and what["finetune_epochs"] == 0
    assert man["origin"]["finetuned"] is False and "cost" not in what
    assert "enc_bn" in [layer.name for layer in load_model(d / "deploy.h5").layers]
    assert "convert` will refuse" in "\n".join(summary(man))
    with pytest.raises(ConversionError, match="--no-fold.*enc_bn.*without --no-fold"):
        convert(proj)


def test_a_batchnorm_that_cannot_be_folded_is_not_recorded_as_finetuned(tmp_path, small_data):
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu

    from l1ml.errors import ConversionError

    q = quantized_bits(8, 3, alpha=1)
    inp = tf.keras.Input((57,), name="inputs")
    h = QDense(8, kernel_quantizer=q, bias_quantizer=q, name="enc_dense")(inp)
    h = QActivation(quantized_relu(8, 3), name="enc_relu")(h)
    h = tf.keras.layers.BatchNormalization(name="late_bn")(h)  # after the activation: not foldable
    out = QDense(57, kernel_quantizer=q, bias_quantizer=q, name="dec_dense")(h)
    proj = tiny_project(tmp_path, "dense_ae", small_data)
    d = import_model(proj, save_h5(tf.keras.Model(inp, out), tmp_path / "late.h5"))
    man = _manifest(d)
    assert man["origin"]["finetuned"] is False
    assert (
        man["origin"]["import"]["batchnorm_kept"] == ["late_bn"] and man["origin"]["import"]["folded"] == []
    )
    with pytest.raises(ConversionError, match="late_bn.*kept in the deployed model"):
        convert(proj)
