"""The example of docs/bindings-python.md ("Platform PC, built-in devices
and loaders") runs and prints what it claims, and docs/bindings.md shows the
three hello programs as they are in the tree."""
import os
import re
import subprocess
import sys
import unittest

TREE = os.path.join(os.path.dirname(__file__), "..", "..", "..")
DOC = os.path.join(TREE, "docs", "bindings-python.md")
SECTION = "## Platform PC, built-in devices and loaders"


class TestDocsExample(unittest.TestCase):
    def test_platform_pc_example(self):
        if not os.path.exists(DOC):
            self.skipTest("docs/bindings-python.md not beside the binding")
        with open(DOC) as f:
            text = f.read()
        self.assertIn(SECTION, text)
        code = re.search(r"```python\n(.*?)```", text.split(SECTION, 1)[1], re.S).group(1)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                             text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("e820: 0x0009fc00-0x00100000 RESERVED", out.stdout)
        self.assertIn("loaded RAW at 0x100000, entry 0x100000", out.stdout)
        self.assertTrue(out.stdout.endswith("debug exit 0x600d\nguest said: hi\n"), out.stdout)


class TestBindingsPage(unittest.TestCase):
    """docs/bindings.md has each hello program in full: the first code block
    of its "## C", "## Python" and "## Rust" sections is the file."""
    PAGE = os.path.join(TREE, "docs", "bindings.md")
    SECTIONS = (("C", "c", "examples/hello.c"),
                ("Python", "python", "examples/python/hello.py"),
                ("Rust", "rust", "bindings/rust/vmm/examples/hello.rs"))

    def test_code_is_the_examples(self):
        if not os.path.exists(self.PAGE):
            self.skipTest("docs/bindings.md not beside the binding")
        with open(self.PAGE) as f:
            text = f.read()
        for title, lang, path in self.SECTIONS:
            with self.subTest(path=path):
                if not os.path.exists(os.path.join(TREE, path)):
                    self.skipTest("%s not in this tree" % path)
                section = re.split(r"^## ", text, flags=re.M)
                body = [b for b in section if b.startswith(title + "\n")]
                self.assertEqual(len(body), 1, "docs/bindings.md: no '## %s' section" % title)
                block = re.search(r"^```%s\n(.*?)^```$" % lang, body[0], re.S | re.M)
                self.assertIsNotNone(block, "no ```%s block under '## %s'" % (lang, title))
                with open(os.path.join(TREE, path)) as f:
                    self.assertEqual(block.group(1), f.read(),
                                     "docs/bindings.md '## %s' differs from %s: copy "
                                     "the file into the page again" % (title, path))


if __name__ == "__main__":
    unittest.main()
