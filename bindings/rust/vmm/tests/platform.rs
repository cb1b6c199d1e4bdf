//! Platform PC, the built-in devices and the loaders through the safe API,
//! with tiny guests: they talk through the built-in 16550A on COM1 and end
//! through the debug-exit port (on platform PC, HLT does not leave the
//! in-kernel irqchip). CPL0 code is emulated on the development machines,
//! so every guest is a few dozen instructions.
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use vmm::{
    errno, BootConfig, BootFlags, CpuMode, CpuModeConfig, CpuidOverride, CpuidReg, Device, E820Entry, E820Type,
    Exit, Feature, Handled, ImageFormat, Io, Platform, Reg, RequestKind, SerialConfig, Vcpu, Vm, VmConfig,
    COM1_PORT, DEBUG_EXIT_PORT,
};

const MIB: u64 = 1 << 20;
const LEGACY_START: u64 = 0x9fc00;
const LEGACY_END: u64 = 0x100000;
const CODE: u64 = 0x1000;
const RAW_GPA: u64 = 0x100000;

/// Assembles the test guests for 16-bit real mode, 32-bit protected mode
/// or 64-bit long mode (only operand-size prefixes differ).
mod asm {
    pub fn mov_dx(port: u16, bits: u32) -> Vec<u8> {
        let mut v = if bits != 16 { vec![0x66] } else { vec![] };
        v.push(0xba);
        v.extend_from_slice(&port.to_le_bytes());
        v
    }

    /// mov $code,%dx=0xf4; mov $code,%eax; out %eax,(%dx); jmp .
    pub fn debug_exit(code: u32, bits: u32) -> Vec<u8> {
        let p: &[u8] = if bits == 16 { &[0x66] } else { &[] };
        let mut v = mov_dx(super::DEBUG_EXIT_PORT, bits);
        v.extend_from_slice(p);
        v.push(0xb8);
        v.extend_from_slice(&code.to_le_bytes());
        v.extend_from_slice(p);
        v.extend_from_slice(&[0xef, 0xeb, 0xfe]);
        v
    }

    /// One OUT per byte of `text` to COM1's THR, then the debug exit.
    pub fn serial_write(text: &[u8], code: u32, bits: u32) -> Vec<u8> {
        let mut v = mov_dx(super::COM1_PORT, bits);
        for &b in text {
            v.extend_from_slice(&[0xb0, b, 0xee]); // mov $b,%al; out %al,(%dx)
        }
        v.extend(debug_exit(code, bits));
        v
    }

    /// Poll LSR.DR, read RBR, echo it to THR, until '\n'; then the debug exit.
    pub fn serial_echo_line(code: u32, bits: u32) -> Vec<u8> {
        let mut v = mov_dx(super::COM1_PORT + 5, bits);
        let poll = v.len();
        v.extend_from_slice(&[0xec, 0xa8, 0x01, 0x74]); // in; test $1,%al; jz poll
        v.push((poll as i32 - (v.len() as i32 + 1)) as u8);
        v.extend(mov_dx(super::COM1_PORT, bits));
        v.extend_from_slice(&[0xec, 0xee, 0x3c, 0x0a, 0x75]); // in; out; cmp $'\n'; jne 0
        v.push((-(v.len() as i32 + 1)) as u8);
        v.extend(debug_exit(code, bits));
        v
    }

    /// A Multiboot kernel (a.out kludge: addresses in the header) loaded at
    /// `load`: checks EAX == 0x2BADB002, prints `text`, exits with
    /// `ok`; exits with `bad` if EAX is wrong.
    pub fn multiboot(load: u32, text: &[u8], ok: u32, bad: u32) -> Vec<u8> {
        const MAGIC: u32 = 0x1bad_b002;
        let flags: u32 = (1 << 1) | (1 << 16);
        let mut v = Vec::new();
        for w in [MAGIC, flags, MAGIC.wrapping_add(flags).wrapping_neg(), load, load, 0, 0, load + 32] {
            v.extend_from_slice(&w.to_le_bytes());
        }
        v.push(0x3d); // cmp $0x2badb002,%eax
        v.extend_from_slice(&0x2bad_b002u32.to_le_bytes());
        let good = serial_write(text, ok, 32);
        v.extend_from_slice(&[0x0f, 0x85]); // jne bad
        v.extend_from_slice(&(good.len() as i32).to_le_bytes());
        v.extend(good);
        v.extend(debug_exit(bad, 32));
        v
    }
}

/// Collects serial output; clones share the buffer.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    fn config(&self) -> SerialConfig {
        let c = self.clone();
        SerialConfig::new().output(move |bytes| c.0.lock().unwrap().extend_from_slice(bytes))
    }
    fn text(&self) -> Vec<u8> {
        self.0.lock().unwrap().clone()
    }
}

/// Platform NONE, 64 KiB of RAM, `code` at 0x1000 entered in real mode.
fn real_mode_vm(code: &[u8]) -> Vm {
    let mut vm = Vm::new().unwrap();
    vm.add_ram(0, 0x10000).unwrap();
    vm.write(CODE, code).unwrap();
    let mut v = vm.vcpu(0).unwrap();
    v.set_cpu_mode(&CpuModeConfig::real()).unwrap();
    v.set_reg(Reg::Rip, CODE).unwrap();
    drop(v);
    vm
}

/// A 2 MiB PC VM.
fn pc_vm(vcpus: u32) -> Vm {
    let mut vm = Vm::with_config(&VmConfig::new().platform(Platform::Pc).vcpus(vcpus)).unwrap();
    vm.pc_add_ram(2 * MIB).unwrap();
    vm
}

fn run_request(vm: &Vm) -> (RequestKind, u64) {
    let mut v = vm.vcpu(0).unwrap();
    match v.run().unwrap() {
        Exit::Request { kind, value } => (kind, value),
        other => panic!("expected a request exit, got {other:?}"),
    }
}

#[test]
fn open_bus_answers_unclaimed_ports() {
    // Nothing on COM1: with open_bus the guest's three OUTs are dropped
    // and it reaches its debug exit.
    let mut vm = Vm::with_config(&VmConfig::new().open_bus(true)).unwrap();
    vm.add_ram(0, 0x10000).unwrap();
    vm.write(CODE, &asm::serial_write(b"abc", 0x33, 16)).unwrap();
    let mut v = vm.vcpu(0).unwrap();
    v.set_cpu_mode(&CpuModeConfig::real()).unwrap();
    v.set_reg(Reg::Rip, CODE).unwrap();
    drop(v);
    vm.attach_debug_exit(DEBUG_EXIT_PORT).unwrap();
    assert_eq!(run_request(&vm), (RequestKind::DebugExit, 0x33));
    let stats = vm.stats().unwrap();
    assert_eq!(stats.exits[vmm_sys::VMM_STAT_EXIT_OPEN_BUS as usize], 3);
    assert_eq!(stats.exits[vmm_sys::VMM_STAT_EXIT_UNHANDLED as usize], 0);
}

#[test]
fn pc_ram_and_e820() {
    let vm = pc_vm(2);
    assert_eq!(vm.platform(), Platform::Pc);
    assert_eq!(vm.num_vcpus(), 2);
    let map = vm.e820().unwrap();
    assert_eq!(
        map,
        [
            E820Entry::new(0, LEGACY_START, E820Type::Ram),
            E820Entry::new(LEGACY_START, LEGACY_END - LEGACY_START, E820Type::Reserved),
            E820Entry::new(LEGACY_END, 2 * MIB - LEGACY_END, E820Type::Ram),
        ]
    );
    assert_eq!(map[2].end(), 2 * MIB);
    vm.write(2 * MIB - 4, b"high").unwrap();
    let mut buf = [0u8; 4];
    vm.read(2 * MIB - 4, &mut buf).unwrap();
    assert_eq!(&buf, b"high");

    let mut none = Vm::new().unwrap();
    let err = none.pc_add_ram(2 * MIB).unwrap_err();
    assert_eq!(err.errno(), errno::EINVAL);
    assert!(err.message().contains("VMM_PLATFORM_PC"), "{err}");
    let mut pc = Vm::with_config(&VmConfig::new().platform(Platform::Pc)).unwrap();
    assert_eq!(pc.pc_add_ram(MIB).unwrap_err().errno(), errno::EINVAL);
}

#[test]
fn cpuid_policy() {
    const HYPERVISOR: u32 = 1 << 31; // CPUID.1:ECX[31]
    let leaf1 = |vm: &Vm, i: u32| vm.vcpu(i).unwrap().cpuid().unwrap().into_iter().find(|e| e.function == 1).unwrap();
    let mut vm = Vm::with_config(&VmConfig::new().platform(Platform::Pc).vcpus(2)).unwrap();
    let before = leaf1(&vm, 0);
    vm.set_cpuid_policy(&[CpuidOverride::new(1, CpuidReg::Ecx).clear_bits(HYPERVISOR)]).unwrap();
    for i in 0..2 {
        assert_eq!(leaf1(&vm, i).ecx, before.ecx & !HYPERVISOR);
    }
    // A leaf the vCPUs lack: ENOENT naming it, and nothing changes.
    let err = vm
        .set_cpuid_policy(&[
            CpuidOverride::new(1, CpuidReg::Ecx).set_bits(HYPERVISOR),
            CpuidOverride::new(0x4fff_fff0, CpuidReg::Eax).set_bits(1),
        ])
        .unwrap_err();
    assert_eq!(err.errno(), errno::ENOENT);
    assert!(err.message().contains("0x4ffffff0"), "{err}");
    assert_eq!(leaf1(&vm, 1).ecx, before.ecx & !HYPERVISOR);
    assert_eq!(vm.set_cpuid_policy(&[]).unwrap_err().errno(), errno::EINVAL);
}

#[test]
fn set_irq_needs_an_irqchip() {
    const ENODEV: i32 = 19;
    let mut vm = Vm::new().unwrap();
    let id = vm.attach_pio_fn("sink", 0x80, 1, |_, _| Ok(Handled::Yes)).unwrap();
    let err = vm.set_irq(id, 4, true).unwrap_err();
    assert_eq!(err.errno(), ENODEV);
    assert!(err.message().contains("vmm_device_set_irq"), "{err}");
    assert!(err.message().contains("no irqchip"), "{err}");
    assert!(err.message().contains("sink"), "{err}");
    assert_eq!(vm.irq_line(id).unwrap().set_irq(4, true).unwrap_err().errno(), ENODEV);

    let mut pc = pc_vm(1);
    let id = pc.attach_pio_fn("sink", 0x80, 1, |_, _| Ok(Handled::Yes)).unwrap();
    pc.set_irq(id, 5, true).unwrap();
    pc.set_irq(id, 5, false).unwrap();
    assert_eq!(pc.set_irq(id, 24, true).unwrap_err().errno(), errno::EINVAL);
    // A line handle used from another thread, then outliving its device.
    let line = pc.irq_line(id).unwrap();
    let l = line.clone();
    std::thread::spawn(move || l.set_irq(23, true)).join().unwrap().unwrap();
    pc.detach(id).unwrap();
    assert_eq!(line.set_irq(23, false).unwrap_err().errno(), errno::ENOENT);
    assert_eq!(pc.set_irq(id, 5, true).unwrap_err().errno(), errno::ENOENT);
}

#[test]
fn serial_output_and_debug_exit() {
    let mut vm = real_mode_vm(&asm::serial_write(b"Hi!\n", 0x2a, 16));
    let out = Capture::default();
    let com1 = vm.attach_serial(out.config()).unwrap();
    vm.attach_debug_exit(DEBUG_EXIT_PORT).unwrap();
    assert_eq!(run_request(&vm), (RequestKind::DebugExit, 0x2a));
    assert_eq!(out.text(), b"Hi!\n");
    assert_eq!(vm.device_stats(com1.id()).unwrap().pio_writes, 4);
    // An irq on a VM without an irqchip is refused at attach time.
    assert_eq!(vm.attach_serial(SerialConfig::new().port(0x2f8).irq(3)).unwrap_err().errno(), errno::EINVAL);
}

#[test]
fn serial_output_to_an_fd() {
    let (mut reader, writer) = UnixStream::pair().unwrap();
    let mut vm = real_mode_vm(&asm::serial_write(b"fd out", 1, 16));
    vm.attach_serial(SerialConfig::new().output_fd(writer)).unwrap();
    vm.attach_debug_exit(DEBUG_EXIT_PORT).unwrap();
    assert_eq!(run_request(&vm), (RequestKind::DebugExit, 1));
    drop(vm); // closes the writer the VM kept
    let mut got = Vec::new();
    reader.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"fd out");
}

#[test]
fn serial_input_read_back_by_the_guest() {
    let mut vm = real_mode_vm(&asm::serial_echo_line(0x600d, 16));
    let out = Capture::default();
    let com1 = vm.attach_serial(out.config()).unwrap();
    vm.attach_debug_exit(DEBUG_EXIT_PORT).unwrap();
    assert_eq!(com1.input(b"ping\n").unwrap(), 5);
    assert_eq!(run_request(&vm), (RequestKind::DebugExit, 0x600d));
    assert_eq!(out.text(), b"ping\n");

    // Input from another thread while the vCPU polls, and from an fd.
    let (mut feeder, guest_side) = UnixStream::pair().unwrap();
    let mut vm = real_mode_vm(&asm::serial_echo_line(2, 16));
    let out = Capture::default();
    let com1 = vm.attach_serial(out.config().input_fd(guest_side)).unwrap();
    vm.attach_debug_exit(DEBUG_EXIT_PORT).unwrap();
    let (c, echoed) = (com1.clone(), out.clone());
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        feeder.write_all(b"from ").unwrap();
        // Once the guest has echoed what came through the fd, add the rest.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while echoed.text().len() < 5 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        c.input(b"both\n").unwrap()
    });
    assert_eq!(run_request(&vm), (RequestKind::DebugExit, 2));
    assert_eq!(t.join().unwrap(), 5);
    assert_eq!(out.text(), b"from both\n");
}

#[test]
fn serial_input_limits_and_detach() {
    let mut vm = Vm::new().unwrap();
    let com1 = vm.attach_serial(SerialConfig::new()).unwrap();
    assert_eq!(com1.input(&[b'x'; 5000]).unwrap(), 16 + 4096);
    assert_eq!(com1.input(b"more").unwrap(), 0);
    vm.detach(com1.id()).unwrap();
    assert_eq!(com1.input(b"x").unwrap_err().errno(), errno::ENOENT);
    let again = vm.attach_serial(SerialConfig::new()).unwrap(); // ports free again
    drop(vm);
    assert_eq!(again.input(b"x").unwrap_err().errno(), errno::ENOENT);
}

#[test]
fn serial_output_panic_stops_the_run() {
    let mut vm = real_mode_vm(&asm::serial_write(b"xyz", 1, 16));
    vm.attach_serial(SerialConfig::new().output(|bytes| panic!("console gone at {:?}", bytes))).unwrap();
    vm.attach_debug_exit(DEBUG_EXIT_PORT).unwrap();
    let mut v = vm.vcpu(0).unwrap();
    let err = v.run().unwrap_err();
    assert!(err.is_panic());
    assert!(err.message().contains("serial output callback panicked: console gone at [120]"), "{err}");
    drop(v);
    // The same through vm.run() on library threads.
    let mut vm = real_mode_vm(&asm::serial_write(b"xyz", 1, 16));
    vm.attach_serial(SerialConfig::new().output(|_| panic!("again"))).unwrap();
    let err = vm.run().unwrap_err();
    assert!(err.message().contains("again"), "{err}");
}

#[test]
fn i8042_reset_and_rtc() {
    // mov $0xfe,%al; out %al,$0x64 (pulse the reset line); hlt
    let mut vm = real_mode_vm(&[0xb0, 0xfe, 0xe6, 0x64, 0xf4]);
    vm.attach_i8042().unwrap();
    assert_eq!(run_request(&vm).0, RequestKind::Reset);

    // mov $0x0a,%al; out %al,$0x70; in $0x71,%al; out %al,$0x80; hlt:
    // RTC status register A, divider bits 010 (the 32.768 kHz time base).
    let mut vm = real_mode_vm(&[0xb0, 0x0a, 0xe6, 0x70, 0xe4, 0x71, 0xe6, 0x80, 0xf4]);
    vm.attach_rtc().unwrap();
    assert_eq!(vm.attach_rtc().unwrap_err().errno(), errno::EBUSY);
    let mut v = vm.vcpu(0).unwrap();
    match v.run().unwrap() {
        Exit::Pio(p) => assert_eq!((p.port, p.value() & 0x70), (0x80, 0x20)),
        other => panic!("{other:?}"),
    }
}

struct Doorbell;
impl Device for Doorbell {
    fn pio(&mut self, vcpu: &Vcpu<'_>, io: &mut Io<'_>) -> vmm::Result<Handled> {
        vcpu.request_exit(RequestKind::User(7), io.value() * 2)?;
        Ok(Handled::Yes)
    }
}

#[test]
fn device_request_exit() {
    // mov $0x510,%dx; mov $0x15,%al; out %al,(%dx); hlt
    let mut vm = real_mode_vm(&[0xba, 0x10, 0x05, 0xb0, 0x15, 0xee, 0xf4]);
    let bell = vm.attach(Doorbell).unwrap();
    vm.map_pio(bell.id(), 0x510, 1).unwrap();
    let mut v = vm.vcpu(0).unwrap();
    match v.run().unwrap() {
        Exit::Request { kind, value } => assert_eq!((kind, value), (RequestKind::User(7), 0x2a)),
        other => panic!("{other:?}"),
    }
    assert_eq!(v.reg(Reg::Rip).unwrap(), CODE + 6); // after the OUT
    // Requested while not running: the next run returns at once.
    v.request_exit(RequestKind::PowerOff, 0).unwrap();
    assert!(matches!(v.run().unwrap(), Exit::Request { kind: RequestKind::PowerOff, value: 0 }));
    assert_eq!(v.request_exit(RequestKind::Other(0), 0).unwrap_err().errno(), errno::EINVAL);
    assert_eq!(v.request_exit(RequestKind::User(u32::MAX), 0).unwrap_err().errno(), errno::EINVAL);
    assert_eq!(RequestKind::from_raw(0x10007), RequestKind::User(7));
}

#[test]
fn raw_image_in_long_mode() {
    let code = asm::serial_write(b"raw64\n", 0x600d, 64);
    let mut vm = pc_vm(1);
    let out = Capture::default();
    vm.attach_serial(out.config()).unwrap();
    vm.attach_debug_exit(DEBUG_EXIT_PORT).unwrap();
    let info = vm.boot_load(&BootConfig::raw(&code, RAW_GPA, CpuMode::Long)).unwrap();
    assert_eq!(info.format, ImageFormat::Raw);
    assert_eq!((info.entry, info.kernel_gpa, info.kernel_end), (RAW_GPA, RAW_GPA, RAW_GPA + code.len() as u64));
    assert_eq!((info.initrd_gpa, info.initrd_size, info.boot_params_gpa), (0, 0, 0));
    {
        let v = vm.vcpu(0).unwrap();
        assert_eq!(v.reg(Reg::Rip).unwrap(), RAW_GPA);
        assert_ne!(v.reg(Reg::Efer).unwrap() & (1 << 10), 0, "EFER.LMA: long mode");
    }
    assert_eq!(run_request(&vm), (RequestKind::DebugExit, 0x600d));
    assert_eq!(out.text(), b"raw64\n");
}

#[test]
fn raw_image_reads_serial_input() {
    let code = asm::serial_echo_line(0x1234, 64);
    let mut vm = pc_vm(1);
    let out = Capture::default();
    let com1 = vm.attach_serial(out.config()).unwrap();
    vm.attach_debug_exit(DEBUG_EXIT_PORT).unwrap();
    vm.boot_load(&BootConfig::raw(&code, RAW_GPA, CpuMode::Long).entry(RAW_GPA)).unwrap();
    com1.input(b"echo me\n").unwrap();
    assert_eq!(run_request(&vm), (RequestKind::DebugExit, 0x1234));
    assert_eq!(out.text(), b"echo me\n");
}

#[test]
fn boot_load_refusals() {
    const ENOEXEC: i32 = 8;
    let mut vm = pc_vm(1);
    let err = vm.boot_load(&BootConfig::new(&[0u8; 4096])).unwrap_err();
    assert_eq!(err.errno(), ENOEXEC, "{err}");
    assert!(!err.message().is_empty());
    assert_eq!(vm.boot_load(&BootConfig::new(&[0x90]).cmdline("a\0b")).unwrap_err().errno(), errno::EINVAL);
    let err = vm.boot_load_files(std::path::Path::new("/nonexistent/vmlinuz"), None, None, BootFlags::NONE).unwrap_err();
    assert_eq!(err.errno(), errno::ENOENT);
    assert!(err.message().contains("/nonexistent/vmlinuz"), "{err}");
}

#[test]
fn multiboot_from_files() {
    let dir = std::env::temp_dir().join(format!("vmm-rust-mb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (kpath, ipath) = (dir.join("kernel"), dir.join("initrd"));
    std::fs::write(&kpath, asm::multiboot(0x100000, b"MB ok\n", 1, 0xbad)).unwrap();
    let initrd: Vec<u8> = (0..4096u32).map(|i| i as u8).collect();
    std::fs::write(&ipath, &initrd).unwrap();

    let mut vm = pc_vm(1);
    let out = Capture::default();
    vm.attach_serial(out.config()).unwrap();
    vm.attach_debug_exit(DEBUG_EXIT_PORT).unwrap();
    let info = vm.boot_load_files(&kpath, Some(&ipath), Some("console=ttyS0 quiet"), BootFlags::NONE).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(info.format, ImageFormat::Multiboot);
    assert_eq!((info.entry, info.kernel_gpa), (0x100000 + 32, 0x100000));
    assert_ne!(info.boot_params_gpa, 0);
    assert_eq!(info.initrd_size, initrd.len() as u64);
    let mut got = vec![0u8; initrd.len()];
    vm.read(info.initrd_gpa, &mut got).unwrap();
    assert_eq!(got, initrd);
    let mut cmdline = [0u8; 20];
    vm.read(info.cmdline_gpa, &mut cmdline).unwrap();
    assert_eq!(&cmdline, b"console=ttyS0 quiet\0");
    assert_eq!(vm.vcpu(0).unwrap().reg(Reg::Rbx).unwrap(), info.boot_params_gpa);
    assert_eq!(run_request(&vm), (RequestKind::DebugExit, 1)); // EAX held the magic
    assert_eq!(out.text(), b"MB ok\n");
}

#[test]
fn multiboot_modules_from_memory() {
    // The initrd is module 0; the others follow with their own strings, as
    // the multiboot_info module list shows (Multiboot 0.6.96 §3.3).
    let kernel = asm::multiboot(0x100000, b"", 1, 0xbad);
    let second = b"second".repeat(100);
    let mut vm = pc_vm(1);
    vm.attach_serial(SerialConfig::new()).unwrap();
    vm.attach_debug_exit(DEBUG_EXIT_PORT).unwrap();
    let cfg = BootConfig::new(&kernel)
        .format(ImageFormat::Multiboot)
        .initrd(b"initrd!")
        .module(b"first module", None)
        .module(&second, Some("mod2 arg=1"))
        .cmdline("k");
    let info = vm.boot_load(&cfg).unwrap();
    let word = |gpa: u64| {
        let mut b = [0u8; 4];
        vm.read(gpa, &mut b).unwrap();
        u32::from_le_bytes(b) as u64
    };
    let mbi = info.boot_params_gpa;
    assert_ne!(word(mbi) & (1 << 3), 0, "mods_count/mods_addr valid");
    assert_eq!(word(mbi + 20), 3);
    let mods = word(mbi + 24);
    for (i, want) in [&b"initrd!"[..], b"first module", &second].into_iter().enumerate() {
        let (start, end) = (word(mods + 16 * i as u64), word(mods + 16 * i as u64 + 4));
        let mut got = vec![0u8; (end - start) as usize];
        vm.read(start, &mut got).unwrap();
        assert_eq!(got, want, "module {i}");
    }
    let mut s = [0u8; 11];
    vm.read(word(mods + 16 * 2 + 8), &mut s).unwrap();
    assert_eq!(&s, b"mod2 arg=1\0");
    assert_eq!(run_request(&vm), (RequestKind::DebugExit, 1));
    let err = vm.boot_load(&BootConfig::new(&kernel).module(b"x", None)).unwrap_err();
    assert_eq!(err.errno(), errno::EINVAL, "modules need an initrd: {err}");
}

#[test]
fn features_and_version() {
    assert!(vmm::has_feature(Feature::PlatformPc).unwrap());
    for f in [Feature::ExtractGzip, Feature::ExtractXz, Feature::ExtractZstd, Feature::ExtractLz4] {
        vmm::has_feature(f).unwrap();
    }
    let (major, minor, _) = vmm::version();
    assert_eq!(major, 0);
    assert!(minor >= 2);
    vmm::check_version().unwrap();
    assert_eq!(COM1_PORT, 0x3f8);
}
