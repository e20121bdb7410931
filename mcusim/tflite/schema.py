"""Constants of the TensorFlow Lite flatbuffer schema, version 3.

Field ids and enum values follow ``tensorflow/lite/schema/schema.fbs``.  A field
with id ``i`` lives at vtable slot ``4 + 2*i``.  Only what mcusim reads or
writes is listed here, plus every operator's name for messages about operators
mcusim does not implement.
"""

FILE_IDENTIFIER = b"TFL3"
SCHEMA_VERSION = 3


class F:
    """Field ids, one nested namespace per table."""

    class Model:
        version = 0
        operator_codes = 1
        subgraphs = 2
        description = 3
        buffers = 4
        metadata_buffer = 5
        metadata = 6
        signature_defs = 7

    class OperatorCode:
        deprecated_builtin_code = 0
        custom_code = 1
        version = 2
        builtin_code = 3

    class SubGraph:
        tensors = 0
        inputs = 1
        outputs = 2
        operators = 3
        name = 4

    class Tensor:
        shape = 0
        type = 1
        buffer = 2
        name = 3
        quantization = 4
        is_variable = 5
        sparsity = 6
        shape_signature = 7

    class QuantizationParameters:
        min = 0
        max = 1
        scale = 2
        zero_point = 3
        details_type = 4
        details = 5
        quantized_dimension = 6

    class Operator:
        opcode_index = 0
        inputs = 1
        outputs = 2
        builtin_options_type = 3
        builtin_options = 4
        custom_options = 5
        custom_options_format = 6
        intermediates = 8

    class Buffer:
        data = 0
        offset = 1
        size = 2

    class Metadata:
        name = 0
        buffer = 1

    class Conv2DOptions:
        padding = 0
        stride_w = 1
        stride_h = 2
        fused_activation_function = 3
        dilation_w_factor = 4
        dilation_h_factor = 5

    class DepthwiseConv2DOptions:
        padding = 0
        stride_w = 1
        stride_h = 2
        depth_multiplier = 3
        fused_activation_function = 4
        dilation_w_factor = 5
        dilation_h_factor = 6

    class FullyConnectedOptions:
        fused_activation_function = 0
        weights_format = 1
        keep_num_dims = 2
        asymmetric_quantize_inputs = 3

    class Pool2DOptions:
        padding = 0
        stride_w = 1
        stride_h = 2
        filter_width = 3
        filter_height = 4
        fused_activation_function = 5

    class AddOptions:
        fused_activation_function = 0
        pot_scale_int16 = 1

    class ReshapeOptions:
        new_shape = 0

    class SoftmaxOptions:
        beta = 0


class BuiltinOptions:
    """Values of the ``BuiltinOptions`` union type field."""

    NONE = 0
    Conv2DOptions = 1
    DepthwiseConv2DOptions = 2
    Pool2DOptions = 5
    FullyConnectedOptions = 8
    SoftmaxOptions = 9
    AddOptions = 11
    ReshapeOptions = 17
    DequantizeOptions = 38
    QuantizeOptions = 89


class Op:
    """``BuiltinOperator`` codes of the operators mcusim knows."""

    ADD = 0
    AVERAGE_POOL_2D = 1
    CONV_2D = 3
    DEPTHWISE_CONV_2D = 4
    DEQUANTIZE = 6
    FULLY_CONNECTED = 9
    MAX_POOL_2D = 17
    RESHAPE = 22
    SOFTMAX = 25
    QUANTIZE = 114
    # deprecated_builtin_code (a byte) holds this for codes above 127
    PLACEHOLDER_FOR_GREATER_OP_CODES = 127


class TensorType:
    FLOAT32 = 0
    FLOAT16 = 1
    INT32 = 2
    UINT8 = 3
    INT64 = 4
    STRING = 5
    BOOL = 6
    INT16 = 7
    COMPLEX64 = 8
    INT8 = 9
    FLOAT64 = 10
    COMPLEX128 = 11
    UINT64 = 12
    RESOURCE = 13
    VARIANT = 14
    UINT32 = 15
    UINT16 = 16
    INT4 = 17
    BFLOAT16 = 18


# type code -> (name, bytes per element; None where the size is not fixed)
TENSOR_TYPES = {
    0: ("float32", 4),
    1: ("float16", 2),
    2: ("int32", 4),
    3: ("uint8", 1),
    4: ("int64", 8),
    5: ("string", None),
    6: ("bool", 1),
    7: ("int16", 2),
    8: ("complex64", 8),
    9: ("int8", 1),
    10: ("float64", 8),
    11: ("complex128", 16),
    12: ("uint64", 8),
    13: ("resource", None),
    14: ("variant", None),
    15: ("uint32", 4),
    16: ("uint16", 2),
    17: ("int4", None),
    18: ("bfloat16", 2),
}

PADDING = {0: "SAME", 1: "VALID"}
PADDING_CODE = {v: k for k, v in PADDING.items()}

ACTIVATIONS = {
    0: "NONE",
    1: "RELU",
    2: "RELU_N1_TO_1",
    3: "RELU6",
    4: "TANH",
    5: "SIGN_BIT",
}
ACTIVATION_CODE = {v: k for k, v in ACTIVATIONS.items()}

# Operators that mcusim's int8 runtime implements.
SUPPORTED_OPS = frozenset(
    {
        Op.CONV_2D,
        Op.DEPTHWISE_CONV_2D,
        Op.FULLY_CONNECTED,
        Op.AVERAGE_POOL_2D,
        Op.MAX_POOL_2D,
        Op.ADD,
        Op.RESHAPE,
        Op.SOFTMAX,
        Op.QUANTIZE,
        Op.DEQUANTIZE,
    }
)

# BuiltinOperator names by code (schema.fbs, TFLite 2.18), so messages need no extra package
_OP_NAMES = (
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D",
    "DEPTH_TO_SPACE", "DEQUANTIZE", "EMBEDDING_LOOKUP", "FLOOR", "FULLY_CONNECTED",
    "HASHTABLE_LOOKUP", "L2_NORMALIZATION", "L2_POOL_2D", "LOCAL_RESPONSE_NORMALIZATION",
    "LOGISTIC", "LSH_PROJECTION", "LSTM", "MAX_POOL_2D", "MUL", "RELU", "RELU_N1_TO_1",
    "RELU6", "RESHAPE", "RESIZE_BILINEAR", "RNN", "SOFTMAX", "SPACE_TO_DEPTH", "SVDF",
    "TANH", "CONCAT_EMBEDDINGS", "SKIP_GRAM", "CALL", "CUSTOM", "EMBEDDING_LOOKUP_SPARSE",
    "PAD", "UNIDIRECTIONAL_SEQUENCE_RNN", "GATHER", "BATCH_TO_SPACE_ND",
    "SPACE_TO_BATCH_ND", "TRANSPOSE", "MEAN", "SUB", "DIV", "SQUEEZE",
    "UNIDIRECTIONAL_SEQUENCE_LSTM", "STRIDED_SLICE", "BIDIRECTIONAL_SEQUENCE_RNN", "EXP",
    "TOPK_V2", "SPLIT", "LOG_SOFTMAX", "DELEGATE", "BIDIRECTIONAL_SEQUENCE_LSTM", "CAST",
    "PRELU", "MAXIMUM", "ARG_MAX", "MINIMUM", "LESS", "NEG", "PADV2", "GREATER",
    "GREATER_EQUAL", "LESS_EQUAL", "SELECT", "SLICE", "SIN", "TRANSPOSE_CONV",
    "SPARSE_TO_DENSE", "TILE", "EXPAND_DIMS", "EQUAL", "NOT_EQUAL", "LOG", "SUM", "SQRT",
    "RSQRT", "SHAPE", "POW", "ARG_MIN", "FAKE_QUANT", "REDUCE_PROD", "REDUCE_MAX", "PACK",
    "LOGICAL_OR", "ONE_HOT", "LOGICAL_AND", "LOGICAL_NOT", "UNPACK", "REDUCE_MIN",
    "FLOOR_DIV", "REDUCE_ANY", "SQUARE", "ZEROS_LIKE", "FILL", "FLOOR_MOD", "RANGE",
    "RESIZE_NEAREST_NEIGHBOR", "LEAKY_RELU", "SQUARED_DIFFERENCE", "MIRROR_PAD", "ABS",
    "SPLIT_V", "UNIQUE", "CEIL", "REVERSE_V2", "ADD_N", "GATHER_ND", "COS", "WHERE",
    "RANK", "ELU", "REVERSE_SEQUENCE", "MATRIX_DIAG", "QUANTIZE", "MATRIX_SET_DIAG",
    "ROUND", "HARD_SWISH", "IF", "WHILE", "NON_MAX_SUPPRESSION_V4",
    "NON_MAX_SUPPRESSION_V5", "SCATTER_ND", "SELECT_V2", "DENSIFY", "SEGMENT_SUM",
    "BATCH_MATMUL", "PLACEHOLDER_FOR_GREATER_OP_CODES", "CUMSUM", "CALL_ONCE",
    "BROADCAST_TO", "RFFT2D", "CONV_3D", "IMAG", "REAL", "COMPLEX_ABS", "HASHTABLE",
    "HASHTABLE_FIND", "HASHTABLE_IMPORT", "HASHTABLE_SIZE", "REDUCE_ALL",
    "CONV_3D_TRANSPOSE", "VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE",
    "BROADCAST_ARGS", "RANDOM_STANDARD_NORMAL", "BUCKETIZE", "RANDOM_UNIFORM",
    "MULTINOMIAL", "GELU", "DYNAMIC_UPDATE_SLICE", "RELU_0_TO_1", "UNSORTED_SEGMENT_PROD",
    "UNSORTED_SEGMENT_MAX", "UNSORTED_SEGMENT_SUM", "ATAN2", "UNSORTED_SEGMENT_MIN",
    "SIGN", "BITCAST", "BITWISE_XOR", "RIGHT_SHIFT", "STABLEHLO_LOGISTIC", "STABLEHLO_ADD",
    "STABLEHLO_DIVIDE", "STABLEHLO_MULTIPLY", "STABLEHLO_MAXIMUM", "STABLEHLO_RESHAPE",
    "STABLEHLO_CLAMP", "STABLEHLO_CONCATENATE", "STABLEHLO_BROADCAST_IN_DIM",
    "STABLEHLO_CONVOLUTION", "STABLEHLO_SLICE", "STABLEHLO_CUSTOM_CALL",
    "STABLEHLO_REDUCE", "STABLEHLO_ABS", "STABLEHLO_AND", "STABLEHLO_COSINE",
    "STABLEHLO_EXPONENTIAL", "STABLEHLO_FLOOR", "STABLEHLO_LOG", "STABLEHLO_MINIMUM",
    "STABLEHLO_NEGATE", "STABLEHLO_OR", "STABLEHLO_POWER", "STABLEHLO_REMAINDER",
    "STABLEHLO_RSQRT", "STABLEHLO_SELECT", "STABLEHLO_SUBTRACT", "STABLEHLO_TANH",
    "STABLEHLO_SCATTER", "STABLEHLO_COMPARE", "STABLEHLO_CONVERT",
    "STABLEHLO_DYNAMIC_SLICE", "STABLEHLO_DYNAMIC_UPDATE_SLICE", "STABLEHLO_PAD",
    "STABLEHLO_IOTA", "STABLEHLO_DOT_GENERAL", "STABLEHLO_REDUCE_WINDOW", "STABLEHLO_SORT",
    "STABLEHLO_WHILE", "STABLEHLO_GATHER", "STABLEHLO_TRANSPOSE", "DILATE",
    "STABLEHLO_RNG_BIT_GENERATOR", "REDUCE_WINDOW", "STABLEHLO_COMPOSITE",
    "STABLEHLO_SHIFT_LEFT", "STABLEHLO_CBRT",
)


def op_name(code: int) -> str:
    """Name of a builtin operator code, e.g. ``op_name(3) == "CONV_2D"``."""
    if 0 <= code < len(_OP_NAMES):
        return _OP_NAMES[code]
    return f"BUILTIN_{code}"
