/* The CMOS RTC as Linux's mc146818 code reads it: status registers, the
 * clock in BCD/24h (the default), binary, and 12-hour modes, CMOS memory,
 * the memory-size bytes, read-only registers, and setting the year and
 * century. Reports every value read. */
#include "guest.h"
#include "dev_guest.h"

/* Report CMOS register @reg with @tag. */
.macro CMOS_REPORT reg, tag
    mov     $(\reg), %al
    out     %al, $0x70
    in      $0x71, %al
    REPORT_AL \tag
.endm
.macro CMOS_WRITE reg, val
    mov     $(\reg), %al
    out     %al, $0x70
    mov     $(\val), %al
    out     %al, $0x71
.endm
/* Wait for UIP to clear (bounded), then report the clock from @tag. */
.macro CLOCK tag
    mov     $1000, %ecx
1:  mov     $0x0a, %al
    out     %al, $0x70
    in      $0x71, %al
    test    $0x80, %al
    jz      2f
    dec     %ecx
    jnz     1b
2:  CMOS_REPORT 0x00, (\tag + 0)
    CMOS_REPORT 0x02, (\tag + 1)
    CMOS_REPORT 0x04, (\tag + 2)
    CMOS_REPORT 0x07, (\tag + 3)
    CMOS_REPORT 0x08, (\tag + 4)
    CMOS_REPORT 0x09, (\tag + 5)
    CMOS_REPORT 0x32, (\tag + 6)
    CMOS_REPORT 0x06, (\tag + 7)
.endm

    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    CMOS_REPORT 0x0a, 0x01
    CMOS_REPORT 0x0b, 0x02
    CMOS_REPORT 0x0c, 0x03
    CMOS_REPORT 0x0d, 0x04
    CLOCK 0x10                  /* BCD, 24h */
    CMOS_WRITE 0x0b, 0x06
    CLOCK 0x20                  /* binary, 24h */
    CMOS_WRITE 0x0b, 0x04
    CMOS_REPORT 0x04, 0x30      /* binary, 12h */
    CMOS_WRITE 0x0b, 0x00
    CMOS_REPORT 0x04, 0x31      /* BCD, 12h */
    CMOS_WRITE 0x0b, 0x02
    CMOS_REPORT 0x0b, 0x05
    CMOS_WRITE 0x0a, 0xa6       /* UIP is read-only */
    CMOS_REPORT 0x0a, 0x06
    CMOS_WRITE 0x0a, 0x26
    /* CMOS memory */
    CMOS_WRITE 0x40, 0x5a
    CMOS_WRITE 0x7f, 0xa5
    CMOS_WRITE 0x0e, 0x11
    CMOS_REPORT 0x40, 0x40
    CMOS_REPORT 0x7f, 0x41
    CMOS_REPORT 0x0e, 0x42
    CMOS_REPORT 0xc0, 0x43      /* bit 7 of the index (NMI off) is not address */
    in      $0x70, %al          /* the index port is write-only */
    REPORT_AL 0x44
    CMOS_WRITE 0x0d, 0x00       /* read-only */
    CMOS_REPORT 0x0d, 0x45
    CMOS_WRITE 0x17, 0x00       /* memory size: read-only */
    CMOS_REPORT 0x17, 0x46
    /* memory size bytes */
    CMOS_REPORT 0x15, 0x50
    CMOS_REPORT 0x16, 0x51
    CMOS_REPORT 0x17, 0x52
    CMOS_REPORT 0x18, 0x53
    CMOS_REPORT 0x30, 0x54
    CMOS_REPORT 0x31, 0x55
    CMOS_REPORT 0x34, 0x56
    CMOS_REPORT 0x35, 0x57
    CMOS_REPORT 0x5b, 0x58
    CMOS_REPORT 0x5c, 0x59
    CMOS_REPORT 0x5d, 0x5a
    /* setting the clock: year 42, then century 21, then a bad BCD year */
    CMOS_WRITE 0x09, 0x42
    CMOS_REPORT 0x09, 0x60
    CMOS_REPORT 0x32, 0x61
    CMOS_WRITE 0x32, 0x21
    CMOS_REPORT 0x09, 0x62
    CMOS_REPORT 0x32, 0x63
    CMOS_WRITE 0x09, 0x4a
    CMOS_REPORT 0x09, 0x64
    /* Setting the time as Linux's mc146818_set_time() does: SET, then
     * year, month, day, hours, minutes, seconds, then SET off. The clock
     * stands still while SET is on: the test sleeps over a second on the
     * DEV_REQ_INPUT request, and the seconds still read what was written. */
    CMOS_WRITE 0x0b, 0x82       /* SET, 24-hour BCD */
    CMOS_WRITE 0x09, 0x31       /* 2131 (century 21 from above) */
    CMOS_WRITE 0x08, 0x02       /* February */
    CMOS_WRITE 0x07, 0x10       /* the 10th */
    CMOS_WRITE 0x04, 0x12
    CMOS_WRITE 0x02, 0x34
    CMOS_WRITE 0x00, 0x56
    mov     $DEV_REQ_PORT, %dx
    mov     $DEV_REQ_INPUT, %eax
    out     %eax, %dx
    CMOS_REPORT 0x00, 0x70
    CMOS_REPORT 0x08, 0x71
    CMOS_REPORT 0x07, 0x72
    CMOS_WRITE 0x0b, 0x02       /* SET off: the clock runs from the new time */
    CLOCK 0x78
    EXIT DEV_EXIT_OK
3:  hlt
    jmp     3b
