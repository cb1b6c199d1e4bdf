//! Builds csrc/bench_device.c (the C callback examples/bench_exit.rs compares
//! against) and links it into the examples only, never into the library.
//! Without a C compiler or the headers, the example skips its C baseline.
use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=csrc/bench_device.c");
    println!("cargo:rerun-if-env-changed=CC");
    println!("cargo:rerun-if-env-changed=VMM_INCLUDE_DIR");
    // Cargo >= 1.80 checks cfg names and wants this one declared; older
    // cargo (Debian 12's 1.65) warns about the key itself, so only say it
    // to a cargo that knows it.
    if cargo_minor().map_or(false, |m| m >= 80) {
        println!("cargo:rustc-check-cfg=cfg(vmm_c_bench)");
    }

    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let include = env::var_os("VMM_INCLUDE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../../../include"));
    if !include.join("vmm/vmm.h").exists() {
        println!("cargo:warning=vmm headers not found in {}: bench_exit has no C baseline", include.display());
        return;
    }
    let obj = PathBuf::from(env::var("OUT_DIR").unwrap()).join("bench_device.o");
    let cc = env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args(["-std=c11", "-O2", "-fPIC", "-Wall", "-Werror", "-c", "-I"])
        .arg(&include)
        .arg(manifest.join("csrc/bench_device.c"))
        .arg("-o")
        .arg(&obj)
        .status();
    match status {
        Ok(s) if s.success() => {
            println!("cargo:rustc-link-arg-examples={}", obj.display());
            println!("cargo:rustc-cfg=vmm_c_bench");
        }
        other => println!("cargo:warning=cannot build csrc/bench_device.c with {cc} ({other:?}): bench_exit has no C baseline"),
    }
}

/// The minor version of the cargo running this script (`$CARGO --version`).
fn cargo_minor() -> Option<u32> {
    let cargo = env::var_os("CARGO")?;
    let out = Command::new(cargo).arg("--version").output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    text.strip_prefix("cargo 1.")?.split('.').next()?.parse().ok()
}
