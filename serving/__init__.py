"""Serving: the embedded PredictionService and the gRPC ranking service."""
