/* Spins forever (valid in every mode: EB FE). Used to test vmm_vm_stop()
 * and vmm_vcpu_kick() on a guest that never exits by itself. */
    .section .text.start, "ax"
    .globl _start
_start:
1:  jmp     1b
