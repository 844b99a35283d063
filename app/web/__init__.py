"""The HTTP layer: Flask routes that translate requests to predictor calls and errors to JSON."""
