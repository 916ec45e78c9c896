"""What the server promises (docs/security.md), tried as an attacker would: against a real `runyard server`
on loopback, with raw HTTP where a client library would be too polite, and Chromium for the UI."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runyard import Experiment
from runyard.core import Dataset, ScriptRunConfig
from runyard.errors import InvalidTypeError, InvalidValueError
from runyard.models.registry import Model
from runyard.server.security import is_loopback, require_token_for
from tests.web import browser_page, get, start_server

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(__import__("importlib").util.find_spec("fastapi") is None,
                                 reason="the server extra is not installed")]


@pytest.fixture
def server(workspace):
    proc, base = start_server(workspace)
    yield base
    proc.terminate()
    proc.wait(timeout=10)


def raw(base: str, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
        chunks: list[bytes] | None = None) -> tuple[int, bytes]:
    """One request as written, without a client library's help (chunked bodies, odd headers)."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    if chunks is not None:
        conn.putrequest(method, path, skip_host=True)
        conn.putheader("Host", f"{host}:{port}")
        conn.putheader("Transfer-Encoding", "chunked")
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        conn.endheaders()
        try:
            for c in chunks:
                conn.send(b"%x\r\n%s\r\n" % (len(c), c))
            conn.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
    else:
        conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    return response.status, response.read()


def test_an_empty_host_binds_every_interface_and_needs_a_token():
    assert not is_loopback("") and not is_loopback("0.0.0.0") and is_loopback("127.0.0.1")
    with pytest.raises(InvalidValueError, match="every interface.*--token"):
        require_token_for("", None)
    result = subprocess.run([sys.executable, "-m", "runyard.cli.main", "server", "--host", "", "--port", "0"],
                            capture_output=True, text=True, timeout=60, cwd=Path.cwd())
    assert result.returncode != 0 and "token" in result.stderr


def test_a_tokenless_server_answers_only_to_loopback_host_names(workspace, server):
    assert raw(server, "GET", "/api/v1/runs")[0] == 200
    for host in ("attacker.example", "attacker.example:80", "127.0.0.1.attacker.example"):
        status, body = raw(server, "GET", "/api/v1/runs", headers={"Host": host})
        assert status == 421 and b"loopback" in body
    status, _ = raw(server, "POST", f"/api/v1/runs/x/cancel", headers={"Host": "rebound.example"})
    assert status == 421


def test_a_cross_origin_write_is_refused(workspace, server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = Experiment(workspace, "x").start_logging()
    host = server.removeprefix("http://")
    status, body = raw(server, "POST", f"/api/v1/runs/{run.id}/cancel",
                       headers={"Origin": "http://evil.example", "Content-Type": "text/plain"})
    assert status == 403 and b"another site" in body
    assert run.get_status() == "Running"
    assert raw(server, "POST", f"/api/v1/runs/{run.id}/cancel", headers={"Origin": f"http://{host}"})[0] == 200
    run.complete()


def test_a_chunked_upload_over_the_bound_is_refused_while_it_is_read(workspace, tmp_path, monkeypatch):
    import psutil

    monkeypatch.chdir(tmp_path)
    run = Experiment(workspace, "x").start_logging()
    proc, base = start_server(workspace, "--max-upload-mb", "8")
    try:
        before = psutil.Process(proc.pid).memory_info().rss
        status, body = raw(base, "PUT", f"/api/v1/runs/{run.id}/files/outputs/big.bin",
                           chunks=[b"x" * (1 << 20)] * 40)
        assert status == 413
        grown = psutil.Process(proc.pid).memory_info().rss - before
        assert grown < 30 << 20, f"the server held {grown >> 20} MiB of a refused upload"
        assert not list(run.folder.uploads.rglob("*big*")) and not list(run.folder.uploads.rglob(".*incoming"))
        status, _ = raw(base, "PUT", f"/api/v1/runs/{run.id}/files/outputs/ok.bin", chunks=[b"y" * 1000] * 3)
        assert status == 200 and (run.folder.uploads / "outputs" / "ok.bin").read_bytes() == b"y" * 3000
        assert raw(base, "PUT", f"/api/v1/runs/{run.id}/files/outputs/x", body=b"1",
                   headers={"Content-Length": "-1"})[0] in (400, 413)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    run.complete()


def test_symlinks_never_lead_out_of_a_run_or_a_datastore(workspace, server, project, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0")
    outside = tmp_path / "outside"
    outside.mkdir()
    src = project("train.py", f"""
        import os
        os.makedirs('outputs', exist_ok=True)
        os.symlink({str(secret)!r}, 'outputs/passwd')
        os.symlink({str(outside)!r}, 'outputs/escape')
        open('outputs/real.txt', 'w').write('mine')
        os.symlink('real.txt', 'outputs/alias.txt')
    """)
    run = Experiment(workspace, "links").submit(ScriptRunConfig(str(src), "train.py"))
    run.wait_for_completion()
    assert sorted(n for n in run.get_file_names() if n.startswith("outputs/")) == ["outputs/alias.txt",
                                                                                   "outputs/real.txt"]
    assert get(f"{server}/api/v1/runs/{run.id}/files/outputs/passwd")[0] == 404
    assert get(f"{server}/api/v1/runs/{run.id}/files/outputs/alias.txt") == (200, b"mine")
    (run.folder.uploads / "outputs").mkdir(parents=True, exist_ok=True)
    os.symlink(outside, run.folder.uploads / "outputs" / "linked")
    status, _ = raw(server, "PUT", f"/api/v1/runs/{run.id}/files/outputs/linked/planted.txt", body=b"x")
    assert status == 400 and not (outside / "planted.txt").exists()
    with pytest.raises(InvalidValueError, match="model_path"):
        run.register_model("db", "outputs/../../../../runyard.db")
    datastore = workspace.get_default_datastore()
    os.symlink(secret, Path(datastore.root) / "passwd")
    os.symlink(outside, Path(datastore.root) / "linked")
    assert get(f"{server}/api/v1/datastores/workspaceblobstore/files/passwd")[0] in (400, 404)
    assert "passwd" not in json.loads(get(f"{server}/api/v1/datastores/workspaceblobstore/files")[1])
    status, _ = raw(server, "PUT", "/api/v1/datastores/workspaceblobstore/files/linked/planted.txt", body=b"x")
    assert status == 400 and not (outside / "planted.txt").exists()
    with pytest.raises(InvalidValueError, match="outside the datastore"):
        datastore.path("/etc")


@pytest.mark.parametrize("path", [
    "/api/v1/runs?status=bogus", "/api/v1/runs?offset=1e20", "/api/v1/runs?limit=-1",
    "/api/v1/runs?sort=nope", "/api/v1/runs/nope", "/api/v1/runs/nope/metrics/x/series?rank=abc",
    "/api/v1/runs/%00/files/x", "/api/v1/datastores/%2E%2E/files",
])
def test_bad_query_and_path_parameters_get_a_4xx_with_the_reason(server, path):
    status, body = raw(server, "GET", path)
    assert 400 <= status < 500, (status, body)
    assert body


@pytest.mark.parametrize("name", [".", "%00", "a" * 300, "..", "outputs/%2e%2e/%2e%2e/x"])
def test_bad_file_names_on_upload_get_a_4xx(workspace, server, tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    run = Experiment(workspace, "x").start_logging()
    status, _ = raw(server, "PUT", f"/api/v1/runs/{run.id}/files/{name}", body=b"x")
    assert 400 <= status < 500
    run.complete()


def test_a_non_utf8_output_file_name_does_not_break_the_run_page(workspace, server, project):
    src = project("train.py", """
        import os
        os.makedirs(b'outputs', exist_ok=True)
        open(b'outputs/caf\\xe9.txt', 'wb').write(b'x')
    """)
    run = Experiment(workspace, "names").submit(ScriptRunConfig(str(src), "train.py"))
    run.wait_for_completion()
    status, body = get(f"{server}/api/v1/runs/{run.id}")
    assert status == 200 and json.loads(body)["files"]


def test_the_server_revalidates_a_submitted_spec(workspace, server, project):
    from runyard.snapshot import scan

    src = project("train.py", "print(1)")
    manifest, _ = scan(src)
    base_spec = ScriptRunConfig(str(src), "train.py").job_spec("x")
    spec = {**base_spec.to_dict(), "snapshot_digest": manifest.digest}

    def submit(changed: dict) -> tuple[int, bytes]:
        body = json.dumps({"experiment": "x", "spec": {**spec, **changed}, "manifest": manifest.to_json()}).encode()
        return raw(server, "POST", "/api/v1/runs", body=body, headers={"Content-Type": "application/json"})

    for file in manifest.files:  # what a client sends first
        raw(server, "PUT", f"/api/v1/blobs/{file.digest}", body=(src / file.path).read_bytes())
    assert submit({"entry_script": "/etc/passwd"})[0] == 400
    assert submit({"entry_script": "../x.py"})[0] == 400
    binding = {"name": "d", "datastore": "workspaceblobstore", "datastore_root": "/", "path_on_datastore": "a/../..",
               "mode": "mount"}
    status, body = submit({"inputs": [binding]})
    assert status == 400 and b"outside the datastore" in body
    status, body = submit({"inputs": [{**binding, "datastore": "nope", "path_on_datastore": "a"}]})
    assert status == 400 and b"not registered" in body
    status, body = submit({"inputs": [{**binding, "path_on_datastore": "a", "path_on_compute": "/etc"}]})
    assert status == 400 and b"path_on_compute" in body
    assert submit({})[0] == 200
    assert list(workspace.runs_root.iterdir()).__len__() == 1


@pytest.mark.parametrize("make, field", [
    (lambda src: ScriptRunConfig(str(src), "train.py", arguments=["a\x00b"]), "arguments"),
    (lambda src: ScriptRunConfig(str(src), "train.py", arguments=["x" * 200_000]), "arguments"),
    (lambda src: ScriptRunConfig(str(src), "train.py", max_run_duration_seconds=float("nan")),
     "max_run_duration_seconds"),
])
def test_bad_values_of_the_python_api_are_refused_before_anything_is_written(workspace, project, make, field):
    src = project("train.py", "print(1)")
    with pytest.raises((InvalidValueError, InvalidTypeError), match=field):
        Experiment(workspace, "x").submit(make(src))
    assert list(workspace.runs_root.iterdir()) == []


def test_python_api_gaps_each_get_a_clear_error():
    from runyard.train.dnn import PyTorch
    from runyard.train.hyperdrive import RandomParameterSampling, uniform

    here = str(Path(__file__).parent)
    entry = Path(__file__).name
    with pytest.raises(InvalidValueError, match="node_count"):
        PyTorch(here, entry_script=entry, node_count=10**6, distributed_backend="gloo")
    with pytest.raises(InvalidValueError, match="process_count_per_node"):
        PyTorch(here, entry_script=entry, process_count_per_node=10**5, distributed_backend="gloo")
    with pytest.raises(InvalidValueError, match="uniform"):
        uniform(float("nan"), 1.0)
    with pytest.raises(InvalidTypeError, match="environment_variables"):
        PyTorch(here, entry_script=entry, environment_variables={"A": None})
    sampling = RandomParameterSampling({"--lr": uniform(0.1, 1.0)})
    with pytest.raises(InvalidValueError, match="max_concurrent_runs"):
        _hyperdrive_with(sampling, max_concurrent_runs=0)
    with pytest.raises(InvalidValueError, match="max_duration_minutes"):
        _hyperdrive_with(sampling, max_duration_minutes=float("nan"))


def _hyperdrive_with(sampling, **kwargs):
    from runyard.train.estimator import Estimator
    from runyard.train.hyperdrive import HyperDriveConfig

    here = Path(__file__).parent
    estimator = Estimator(str(here), entry_script=Path(__file__).name)
    return HyperDriveConfig(sampling, "acc", "MAXIMIZE", 4, estimator=estimator, **kwargs)


@pytest.mark.parametrize("name", ["", "../x", "a/b", " "])
def test_empty_or_path_like_datastore_names_are_refused(workspace, tmp_path, name):
    from runyard.core import Datastore

    with pytest.raises(InvalidValueError, match="datastore_name"):
        Datastore.register_local(workspace, name, str(tmp_path))


def test_model_register_with_bad_tags_writes_nothing(workspace, tmp_path):
    model_file = tmp_path / "m.pt"
    model_file.write_bytes(b"w")
    with pytest.raises(InvalidValueError, match="tags"):
        Model.register(workspace, str(model_file), "m", tags=["not", "a", "dict"])
    assert Model.register(workspace, str(model_file), "m").version == 1


# -- stored XSS --------------------------------------------------------------------------------------------
PAYLOAD = "\"'><img src=x onerror=\"window.__xss=(window.__xss||0)+1\"><script>window.__xss=99</script>"


def test_no_injected_markup_runs_on_any_page(workspace, project, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    src = project("train.py", f"""
        import os, sys
        from runyard import Run
        run = Run.get_context()
        P = {PAYLOAD!r}
        run.log(P, 1.0)
        run.log('loss', 0.5)
        run.log_row(P, **{{'x': 1}})
        run.tag(P, P)
        print(P, flush=True)
        os.makedirs('outputs', exist_ok=True)
        open(os.path.join('outputs', 'f' + P.replace('/', '_')[:80] + '.txt'), 'w').write('x')
    """)
    run = Experiment(workspace, "xss").submit(ScriptRunConfig(str(src), "train.py", arguments=[PAYLOAD]))
    run.wait_for_completion()
    interactive = Experiment(workspace, "xss").start_logging(display_name=PAYLOAD)
    interactive.log("acc", 0.9)
    interactive.complete()
    datastore = workspace.get_default_datastore()
    (Path(datastore.root) / "d").mkdir()
    (Path(datastore.root) / "d" / "f.csv").write_text("a\n1\n")
    Dataset.File.from_files((datastore, "d")).register(workspace, "ds", description=PAYLOAD)
    model_file = tmp_path / "model.pt"
    model_file.write_bytes(b"w")
    Model.register(workspace, str(model_file), "m", tags={PAYLOAD: PAYLOAD}, description=PAYLOAD)
    proc, base = start_server(workspace)
    try:
        with browser_page(tmp_path, viewport={"width": 1280, "height": 900}) as page:
            csp_violations: list[str] = []
            page.on("console", lambda m: csp_violations.append(m.text) if "Content Security Policy" in m.text else None)
            for hash_ in ("#/", f"#/run/{run.id}", f"#/run/{interactive.id}", "#/models", "#/data",
                          f"#/compare/{run.id},{interactive.id}"):
                page.goto(f"{base}/{hash_}")
                page.locator("#view > *").first.wait_for()  # the view drew what it was given
                assert page.evaluate("window.__xss") is None, hash_
                assert page.locator("img[src=x]").count() == 0, hash_
                assert page.locator("#view script").count() == 0, hash_
            page.goto(f"{base}/#/run/{run.id}")
            page.locator("#params").wait_for()
            assert PAYLOAD in page.locator("#view").inner_text()  # shown as text, not run
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_every_page_has_a_csp_that_forbids_inline_script_and_the_token_leaves_the_url(workspace, tmp_path):
    proc, base = start_server(workspace, "--token", "s3cret-token")
    try:
        host, port = base.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request("GET", "/")
        response = conn.getresponse()
        csp = response.getheader("Content-Security-Policy")
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        assert get(base + "/api/v1/runs")[0] == 401
        with browser_page(tmp_path) as page:
            page.goto(f"{base}/?token=s3cret-token#/")
            page.wait_for_selector("#empty")  # the API answered with the token: the empty workspace's first steps
            assert "s3cret-token" not in page.url
            assert page.evaluate("history.length") >= 1 and "token" not in page.evaluate("location.href")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# -- scoring services ----------------------------------------------------------------------------------------
@pytest.fixture
def scoring(workspace, project, tmp_path):
    from runyard.core.model import InferenceConfig
    from runyard.core.webservice import AciWebservice

    weights = tmp_path / "w.txt"
    weights.write_text("2")
    model = Model.register(workspace, str(weights), "scaler")
    src = project("score.py", """
        import json
        def init():
            pass
        def run(raw):
            return {"doubled": [2 * x for x in json.loads(raw)["data"]]}
    """, name="serve")
    service = Model.deploy(workspace, "scaler-svc", [model], InferenceConfig("score.py", source_directory=str(src)),
                           AciWebservice.deploy_configuration(auth_enabled=True))
    yield service, model, src
    service.delete()


def _score(port: int, head: bytes, body: bytes = b"") -> bytes:
    with socket_to(port) as s:
        s.sendall(head + b"\r\n\r\n" + body)
        s.settimeout(5)
        return s.recv(65536)


def socket_to(port: int):
    import socket

    return socket.create_connection(("127.0.0.1", port), timeout=5)


def test_the_scoring_service_answers_malformed_requests_with_4xx(scoring):
    service, _, _ = scoring
    port = int(service.scoring_uri.split(":")[2].split("/")[0])
    key = service.get_keys()[0]
    auth = f"Authorization: Bearer {key}".encode()
    assert _score(port, b"POST /score HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\nContent-Length: -1").startswith(
        b"HTTP/1.0 400")
    assert _score(port, b"POST /score HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\nContent-Length: abc").startswith(
        b"HTTP/1.0 400")
    assert _score(port, b"POST /score HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\nContent-Length: 2", b"\xff\xfe") \
        .startswith(b"HTTP/1.0 400")
    assert _score(port, "POST /score HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ключ\r\nContent-Length: 2"
                  .encode(), b"{}").startswith(b"HTTP/1.0 401")
    assert service.run(json.dumps({"data": [1, 2]})) == {"doubled": [2, 4]}
    record = Path(service.workspace.path / "services" / "scaler-svc" / "service.json")
    assert oct(record.stat().st_mode & 0o777) == "0o600"


def test_deploying_on_a_port_another_server_holds_is_refused(workspace, scoring):
    from runyard.core.model import InferenceConfig
    from runyard.core.webservice import LocalWebservice

    service, model, src = scoring
    port = int(service.scoring_uri.split(":")[2].split("/")[0])
    with pytest.raises(InvalidValueError, match=f"port={port}: is in use"):
        Model.deploy(workspace, "second-svc", [model], InferenceConfig("score.py", source_directory=str(src)),
                     LocalWebservice.deploy_configuration(port=port))
    assert not (workspace.path / "services" / "second-svc").exists()
