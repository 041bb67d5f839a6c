"""``/api/v1``'s routing table (``services/synctool/api.Api``) against a real synctool."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers.synctoolproc import SynctoolProcess
from helpers.waiting import wait_until


def test_calls_outside_the_routing_table_are_404_or_405(
    tmp_path: Path, zk_hosts: str, procs: list[Any]
) -> None:
    s = SynctoolProcess(tmp_path, zk_hosts=zk_hosts)
    procs.append(s)
    s.start()
    wait_until(s.leading, 20, "leader")

    code, body = s.api("GET", "/api/v1/tasks/db.t/nope")
    assert (code, body["error"], body["exit_code"]) == (404, "no such action 'nope' on a task", 4)
    code, body = s.api("POST", "/api/v1/tasks/db.t", {})
    assert (code, body["error"]) == (404, "no POST on a task")
    code, body = s.api("GET", "/api/v1/tasks/db.t")
    assert (code, body["error"], body["schema_version"]) == (404, "no sync task for db.t", 1)
    code, body = s.api("PUT", "/api/v1/tasks", {})
    assert code == 405 and "PUT is not allowed" in body["error"]
    code, body = s.api("GET", "/api/v1/events?limit=many")
    assert code == 400 and body["error"].startswith("bad query")
    code, body = s.api("GET", "/api/v1/tasks")
    assert (code, body) == (200, {"tasks": [], "schema_version": 1})


def test_a_relative_destination_is_refused_naming_it_and_the_fix(
    tmp_path: Path, zk_hosts: str, procs: list[Any]
) -> None:
    """The synctool would take ``out/t`` relative to its own working directory: every face that
    creates a task or looks at a destination refuses it before touching anything."""
    s = SynctoolProcess(tmp_path, zk_hosts=zk_hosts)
    procs.append(s)
    s.start()
    wait_until(s.leading, 20, "leader")
    said = (
        "destination 'out/t' is a relative path: "
        "the synctool would take it relative to its own working directory"
    )

    code, body = s.api("POST", "/api/v1/tasks", {"name": "db.t", "dest": "out/t"})
    assert (code, body["error"]) == (400, said)
    assert "give an absolute path (/data/offline/t" in body["hint"]
    code, body = s.api("GET", "/api/v1/destination?uri=out%2Ft")
    assert (code, body["error"]) == (400, said)
    # OpenMLDB's own face (synctool_helper.py): the refusal in its GeneralResponse
    helper_body = {"db": "db", "name": "t", "mode": 0, "dest": "out/t"}
    code, body = s.api("POST", "/openmldb.datasync.SyncTool/CreateSyncTask", helper_body)
    assert code == 200 and body["code"] == -1 and body["msg"].startswith(said)
    assert s.api("GET", "/api/v1/tasks")[1]["tasks"] == []
