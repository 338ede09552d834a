"""The model lifecycle: version summaries, stages (production, staging), the regression gate, comparisons
and the toolchain fingerprint. Everything lives in the project directory; MLflow mirrors it when set up."""
