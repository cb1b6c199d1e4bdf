//! A PC VM with the built-in COM1 and debug-exit port, loading a raw
//! 64-bit image: the example of docs/bindings-rust.md ("Platform PC,
//! built-in devices and loaders"), twin of the Python one there.
use std::sync::{Arc, Mutex};

use vmm::{BootConfig, CpuMode, Exit, Platform, RequestKind, SerialConfig, Vm, VmConfig, DEBUG_EXIT_PORT};

/// 64-bit code: print "hi\n" on COM1 (one OUT per byte), then write
/// 0x600d to the debug-exit port, which ends the run.
const GUEST: &[u8] = &[
    0x66, 0xba, 0xf8, 0x03, //                   mov $0x3f8,%dx
    0xb0, b'h', 0xee, 0xb0, b'i', 0xee, 0xb0, b'\n', 0xee, // mov $c,%al; out %al,(%dx)
    0x66, 0xba, 0xf4, 0x00, //                   mov $0xf4,%dx
    0xb8, 0x0d, 0x60, 0x00, 0x00, 0xef, //       mov $0x600d,%eax; out %eax,(%dx)
    0xeb, 0xfe, //                               jmp .
];

fn main() -> vmm::Result<()> {
    let mut vm = Vm::with_config(&VmConfig::new().platform(Platform::Pc).vcpus(1))?;
    vm.pc_add_ram(64 << 20)?; // RAM below 0x9fc00 and from 1 MiB up
    for e in vm.e820()? {
        println!("e820: {:#010x}-{:#010x} {:?}", e.addr, e.end(), e.kind);
    }
    let out = Arc::new(Mutex::new(Vec::new()));
    let sink = out.clone();
    vm.attach_serial(SerialConfig::new().output(move |bytes| sink.lock().unwrap().extend_from_slice(bytes)))?;
    vm.attach_debug_exit(DEBUG_EXIT_PORT)?;
    let info = vm.boot_load(&BootConfig::raw(GUEST, 0x100000, CpuMode::Long))?;
    println!("loaded {:?} at {:#x}, entry {:#x}", info.format, info.kernel_gpa, info.entry);

    let mut vcpu = vm.vcpu(0)?;
    match vcpu.run()? {
        Exit::Request { kind: RequestKind::DebugExit, value } => println!("debug exit {value:#x}"),
        other => panic!("unexpected exit: {other:?}"),
    }
    print!("guest said: {}", String::from_utf8_lossy(&out.lock().unwrap()));
    Ok(())
}
