"""Usable CPUs: the affinity mask, capped by a cgroup v2 or v1 CPU quota (what Cloud Run and Kubernetes set)."""

import os

import pytest

from app.cpus import cgroup_quota, usable_cpus


def write(root, files):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.mark.parametrize(
    ("files", "quota"),
    [
        ({"cpu.max": "max 100000\n"}, None),
        ({"cpu.max": "200000 100000\n"}, 2.0),
        ({"cpu.max": "150000 100000\n"}, 1.5),
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({"cpu/cpu.cfs_quota_us": "400000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 4.0),
        ({}, None),
        ({"cpu.max": "garbage"}, None),
    ],
)
def test_cgroup_quota(tmp_path, files, quota):
    assert cgroup_quota(write(tmp_path, files)) == quota


def test_a_quota_caps_the_affinity_and_rounds_up(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    assert usable_cpus(write(tmp_path / "none", {})) == 8
    assert usable_cpus(write(tmp_path / "one", {"cpu.max": "100000 100000"})) == 1
    assert usable_cpus(write(tmp_path / "half", {"cpu.max": "50000 100000"})) == 1
    assert usable_cpus(write(tmp_path / "one-and-a-half", {"cpu.max": "150000 100000"})) == 2
    assert usable_cpus(write(tmp_path / "many", {"cpu.max": "1600000 100000"})) == 8, "never more than affinity"
