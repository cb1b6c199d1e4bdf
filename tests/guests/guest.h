/* Shared constants for the test guests (included by the .S files and by the
 * integration tests, so both sides agree on ports and addresses). */
#ifndef TEST_GUEST_H
#define TEST_GUEST_H

#define GUEST_LOAD_GPA     0x1000   /* every guest is loaded and entered here */
#define GUEST_CONSOLE_PORT 0x3f8    /* text output, one byte per OUT */
#define GUEST_DONE_PORT    0x5ff    /* CPL3 guests cannot HLT: they write here */

/* hello32 / hello64: port-width and string I/O checks */
#define GUEST_IO_PORT      0x510    /* 0x510..0x517: 2/4-byte OUT and IN */
#define GUEST_IO_ECHO_PORT 0x514    /* values read back are written here */
#define GUEST_INSB_PORT    0x518    /* rep insb source */
#define GUEST_OUTSB_PORT   0x519    /* rep outsb of what insb read */
#define GUEST_INSB_COUNT   16
#define GUEST_INSB_BUF     0x8000   /* where rep insb stores its bytes */

/* user64 */
#define GUEST_RESULT_PORT  0x520    /* 64-bit results as two 4-byte OUTs, low first */
#define GUEST_USER_N       1000000  /* user64 sums 1..N */

/* mmio64 */
#define GUEST_MMIO_BASE    0xd0000000
#define GUEST_MMIO_REPORT  0x530    /* values read back, written with the same width */

/* hcall64 */
#define GUEST_HC_REPORT    0x540    /* results: two 4-byte OUTs, low first */

/* rom64 */
#define GUEST_ROM_GPA      0x200000 /* the test maps a read-only region here */
#define GUEST_ROM_REPORT   0x550

/* pio64: unhandled ports */
#define GUEST_UNH_BASE     0x700

/* smp64: vCPU n writes to port GUEST_SMP_PORT + n (n from RDI) */
#define GUEST_SMP_PORT     0x500
#define GUEST_SMP_ITERS    50

/* hammer64 */
#define GUEST_HAMMER_PORT  0x1000   /* ports 0x1000 .. 0x1000+HAMMER_PORTS-1 */
#define GUEST_HAMMER_PORTS 256
#define GUEST_HAMMER_MMIO  0xe0000000 /* MMIO pages hammered: HAMMER_MMIO_PAGES */
#define GUEST_HAMMER_MMIO_PAGES 64

/* straddle64: accesses past the end of small device ranges */
#define GUEST_STRADDLE_MMIO 0xd0100000
#define GUEST_STRADDLE_PORT 0x560

/* cpuid64 */
#define GUEST_CPUID_REPORT 0x570

#endif
