"""The HGQ2 autoencoder, AXOL1TL-like: a saturating input quantizer at the preprocessing's exact precision,
dense encoder and decoder with learned (heterogeneous) bit widths, and the anomaly score computed on chip
as the latent vector's squared norm, behind a saturating score quantizer.

HGQ2's default data-path overflow is WRAP: a value beyond the range calibrated on background wraps (an 8
became -8 in a test), and hls4ml reproduces that bit for bit, so a parity check cannot see it. For an
anomaly trigger the outlier is the signal, so every data-path quantizer here saturates."""

import keras
from hgq.config import LayerConfigScope, QuantizerConfig, QuantizerConfigScope
from hgq.layers import QDense, QEinsum
from hgq.quantizer import Quantizer

INPUT_LAYER = "enc0"  # its input quantizer is the firmware input type
SCORE_NAME = "score_q"


def build(n_inputs: int, precision: tuple[int, int], hidden: list[int], latent: int, beta: float):
    """(model for training: x -> [reconstruction, latent], deployed model: x -> score). The score is the
    latent vector's squared norm (AXOL1TL's choice: the encoder alone goes on chip); training pulls the
    background's latent towards 0 beside the reconstruction. `precision`: (W, I) of the firmware's
    ap_fixed<W,I> input type, which holds every preprocessed value exactly: the first layer's input
    quantizer has exactly that type, fixed, and saturates (a second quantizer in front of it would make
    hls4ml propagate the input type twice, which it warns breaks bit-exactness)."""
    width, integer = precision
    x = keras.Input((n_inputs,), name="inputs")
    fixed_input = QuantizerConfig(
        "kif", "datalane", k0=1, i0=integer - 1, f0=width - integer, overflow_mode="SAT", trainable=False
    )
    with (
        QuantizerConfigScope(place="datalane", overflow_mode="SAT"),
        LayerConfigScope(enable_ebops=True, beta0=beta),
    ):
        h = x
        for i, n in enumerate(hidden):
            h = QDense(n, activation="relu", name=f"enc{i}", iq_conf=fixed_input if i == 0 else None)(h)
        z = QDense(latent, name="latent", iq_conf=fixed_input if not hidden else None)(h)
        s = QEinsum("bi,bi->b", name="latent_norm")([z, z])
        d = z
        for i, n in enumerate(reversed(hidden)):
            d = QDense(n, activation="relu", name=f"dec{i}")(d)
        recon = QDense(n_inputs, name="recon")(d)
    s = keras.layers.Reshape((1,), name="score_shape")(s)
    # The score type is fixed, not learned: the menu's threshold is an integer of this type, so its units
    # stay put from one retraining to the next. The background's latent norms are small (under 1 near a
    # 1 kHz threshold): with the 4 fractional bits learned before, projects/hgq_ae's 1 kHz cut fell between
    # two codes with 14 of 3.1M rate-sample events above the lower one (110 asked); with 8, 48. The rest of
    # the ties come from the latent's own coarse codes. ap_ufixed<20,12>: saturates at 4096.
    score = Quantizer(
        QuantizerConfig("kif", "datalane", k0=0, i0=12, f0=8, overflow_mode="SAT", trainable=False),
        name=SCORE_NAME,
    )(s)
    return keras.Model(x, [recon, z], name="hgq2_ae_train"), keras.Model(x, score, name="hgq2_ae")
