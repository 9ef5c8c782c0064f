"""The README says what the Makefile does."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_names_the_folder_the_makefile_keeps_the_llama_cpp_wheel_in():
    default = re.search(r"^WHEEL_CACHE \?= (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE).group(1)
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"`{default.replace('$(HOME)', '~')}`" in readme and "WHEEL_CACHE" in readme
    assert ".tools/wheels" not in readme
