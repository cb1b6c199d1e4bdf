"""A PEP 517 build backend using only the standard library.

`pip install --no-build-isolation --no-index bindings/python` must work
offline on machines where setuptools cannot build wheels (setuptools older
than 70.1 needs the separate `wheel` package for that, which e.g. a pyenv
Python lacks). The package is pure Python, so a wheel is just a zip of vmm/
plus three metadata files; this module writes it.
"""
import base64
import hashlib
import io
import os
import re
import tarfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "vmm"
TAG = "py3-none-any"


def _project():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        text = f.read().decode()
    try:
        import tomllib
        return tomllib.loads(text)["project"]
    except ImportError:  # Python < 3.11: the few keys we need
        return {k: re.search(r'^%s\s*=\s*"([^"]*)"' % k, text, re.M).group(1)
                for k in ("name", "version", "description", "requires-python")}


def _metadata():
    p = _project()
    lines = ["Metadata-Version: 2.1", "Name: %s" % p["name"],
             "Version: %s" % p["version"], "Summary: %s" % p["description"],
             "Requires-Python: %s" % p["requires-python"]]
    readme = os.path.join(ROOT, "README.md")
    body = ""
    if os.path.exists(readme):
        lines.append("Description-Content-Type: text/markdown")
        with open(readme) as f:
            body = "\n" + f.read()
    return p["name"], p["version"], "\n".join(lines) + "\n" + body


def _package_files():
    base = os.path.join(ROOT, PACKAGE)
    for name in sorted(os.listdir(base)):
        if name.endswith(".py"):
            yield "%s/%s" % (PACKAGE, name), os.path.join(base, name)


def _write_wheel(wheel_directory, files):
    """files: [(archive name, bytes)]; adds dist-info and RECORD."""
    name, version, metadata = _metadata()
    dist_info = "%s-%s.dist-info" % (name, version)
    files = list(files) + [
        (dist_info + "/METADATA", metadata.encode()),
        (dist_info + "/WHEEL", ("Wheel-Version: 1.0\nGenerator: vmm_build\n"
                                "Root-Is-Purelib: true\nTag: %s\n" % TAG).encode()),
    ]
    record = []
    for arcname, data in files:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest())
        record.append("%s,sha256=%s,%d" % (arcname, digest.rstrip(b"=").decode(), len(data)))
    record.append(dist_info + "/RECORD,,")
    files.append((dist_info + "/RECORD", ("\n".join(record) + "\n").encode()))
    filename = "%s-%s-%s.whl" % (name, version, TAG)
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w",
                         zipfile.ZIP_DEFLATED) as z:
        for arcname, data in files:
            z.writestr(zipfile.ZipInfo(arcname, (1980, 1, 1, 0, 0, 0)), data)
    return filename


def _read(path):
    with open(path, "rb") as f:
        return f.read()


# ------------------------------------------------------------- PEP 517
def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _write_wheel(wheel_directory,
                        [(arc, _read(path)) for arc, path in _package_files()])


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    """PEP 660: a .pth file that puts this source tree on sys.path."""
    return _write_wheel(wheel_directory, [("__editable__.vmm.pth", (ROOT + "\n").encode())])


def build_sdist(sdist_directory, config_settings=None):
    name, version, metadata = _metadata()
    base = "%s-%s" % (name, version)
    filename = base + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, filename), "w:gz") as tar:
        def add(arcname, data):
            info = tarfile.TarInfo("%s/%s" % (base, arcname))
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for arcname in ("pyproject.toml", "README.md", "_build/vmm_build.py"):
            add(arcname, _read(os.path.join(ROOT, arcname)))
        for arcname, path in _package_files():
            add(arcname, _read(path))
        add("PKG-INFO", metadata.encode())
    return filename
