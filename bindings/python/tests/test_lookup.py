"""How vmm._lib finds libvmm (docs/bindings-python.md, "Install"): from
$VMM_LIBRARY, pkg-config (an installed prefix, or a build tree through
meson's uninstalled .pc file), the source tree's build/, the linker."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

from vmm import _lib

PACKAGE = os.path.dirname(os.path.abspath(_lib.__file__))
BUILD = os.environ.get("VMM_BUILD_DIR")  # set by run-tests.sh
SONAME = "libvmm.so.%d" % _lib.EXPECTED_MAJOR


def env_without_library(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("VMM_LIBRARY", "PKG_CONFIG_PATH", "PKG_CONFIG")}
    env.update(extra)
    return env


class TestLookup(unittest.TestCase):
    def uninstalled_pc_dir(self):
        if not shutil.which("pkg-config"):
            self.skipTest("pkg-config not installed")
        if not BUILD:
            self.skipTest("VMM_BUILD_DIR not set (run through run-tests.sh)")
        pcdir = os.path.join(BUILD, "meson-uninstalled")
        if not os.path.exists(os.path.join(pcdir, "vmm-uninstalled.pc")):
            self.skipTest("%s has no vmm-uninstalled.pc" % pcdir)
        return pcdir

    def test_pkg_config_uninstalled_build_tree(self):
        # A copy of the package outside the source tree, so only pkg-config
        # can lead it to the build: vmm-uninstalled.pc's libdir names
        # BUILD/lib/<multiarch>, which does not exist; its -L is BUILD/lib.
        pcdir = self.uninstalled_pc_dir()
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copytree(PACKAGE, os.path.join(tmp, "vmm"),
                            ignore=shutil.ignore_patterns("__pycache__"))
            code = ("import vmm\nfrom vmm import _lib\n"
                    "print(_lib._source_tree())\nprint(_lib.LIB._name)\n")
            out = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True,
                timeout=60, cwd=tmp,
                env=env_without_library(PKG_CONFIG_PATH=pcdir, PYTHONPATH=tmp,
                                        PYTHONDONTWRITEBYTECODE="1"))
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.splitlines(),
                         ["None", os.path.join(BUILD, "lib", SONAME)])

    def test_pkg_config_candidates_in_order(self):
        pcdir = self.uninstalled_pc_dir()
        with mock.patch.dict(os.environ, env_without_library(PKG_CONFIG_PATH=pcdir),
                             clear=True):
            found = _lib._candidates()
        from_l = os.path.join(BUILD, "lib", SONAME)
        self.assertIn(from_l, found)
        self.assertEqual(found[-1], SONAME)
        tree = _lib._source_tree()
        if tree and os.path.join(tree, "build") != BUILD:
            self.assertLess(found.index(from_l),
                            found.index(os.path.join(tree, "build", "lib", SONAME)))

    def test_source_tree_build_without_pkg_config(self):
        tree = _lib._source_tree()
        if tree is None:
            self.skipTest("the package was not imported from a libvmm source tree")
        with mock.patch.dict(os.environ, env_without_library(PKG_CONFIG="false"),
                             clear=True):
            found = _lib._candidates()
        self.assertEqual(found[0], os.path.join(tree, "build", "lib", SONAME))
        self.assertEqual(found[-1], SONAME)

    def test_vmm_library_wins(self):
        with mock.patch.dict(os.environ, {"VMM_LIBRARY": "/x/libvmm.so.0"}):
            self.assertEqual(_lib._candidates(), ["/x/libvmm.so.0"])
        with tempfile.TemporaryDirectory() as tmp, \
                mock.patch.dict(os.environ, {"VMM_LIBRARY": tmp}):
            self.assertEqual(_lib._candidates(), [os.path.join(tmp, SONAME),
                                                  os.path.join(tmp, "libvmm.so")])


if __name__ == "__main__":
    unittest.main()
