"""Hadoop's XML configuration as the HDFS destination reads it (no HDFS needed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from omsync_tui.core.errors import UsageError
from omsync_tui.services.sinks.hdfs import read_hadoop_conf


def site(path: Path, props: dict[str, str]) -> None:
    body = "".join(f"<property><name>{k}</name><value>{v}</value></property>" for k, v in props.items())
    path.write_text(f"<?xml version='1.0'?><configuration>{body}</configuration>", encoding="utf-8")


def test_hdfs_site_wins_over_core_site(tmp_path: Path) -> None:
    site(tmp_path / "core-site.xml", {"fs.defaultFS": "hdfs://a:1", "k": "core"})
    site(tmp_path / "hdfs-site.xml", {"k": "hdfs"})
    assert read_hadoop_conf(tmp_path) == {"fs.defaultFS": "hdfs://a:1", "k": "hdfs"}
    assert read_hadoop_conf(None) == {}
    assert read_hadoop_conf(tmp_path / "missing") == {}


def test_parsed_once_per_version_of_the_files(tmp_path: Path) -> None:
    core = tmp_path / "core-site.xml"
    site(core, {"fs.defaultFS": "hdfs://a:1"})
    assert read_hadoop_conf(tmp_path)["fs.defaultFS"] == "hdfs://a:1"
    # same size and modification time: the parse is not repeated (the new text is not seen)
    stat = core.stat()
    site(core, {"fs.defaultFS": "hdfs://b:1"})
    os.utime(core, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert read_hadoop_conf(tmp_path)["fs.defaultFS"] == "hdfs://a:1"
    # an edited file is read again; so is a file that appears
    site(core, {"fs.defaultFS": "hdfs://cc:1"})
    assert read_hadoop_conf(tmp_path)["fs.defaultFS"] == "hdfs://cc:1"
    site(tmp_path / "hdfs-site.xml", {"dfs.nameservices": "ns1"})
    assert read_hadoop_conf(tmp_path)["dfs.nameservices"] == "ns1"


def test_broken_xml_names_the_file_each_time(tmp_path: Path) -> None:
    (tmp_path / "hdfs-site.xml").write_text("<configuration><property>", encoding="utf-8")
    for _ in range(2):  # an error is not remembered as a result
        with pytest.raises(UsageError, match=r"hdfs-site\.xml: not a Hadoop configuration file") as e:
            read_hadoop_conf(tmp_path)
        assert e.value.hint is not None and "HADOOP_CONF_DIR" in e.value.hint
