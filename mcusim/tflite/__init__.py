"""TensorFlow Lite model handling: a validating reader and built-in model generators."""

from .reader import (
    SUPPORTED_OPS,
    Model,
    ModelError,
    OpCode,
    Operator,
    Quantization,
    Tensor,
    check_supported,
    read_model,
    read_model_file,
)

__all__ = [
    "SUPPORTED_OPS",
    "Model",
    "ModelError",
    "OpCode",
    "Operator",
    "Quantization",
    "Tensor",
    "check_supported",
    "read_model",
    "read_model_file",
    "BUILTIN_MODELS",
    "builtin_model_bytes",
]


def __getattr__(name):  # builtin.py imports flatbuffers; load it only when asked
    if name in ("BUILTIN_MODELS", "builtin_model_bytes"):
        from . import builtin

        return getattr(builtin, name)
    raise AttributeError(name)
