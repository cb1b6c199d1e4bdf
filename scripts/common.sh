# Helpers shared by scripts/demo.sh and scripts/test.sh (sourced, not run).

# Print a step banner with the time since the script started.
_t0=$(date +%s)
step() {
    printf '\n==> [%ss] %s\n' "$(( $(date +%s) - _t0 ))" "$*"
}

# Install the Debian packages named in "$@" that are not installed yet.
# Needs root (or sudo); runs `apt-get update` only when the package lists are
# empty or an install attempt fails.
need_packages() {
    missing=
    for p in "$@"; do
        if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
            missing="$missing $p"
        fi
    done
    if [ -z "$missing" ]; then
        step "Debian packages already installed: $*"
        return 0
    fi
    step "Installing Debian packages:$missing"
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "error: missing packages$missing and no apt-get (this script targets Debian 12)" >&2
        exit 1
    fi
    sudo=
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=sudo
        else
            echo "error: run as root (or install sudo) to install:$missing" >&2
            exit 1
        fi
    fi
    export DEBIAN_FRONTEND=noninteractive
    if ! ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1; then
        $sudo apt-get update -q
    fi
    # shellcheck disable=SC2086
    if ! $sudo apt-get install -y -q --no-install-recommends $missing; then
        $sudo apt-get update -q
        # shellcheck disable=SC2086
        $sudo apt-get install -y -q --no-install-recommends $missing
    fi
}

# meson setup DIR OPTIONS...: configure a new build directory, or reconfigure
# an existing one with the same options (wiping it if it cannot be reused).
setup() {
    dir=$1
    shift
    if [ -f "$dir/meson-private/coredata.dat" ]; then
        meson setup --reconfigure "$dir" "$@" || meson setup --wipe "$dir" "$@"
    else
        rm -rf "$dir"
        meson setup "$dir" "$@"
    fi
}

# Explain a missing /dev/kvm up front: everything that runs a guest needs it.
check_kvm() {
    if [ ! -e /dev/kvm ]; then
        echo "warning: /dev/kvm does not exist: enable KVM (or nested virtualization)" >&2
        echo "         on this machine; tests that run guests will be skipped." >&2
        return 1
    fi
    if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
        echo "warning: /dev/kvm is not readable and writable by $(id -un):" >&2
        echo "         run as root or add the user to the 'kvm' group." >&2
        return 1
    fi
    return 0
}
