//! hello: the smallest complete libvmm program, in Rust.
//!
//! A 30-byte real-mode payload writes "Hello, world!\n" to port 0x3f8 one
//! byte at a time, then halts. A device model claims that port and prints
//! each byte; the program then reports what the guest did.
//!
//! Run: bindings/rust/run-tests.sh BUILD_DIR builds it; then
//!   LD_LIBRARY_PATH=BUILD_DIR/lib bindings/rust/target/debug/examples/hello
use std::io::Write;

use vmm::{CpuModeConfig, Device, Exit, Handled, Io, Reg, Vcpu, Vm};

const CONSOLE_PORT: u16 = 0x3f8;
const LOAD_GPA: u64 = 0x1000; // the payload is copied here and entered at 0:0x1000

/// 16-bit code: mov $0x100f,%si; mov $0x3f8,%dx; 1: lodsb; test %al,%al;
/// jz 2f; out %al,%dx; jmp 1b; 2: hlt -- then the NUL-terminated string,
/// which lands at 0x100f.
const PAYLOAD: &[u8] = b"\xbe\x0f\x10\xba\xf8\x03\xac\x84\xc0\x74\x03\xee\xeb\xf8\xf4Hello, world!\n\0";

/// The device model: each byte the guest writes to the port goes to stdout.
struct Console;

impl Device for Console {
    fn name(&self) -> &str {
        "console"
    }
    fn pio(&mut self, _vcpu: &Vcpu<'_>, io: &mut Io<'_>) -> vmm::Result<Handled> {
        if !io.is_write() {
            return Ok(Handled::No); // reads go back to run()'s caller
        }
        std::io::stdout().write_all(io.data())?; // an io::Error becomes a vmm::Error
        Ok(Handled::Yes)
    }
}

fn main() -> vmm::Result<()> {
    let mut vm = Vm::new()?; // one vCPU, no platform devices
    vm.add_ram(0, 0x10000)?;
    vm.write(LOAD_GPA, PAYLOAD)?;
    let console = vm.attach(Console)?;
    vm.map_pio(console.id(), CONSOLE_PORT, 1)?;

    let mut vcpu = vm.vcpu(0)?;
    vcpu.set_cpu_mode(&CpuModeConfig::real())?;
    vcpu.set_reg(Reg::Rip, LOAD_GPA)?;
    match vcpu.run()? {
        // the device handles the OUTs inside run()
        Exit::Hlt => {}
        other => {
            eprintln!("hello: guest stopped: {}", other.name());
            std::process::exit(1);
        }
    }
    drop(vcpu); // hand the borrow of `vm` back

    let stats = vm.stats()?;
    println!(
        "guest halted after {} exits: {} port writes to \"console\", then hlt",
        stats.exits_total,
        stats.exits[vmm::sys::VMM_STAT_EXIT_PIO as usize]
    );
    Ok(()) // dropping `vm` destroys the VM and the device
}
