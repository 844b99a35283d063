"""The README's configuration table and the settings the code reads stay in step."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_environment_variable_read_is_documented_and_vice_versa():
    source = (ROOT / "app" / "settings.py").read_text()
    from_env = source[source.index("def from_env") : source.index("def model_name_from_uri")]
    read = set(re.findall(r'"([A-Z][A-Z_]+)"', from_env)) - {"DEBUG", "INFO", "WARNING", "ERROR"}
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Configuration") :]
    table = table[: table.index("\n## ")]
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", table, flags=re.M))
    assert read, "found no variables in settings.py"
    assert read - documented == set(), "read but not documented"
    # STORAGE_EMULATOR_HOST is read by google-cloud-storage itself.
    assert documented - read == {"STORAGE_EMULATOR_HOST"}, "documented but not read"
