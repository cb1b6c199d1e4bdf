/* Ports shared by the built-in-device test guests (*.S here) and their
 * tests. Guests are loaded at GUEST_LOAD_GPA (tests/guests/guest.h) and run
 * in 64-bit long mode at CPL0 with interrupts off (IF=0): they poll, and
 * never take an interrupt. */
#ifndef TEST_DEV_GUEST_H
#define TEST_DEV_GUEST_H

#define DEV_COM1        0x3f8
#define DEV_EXIT_PORT   0xf4   /* VMM_DEBUG_EXIT_PORT: the guest's last word */
#define DEV_REPORT_PORT 0x590  /* 4-byte OUTs: (tag << 8) | value */
#define DEV_ECHO_PORT   0x594  /* 1-byte OUTs: bytes the guest received */
#define DEV_REQ_PORT    0x598  /* OUTs of 1-4 bytes: the guest asks the test for something */

#define DEV_EXIT_OK     0x0d0e /* the guest reached its end */
#define DEV_EXIT_TIMEOUT 0xdead /* the guest gave up waiting */

/* uart_irq, uart_rx: DEV_REQ_PORT values */
#define DEV_REQ_INPUT   1      /* send the test's input now (uart_irq: one byte 'z') */

#ifdef __ASSEMBLER__
/* Report (tag << 8) | %al. Clobbers %eax, %dx. */
.macro REPORT_AL tag
    movzbl  %al, %eax
    or      $((\tag) << 8), %eax
    mov     $DEV_REPORT_PORT, %dx
    out     %eax, %dx
.endm
/* Read a byte from @port and report it with @tag. */
.macro REPORT_IN port, tag
    mov     $(\port), %dx
    in      %dx, %al
    REPORT_AL \tag
.endm
.macro OUTB port, val
    mov     $(\port), %dx
    mov     $(\val), %al
    out     %al, %dx
.endm
.macro INB port
    mov     $(\port), %dx
    in      %dx, %al
.endm
/* i8042: wait for the input buffer to be empty, then send a command (port
 * 0x64) or a data byte (port 0x60). */
.macro KBC_CMD cmd
1:  in      $0x64, %al
    test    $0x02, %al
    jnz     1b
    mov     $(\cmd), %al
    out     %al, $0x64
.endm
.macro KBC_DATA val
1:  in      $0x64, %al
    test    $0x02, %al
    jnz     1b
    mov     $(\val), %al
    out     %al, $0x60
.endm
/* End the run through the debug-exit device. */
.macro EXIT code
    mov     $(\code), %eax
    out     %eax, $DEV_EXIT_PORT
.endm
#endif

#endif
