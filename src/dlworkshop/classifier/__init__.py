"""MXNet image classification: models, preprocessing, prediction and the model server."""
