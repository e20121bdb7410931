/*
 * mcusim_dev.h -- the simulator's control block, as firmware sees it.
 *
 * A small register block that exists only in the simulator, placed in the Armv7-M/Armv8-M
 * "Vendor_SYS" region (0xE0100000..), which no catalog MCU uses. Firmware writes to it to
 * tell mcusim where layers and measurement windows begin and end; these writes cost one
 * store each, like a GPIO toggle a bench setup would use, and never print anything.
 *
 * On real hardware this address would fault, so firmware meant to also run on a board
 * guards its use with MCUSIM_TRACE (defined by the Makefile for simulator images).
 *
 * Register map (all 32-bit, word access only):
 *   +0x000 ID           R   0x4D435553 ("MCUS"): lets firmware detect the simulator
 *   +0x004 LAYER_BEGIN  W   layer (operator) index in the model's execution order; starts it
 *   +0x008 LAYER_END    W   layer index; ends it
 *   +0x00C LAYER_OP     W   TFLite BuiltinOperator code of the next LAYER_BEGIN
 *   +0x010 LAYER_MACS   W   multiply-accumulates of the next LAYER_BEGIN
 *   +0x014 MARK_BEGIN   W   user window id (1 = one inference); starts a window
 *   +0x018 MARK_END     W   window id; ends it
 *   +0x01C ARENA_BYTES  W   tensor arena bytes the runtime planned (reported in the record)
 *   +0x020 CYCLES_LO    R   simulated cycles, low word (same clock as DWT CYCCNT)
 *   +0x024 CYCLES_HI    R   simulated cycles, high word (read LO first; HI is latched)
 *   +0x028 ERROR        W   runtime error code (nonzero); reported with ERROR_ARG
 *   +0x02C ERROR_ARG    W   argument of the next ERROR write (e.g. the op code it lacks,
 *                           or bytes needed); write ERROR_ARG first, then ERROR
 */
#ifndef MCUSIM_DEV_H
#define MCUSIM_DEV_H
#include <stdint.h>

#define MCUSIM_BASE 0xE0100000u
#define MCUSIM_ID_VALUE 0x4D435553u

#define MCUSIM_REG(off) (*(volatile uint32_t *)(MCUSIM_BASE + (off)))
#define MCUSIM_ID          MCUSIM_REG(0x000)
#define MCUSIM_LAYER_BEGIN MCUSIM_REG(0x004)
#define MCUSIM_LAYER_END   MCUSIM_REG(0x008)
#define MCUSIM_LAYER_OP    MCUSIM_REG(0x00C)
#define MCUSIM_LAYER_MACS  MCUSIM_REG(0x010)
#define MCUSIM_MARK_BEGIN  MCUSIM_REG(0x014)
#define MCUSIM_MARK_END    MCUSIM_REG(0x018)
#define MCUSIM_ARENA_BYTES MCUSIM_REG(0x01C)
#define MCUSIM_CYCLES_LO   MCUSIM_REG(0x020)
#define MCUSIM_CYCLES_HI   MCUSIM_REG(0x024)
#define MCUSIM_ERROR       MCUSIM_REG(0x028)
#define MCUSIM_ERROR_ARG   MCUSIM_REG(0x02C)

/* Runtime error codes (also used as the firmware's exit status). */
#define MCUSIM_ERR_BAD_MODEL     10  /* flatbuffer invalid: offsets/sizes/schema */
#define MCUSIM_ERR_UNSUPPORTED   11  /* ERROR_ARG = builtin op code (or type code << 16) */
#define MCUSIM_ERR_ARENA         12  /* ERROR_ARG = arena bytes needed */
#define MCUSIM_ERR_INPUT         13  /* input size does not match the input tensor */
#define MCUSIM_ERR_MODEL_SLOT    14  /* model larger than the model slot */

#ifdef MCUSIM_TRACE
#define MCUSIM_LAYER(idx, op, macs) do { MCUSIM_LAYER_OP = (op); MCUSIM_LAYER_MACS = (macs); \
                                         MCUSIM_LAYER_BEGIN = (idx); } while (0)
#define MCUSIM_LAYER_DONE(idx) do { MCUSIM_LAYER_END = (idx); } while (0)
#define MCUSIM_WINDOW_BEGIN(id) do { MCUSIM_MARK_BEGIN = (id); } while (0)
#define MCUSIM_WINDOW_END(id) do { MCUSIM_MARK_END = (id); } while (0)
#else
#define MCUSIM_LAYER(idx, op, macs) do { (void)(idx); (void)(op); (void)(macs); } while (0)
#define MCUSIM_LAYER_DONE(idx) do { (void)(idx); } while (0)
#define MCUSIM_WINDOW_BEGIN(id) do { (void)(id); } while (0)
#define MCUSIM_WINDOW_END(id) do { (void)(id); } while (0)
#endif

#endif
