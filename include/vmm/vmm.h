/**
 * @file vmm.h
 * @brief libvmm umbrella header: include this one.
 *
 * libvmm is an embeddable hypervisor library over Linux KVM on x86-64. A host
 * program creates a VM (vm.h), gives it memory (memory.h), sets up vCPUs
 * (vcpu.h), attaches callback device models (device.h) and hypercalls
 * (hypercall.h), and runs it. Errors are negative errno values with a
 * sentence in vmm_last_error() (error.h).
 */
#ifndef VMM_VMM_H
#define VMM_VMM_H

#include <vmm/common.h>
#include <vmm/device.h>
#include <vmm/devices/legacy.h>
#include <vmm/devices/serial.h>
#include <vmm/devices/virtio.h>
#include <vmm/error.h>
#include <vmm/exit.h>
#include <vmm/hypercall.h>
#include <vmm/loader.h>
#include <vmm/memory.h>
#include <vmm/pc.h>
#include <vmm/vcpu.h>
#include <vmm/version.h>
#include <vmm/vm.h>

#endif /* VMM_VMM_H */
