/**
 * @file legacy.h
 * @brief Built-in legacy PC devices: the i8042 keyboard controller (enough
 *        for `reboot=k`), the CMOS real-time clock, and a debug-exit port
 *        for test payloads. All written against the public device API.
 */
#ifndef VMM_DEVICES_LEGACY_H
#define VMM_DEVICES_LEGACY_H

#include <vmm/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief Attach an i8042 controller on ports 0x60 and 0x64: status and
 *        command/data registers with no keyboard behind them. Command 0xFE
 *        (pulse the reset line) ends the run with VMM_EXIT_REQUEST, kind
 *        VMM_REQUEST_RESET.
 * @param[out] out May be NULL.
 * @return 0; -EINVAL (NULL vm); -EBUSY (ports taken); -ENOMEM.
 */
VMM_API int vmm_i8042_attach(vmm_vm *vm, vmm_device **out);

/**
 * @brief Attach a CMOS RTC (MC146818) on ports 0x70-0x71 reading the host's
 *        current UTC time, in BCD or binary and 12/24-hour form as status
 *        register B selects, with 128 bytes of CMOS memory (the memory-size
 *        bytes 0x30/0x31 and 0x34/0x35 filled from the VM's RAM).
 * @return 0; -EINVAL; -EBUSY; -ENOMEM.
 */
VMM_API int vmm_rtc_attach(vmm_vm *vm, vmm_device **out);

/** QEMU's isa-debug-exit port, the default for vmm_debug_exit_attach(). */
#define VMM_DEBUG_EXIT_PORT 0xf4

/**
 * @brief Attach a debug-exit port: a guest write of a value v (1, 2 or 4
 *        bytes) ends the run with VMM_EXIT_REQUEST, kind
 *        VMM_REQUEST_DEBUG_EXIT, value v. Reads return 0xff.
 * @param port 4 ports from @p port are claimed (so 4-byte writes fit).
 * @return 0; -EINVAL; -EBUSY; -ENOMEM.
 */
VMM_API int vmm_debug_exit_attach(vmm_vm *vm, uint16_t port, vmm_device **out);

#ifdef __cplusplus
}
#endif

#endif /* VMM_DEVICES_LEGACY_H */
