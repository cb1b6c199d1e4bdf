//! Layout drift test: compiles bindings/layout/layout.c (a C program that
//! prints what the C compiler thinks of the public headers), runs it, and
//! checks every struct size, field offset and size, constant and function
//! name against the declarations in vmm-sys.
//!
//! VMM_LAYOUT may name an already built layout binary (run-tests.sh does
//! not need it; the Python runner uses the same variable). Without it the
//! test builds one with `$CC` (default `cc`). If layout.c or the C compiler
//! is missing the test says so and passes: the Rust-side checks still ran.
use std::collections::{BTreeMap, BTreeSet};
use std::mem::size_of;
use std::path::PathBuf;
use std::process::Command;

use vmm_sys::*;

/// Offset of a field (`offset_of!(Type, field)`, or `Type, a.b` through a
/// nested field). `offset_of!` is stable only since Rust 1.77 and
/// this crate supports 1.63, so it is computed from a raw pointer to an
/// uninitialised value: `addr_of!` takes the field's address without reading
/// or creating a reference to anything.
macro_rules! offset_of {
    ($t:ty, $($f:tt)+) => {{
        let value = std::mem::MaybeUninit::<$t>::uninit();
        let base = value.as_ptr();
        // SAFETY: `base` points to a live (if uninitialised) `$t`; addr_of!
        // only computes a place's address, it reads nothing.
        let field = unsafe { std::ptr::addr_of!((*base).$($f)+) };
        field as *const u8 as usize - base as *const u8 as usize
    }};
}

/// Size of the field a closure projects to, without needing a value.
fn field_size<S, F>(_: fn(&S) -> &F) -> usize {
    size_of::<F>()
}

/// (C name, offset, size) of every field layout.c may print, keyed the way
/// it prints them (`struct.field`, union members as `vmm_exit.pio.port`).
fn rust_fields() -> BTreeMap<String, (usize, usize)> {
    let mut m = BTreeMap::new();
    macro_rules! fields {
        ($s:ident { $($f:ident $(as $c:literal)?),* $(,)? }) => {$(
            #[allow(unused_mut, unused_assignments)]
            let mut cname = stringify!($f);
            $( cname = $c; )?
            m.insert(
                format!("{}.{}", stringify!($s), cname),
                (offset_of!($s, $f), field_size(|x: &$s| &x.$f)),
            );
        )*};
    }
    // Members of the anonymous union of vmm_exit: offset of the union plus
    // offset within the member struct.
    macro_rules! union_fields {
        ($m:ident : $t:ident { $($f:ident $(as $c:literal)?),* }) => {
            let base = offset_of!(vmm_exit, u);
            m.insert(
                format!("vmm_exit.{}", stringify!($m)),
                (base + offset_of!(vmm_exit_union, $m), size_of::<$t>()),
            );
            $(
                #[allow(unused_mut, unused_assignments)]
                let mut cname = stringify!($f);
                $( cname = $c; )?
                m.insert(
                    format!("vmm_exit.{}.{}", stringify!($m), cname),
                    (
                        base + offset_of!(vmm_exit_union, $m) + offset_of!($t, $f),
                        field_size(|x: &$t| &x.$f),
                    ),
                );
            )*
        };
    }

    fields!(vmm_io { addr, offset, data, len, is_write, space, reserved0 });
    fields!(vmm_device_ops { struct_size, flags, name, pio, mmio, save, restore, reset, destroy });
    fields!(vmm_device_stats {
        struct_size, reserved0, pio_reads, pio_writes, mmio_reads, mmio_writes, errors, unhandled
    });
    fields!(vmm_exit { reason, vcpu_index, error, reserved0 });
    union_fields!(pio: vmm_exit_pio { port, size, is_write, count, data });
    union_fields!(mmio: vmm_exit_mmio { gpa, data, len, is_write });
    union_fields!(internal: vmm_exit_internal { suberror, ndata, data });
    union_fields!(fail_entry: vmm_exit_fail_entry { hardware_reason, cpu });
    union_fields!(system_event: vmm_exit_system_event { type_ as "type", ndata, data });
    union_fields!(request: vmm_exit_request { kind, reserved0, value });
    union_fields!(unknown: vmm_exit_unknown { kvm_reason });
    m.insert(
        "vmm_exit.reserved".into(),
        (offset_of!(vmm_exit, u) + offset_of!(vmm_exit_union, reserved), size_of::<[u64; 12]>()),
    );
    fields!(vmm_serial_config {
        struct_size, flags, port, reserved0, irq, out_fd, in_fd, out_fn, out_user
    });
    fields!(vmm_virtio_transport_config { transport, flags, mmio_base, irq, pci_slot, queue_size, reserved0 });
    fields!(vmm_virtio_info {
        struct_size, device_id, transport, irq, mmio_base, pci_slot, status, needs_reset, reserved0,
        driver_features, requests, violations
    });
    fields!(vmm_virtio_blk_config { struct_size, flags, transport, path, fd, reserved0, serial });
    fields!(vmm_virtio_console_config { struct_size, flags, transport, out_fd, in_fd, out_fn, out_user });
    fields!(vmm_virtio_rng_config { struct_size, flags, transport });
    fields!(vmm_virtio_net_config { struct_size, flags, transport, tap_name, tap_fd, mac, reserved0 });
    fields!(vmm_hypercall { nr, args });
    fields!(vmm_boot_config {
        struct_size, flags, format, reserved0, kernel, kernel_size, initrd, initrd_size, cmdline,
        raw_gpa, raw_entry, raw_cpu_mode, reserved1, modules, num_modules, reserved2
    });
    fields!(vmm_boot_module { data, size, cmdline });
    fields!(vmm_boot_info {
        struct_size, format, entry, kernel_gpa, kernel_end, initrd_gpa, initrd_size, cmdline_gpa,
        boot_params_gpa, protocol_version, compression, extracted_size
    });
    fields!(vmm_e820_entry { addr, size, type_ as "type", reserved0 });
    fields!(vmm_cpuid_override { function, index, reg, clear, set });
    fields!(vmm_regs {
        rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp, r8, r9, r10, r11, r12, r13, r14, r15, rip, rflags
    });
    fields!(vmm_segment {
        base, limit, selector, type_ as "type", present, dpl, db, s, l, g, avl, unusable, reserved0
    });
    fields!(vmm_dtable { base, limit, reserved0 });
    fields!(vmm_sregs {
        cs, ds, es, fs, gs, ss, tr, ldt, gdt, idt, cr0, cr2, cr3, cr4, cr8, efer, apic_base
    });
    fields!(vmm_cpu_mode_config {
        struct_size, mode, flags, reserved0, tables_gpa, tables_size, identity_map_size
    });
    fields!(vmm_cpuid_entry { function, index, flags, eax, ebx, ecx, edx, reserved0 });
    fields!(vmm_vm_config {
        struct_size, flags, platform, num_vcpus, hypercall_port, reserved0, kick_signal
    });
    fields!(vmm_vm_stats { struct_size, reserved0, exits_total, exits });
    m
}

fn rust_structs() -> BTreeMap<&'static str, usize> {
    let mut m = BTreeMap::new();
    macro_rules! structs {
        ($($s:ident),*) => { $( m.insert(stringify!($s), size_of::<$s>()); )* };
    }
    structs!(
        vmm_io, vmm_device_ops, vmm_device_stats, vmm_exit, vmm_exit_pio, vmm_exit_mmio,
        vmm_exit_internal, vmm_exit_fail_entry, vmm_exit_system_event, vmm_exit_request,
        vmm_exit_unknown, vmm_serial_config, vmm_virtio_transport_config, vmm_virtio_info,
        vmm_virtio_blk_config, vmm_virtio_console_config, vmm_virtio_rng_config, vmm_virtio_net_config,
        vmm_hypercall, vmm_boot_module, vmm_boot_config, vmm_boot_info,
        vmm_e820_entry, vmm_cpuid_override, vmm_regs, vmm_segment, vmm_dtable, vmm_sregs, vmm_cpu_mode_config,
        vmm_cpuid_entry, vmm_vm_config, vmm_vm_stats
    );
    m
}

/// The value of every field of the `INIT` consts, keyed as layout.c's
/// `init` lines name them (pointers: 0 when null, else 1).
fn rust_inits() -> BTreeMap<String, i64> {
    let mut m = BTreeMap::new();
    macro_rules! inits {
        ($s:ident, $v:expr, { $($f:ident $(. $g:ident)* $(: $how:ident)?),* $(,)? }) => {$(
            let v = &$v;
            let value = inits!(@value v.$f $(. $g)*, $($how)?);
            let name = [stringify!($s), stringify!($f) $(, stringify!($g))*].join(".");
            m.insert(name, value);
        )*};
        (@value $e:expr, ptr) => { (!$e.is_null()) as i64 };
        (@value $e:expr, func) => { $e.is_some() as i64 };
        (@value $e:expr, ) => { $e as i64 };
    }
    macro_rules! transport_inits {
        ($s:ident, $v:expr) => {
            inits!($s, $v, {
                transport.transport, transport.flags, transport.mmio_base, transport.irq,
                transport.pci_slot, transport.queue_size, transport.reserved0
            });
        };
    }
    inits!(vmm_virtio_transport_config, vmm_virtio_transport_config::INIT, {
        transport, flags, mmio_base, irq, pci_slot, queue_size, reserved0
    });
    let blk = vmm_virtio_blk_config::INIT;
    inits!(vmm_virtio_blk_config, blk, { struct_size, flags, path: ptr, fd, reserved0, serial: ptr });
    transport_inits!(vmm_virtio_blk_config, blk);
    let con = vmm_virtio_console_config::INIT;
    inits!(vmm_virtio_console_config, con, { struct_size, flags, out_fd, in_fd, out_fn: func, out_user: ptr });
    transport_inits!(vmm_virtio_console_config, con);
    let rng = vmm_virtio_rng_config::INIT;
    inits!(vmm_virtio_rng_config, rng, { struct_size, flags });
    transport_inits!(vmm_virtio_rng_config, rng);
    let net = vmm_virtio_net_config::INIT;
    inits!(vmm_virtio_net_config, net, { struct_size, flags, tap_name: ptr, tap_fd, reserved0 });
    transport_inits!(vmm_virtio_net_config, net);
    for (i, b) in net.mac.iter().enumerate() {
        m.insert(format!("vmm_virtio_net_config.mac.{i}"), i64::from(*b));
    }
    m
}

/// The output of layout.c, or None (with the reason printed) to skip.
fn layout_output() -> Option<String> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let root = manifest.join("../../..");
    let binary = match std::env::var_os("VMM_LAYOUT") {
        Some(p) => PathBuf::from(p),
        None => {
            let src = root.join("bindings/layout/layout.c");
            if !src.exists() {
                eprintln!("layout: skipped: {} not found", src.display());
                return None;
            }
            let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("layout");
            let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
            let status = Command::new(&cc)
                .args(["-std=c11", "-Wall", "-Werror", "-I"])
                .arg(root.join("include"))
                .arg(&src)
                .arg("-o")
                .arg(&out)
                .status();
            match status {
                Ok(s) if s.success() => out,
                Ok(s) => panic!("{cc} failed to compile {}: {s}", src.display()),
                Err(e) => {
                    eprintln!("layout: skipped: cannot run {cc}: {e}");
                    return None;
                }
            }
        }
    };
    let out = Command::new(&binary).output().unwrap_or_else(|e| panic!("run {}: {e}", binary.display()));
    assert!(out.status.success(), "{} failed: {}", binary.display(), out.status);
    Some(String::from_utf8(out.stdout).expect("layout output is UTF-8"))
}

#[test]
fn layout_matches_c_headers() {
    let text = match layout_output() {
        Some(text) => text,
        None => return,
    };
    let structs = rust_structs();
    let fields = rust_fields();
    let consts: BTreeMap<&str, i64> = CONSTANTS.iter().copied().collect();
    let functions: BTreeSet<&str> = FUNCTIONS.iter().copied().collect();
    let inits = rust_inits();

    let mut errors = Vec::new();
    let (mut seen_structs, mut seen_fields) = (BTreeSet::new(), BTreeSet::new());
    let (mut seen_consts, mut seen_functions) = (BTreeSet::new(), BTreeSet::new());
    let mut seen_inits = BTreeSet::new();
    for line in text.lines() {
        let w: Vec<&str> = line.split(' ').collect();
        let num = |s: &str| s.parse::<i64>().unwrap_or_else(|_| panic!("bad number in {line:?}"));
        match w.as_slice() {
            ["struct", name, "size", n] => {
                seen_structs.insert(name.to_string());
                match structs.get(name) {
                    None => errors.push(format!("struct {name} is not mirrored in vmm-sys")),
                    Some(&s) if s as i64 != num(n) => {
                        errors.push(format!("struct {name}: C size {n}, Rust size {s}"))
                    }
                    _ => {}
                }
            }
            ["field", name, "offset", off, "size", n] => {
                seen_fields.insert(name.to_string());
                match fields.get(*name) {
                    None => errors.push(format!("field {name} is not mirrored in vmm-sys")),
                    Some(&(o, s)) if o as i64 != num(off) || s as i64 != num(n) => errors.push(format!(
                        "field {name}: C offset {off} size {n}, Rust offset {o} size {s}"
                    )),
                    _ => {}
                }
            }
            ["const", name, v] => {
                seen_consts.insert(name.to_string());
                match consts.get(name) {
                    None => errors.push(format!("const {name} is not mirrored in vmm-sys")),
                    Some(&r) if r != num(v) => errors.push(format!("const {name}: C {v}, Rust {r}")),
                    _ => {}
                }
            }
            ["function", name] => {
                seen_functions.insert(name.to_string());
                if !functions.contains(name) {
                    errors.push(format!("function {name} is not declared in vmm-sys"));
                }
            }
            ["init", name, v] => {
                seen_inits.insert(name.to_string());
                match inits.get(*name) {
                    None => errors.push(format!("init {name} has no INIT const value in vmm-sys")),
                    Some(&r) if r != num(v) => errors.push(format!("init {name}: C {v}, Rust INIT {r}")),
                    _ => {}
                }
            }
            _ => errors.push(format!("unrecognised layout line {line:?}")),
        }
    }
    // The other direction: Rust must not declare what the headers lack.
    for f in &functions {
        if !seen_functions.contains(*f) {
            errors.push(format!("vmm-sys declares {f}, which layout.c does not list"));
        }
    }
    for c in consts.keys() {
        if !seen_consts.contains(*c) {
            errors.push(format!("vmm-sys defines {c}, which layout.c does not list"));
        }
    }
    for s in structs.keys() {
        // The union member structs have no `struct` line of their own (they
        // are checked through their vmm_exit.<member> field lines).
        if !seen_structs.contains(*s) && !s.starts_with("vmm_exit_") {
            errors.push(format!("vmm-sys mirrors struct {s}, which layout.c does not list"));
        }
    }
    for i in inits.keys() {
        if !seen_inits.contains(i) {
            errors.push(format!("vmm-sys checks initialiser field {i}, which layout.c does not list"));
        }
    }
    for f in fields.keys() {
        if !seen_fields.contains(f) {
            errors.push(format!("vmm-sys mirrors field {f}, which layout.c does not list"));
        }
    }
    assert!(
        !seen_structs.is_empty() && !seen_functions.is_empty() && !seen_consts.is_empty(),
        "layout output looks truncated:\n{text}"
    );
    assert!(errors.is_empty(), "layout drift between include/vmm and vmm-sys:\n  {}", errors.join("\n  "));
}

/// Every declared function resolves in the libvmm we link against (the
/// linker fails this test's build otherwise) and is a distinct symbol.
#[test]
fn every_declared_function_links() {
    let addrs = function_addresses();
    assert_eq!(addrs.len(), FUNCTIONS.len());
    let distinct: BTreeSet<usize> = addrs.iter().map(|&(_, a)| a).collect();
    assert_eq!(distinct.len(), addrs.len(), "two functions share an address: {addrs:?}");
    assert!(addrs.iter().all(|&(_, a)| a != 0));
}

/// The library we run against is the one these headers describe.
#[test]
fn runtime_version_matches_headers() {
    let v = unsafe { vmm_version() };
    assert_eq!(v >> 16, VMM_VERSION_MAJOR, "ABI major differs: loaded {v:#x}");
    assert!(v >= VMM_VERSION_NUMBER & !0xff, "loaded library {v:#x} is older than the headers");
}
