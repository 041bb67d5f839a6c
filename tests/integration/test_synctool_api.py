"""``/api/v1``'s routing table (``services/synctool/api.Api``) against a real synctool."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers.cli import omsync
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
    assert (code, body["error"]) == (404, "no such action 'nope' on a task")
    code, body = s.api("POST", "/api/v1/tasks/db.t", {})
    assert (code, body["error"]) == (404, "no POST on a task")
    code, body = s.api("GET", "/api/v1/tasks/db.t")
    assert (code, body["error"], body["schema_version"]) == (404, "no sync task for db.t", 1)
    code, body = s.api("POST", "/api/v1/nothing/here", {})
    assert (code, body["error"]) == (404, "no /api/v1/nothing/here in /api/v1")
    code, body = s.api("PUT", "/api/v1/tasks", {})
    assert code == 405 and "PUT is not allowed" in body["error"]
    code, body = s.api("GET", "/api/v1/events?limit=many")
    assert code == 400 and body["error"].startswith("bad query")


def test_every_error_carries_its_kind_and_the_exit_code_omsync_task_documents(
    tmp_path: Path, zk_hosts: str, procs: list[Any]
) -> None:
    """``exit_code`` is what ``omsync task`` exits with (README: 1 error, 2 usage, 4 only when no
    synctool answered); ``kind`` is the error tree's class, which the client raises again."""
    from omsync_tui.core.errors import NotFoundError, UsageError
    from omsync_tui.services.cluster import CreateRequest, SyncClient

    s = SynctoolProcess(tmp_path, zk_hosts=zk_hosts)
    procs.append(s)
    s.start()
    wait_until(s.leading, 20, "leader")
    not_found = {"kind": "not_found", "exit_code": 1}
    for method, path, body in [
        ("GET", "/api/v1/tasks/db.t/nope", None),
        ("POST", "/api/v1/tasks/db.t", {}),
        ("GET", "/api/v1/tasks/db.t", None),
        ("DELETE", "/api/v1/tasks/db.t", None),
        ("GET", "/api/v1/nothing", None),
    ]:
        code, doc = s.api(method, path, body)
        assert code == 404 and {k: doc[k] for k in not_found} == not_found, (method, path, doc)
    usage = {"kind": "usage", "exit_code": 2}
    for method, path, body in [
        ("GET", "/api/v1/events?limit=many", None),
        ("POST", "/api/v1/tasks", {"name": "db.t"}),
        ("GET", "/api/v1/destination", None),
    ]:
        code, doc = s.api(method, path, body)
        assert code == 400 and {k: doc[k] for k in usage} == usage, (method, path, doc)
    # this ZooKeeper holds no OpenMLDB cluster: the synctool was reached, so not 4
    code, doc = s.api("POST", "/api/v1/tasks", {"name": "db.t", "dest": str(tmp_path / "out")})
    assert (code, doc["kind"], doc["exit_code"]) == (404, "not_found", 1) and "does not exist" in doc["error"]

    with SyncClient(s.endpoint) as client:
        with pytest.raises(NotFoundError, match=r"no sync task for db\.t"):
            client.task("db.t")
        with pytest.raises(UsageError, match="is a relative path"):
            client.destination("out/t")
        with pytest.raises(NotFoundError, match="does not exist"):
            client.create(CreateRequest("db.t", str(tmp_path / "out")))
    out = omsync("task", "status", "db.t", "--synctool", s.endpoint)
    assert out.returncode == 1 and "error: no sync task for db.t" in out.stderr
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
