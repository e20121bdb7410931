/*
 * cortexm.h -- Cortex-M system registers (SCS, SysTick, NVIC, SCB, DWT, FPU) and intrinsics.
 *
 * Written for mcusim from the Armv6-M (DDI0419), Armv7-M (DDI0403) and Armv8-M (DDI0553)
 * Architecture Reference Manuals. Plain macros over volatile pointers; no CMSIS.
 * Feature tests use the compiler's ACLE macros:
 *   __ARM_ARCH_6M__        Armv6-M (Cortex-M0+): no BASEPRI, STIR, IABR, CFSR, DWT CYCCNT,
 *                          word-only access to NVIC_IPR and SHPR.
 *   __ARM_ARCH_8M_MAIN__   Armv8-M Mainline (Cortex-M33): MSPLIM/PSPLIM.
 *   __ARM_FP               an FPU is present and the hard-float ABI may use it.
 */
#ifndef CORTEXM_H
#define CORTEXM_H
#include <stdint.h>

#define REG32(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

#if defined(__ARM_ARCH_6M__)
#define ARCH_V6M 1
#else
#define ARCH_V6M 0
#endif
#if defined(__ARM_ARCH_8M_MAIN__)
#define ARCH_V8M_MAIN 1
#else
#define ARCH_V8M_MAIN 0
#endif
#if defined(__ARM_FP)
#define HAS_FPU 1
#else
#define HAS_FPU 0
#endif

/* ---- SysTick (0xE000E010) ---- */
#define SYST_CSR   REG32(0xE000E010u)  /* CTRL */
#define SYST_RVR   REG32(0xE000E014u)  /* LOAD */
#define SYST_CVR   REG32(0xE000E018u)  /* VAL */
#define SYST_CALIB REG32(0xE000E01Cu)
#define SYST_CSR_ENABLE    (1u << 0)
#define SYST_CSR_TICKINT   (1u << 1)
#define SYST_CSR_CLKSOURCE (1u << 2)   /* 1 = processor clock */
#define SYST_CSR_COUNTFLAG (1u << 16)

/* ---- NVIC (0xE000E100) ---- */
#define NVIC_ISER(n) REG32(0xE000E100u + 4u * (n))
#define NVIC_ICER(n) REG32(0xE000E180u + 4u * (n))
#define NVIC_ISPR(n) REG32(0xE000E200u + 4u * (n))
#define NVIC_ICPR(n) REG32(0xE000E280u + 4u * (n))
#define NVIC_IABR(n) REG32(0xE000E300u + 4u * (n))  /* not on Armv6-M */
#define NVIC_IPR(n)  REG32(0xE000E400u + 4u * (n))  /* word n holds IRQs 4n..4n+3 */
#define NVIC_STIR    REG32(0xE000EF00u)             /* not on Armv6-M */

/* ---- SCB (0xE000ED00) ---- */
#define SCB_CPUID REG32(0xE000ED00u)
#define SCB_ICSR  REG32(0xE000ED04u)
#define SCB_VTOR  REG32(0xE000ED08u)
#define SCB_AIRCR REG32(0xE000ED0Cu)
#define SCB_SCR   REG32(0xE000ED10u)
#define SCB_CCR   REG32(0xE000ED14u)
#define SCB_SHPR1 REG32(0xE000ED18u)  /* MemManage, BusFault, UsageFault (not v6-M) */
#define SCB_SHPR2 REG32(0xE000ED1Cu)  /* SVCall [31:24] */
#define SCB_SHPR3 REG32(0xE000ED20u)  /* SysTick [31:24], PendSV [23:16] */
#define SCB_SHCSR REG32(0xE000ED24u)
#define SCB_CFSR  REG32(0xE000ED28u)  /* not on v6-M: MMFSR [7:0], BFSR [15:8], UFSR [31:16] */
#define SCB_HFSR  REG32(0xE000ED2Cu)
#define SCB_MMFAR REG32(0xE000ED34u)
#define SCB_BFAR  REG32(0xE000ED38u)
#define SCB_CPACR REG32(0xE000ED88u)

#define ICSR_VECTACTIVE_MASK 0x1FFu
#define ICSR_RETTOBASE  (1u << 11)
#define ICSR_VECTPENDING_SHIFT 12
#define ICSR_ISRPENDING (1u << 22)
#define ICSR_PENDSTCLR  (1u << 25)
#define ICSR_PENDSTSET  (1u << 26)
#define ICSR_PENDSVCLR  (1u << 27)
#define ICSR_PENDSVSET  (1u << 28)

#define SCR_SLEEPONEXIT (1u << 1)
#define SCR_SLEEPDEEP   (1u << 2)
#define SCR_SEVONPEND   (1u << 4)

#define CCR_UNALIGN_TRP (1u << 3)
#define CCR_DIV_0_TRP   (1u << 4)

#define SHCSR_MEMFAULTENA (1u << 16)
#define SHCSR_BUSFAULTENA (1u << 17)
#define SHCSR_USGFAULTENA (1u << 18)

/* CFSR bits (byte-lanes MMFSR | BFSR << 8 | UFSR << 16) */
#define CFSR_IBUSERR     (1u << 8)
#define CFSR_PRECISERR   (1u << 9)
#define CFSR_IMPRECISERR (1u << 10)
#define CFSR_BFARVALID   (1u << 15)
#define CFSR_UNDEFINSTR  (1u << 16)
#define CFSR_INVSTATE    (1u << 17)
#define CFSR_INVPC       (1u << 18)
#define CFSR_NOCP        (1u << 19)
#define CFSR_STKOF       (1u << 20)   /* Armv8-M */
#define CFSR_UNALIGNED   (1u << 24)
#define CFSR_DIVBYZERO   (1u << 25)

#define HFSR_VECTTBL (1u << 1)
#define HFSR_FORCED  (1u << 30)

/* ---- Debug / DWT ---- */
#define DEMCR        REG32(0xE000EDFCu)
#define DEMCR_TRCENA (1u << 24)
#define DWT_CTRL     REG32(0xE0001000u)
#define DWT_CYCCNT   REG32(0xE0001004u)
#define DWT_LAR      REG32(0xE0001FB0u)  /* Cortex-M7: software lock, key 0xC5ACCE55 */
#define DWT_LSR      REG32(0xE0001FB4u)
#define DWT_CTRL_CYCCNTENA (1u << 0)
#define DWT_CTRL_NOCYCCNT  (1u << 25)
#define CORESIGHT_UNLOCK_KEY 0xC5ACCE55u

/* ---- FPU ---- */
#define FPU_FPCCR  REG32(0xE000EF34u)
#define FPU_FPCAR  REG32(0xE000EF38u)
#define FPU_FPDSCR REG32(0xE000EF3Cu)
#define FPCCR_LSPACT (1u << 0)
#define FPCCR_LSPEN  (1u << 30)
#define FPCCR_ASPEN  (1u << 31)
#define CPACR_CP10_CP11_FULL (0xFu << 20)

/* Exception numbers */
#define EXC_NMI        2
#define EXC_HARDFAULT  3
#define EXC_MEMMANAGE  4
#define EXC_BUSFAULT   5
#define EXC_USAGEFAULT 6
#define EXC_SVCALL     11
#define EXC_PENDSV     14
#define EXC_SYSTICK    15
#define EXC_IRQ(n)     (16 + (n))

/* ---- intrinsics ---- */
static inline void cpu_enable_irq(void) { __asm__ volatile("cpsie i" ::: "memory"); }
static inline void cpu_disable_irq(void) { __asm__ volatile("cpsid i" ::: "memory"); }
static inline void cpu_dsb(void) { __asm__ volatile("dsb 0xF" ::: "memory"); }
static inline void cpu_isb(void) { __asm__ volatile("isb 0xF" ::: "memory"); }
static inline void cpu_wfi(void) { __asm__ volatile("wfi" ::: "memory"); }
static inline void cpu_nop(void) { __asm__ volatile("nop"); }

static inline uint32_t cpu_get_ipsr(void)
{ uint32_t v; __asm__ volatile("mrs %0, ipsr" : "=r"(v)); return v; }
static inline uint32_t cpu_get_primask(void)
{ uint32_t v; __asm__ volatile("mrs %0, primask" : "=r"(v)); return v; }
static inline uint32_t cpu_get_control(void)
{ uint32_t v; __asm__ volatile("mrs %0, control" : "=r"(v)); return v; }
static inline void cpu_set_control(uint32_t v)
{ __asm__ volatile("msr control, %0\n\tisb 0xF" :: "r"(v) : "memory"); }
static inline uint32_t cpu_get_msp(void)
{ uint32_t v; __asm__ volatile("mrs %0, msp" : "=r"(v)); return v; }
static inline uint32_t cpu_get_psp(void)
{ uint32_t v; __asm__ volatile("mrs %0, psp" : "=r"(v)); return v; }
static inline void cpu_set_psp(uint32_t v)
{ __asm__ volatile("msr psp, %0" :: "r"(v) : "memory"); }
static inline uint32_t cpu_get_sp(void)
{ uint32_t v; __asm__ volatile("mov %0, sp" : "=r"(v)); return v; }
#if !ARCH_V6M
static inline uint32_t cpu_get_basepri(void)
{ uint32_t v; __asm__ volatile("mrs %0, basepri" : "=r"(v)); return v; }
static inline void cpu_set_basepri(uint32_t v)
{ __asm__ volatile("msr basepri, %0\n\tisb 0xF" :: "r"(v) : "memory"); }
#endif
#if HAS_FPU
static inline uint32_t cpu_get_fpscr(void)
{ uint32_t v; __asm__ volatile("vmrs %0, fpscr" : "=r"(v)); return v; }
#endif

/* ---- NVIC helpers (word accesses only: valid on every profile) ---- */
static inline void nvic_enable(unsigned irq) { NVIC_ISER(irq >> 5) = 1u << (irq & 31u); }
static inline void nvic_disable(unsigned irq)
{ NVIC_ICER(irq >> 5) = 1u << (irq & 31u); cpu_dsb(); cpu_isb(); }
static inline void nvic_pend(unsigned irq) { NVIC_ISPR(irq >> 5) = 1u << (irq & 31u); }
static inline void nvic_unpend(unsigned irq) { NVIC_ICPR(irq >> 5) = 1u << (irq & 31u); }
static inline int nvic_is_pending(unsigned irq)
{ return (NVIC_ISPR(irq >> 5) >> (irq & 31u)) & 1u; }
#if !ARCH_V6M
static inline int nvic_is_active(unsigned irq)
{ return (NVIC_IABR(irq >> 5) >> (irq & 31u)) & 1u; }
#endif
static inline void nvic_set_priority(unsigned irq, uint8_t prio)
{
    unsigned shift = (irq & 3u) * 8u;
    uint32_t v = NVIC_IPR(irq >> 2);
    v = (v & ~(0xFFu << shift)) | ((uint32_t)prio << shift);
    NVIC_IPR(irq >> 2) = v;
}
static inline uint8_t nvic_get_priority(unsigned irq)
{ return (uint8_t)(NVIC_IPR(irq >> 2) >> ((irq & 3u) * 8u)); }

/* Enable the DWT cycle counter (Armv7-M/Armv8-M). */
static inline void dwt_cyccnt_start(void)
{
    DEMCR |= DEMCR_TRCENA;
#if defined(TARGET_CORTEX_M7F)
    DWT_LAR = CORESIGHT_UNLOCK_KEY;  /* Cortex-M7 DWT has a software lock */
#endif
    DWT_CYCCNT = 0;
    DWT_CTRL |= DWT_CTRL_CYCCNTENA;
}

#endif
