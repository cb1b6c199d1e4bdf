//! The built-in virtio devices on real VMs (needs /dev/kvm; run-tests.sh
//! skips tests/*.rs without it). No guest drives the queues here: these
//! check attaching, placement, info, input and errors. The config
//! builders' own checks are unit tests in src/virtio.rs.
use std::io::Write;

use vmm::{
    errno, Platform, VirtioBlkConfig, VirtioConsoleConfig, VirtioDeviceType, VirtioNetConfig, VirtioRngConfig,
    VirtioTransport, VirtioTransportKind, Vm, VmConfig, VIRTIO_MMIO_BASE, VIRTIO_NO_IRQ, VIRTIO_PCI_MMIO_BASE,
    VIRTIO_PCI_MMIO_SIZE,
};

/// A 1 MiB raw image in the target's temporary directory.
fn image(name: &str) -> std::path::PathBuf {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(&vec![0u8; 1 << 20]).unwrap();
    path
}

#[test]
fn mmio_devices_info_and_cmdline() {
    let mut vm = Vm::new().unwrap(); // platform NONE: no interrupt lines
    vm.add_ram(0, 1 << 20).unwrap();
    assert_eq!(vm.virtio_mmio_cmdline().unwrap(), "");
    let disk = vm
        .attach_virtio_blk(VirtioBlkConfig::path(image("mmio.img")).transport(VirtioTransport::mmio()))
        .unwrap();
    let info = disk.info().unwrap();
    assert_eq!(info.device_type(), Some(VirtioDeviceType::Block));
    assert_eq!(info.transport, VirtioTransportKind::Mmio);
    assert_eq!((info.irq, info.mmio_base), (VIRTIO_NO_IRQ, VIRTIO_MMIO_BASE));
    assert_eq!((info.status, info.needs_reset, info.requests), (0, false, 0));
    let rng = vm
        .attach_virtio_rng(VirtioRngConfig::new().transport(VirtioTransport::mmio().mmio_base(0xd000_8000)))
        .unwrap();
    assert_eq!(rng.info().unwrap().mmio_base, 0xd000_8000);
    // Devices without an interrupt line are left out: Linux's
    // virtio_mmio.device= syntax needs one (platform NONE has none).
    assert_eq!(vm.virtio_mmio_cmdline().unwrap(), "");
    vm.detach(rng.id()).unwrap();
    assert_eq!(rng.info().unwrap_err().errno(), errno::ENOENT);
    assert_eq!(vm.virtio_mmio_cmdline().unwrap(), "");
}

#[test]
fn pci_devices_on_platform_pc() {
    let mut vm = Vm::with_config(&VmConfig::new().platform(Platform::Pc)).unwrap();
    vm.pc_add_ram(16 << 20).unwrap();
    let file = std::fs::File::open(image("pci.img")).unwrap();
    let disk = vm
        .attach_virtio_blk(
            VirtioBlkConfig::fd(file).readonly(true).serial("s1").transport(VirtioTransport::pci().pci_slot(5)),
        )
        .unwrap();
    let info = disk.info().unwrap();
    assert_eq!((info.transport, info.pci_slot), (VirtioTransportKind::Pci, 5));
    assert_ne!(info.irq, VIRTIO_NO_IRQ, "an irqchip VM gets a line by default");
    assert!((VIRTIO_PCI_MMIO_BASE..VIRTIO_PCI_MMIO_BASE + VIRTIO_PCI_MMIO_SIZE).contains(&info.mmio_base));
    let busy = vm.attach_virtio_rng(VirtioRngConfig::new().transport(VirtioTransport::pci().pci_slot(5)));
    assert_eq!(busy.unwrap_err().errno(), errno::EBUSY);
    let console = vm
        .attach_virtio_console(
            VirtioConsoleConfig::new().output(|_| {}).transport(VirtioTransport::pci().queue_size(64)),
        )
        .unwrap();
    assert_eq!(console.info().unwrap().device_type(), Some(VirtioDeviceType::Console));
    assert!(console.input(b"hello").unwrap() > 0);
    assert_eq!(vm.virtio_mmio_cmdline().unwrap(), "");
}

#[test]
fn console_input_and_library_errors() {
    let mut vm = Vm::new().unwrap();
    vm.add_ram(0, 1 << 20).unwrap();
    let console = vm
        .attach_virtio_console(VirtioConsoleConfig::new().transport(VirtioTransport::mmio().inline(true)))
        .unwrap();
    let other_thread = console.clone();
    assert_eq!(std::thread::spawn(move || other_thread.input(&[b'x'; 100])).join().unwrap().unwrap(), 100);
    assert!(console.input(&vec![b'y'; 1 << 17]).unwrap() <= 1 << 16);
    vm.detach(console.id()).unwrap();
    assert_eq!(console.input(b"x").unwrap_err().errno(), errno::ENOENT);

    let e = vm.attach_virtio_rng(VirtioRngConfig::new().transport(VirtioTransport::pci().irq(5))).unwrap_err();
    assert_eq!(e.errno(), errno::EINVAL); // platform NONE has no irqchip
    assert!(e.message().contains("vmm_virtio_rng_attach"), "{e}");
    let e = vm.attach_virtio_blk(VirtioBlkConfig::path("/nonexistent/disk.img")).unwrap_err();
    assert_eq!(e.errno(), errno::ENOENT, "{e}");
    let (r, _w) = pipe();
    let e = vm.attach_virtio_net(VirtioNetConfig::tap_fd(r)).unwrap_err();
    assert_eq!(e.errno(), errno::EINVAL, "{e}");
    assert!(e.message().contains("tap_fd"), "{e}");
}

/// A pipe's two ends (std has no pipe() before Rust 1.87).
fn pipe() -> (std::os::unix::io::OwnedFd, std::os::unix::io::OwnedFd) {
    use std::os::unix::io::FromRawFd;
    let mut fds = [0i32; 2];
    extern "C" {
        fn pipe(fds: *mut i32) -> i32;
    }
    // SAFETY: pipe(2) writes two fds into the array.
    assert_eq!(unsafe { pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both fds are new and owned by nobody else.
    unsafe { (std::os::unix::io::OwnedFd::from_raw_fd(fds[0]), std::os::unix::io::OwnedFd::from_raw_fd(fds[1])) }
}
