"""Reading samples out of Prometheus text exposition in tests."""

import re


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text format (labels must match exactly those given)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
        if found == labels:
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name}{labels}")
