//! Finds libvmm (the shared library, `libvmm.so`) for linking.
//!
//! Order: the directory in VMM_LIB_DIR if that is set (the explicit
//! override); otherwise the `pkg-config` command for package `vmm`
//! (honours PKG_CONFIG, PKG_CONFIG_PATH, PKG_CONFIG_LIBDIR and
//! PKG_CONFIG_SYSROOT_DIR as usual); if that fails, `-lvmm` on the linker's
//! default search path, with a warning. No crates: the pkg-config program
//! is run with std::process::Command. Static linking is not offered.
use std::env;
use std::path::Path;
use std::process::Command;

fn main() {
    for var in [
        "PKG_CONFIG",
        "PKG_CONFIG_PATH",
        "PKG_CONFIG_LIBDIR",
        "PKG_CONFIG_SYSROOT_DIR",
        "VMM_LIB_DIR",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    println!("cargo:rerun-if-changed=build.rs");

    // VMM_LIB_DIR wins when set: it is the explicit override.
    if let Ok(dir) = env::var("VMM_LIB_DIR") {
        if !Path::new(&dir).is_dir() {
            panic!("VMM_LIB_DIR={dir} is not a directory");
        }
        println!("cargo:rustc-link-search=native={dir}");
        println!("cargo:rustc-link-lib=dylib=vmm");
        println!("cargo:lib_dir={dir}");
        return;
    }

    let pkg_config = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".into());
    match Command::new(&pkg_config).args(["--libs", "vmm"]).output() {
        Ok(out) if out.status.success() => {
            let flags = String::from_utf8_lossy(&out.stdout).into_owned();
            let mut linked = false;
            for flag in flags.split_whitespace() {
                if let Some(dir) = flag.strip_prefix("-L") {
                    println!("cargo:rustc-link-search=native={dir}");
                    // Dependents (build scripts of crates using vmm-sys) see
                    // this as DEP_VMM_LIB_DIR.
                    println!("cargo:lib_dir={dir}");
                } else if let Some(lib) = flag.strip_prefix("-l") {
                    println!("cargo:rustc-link-lib=dylib={lib}");
                    linked |= lib == "vmm";
                }
            }
            if !linked {
                println!("cargo:rustc-link-lib=dylib=vmm");
            }
        }
        Ok(out) => {
            println!(
                "cargo:warning=`{pkg_config} --libs vmm` failed ({}); set PKG_CONFIG_PATH or \
                 VMM_LIB_DIR; trying the default library path",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            println!("cargo:rustc-link-lib=dylib=vmm");
        }
        Err(e) => {
            println!(
                "cargo:warning=cannot run `{pkg_config}` ({e}); set VMM_LIB_DIR; trying the \
                 default library path"
            );
            println!("cargo:rustc-link-lib=dylib=vmm");
        }
    }
}
