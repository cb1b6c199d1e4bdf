//! Runs real guests through the safe API. Guests are tiny machine-code
//! payloads: CPL0 code is emulated on the development machines (about 2M
//! instructions/s), so loops stay short; 64-bit CPL3 code runs natively.
use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use vmm::{
    errno, ConcurrentDevice, CpuModeConfig, Device, Error, Exit, Handled, Io, Reg, Space, Vcpu, Vm,
    VmConfig,
};

const LOAD: u64 = 0x1000;
const CONSOLE: u16 = 0x3f8;

/// 16-bit: mov $0x100f,%si; mov $0x3f8,%dx; 1: lodsb; test %al,%al; jz 2f;
/// out %al,%dx; jmp 1b; 2: hlt; then the NUL-terminated string at 0x100f.
const HELLO: &[u8] = b"\xbe\x0f\x10\xba\xf8\x03\xac\x84\xc0\x74\x03\xee\xeb\xf8\xf4Hello, world!\n\0";

/// mov $0x3f8,%dx; out %al,(%dx); hlt  (AL preset by the host)
const OUT_AL_HLT: &[u8] = &[0xba, 0xf8, 0x03, 0xee, 0xf4];

/// mov $0x3f8,%dx; 1: out %al,(%dx); jmp 1b
const OUT_LOOP: [u8; 6] = [0xba, 0xf8, 0x03, 0xee, 0xeb, 0xfd];

/// jmp . (spins until stopped or kicked)
const SPIN: &[u8] = &[0xeb, 0xfe];

/// A VM with `vcpus` vCPUs, 64 KiB of RAM at 0 holding `code` at 0x1000.
fn real_mode_vm(code: &[u8], vcpus: u32) -> Vm {
    let mut vm = Vm::with_vcpus(vcpus).expect("create VM");
    vm.add_ram(0, 0x10000).unwrap();
    vm.write(LOAD, code).unwrap();
    for mut v in vm.vcpus().unwrap() {
        v.set_cpu_mode(&CpuModeConfig::real()).unwrap();
        v.set_reg(Reg::Rip, LOAD).unwrap();
    }
    vm
}

/// Collects every byte written to its port; answers reads with `answer`.
#[derive(Default)]
struct Console {
    out: Vec<u8>,
    answer: u8,
}

impl Device for Console {
    fn name(&self) -> &str {
        "console"
    }
    fn pio(&mut self, _vcpu: &Vcpu<'_>, io: &mut Io<'_>) -> vmm::Result<Handled> {
        match (io.offset(), io.is_write()) {
            (0, true) => self.out.extend_from_slice(io.data()),
            (1, false) => io.set_value(self.answer.into()),
            _ => return Ok(Handled::No),
        }
        Ok(Handled::Yes)
    }
    fn reset(&mut self) {
        self.out.clear();
    }
}

#[test]
fn hello_via_device() {
    let mut vm = real_mode_vm(HELLO, 1);
    let console = vm.attach(Console::default()).unwrap();
    vm.map_pio(console.id(), CONSOLE, 1).unwrap();
    {
        let mut vcpu = vm.vcpu(0).unwrap();
        assert!(matches!(vcpu.run().unwrap(), Exit::Hlt));
    }
    assert_eq!(console.lock().out, b"Hello, world!\n");
    let stats = vm.device_stats(console.id()).unwrap();
    assert_eq!(stats.pio_writes, 14);
    let vs = vm.stats().unwrap();
    assert_eq!(vs.exits[vmm::sys::VMM_STAT_EXIT_PIO as usize], 14);
    assert_eq!(vs.exits[vmm::sys::VMM_STAT_EXIT_HLT as usize], 1);
    vm.reset_devices().unwrap();
    assert!(console.lock().out.is_empty());
}

#[test]
fn device_callbacks_both_directions() {
    let code = [
        0xba, 0xf9, 0x03, // mov $0x3f9,%dx
        0xec, //             in (%dx),%al      -> device answers 0x41
        0xfe, 0xc0, //       inc %al
        0xba, 0xf8, 0x03, // mov $0x3f8,%dx
        0xee, //             out %al,(%dx)     -> device sees 0x42
        0xba, 0x00, 0x05, // mov $0x500,%dx
        0xec, //             in (%dx),%al      -> nobody's: returned to run()'s caller
        0xba, 0xf8, 0x03, // mov $0x3f8,%dx
        0xee, //             out %al,(%dx)     -> device sees what the caller answered
        0xf4, //             hlt
    ];
    let mut vm = real_mode_vm(&code, 1);
    let console = vm.attach(Console { answer: 0x41, ..Default::default() }).unwrap();
    vm.map_pio(console.id(), CONSOLE, 2).unwrap();
    let mut vcpu = vm.vcpu(0).unwrap();
    match vcpu.run().unwrap() {
        Exit::Pio(mut p) => {
            assert_eq!((p.port, p.size, p.count, p.is_write), (0x500, 1, 1, false));
            assert_eq!(p.data, [0xff]); // open bus until answered
            p.set_value(0x10);
        }
        other => panic!("expected an unhandled IN, got {other:?}"),
    }
    assert!(matches!(vcpu.run().unwrap(), Exit::Hlt));
    drop(vcpu);
    assert_eq!(console.lock().out, [0x42, 0x10]);
}

#[test]
fn closure_device_reads_registers() {
    let mut vm = real_mode_vm(OUT_AL_HLT, 1);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    vm.attach_pio_fn("regs", CONSOLE, 1, move |vcpu, io| {
        let regs = vcpu.regs()?;
        s.lock().unwrap().push((io.value(), regs.rdx, vcpu.index()));
        // Registers written in a callback reach the guest.
        vcpu.set_reg(Reg::Rbx, 0xb0b)?;
        Ok(Handled::Yes)
    })
    .unwrap();
    let mut vcpu = vm.vcpu(0).unwrap();
    vcpu.set_reg(Reg::Rax, 0x7a).unwrap();
    assert!(matches!(vcpu.run().unwrap(), Exit::Hlt));
    assert_eq!(vcpu.reg(Reg::Rbx).unwrap(), 0xb0b);
    assert_eq!(*seen.lock().unwrap(), [(0x7a, 0x3f8, 0)]);
}

#[test]
fn mmio_device_and_unhandled_mmio() {
    let code = [
        0xb8, 0x00, 0xd0, //             mov $0xd000,%ax
        0x8e, 0xd8, //                   mov %ax,%ds
        0xc6, 0x06, 0x10, 0x00, 0x5a, // movb $0x5a,0x10   -> device write, offset 0x10
        0xa0, 0x20, 0x00, //             mov 0x20,%al      -> device read, offset 0x20
        0xba, 0xf8, 0x03, //             mov $0x3f8,%dx
        0xee, //                         out %al,(%dx)     -> unhandled PIO: shows AL
        0xb8, 0x00, 0xe0, //             mov $0xe000,%ax
        0x8e, 0xd8, //                   mov %ax,%ds
        0xa0, 0x00, 0x00, //             mov 0x0,%al       -> unhandled MMIO read at 0xe0000
        0xee, //                         out %al,(%dx)
        0xf4, //                         hlt
    ];
    let mut vm = real_mode_vm(&code, 1);
    let writes = Arc::new(Mutex::new(Vec::new()));
    let w = writes.clone();
    vm.attach_mmio_fn("regs", 0xd0000, 0x1000, move |_vcpu, io| {
        assert_eq!(io.space(), Space::Mmio);
        if io.is_write() {
            w.lock().unwrap().push((io.offset(), io.value()));
        } else {
            assert_eq!(io.offset(), 0x20);
            io.set_value(0x77);
        }
        Ok(Handled::Yes)
    })
    .unwrap();
    let mut vcpu = vm.vcpu(0).unwrap();
    match vcpu.run().unwrap() {
        Exit::Pio(p) => assert_eq!((p.port, p.is_write, p.value()), (0x3f8, true, 0x77)),
        other => panic!("{other:?}"),
    }
    match vcpu.run().unwrap() {
        Exit::Mmio(mut m) => {
            assert_eq!((m.gpa, m.is_write, m.data.len()), (0xe0000, false, 1));
            m.set_value(0x99);
        }
        other => panic!("{other:?}"),
    }
    match vcpu.run().unwrap() {
        Exit::Pio(p) => assert_eq!(p.value(), 0x99),
        other => panic!("{other:?}"),
    }
    assert!(matches!(vcpu.run().unwrap(), Exit::Hlt));
    assert_eq!(*writes.lock().unwrap(), [(0x10, 0x5a)]);
}

struct Panicky;
impl Device for Panicky {
    fn name(&self) -> &str {
        "panicky"
    }
    fn pio(&mut self, _: &Vcpu<'_>, _: &mut Io<'_>) -> vmm::Result<Handled> {
        panic!("boom from a device");
    }
}

#[test]
fn panic_in_callback_becomes_an_error() {
    let mut vm = real_mode_vm(&OUT_LOOP, 1);
    let dev = vm.attach(Panicky).unwrap();
    vm.map_pio(dev.id(), CONSOLE, 1).unwrap();
    let mut vcpu = vm.vcpu(0).unwrap();
    let err = vcpu.run().unwrap_err();
    assert_eq!(err.errno(), errno::EIO);
    assert!(err.is_panic());
    assert!(err.message().contains("boom from a device"), "{err}");
    assert!(err.message().contains("device 'panicky'"), "{err}");
    // The payload can continue the panic on this thread.
    let resumed = catch_unwind(AssertUnwindSafe(|| err.resume_panic())).unwrap_err();
    assert_eq!(resumed.downcast_ref::<&str>(), Some(&"boom from a device"));

    // The device is poisoned now: its next access fails without a panic.
    let err = vcpu.run().unwrap_err();
    assert!(!err.is_panic());
    assert!(err.message().contains("poisoned"), "{err}");
    assert!(dev.is_poisoned());
    // Cleared, the device's callback runs (and panics) again.
    dev.clear_poison();
    assert!(!dev.is_poisoned());
    let err = vcpu.run().unwrap_err();
    assert!(err.is_panic(), "{err}");
    assert!(dev.is_poisoned());
    drop(vcpu);
    assert_eq!(vm.device_stats(dev.id()).unwrap().errors, 3);
}

#[test]
fn io_error_in_callback_keeps_its_errno() {
    let mut vm = real_mode_vm(OUT_AL_HLT, 1);
    vm.attach_pio_fn("io", CONSOLE, 1, |_, _| {
        // `?` turns the io::Error into a vmm::Error (From<std::io::Error>).
        Err(std::io::Error::from_raw_os_error(errno::EACCES))?;
        Ok(Handled::Yes)
    })
    .unwrap();
    let mut vcpu = vm.vcpu(0).unwrap();
    let err = vcpu.run().unwrap_err();
    assert_eq!(err.errno(), errno::EACCES);
    assert!(err.message().contains("device 'io' failed"), "{err}");
    assert!(err.message().contains("os error 13"), "{err}");
}

#[test]
fn callback_error_carries_errno_and_text() {
    let mut vm = real_mode_vm(OUT_AL_HLT, 1);
    vm.attach_pio_fn("strict", CONSOLE, 1, |_, _| Err(Error::new(errno::EPERM, "writes are not allowed")))
        .unwrap();
    let mut vcpu = vm.vcpu(0).unwrap();
    let err = vcpu.run().unwrap_err();
    assert_eq!(err.errno(), errno::EPERM);
    assert!(!err.is_panic());
    let text = err.to_string();
    assert!(text.contains("device 'strict' failed a 1-byte write to port 0x3f8"), "{text}");
    assert!(text.contains("writes are not allowed"), "{text}");
}

#[test]
fn multi_vcpu_vm_run() {
    let mut vm = real_mode_vm(OUT_AL_HLT, 4);
    for v in vm.vcpus().unwrap() {
        v.set_reg(Reg::Rax, 0x30 + u64::from(v.index())).unwrap();
    }
    let seen = Arc::new(Mutex::new(BTreeSet::new()));
    let s = seen.clone();
    vm.attach_pio_fn("console", CONSOLE, 1, move |vcpu, io| {
        s.lock().unwrap().insert((vcpu.index(), io.value()));
        Ok(Handled::Yes)
    })
    .unwrap();
    let exit = vm.run().unwrap();
    assert!(matches!(exit.exit, Exit::Hlt), "{exit:?}");
    let expect: BTreeSet<_> = (0..4).map(|i| (i, 0x30 + u64::from(i))).collect();
    assert_eq!(*seen.lock().unwrap(), expect);
}

/// Counts accesses without a lock: callbacks may overlap.
#[derive(Default)]
struct Counter(AtomicU64);
impl ConcurrentDevice for Counter {
    fn name(&self) -> &str {
        "counter"
    }
    fn pio(&self, _: &Vcpu<'_>, _: &mut Io<'_>) -> vmm::Result<Handled> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(Handled::Yes)
    }
}

#[test]
fn vcpus_on_scoped_threads_with_concurrent_device() {
    let mut vm = real_mode_vm(OUT_AL_HLT, 3);
    let counter = Arc::new(Counter::default());
    let id = vm.attach_concurrent(counter.clone()).unwrap();
    vm.map_pio(id, CONSOLE, 1).unwrap();
    let vm = &vm;
    std::thread::scope(|s| {
        for mut vcpu in vm.vcpus().unwrap() {
            s.spawn(move || assert!(matches!(vcpu.run().unwrap(), Exit::Hlt)));
        }
    });
    assert_eq!(counter.0.load(Ordering::Relaxed), 3);
}

#[test]
fn stop_from_another_thread() {
    let mut vm = real_mode_vm(SPIN, 2);
    let stop = vm.stop_handle();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        assert!(stop.stop());
        stop
    });
    let exit = vm.run().unwrap();
    assert!(matches!(exit.exit, Exit::Stopped), "{exit:?}");
    let stop = t.join().unwrap();
    drop(vm);
    assert!(!stop.stop(), "a stop handle must not reach a dropped VM");
}

#[test]
fn kick_a_vcpu_running_on_another_thread() {
    let vm = real_mode_vm(SPIN, 1);
    let mut vcpu = vm.vcpu(0).unwrap();
    let kicker = vcpu.kicker();
    std::thread::scope(|s| {
        let runner = s.spawn(move || matches!(vcpu.run().unwrap(), Exit::Kicked));
        std::thread::sleep(Duration::from_millis(200));
        kicker.kick().unwrap();
        assert!(runner.join().unwrap());
    });
}

#[test]
fn stop_from_inside_a_callback() {
    // The device stops the VM on the third write.
    let mut vm = real_mode_vm(&OUT_LOOP, 1);
    let mut n = 0;
    vm.attach_pio_fn("stopper", CONSOLE, 1, move |vcpu, _| {
        n += 1;
        if n == 3 {
            vcpu.stop_vm()?;
        }
        Ok(Handled::Yes)
    })
    .unwrap();
    let exit = vm.run().unwrap();
    assert!(matches!(exit.exit, Exit::Stopped), "{exit:?}");
}

/// Real mode: hypercall 7 with (5, 6), keep the result in EBX, then call
/// the unregistered 99, then hlt.
const HYPERCALLS: &[u8] = &[
    0x66, 0xb8, 0x07, 0x00, 0x00, 0x00, // mov $7,%eax
    0x66, 0xbf, 0x05, 0x00, 0x00, 0x00, // mov $5,%edi
    0x66, 0xbe, 0x06, 0x00, 0x00, 0x00, // mov $6,%esi
    0xba, 0x00, 0x06, //                   mov $0x600,%dx
    0x66, 0xef, //                         out %eax,(%dx)
    0x66, 0x89, 0xc3, //                   mov %eax,%ebx
    0x66, 0xb8, 0x63, 0x00, 0x00, 0x00, // mov $99,%eax
    0x66, 0xef, //                         out %eax,(%dx)
    0xf4, //                               hlt
];

#[test]
fn hypercall() {
    let mut vm = real_mode_vm(HYPERCALLS, 1);
    vm.register_hypercall(7, |vcpu, call| {
        assert_eq!(vcpu.index(), 0);
        Ok(call.args[0] * call.args[1] + call.nr)
    })
    .unwrap();
    assert_eq!(vm.register_hypercall(7, |_, _| Ok(0)).unwrap_err().errno(), errno::EEXIST);
    let mut vcpu = vm.vcpu(0).unwrap();
    assert!(matches!(vcpu.run().unwrap(), Exit::Hlt));
    let regs = vcpu.regs().unwrap();
    assert_eq!(regs.rbx, 37);
    assert_eq!(regs.rax as i64, -i64::from(errno::ENOSYS));
    drop(vcpu);
    assert_eq!(vm.stats().unwrap().exits[vmm::sys::VMM_STAT_EXIT_HYPERCALL as usize], 2);
    vm.unregister_hypercall(7).unwrap();
    assert_eq!(vm.unregister_hypercall(7).unwrap_err().errno(), errno::ENOENT);
}

#[test]
fn hypercall_error_and_panic() {
    let mut vm = real_mode_vm(HYPERCALLS, 1);
    vm.register_hypercall(7, |_, _| Err(Error::new(errno::EACCES, "denied by policy"))).unwrap();
    let mut vcpu = vm.vcpu(0).unwrap();
    let err = vcpu.run().unwrap_err();
    assert_eq!(err.errno(), errno::EACCES);
    assert!(err.message().contains("hypercall 7") && err.message().contains("denied by policy"), "{err}");
    drop(vcpu);

    let mut vm = real_mode_vm(HYPERCALLS, 1);
    vm.register_hypercall(7, |_, call| panic!("hypercall {} exploded", call.nr)).unwrap();
    let err = vm.run().unwrap_err();
    assert!(err.is_panic());
    assert!(err.message().contains("hypercall 7 exploded"), "{err}");
}

#[test]
fn long_mode_user_guest() {
    let code = [
        0x66, 0xba, 0xf8, 0x03, // mov $0x3f8,%dx
        0xb0, b'L', //             mov $'L',%al
        0xee, //                   out %al,(%dx)
        0x66, 0xba, 0x00, 0x05, // mov $0x500,%dx
        0xee, //                   out %al,(%dx)  -> unhandled: ends the guest (no HLT at CPL3)
    ];
    let mut vm = Vm::new().unwrap();
    vm.add_ram(0, 0x200000).unwrap();
    vm.write(LOAD, &code).unwrap();
    let console = vm.attach(Console::default()).unwrap();
    vm.map_pio(console.id(), CONSOLE, 1).unwrap();
    let mut vcpu = vm.vcpu(0).unwrap();
    let need = vmm::cpu_mode_tables_size(vmm::CpuMode::Long, 0x200000).unwrap();
    assert!(need <= 0x100000);
    vcpu.set_cpu_mode(&CpuModeConfig::long(0x100000, 0x100000).identity_map_size(0x200000).user(true))
        .unwrap();
    vcpu.set_reg(Reg::Rip, LOAD).unwrap();
    assert_eq!(vcpu.sregs().unwrap().cs.dpl, 3);
    match vcpu.run().unwrap() {
        Exit::Pio(p) => assert_eq!((p.port, p.is_write), (0x500, true)),
        other => panic!("{other:?}"),
    }
    drop(vcpu);
    assert_eq!(console.lock().out, b"L");
}

#[test]
fn error_text_from_the_library() {
    let mut vm = Vm::new().unwrap();
    let err = vm.add_ram(0x1001, 0x1000).unwrap_err();
    assert_eq!(err.errno(), errno::EINVAL);
    assert!(err.message().contains("0x1001"), "{err}");
    assert_eq!(err.errno_name(), "Invalid argument");
    assert!(err.to_string().ends_with("(Invalid argument)"), "{err}");

    let err = Vm::with_config(&VmConfig::new().vcpus(0)).unwrap_err();
    assert_eq!(err.errno(), errno::EINVAL);
    assert!(!err.message().is_empty());

    let mut buf = [0u8; 4];
    assert_eq!(vm.read(0x5000_0000, &mut buf).unwrap_err().errno(), errno::EFAULT);

    // Overlapping devices: the sentence names both.
    let a = vm.attach_pio_fn("first", 0x10, 4, |_, _| Ok(Handled::Yes)).unwrap();
    let err = vm.attach_pio_fn("second", 0x12, 4, |_, _| Ok(Handled::Yes)).unwrap_err();
    assert_eq!(err.errno(), errno::EBUSY);
    assert!(err.message().contains("first") && err.message().contains("second"), "{err}");

    // Ids of detached devices stay dead.
    vm.detach(a).unwrap();
    assert_eq!(vm.map_pio(a, 0x10, 1).unwrap_err().errno(), errno::ENOENT);
    assert_eq!(vm.attach_pio_fn("nul\0name", 0x20, 1, |_, _| Ok(Handled::Yes)).unwrap_err().errno(), errno::EINVAL);
}

#[test]
fn one_handle_per_vcpu() {
    let vm = Vm::with_vcpus(2).unwrap();
    let v0 = vm.vcpu(0).unwrap();
    assert_eq!(vm.vcpu(0).unwrap_err().errno(), errno::EBUSY);
    assert_eq!(vm.vcpu(2).unwrap_err().errno(), errno::ENOENT);
    drop(v0);
    assert_eq!(vm.vcpus().unwrap().len(), 2);
}

#[test]
fn log_callback_receives_errors() {
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    vmm::set_log_callback(vmm::LogLevel::Error, move |level, msg| {
        if msg.contains("0x7001") {
            g.lock().unwrap().push((level, msg.to_owned()));
        }
    })
    .unwrap();
    let mut vm = Vm::new().unwrap();
    assert!(vm.add_ram(0x7001, 0x1000).is_err());
    vmm::clear_log_callback().unwrap();
    let got = got.lock().unwrap();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, vmm::LogLevel::Error);
}

#[test]
fn version_and_features() {
    vmm::check_version().unwrap();
    assert_eq!(vmm::version().0, vmm::sys::VMM_VERSION_MAJOR);
    assert!(!vmm::version_string().is_empty());
    assert!(vmm::has_feature(vmm::Feature::Hypercalls).unwrap());
    let vm = Vm::new().unwrap();
    let mut vcpu = vm.vcpu(0).unwrap();
    let leaves = vcpu.cpuid().unwrap();
    assert!(leaves.iter().any(|e| e.function == 0));
    vcpu.set_cpuid(&leaves).unwrap();
}
