from l1ml.lifecycle.fingerprint import changed, toolchain


def test_fingerprint_reads_installed_versions_and_names_changes():
    tc = toolchain()
    from importlib.metadata import version

    assert tc["hls4ml"] == version("hls4ml") and tc["xgboost"] == version("xgboost")
    assert tc["vivado"] == "not installed" or "vivado" in tc["vivado"].lower()
    assert tc["g++"].startswith("g++")
    assert changed(tc, tc) == []
    assert changed(tc, {**tc, "conifer": "1.12"}) == [f"conifer: {tc['conifer']} -> 1.12"]
    assert changed(None, tc) == []
