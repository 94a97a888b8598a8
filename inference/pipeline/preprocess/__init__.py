"""Stage 2, preprocess: turn validated input into tensors on the device of the model's pool."""
