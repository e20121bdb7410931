/*
 * mcusim_npu.h -- the example NPU shipped with mcusim (mcusim/accelerators/npu.py), as
 * firmware sees it: an int8 engine for CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED,
 * bit-exact with TensorFlow Lite Micro, a bus master on the simulated AHB.
 *
 * It exists only in the simulator, at the base address its catalog entry gives
 * ([[accelerators]] type = "mcusim.accelerators.npu:Npu"); find it with
 * mcusim_accel_find(MCUSIM_NPU_ID_VALUE) (mcusim_accel.h).
 *
 * Registers (32-bit, word access; offsets from the base):
 *   +0x00 ID          R    0x4E505530 ("NPU0")
 *   +0x04 VERSION     R    descriptor format version (1)
 *   +0x08 CAPS        R    bit0 CONV_2D, bit1 DEPTHWISE_CONV_2D, bit2 FULLY_CONNECTED
 *   +0x0C MACS        R    MACs per NPU clock cycle
 *   +0x10 LOCAL_BYTES R    local buffer bytes (half weights, half input)
 *   +0x14 BUS_BYTES   R    bus port width in bytes
 *   +0x18 IRQ         R    its interrupt line, 0xFFFFFFFF if it has none
 *   +0x1C DESC        RW   address of the job descriptor (word aligned, in memory)
 *   +0x20 CTRL        W    bit0 START, bit1 IE (interrupt when the job ends)
 *   +0x24 STATUS      R/W1C bit0 BUSY (read-only), bit1 DONE, bit2 ERR
 *   +0x28 ERROR       R    why the last job failed: 1 operator, 2 a shape that exceeds the
 *                          local buffer, 3 an address, 4 the descriptor
 *   +0x2C CYCLES      R    core cycles of the last job (START to DONE)
 *   +0x30 JOBS        R    jobs finished
 *
 * Shapes it takes: the weights of one output channel (KH*KW*C bytes; depthwise: KH*KW*M
 * per input channel) fit half the local buffer, and when the input does not fit the
 * other half, the input rows one output row needs do. Anything else ends in ERR 2, and
 * the firmware runs the layer itself.
 */
#ifndef MCUSIM_NPU_H
#define MCUSIM_NPU_H
#include <stdint.h>

#define MCUSIM_NPU_ID_VALUE 0x4E505530u

#define MCUSIM_NPU_ID          0x00u
#define MCUSIM_NPU_VERSION     0x04u
#define MCUSIM_NPU_CAPS        0x08u
#define MCUSIM_NPU_MACS        0x0Cu
#define MCUSIM_NPU_LOCAL_BYTES 0x10u
#define MCUSIM_NPU_BUS_BYTES   0x14u
#define MCUSIM_NPU_IRQ         0x18u
#define MCUSIM_NPU_DESC        0x1Cu
#define MCUSIM_NPU_CTRL        0x20u
#define MCUSIM_NPU_STATUS      0x24u
#define MCUSIM_NPU_ERROR       0x28u
#define MCUSIM_NPU_CYCLES      0x2Cu
#define MCUSIM_NPU_JOBS        0x30u

#define MCUSIM_NPU_REG(base, off) (*(volatile uint32_t *)(uintptr_t)((base) + (off)))

#define MCUSIM_NPU_CAP_CONV (1u << 0)
#define MCUSIM_NPU_CAP_DW   (1u << 1)
#define MCUSIM_NPU_CAP_FC   (1u << 2)
#define MCUSIM_NPU_CTRL_START (1u << 0)
#define MCUSIM_NPU_CTRL_IE    (1u << 1)
#define MCUSIM_NPU_ST_BUSY    (1u << 0)
#define MCUSIM_NPU_ST_DONE    (1u << 1)
#define MCUSIM_NPU_ST_ERR     (1u << 2)
#define MCUSIM_NPU_NO_IRQ     0xFFFFFFFFu

#define MCUSIM_NPU_OP_CONV_2D 0u
#define MCUSIM_NPU_OP_DEPTHWISE_CONV_2D 1u
#define MCUSIM_NPU_OP_FULLY_CONNECTED 2u

/* The job descriptor (30 little-endian words). Tensors are NHWC int8; CONV_2D weights
 * [OC, KH, KW, C], DEPTHWISE_CONV_2D weights [1, KH, KW, C*M], FULLY_CONNECTED weights
 * [OC, C] with N rows of C inputs (H = W = OH = OW = KH = KW = 1). Output o of channel k:
 *   acc = bias[k] + sum over taps inside the input of (x + in_off) * (w + w_off)
 *   o   = clamp(MultiplyByQuantizedMultiplier(acc, mult[k], shift[k]) + out_off,
 *               act_min, act_max)
 * with mult/shift per channel (mult != 0: int32 and int8 arrays) or mult0/shift0. */
typedef struct {
    uint32_t op;                   /* MCUSIM_NPU_OP_* */
    uint32_t input, weights, bias; /* bias: int32 per output channel, 0 for none */
    uint32_t output;
    uint32_t mult, shift;          /* per-channel tables, or 0: mult0/shift0 */
    uint32_t n, h, w, c;           /* input shape */
    uint32_t oh, ow, oc;           /* output shape */
    uint32_t kh, kw;               /* filter */
    uint32_t stride_h, stride_w, dil_h, dil_w;
    int32_t pad_h, pad_w;          /* padding before the first row / column */
    uint32_t depth_mult;           /* DEPTHWISE_CONV_2D: output channels per input channel */
    int32_t in_off, w_off, out_off;
    int32_t mult0, shift0;
    int32_t act_min, act_max;
} mcusim_npu_desc_t;
#endif
