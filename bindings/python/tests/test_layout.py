"""Layout drift: the ctypes mirrors in vmm/_lib.py against the C compiler.

bindings/layout/layout.c prints every struct size, field offset/size,
constant and exported function of include/vmm/*.h. run-tests.sh builds it
and passes its path in $VMM_LAYOUT; without that, this test builds it with
`cc` from the source tree (and skips if neither is possible). The function
list is also checked against the headers (VMM_API) and `nm -D libvmm.so`,
so layout.c itself cannot silently fall behind.
"""
import ctypes
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from vmm import _lib

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
HEADERS = os.path.join(REPO, "include", "vmm")
LAYOUT_C = os.path.join(REPO, "bindings", "layout", "layout.c")


def layout_output():
    exe = os.environ.get("VMM_LAYOUT")
    if not exe:
        cc = shutil.which(os.environ.get("CC", "cc"))
        if not (cc and os.path.exists(LAYOUT_C)):
            raise unittest.SkipTest("no $VMM_LAYOUT and no cc/layout.c to build it")
        exe = os.path.join(tempfile.mkdtemp(prefix="vmm-layout-"), "layout")
        subprocess.run([cc, "-I", os.path.join(REPO, "include"), LAYOUT_C,
                        "-o", exe], check=True)
    return subprocess.run([exe], check=True, capture_output=True,
                          text=True).stdout


def parse(text):
    facts = {"struct": {}, "field": {}, "const": {}, "function": set(), "init": {}}
    for line in text.splitlines():
        w = line.split()
        if w[0] == "struct" and w[2] == "size" and len(w) == 4:
            facts["struct"][w[1]] = int(w[3])
        elif w[0] == "field" and w[2] == "offset" and w[4] == "size" and len(w) == 6:
            facts["field"][w[1]] = (int(w[3]), int(w[5]))
        elif w[0] == "const" and len(w) == 3:
            facts["const"][w[1]] = int(w[2])
        elif w[0] == "function" and len(w) == 2:
            facts["function"].add(w[1])
        elif w[0] == "init" and len(w) == 3:
            facts["init"][w[1]] = int(w[2])
        else:
            raise AssertionError("bad layout line: %r" % line)
    return facts


def named_fields(cls, prefix="", base=0):
    """{dotted name: (offset, size, type)} of a ctypes Structure, anonymous
    members flattened (as C11 does), nested records expanded."""
    out = {}
    anon = getattr(cls, "_anonymous_", ())
    for name, typ, *_ in cls._fields_:
        off = base + getattr(cls, name).offset
        if name in anon:
            out.update(named_fields(typ, prefix, off))
            continue
        out[prefix + name] = (off, ctypes.sizeof(typ), typ)
        # expand the members of nested unnamed-type records (vmm_exit.pio.*)
        if (issubclass(typ, (ctypes.Structure, ctypes.Union))
                and typ.__name__.startswith("_")):
            out.update(named_fields(typ, prefix + name + ".", off))
    return out


def init_value(obj, path):
    """The value at dotted @path (fields; digits index arrays) of a ctypes
    struct, as layout.c prints it: NULL pointers 0, others 1."""
    for part in path.split("."):
        obj = obj[int(part)] if part.isdigit() else getattr(obj, part)
    if obj is None:
        return 0
    if isinstance(obj, (bytes, ctypes._Pointer, ctypes._CFuncPtr)):
        return 1 if obj else 0
    return int(obj)


class TestLayout(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.facts = parse(layout_output())

    def test_struct_sizes(self):
        self.assertEqual(set(self.facts["struct"]), set(_lib.STRUCTS))
        for name, size in self.facts["struct"].items():
            self.assertEqual(ctypes.sizeof(_lib.STRUCTS[name]), size, name)

    def test_field_offsets_and_sizes(self):
        mirrored = {}
        for sname, cls in _lib.STRUCTS.items():
            for fname, (off, size, _) in named_fields(cls).items():
                mirrored["%s.%s" % (sname, fname)] = (off, size)
        self.assertEqual(set(self.facts["field"]), set(mirrored),
                         "fields only in C / only in Python")
        for name, want in self.facts["field"].items():
            self.assertEqual(mirrored[name], want, name)

    def test_constants(self):
        self.assertEqual(set(self.facts["const"]), set(_lib.CONSTANTS))
        for name, value in self.facts["const"].items():
            self.assertEqual(_lib.CONSTANTS[name], value, name)

    def test_initialisers(self):
        # The *_INIT macros of the headers, field by field, against the
        # Python functions building the same structs.
        seen = {}
        for name, want in self.facts["init"].items():
            sname, path = name.split(".", 1)
            self.assertIn(sname, _lib.INITS, "no Python initialiser for " + sname)
            got = init_value(_lib.INITS[sname](), path)
            self.assertEqual(got, want, name)
            seen[sname] = True
        self.assertEqual(set(seen), set(_lib.INITS))

    def test_functions_declared(self):
        self.assertEqual(self.facts["function"], set(_lib.FUNCTIONS))
        for name, (restype, argtypes) in _lib.FUNCTIONS.items():
            fn = getattr(_lib.LIB, name)
            self.assertIs(fn.restype, restype, name)
            self.assertEqual(tuple(fn.argtypes), tuple(argtypes), name)

    def test_functions_exported(self):
        nm = shutil.which("nm")
        if not nm:
            self.skipTest("no nm")
        out = subprocess.run([nm, "-D", "--defined-only", _lib.LIB._name],
                             check=True, capture_output=True, text=True).stdout
        exported = {w[2].split("@")[0] for w in (l.split() for l in out.splitlines())
                    if len(w) == 3 and w[1] in "TtWi" and w[2].startswith("vmm_")}
        self.assertEqual(exported, self.facts["function"])


@unittest.skipUnless(os.path.isdir(HEADERS), "no include/vmm beside the binding")
class TestLayoutProgramComplete(unittest.TestCase):
    """layout.c must list everything the headers declare."""

    @classmethod
    def setUpClass(cls):
        cls.facts = parse(layout_output())
        cls.text = ""
        # include/vmm/*.h and the folders below it (include/vmm/devices/)
        for top, dirs, files in sorted(os.walk(HEADERS)):
            dirs.sort()
            for f in sorted(files):
                if f.endswith(".h"):
                    with open(os.path.join(top, f)) as fh:
                        # drop comments
                        cls.text += re.sub(r"/\*.*?\*/", "", fh.read(), flags=re.S)

    def test_every_vmm_api_function(self):
        declared = set(re.findall(r"VMM_API\s[^;{]*?\b(vmm_\w+)\s*\(", self.text))
        self.assertEqual(declared, self.facts["function"])

    def test_every_constant(self):
        names = set()
        for body in re.findall(r"enum\s+vmm_\w+\s*\{(.*?)\}", self.text, re.S):
            names |= set(re.findall(r"\b(VMM_\w+)\b", body))
        for name, value in re.findall(r"#define\s+(VMM_\w+)(\s+\S.*)?$",
                                      self.text, re.M):
            if name.endswith("_H") or name == "VMM_API" or name.endswith("_INIT"):
                continue
            names.add(name)
        self.assertEqual(names, set(self.facts["const"]))

    def test_every_struct(self):
        structs = set(re.findall(r"^struct\s+(vmm_\w+)\s*\{", self.text, re.M))
        self.assertEqual(structs, set(self.facts["struct"]))


if __name__ == "__main__":
    unittest.main()
