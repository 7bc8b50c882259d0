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
    },
}


def _error(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def spec(models: list[str]) -> dict:
    """The OpenAPI 3.0 document for a server with these models."""
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
                        "content": {
                            "application/octet-stream": {
                                "schema": {"type": "string", "format": "binary"}
                            },
                            "image/*": {"schema": {"type": "string", "format": "binary"}},
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "required": ["data"],
                                    "properties": {"data": {"type": "string", "format": "binary"}},
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
                        "413": _error("The body is larger than the server accepts"),
                        "503": _error("The server is overloaded; try again"),
                    },
                }
            },
        },
        "components": {"schemas": {"Error": _ERROR, "Prediction": _PREDICTION}},
    }
