"""The model server's OpenAPI description (TorchServe's inference API, plus ours)."""

from __future__ import annotations

_ERROR = {
    "type": "object",
    "required": ["code", "type", "message"],
    "properties": {
        "code": {"type": "integer"},
        "type": {"type": "string"},
        "message": {"type": "string"},
    },
}
_PREDICTION = {
    "type": "object",
    "required": ["is_cat", "cat_probability", "top_k", "model", "latency_ms"],
    "properties": {
        "is_cat": {"type": "boolean"},
        "cat_probability": {"type": "number", "minimum": 0, "maximum": 1},
        "top_k": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["label", "probability"],
                "properties": {
                    "label": {"type": "string"},
                    "probability": {"type": "number", "minimum": 0, "maximum": 1},
                },
            },
        },
        "model": {"type": "string"},
        "latency_ms": {"type": "number", "minimum": 0},
        "cat_share": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "description": "The cat classes' share of the animal classes' probability, "
            "the score the verdict compares with the model's threshold.",
        },
    },
}
_FORMATS = ("image/jpeg", "image/png", "image/bmp", "image/gif", "image/webp", "image/tiff")


def _error(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _image(max_body: int) -> dict:
    # The byte limit is in the description: a string's maxLength counts characters, and
    # tools that check it count a multipart field differently from the server.
    return {"type": "string", "format": "binary", "minLength": 1,
            "description": f"The image file's bytes, at most {max_body} of them."}  # fmt: skip


def spec(models: list[str], max_body: int = 20 * 1024 * 1024) -> dict:
    """The OpenAPI 3.0 document for a server with these models."""
    from dlworkshop.classifier.preprocess import MAX_PIXELS, MAX_SIDE

    accepted = (
        f"One image: JPEG, PNG, BMP, GIF (first frame), WebP or TIFF, at most "
        f"{max_body // (1024 * 1024)} MB, no side longer than {MAX_SIDE} pixels and at most "
        f"{MAX_PIXELS // 1_000_000} megapixels, as the raw body or as the multipart "
        'field "data". Anything else is answered 400 or 413 with the reason.'
    )
    model_param = {
        "name": "model_name",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": f"One of: {', '.join(models)}",
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "dlworkshop model server",
            "version": "1.0",
            "description": "Is it a cat? TorchServe-compatible inference API over MXNet.",
        },
        "paths": {
            "/ping": {
                "get": {
                    "operationId": "ping",
                    "summary": "Health check",
                    "responses": {
                        "200": {
                            "description": "The server is up and its models are loaded",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["status"],
                                        "properties": {"status": {"type": "string"}},
                                    }
                                }
                            },
                        }
                    },
                }
            },
            "/models": {
                "get": {
                    "operationId": "listModels",
                    "summary": "The models this server serves",
                    "responses": {
                        "200": {
                            "description": "Models",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["models"],
                                        "properties": {
                                            "models": {
                                                "type": "array",
                                                "items": {
                                                    "type": "object",
                                                    "required": ["modelName", "modelUrl"],
                                                    "properties": {
                                                        "modelName": {"type": "string"},
                                                        "modelUrl": {"type": "string"},
                                                    },
                                                },
                                            }
                                        },
                                    }
                                }
                            },
                        }
                    },
                }
            },
            "/models/{model_name}": {
                "get": {
                    "operationId": "describeModel",
                    "summary": "One model's details",
                    "parameters": [model_param],
                    "responses": {
                        "200": {
                            "description": "Model details (a list, as TorchServe answers)",
                            "content": {
                                "application/json": {
                                    "schema": {"type": "array", "items": {"type": "object"}}
                                }
                            },
                        },
                        "404": _error("No such model"),
                    },
                }
            },
            "/predictions/{model_name}": {
                "post": {
                    "operationId": "predict",
                    "summary": "Classify one image: is it a cat?",
                    "parameters": [model_param],
                    "requestBody": {
                        "required": True,
                        "description": accepted,
                        "content": {
                            **{kind: {"schema": _image(max_body)} for kind in _FORMATS},
                            "application/octet-stream": {"schema": _image(max_body)},
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "required": ["data"],
                                    "properties": {"data": _image(max_body)},
                                }
                            },
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "The prediction",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Prediction"}
                                }
                            },
                        },
                        "400": _error("Not an image we can classify (the message says why)"),
                        "404": _error("No such model"),
                        "408": _error("The body did not arrive in time"),
                        "413": _error("The body, or the image's size in pixels, is larger "
                                      "than the server accepts"),
                        "503": {**_error("Every worker is busy and the queue is full, or "
                                         "a worker was restarted: try again"),
                                "headers": {"Retry-After": {
                                    "schema": {"type": "integer"},
                                    "description": "Seconds to wait before trying again"}}},
                    },
                }
            },
        },
        "components": {"schemas": {"Error": _ERROR, "Prediction": _PREDICTION}},
    }
