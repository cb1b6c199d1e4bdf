"""The example of docs/bindings-python.md ("Platform PC, built-in devices
and loaders") runs and prints what it claims."""
import os
import re
import subprocess
import sys
import unittest

DOC = os.path.join(os.path.dirname(__file__), "..", "..", "..", "docs", "bindings-python.md")
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


if __name__ == "__main__":
    unittest.main()
