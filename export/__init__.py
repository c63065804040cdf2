"""Export: tfmtl models to versioned SavedModels for TF Serving."""
