//! bench_exit: wall-clock cost of one port-I/O exit through the Rust
//! binding, next to the same exit handled by a C callback and by the raw
//! unhandled path, all in one process and run.
//!
//! The guest (real mode, so emulated here) runs `out %al,(%dx)` in a loop
//! N times, then halts. Each variant is timed with N and 2N exits on a
//! fresh VM; (t(2N) - t(N)) / N is the per-exit cost with VM set-up and
//! guest start-up cancelled out. The median of several rounds is reported.
//!
//! Variants:
//!   rust-device     a vmm::Device (Mutex-serialised &mut self) counting writes
//!   rust-concurrent a vmm::ConcurrentDevice (atomic counter, no lock)
//!   rust-closure    vm.attach_pio_fn with a FnMut closure
//!   c-callback      csrc/bench_device.c through vmm_sys (the C baseline)
//!   unhandled       no device: every OUT returns from vcpu.run() as Exit::Pio
//!
//! Usage: bench_exit [EXITS_PER_ROUND] [ROUNDS]   (defaults 5000, 5)
//!        bench_exit --callgrind [N]   user-space instructions per exit,
//!            counted exactly: each variant runs under `valgrind
//!            --tool=callgrind` with N and 2N exits (the same yardstick as
//!            bench/callgrind_per_exit.sh for the C library)
//!        bench_exit --only VARIANT N  one untimed run (what --callgrind runs)
//!
//! Absolute numbers on the nested-KVM development machines are dominated by
//! the ~8 us exit itself and the emulated guest instructions; the
//! differences between the variants are what the binding adds.
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use vmm::{ConcurrentDevice, CpuModeConfig, Device, Exit, Handled, Io, Reg, Vcpu, Vm};

const PORT: u16 = 0x3f8;
const LOAD: u64 = 0x1000;

/// mov $n,%ecx; mov $0x3f8,%dx; mov $1,%al; 1: out %al,(%dx); dec %ecx; jnz 1b; hlt
fn guest(n: u32) -> Vec<u8> {
    let mut g = vec![0x66, 0xb9];
    g.extend_from_slice(&n.to_le_bytes());
    g.extend_from_slice(&[0xba, 0xf8, 0x03, 0xb0, 0x01, 0xee, 0x66, 0x49, 0x75, 0xfb, 0xf4]);
    g
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Variant {
    RustDevice,
    RustConcurrent,
    RustClosure,
    #[cfg(vmm_c_bench)]
    CCallback,
    Unhandled,
}

struct Counter(u64);
impl Device for Counter {
    fn name(&self) -> &str {
        "bench"
    }
    fn pio(&mut self, _: &Vcpu<'_>, io: &mut Io<'_>) -> vmm::Result<Handled> {
        if !io.is_write() {
            return Ok(Handled::No);
        }
        self.0 += u64::from(io.data()[0]);
        Ok(Handled::Yes)
    }
}

struct AtomicCounter(AtomicU64);
impl ConcurrentDevice for AtomicCounter {
    fn name(&self) -> &str {
        "bench"
    }
    fn pio(&self, _: &Vcpu<'_>, io: &mut Io<'_>) -> vmm::Result<Handled> {
        if !io.is_write() {
            return Ok(Handled::No);
        }
        self.0.fetch_add(u64::from(io.data()[0]), Ordering::Relaxed);
        Ok(Handled::Yes)
    }
}

#[cfg(vmm_c_bench)]
extern "C" {
    fn vmm_rs_bench_c_pio(
        dev: *mut vmm::sys::vmm_device,
        vcpu: *mut vmm::sys::vmm_vcpu,
        io: *const vmm::sys::vmm_io,
        user: *mut std::os::raw::c_void,
    ) -> std::os::raw::c_int;
}

/// Runs `n` exits through `variant` on a fresh VM; returns the time spent
/// in the run loop and checks that every exit was seen.
fn run_once(variant: Variant, n: u32) -> vmm::Result<Duration> {
    let mut vm = Vm::new()?;
    vm.add_ram(0, 0x10000)?;
    vm.write(LOAD, &guest(n))?;
    let mut counted: Box<dyn FnMut(&Vm) -> u64> = match variant {
        Variant::RustDevice => {
            let h = vm.attach(Counter(0))?;
            vm.map_pio(h.id(), PORT, 1)?;
            Box::new(move |_| h.lock().0)
        }
        Variant::RustConcurrent => {
            let c = std::sync::Arc::new(AtomicCounter(AtomicU64::new(0)));
            let id = vm.attach_concurrent(c.clone())?;
            vm.map_pio(id, PORT, 1)?;
            Box::new(move |_| c.0.load(Ordering::Relaxed))
        }
        Variant::RustClosure => {
            let c = std::sync::Arc::new(AtomicU64::new(0));
            let c2 = c.clone();
            vm.attach_pio_fn("bench", PORT, 1, move |_, io| {
                c2.fetch_add(u64::from(io.data()[0]), Ordering::Relaxed);
                Ok(Handled::Yes)
            })?;
            Box::new(move |_| c.load(Ordering::Relaxed))
        }
        #[cfg(vmm_c_bench)]
        Variant::CCallback => {
            // Freed by the closure below, which runs once, after the run.
            let counter = Box::into_raw(Box::new(0u64));
            let mut ops = vmm::sys::vmm_device_ops::INIT;
            ops.name = b"bench-c\0".as_ptr().cast();
            ops.pio = Some(vmm_rs_bench_c_pio);
            let mut dev = std::ptr::null_mut();
            // SAFETY: the VM is idle; `counter` stays valid until freed after the run.
            unsafe {
                let r = vmm::sys::vmm_device_attach(vm.as_raw(), &ops, counter.cast(), &mut dev);
                assert_eq!(r, 0, "vmm_device_attach");
                assert_eq!(vmm::sys::vmm_device_map_pio(dev, PORT, 1), 0, "vmm_device_map_pio");
            }
            let counter = counter as usize;
            Box::new(move |_| unsafe { *Box::from_raw(counter as *mut u64) })
        }
        Variant::Unhandled => Box::new(|_| 0),
    };
    let mut vcpu = vm.vcpu(0)?;
    vcpu.set_cpu_mode(&CpuModeConfig::real())?;
    vcpu.set_reg(Reg::Rip, LOAD)?;
    let mut unhandled = 0u64;
    let start = Instant::now();
    loop {
        match vcpu.run()? {
            Exit::Hlt => break,
            Exit::Pio(p) if p.port == PORT && p.is_write => unhandled += u64::from(p.data[0]),
            other => panic!("{variant:?}: unexpected exit {other:?}"),
        }
    }
    let elapsed = start.elapsed();
    drop(vcpu);
    let seen = if variant == Variant::Unhandled { unhandled } else { counted(&vm) };
    assert_eq!(seen, u64::from(n), "{variant:?} saw {seen} of {n} writes");
    Ok(elapsed)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

const VARIANTS: &[(Variant, &str)] = &[
    (Variant::RustDevice, "rust-device"),
    (Variant::RustConcurrent, "rust-concurrent"),
    (Variant::RustClosure, "rust-closure"),
    #[cfg(vmm_c_bench)]
    (Variant::CCallback, "c-callback"),
    (Variant::Unhandled, "unhandled"),
];

/// Instructions (callgrind's Ir summary) of `bench_exit --only name n`.
fn callgrind_ir(name: &str, n: u32) -> u64 {
    let dir = std::env::temp_dir();
    let out = dir.join(format!("bench_exit.callgrind.{}.{name}.{n}", std::process::id()));
    let status = std::process::Command::new("valgrind")
        .args(["--tool=callgrind", "-q"])
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(std::env::current_exe().unwrap())
        .args(["--only", name, &n.to_string()])
        .status()
        .expect("run valgrind (is it installed?)");
    assert!(status.success(), "valgrind {name} {n}: {status}");
    let text = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    text.lines()
        .find_map(|l| l.strip_prefix("summary:").map(|v| v.trim().parse().unwrap()))
        .or_else(|| text.lines().find_map(|l| l.strip_prefix("totals:").map(|v| v.trim().parse().unwrap())))
        .expect("no summary line in callgrind output")
}

fn main() -> vmm::Result<()> {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("--only") {
        let name = args.nth(1).expect("--only VARIANT N");
        let n = args.next().and_then(|a| a.parse().ok()).expect("--only VARIANT N");
        let v = VARIANTS.iter().find(|(_, s)| *s == name).unwrap_or_else(|| panic!("unknown variant {name}")).0;
        run_once(v, n)?;
        return Ok(());
    }
    if args.peek().map(String::as_str) == Some("--callgrind") {
        let n: u32 = args.nth(1).map(|a| a.parse().expect("N")).unwrap_or(2000);
        println!("user-space instructions per PIO exit ((Ir(2N) - Ir(N)) / N, N={n}, callgrind):");
        for (_, name) in VARIANTS {
            let (a, b) = (callgrind_ir(name, n), callgrind_ir(name, 2 * n));
            println!("  {name:<22} {:>8.1}", (b as f64 - a as f64) / f64::from(n));
        }
        return Ok(());
    }
    let n: u32 = args.next().map(|a| a.parse().expect("EXITS_PER_ROUND")).unwrap_or(5000);
    let rounds: usize = args.next().map(|a| a.parse().expect("ROUNDS")).unwrap_or(5);
    let variants = [
        Variant::RustDevice,
        Variant::RustConcurrent,
        Variant::RustClosure,
        #[cfg(vmm_c_bench)]
        Variant::CCallback,
        Variant::Unhandled,
    ];
    #[cfg(not(vmm_c_bench))]
    println!("note: built without csrc/bench_device.c (no C compiler or headers): no C baseline");

    let mut per_exit: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    for _ in 0..rounds {
        // Interleave the variants so drift in the host affects all alike.
        for (i, &v) in variants.iter().enumerate() {
            let t1 = run_once(v, n)?;
            let t2 = run_once(v, 2 * n)?;
            per_exit[i].push((t2.as_secs_f64() - t1.as_secs_f64()) * 1e9 / f64::from(n));
        }
    }
    println!("ns per PIO exit (median of {rounds} rounds, (t(2N)-t(N))/N, N={n}):");
    let medians: Vec<f64> = per_exit.into_iter().map(median).collect();
    let base = variants.iter().position(|v| format!("{v:?}") == "CCallback").map(|i| medians[i]);
    for (v, m) in variants.iter().zip(&medians) {
        let name = match v {
            Variant::RustDevice => "rust-device",
            Variant::RustConcurrent => "rust-concurrent",
            Variant::RustClosure => "rust-closure",
            #[cfg(vmm_c_bench)]
            Variant::CCallback => "c-callback",
            Variant::Unhandled => "unhandled (Exit::Pio)",
        };
        match base {
            Some(b) => println!("  {name:<22} {m:>9.0} ns   ({:+.0} ns vs c-callback)", m - b),
            None => println!("  {name:<22} {m:>9.0} ns"),
        }
    }
    Ok(())
}
