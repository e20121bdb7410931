/*
 * mcrt_schema.h -- the parts of the TensorFlow Lite flatbuffer schema (version 3,
 * tensorflow/lite/schema/schema.fbs) that mcrt reads (internal to mcrt).
 *
 * Field ids: a table's fields are numbered in declaration order from 0, and a union field
 * takes two ids, its type (`<name>_type`) and then its value; the reader (mcrt_fb.h) finds
 * field `id` at vtable slot 4 + 2 * id. Names are MCRT_F_<Table>_<field>, spelled as in
 * schema.fbs, so that `F.<Table>.<field>` in mcusim/tflite/schema.py (the Python side's
 * names for the same numbers) and these read alike. Only fields the runtime reads are
 * listed; an operator that reads a new options table adds its fields here.
 *
 * Enum values the API does not expose (mcrt.h has the tensor types and operator codes the
 * API uses) follow the fields.
 */
#ifndef MCRT_SCHEMA_H
#define MCRT_SCHEMA_H

#define MCRT_SCHEMA_VERSION 3u  /* Model.version */

/* ---- tables of the model graph ---- */
enum {
    MCRT_F_Model_version = 0,
    MCRT_F_Model_operator_codes = 1,
    MCRT_F_Model_subgraphs = 2,
    MCRT_F_Model_buffers = 4
};

enum {
    MCRT_F_OperatorCode_deprecated_builtin_code = 0,  /* byte; 127 = look at builtin_code */
    MCRT_F_OperatorCode_builtin_code = 3
};

enum {
    MCRT_F_SubGraph_tensors = 0,
    MCRT_F_SubGraph_inputs = 1,
    MCRT_F_SubGraph_outputs = 2,
    MCRT_F_SubGraph_operators = 3
};

enum {
    MCRT_F_Tensor_shape = 0,
    MCRT_F_Tensor_type = 1,
    MCRT_F_Tensor_buffer = 2,
    MCRT_F_Tensor_quantization = 4
};

enum {
    MCRT_F_QuantizationParameters_scale = 2,
    MCRT_F_QuantizationParameters_zero_point = 3,
    MCRT_F_QuantizationParameters_quantized_dimension = 6  /* after the details union (4, 5) */
};

enum {
    MCRT_F_Buffer_data = 0,
    MCRT_F_Buffer_offset = 1,  /* data outside the flatbuffer (models over 2 GB): valid if > 1 */
    MCRT_F_Buffer_size = 2
};

enum {
    MCRT_F_Operator_opcode_index = 0,
    MCRT_F_Operator_inputs = 1,
    MCRT_F_Operator_outputs = 2,
    MCRT_F_Operator_builtin_options_type = 3,
    MCRT_F_Operator_builtin_options = 4
};

/* ---- builtin options of the supported operators ---- */
enum {
    MCRT_F_Conv2DOptions_padding = 0,
    MCRT_F_Conv2DOptions_stride_w = 1,
    MCRT_F_Conv2DOptions_stride_h = 2,
    MCRT_F_Conv2DOptions_fused_activation_function = 3,
    MCRT_F_Conv2DOptions_dilation_w_factor = 4,
    MCRT_F_Conv2DOptions_dilation_h_factor = 5
};

enum {
    MCRT_F_DepthwiseConv2DOptions_padding = 0,
    MCRT_F_DepthwiseConv2DOptions_stride_w = 1,
    MCRT_F_DepthwiseConv2DOptions_stride_h = 2,
    MCRT_F_DepthwiseConv2DOptions_depth_multiplier = 3,
    MCRT_F_DepthwiseConv2DOptions_fused_activation_function = 4,
    MCRT_F_DepthwiseConv2DOptions_dilation_w_factor = 5,
    MCRT_F_DepthwiseConv2DOptions_dilation_h_factor = 6
};

enum {
    MCRT_F_FullyConnectedOptions_fused_activation_function = 0,
    MCRT_F_FullyConnectedOptions_weights_format = 1
};

enum {  /* AVERAGE_POOL_2D, MAX_POOL_2D */
    MCRT_F_Pool2DOptions_padding = 0,
    MCRT_F_Pool2DOptions_stride_w = 1,
    MCRT_F_Pool2DOptions_stride_h = 2,
    MCRT_F_Pool2DOptions_filter_width = 3,
    MCRT_F_Pool2DOptions_filter_height = 4,
    MCRT_F_Pool2DOptions_fused_activation_function = 5
};

enum {
    MCRT_F_AddOptions_fused_activation_function = 0
};

enum {
    MCRT_F_SoftmaxOptions_beta = 0
};

/* ---- enum values ---- */
/* TensorType, besides the MCRT_TYPE_* of mcrt.h */
#define MCRT_TYPE_BOOL 6
#define MCRT_TYPE_FLOAT64 10

/* Padding */
#define MCRT_PADDING_SAME 0
#define MCRT_PADDING_VALID 1

/* ActivationFunctionType (TANH and SIGN_BIT are not supported as fused activations) */
#define MCRT_ACT_NONE 0
#define MCRT_ACT_RELU 1
#define MCRT_ACT_RELU_N1_TO_1 2
#define MCRT_ACT_RELU6 3

/* FullyConnectedOptionsWeightsFormat */
#define MCRT_FC_WEIGHTS_DEFAULT 0  /* SHUFFLED4x16INT8 = 1 is not supported */

#endif
