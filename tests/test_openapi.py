"""The OpenAPI schema says what the API does: schemathesis against a real `pixseek serve` on loopback.

Every operation of /openapi.json is called with generated requests (the examples, coverage and
fuzzing phases, then stateful sequences that follow the links between operations), valid and
invalid ones, and each answer must be what the schema promises: no server error, a documented
status, the documented content type and body, valid requests accepted and invalid ones refused.
Once in single-user mode, once with a user's API token. The library is a throwaway one, with a few
uploaded photos (a cat, a person's face twice) so that ids found in answers lead somewhere:
generated requests may delete those photos, rename or merge people, or log out, and should.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import schemathesis
import schemathesis.engine
from schemathesis.engine import Status, events
from test_api import wait_jobs

from pixseek.demo.face_set import write_face_set
from pixseek.service.auth import hash_password, new_token
from pixseek.store import open_store

CSRF = {"X-Requested-With": "pixseek-schemathesis"}
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
    "unsupported_method",
    "allow_header_conformance",
    "use_after_free",
]
# Requests the schema cannot tell apart from others beforehand, so a refusal is right for some
# valid ones: words no language knows, pictures that are not images or show no face, a merge of a
# person into themselves. Each operation lists only the statuses its handler gives for those.
_ACCEPTED = '"2xx", "3xx", 401, 403, 404, 409, 429'
_CONFIG = """
base-url = "{url}"
max-redirects = 0
seed = 20261201
workers = 1
headers = {headers}

[generation]
max-examples = {examples}
deterministic = true
with-security-parameters = false  # credentials are the ones given in `headers`, never made up

[phases.coverage]
enabled = {coverage}

[phases.stateful]
max-steps = 8
# Sequences fill ids from earlier answers, also from nullable fields (a failed job's image_id):
# /api/images/None is then rightly a 422, so here only the other checks hold.
checks.positive_data_acceptance.enabled = false

[checks]
enabled = false
{checks}
negative_data_rejection.expected-statuses = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429]

[[operations]]
include-name-regex = "^GET /api/(search|images/\\\\{{image_id\\\\}}/similar)$"
checks.positive_data_acceptance.expected-statuses = [{accepted}, 400]

[[operations]]
include-name-regex = "^POST /api/search/(by-image|face)$"
checks.positive_data_acceptance.expected-statuses = [{accepted}, 400, 413, 415, 422]

[[operations]]
include-name = "POST /api/images"
checks.positive_data_acceptance.expected-statuses = [{accepted}, 413]

[[operations]]
include-name-regex = "^POST /api/people/\\\\{{person_id\\\\}}/(merge|split|remove|add)$"
checks.positive_data_acceptance.expected-statuses = [{accepted}, 422]
"""


def run_schemathesis(
    url: str, headers: dict[str, str], examples: int = 4, coverage: bool = True, checks: tuple[str, ...] = ()
) -> list[str]:
    """Every phase (`coverage`: the boundary values of every parameter, the slowest phase, too)
    against the server at `url` and nowhere else, with CHECKS and `checks`; the failures found."""
    config = schemathesis.Config.from_str(_CONFIG.format(
        url=url, headers="{ " + ", ".join(f'"{k}" = "{v}"' for k, v in headers.items()) + " }",
        examples=examples, coverage=str(coverage).lower(), checks="\n".join(f"{name}.enabled = true" for name in [*CHECKS, *checks]), accepted=_ACCEPTED,
    ))
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json", config=config)
    assert len(list(schema.get_all_operations())) >= 29
    found, tested = [], set()
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            tested.add(event.label)
            for checks in event.recorder.checks.values():
                for check in checks:
                    if check.status == Status.FAILURE and check.failure_info is not None:
                        failure = check.failure_info.failure
                        status = getattr(failure, "status_code", "")
                        found.append(f"{event.phase.value} {event.label}: {check.name}: {failure.title} {status}\n"
                                     f"{failure.message}\n{check.failure_info.code_sample}")
        elif isinstance(event, (events.NonFatalError, events.FatalError)):
            found.append(f"error: {getattr(event, 'info', None) or getattr(event, 'exception', None)}")
        for interaction in getattr(getattr(event, "recorder", None), "interactions", {}).values():
            assert urlsplit(interaction.request.uri).netloc == urlsplit(url).netloc  # loopback only
    assert len(tested) >= 29, tested
    return list(dict.fromkeys(found))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _upload(client: httpx.Client, paths: list[Path]) -> None:
    answer = client.post("/api/images", files=[("files", (p.name, p.read_bytes())) for p in paths])
    assert answer.status_code == 202, answer.text
    done = wait_jobs(client, [j["id"] for j in answer.json()["jobs"]], timeout=120.0)
    assert all(j["status"] == "done" for j in done), done


@pytest.fixture(scope="module")
def served(pixseek_env, tmp_path_factory, gallery_master) -> Iterator[dict]:
    """`pixseek serve` on 127.0.0.1 over a throwaway library in single-user mode, with photos."""
    home = tmp_path_factory.mktemp("openapi-library")
    faces = {s.path.parent.name + "-" + s.path.name: s.path for s in write_face_set(tmp_path_factory.mktemp("faces"))}
    gallery, _ = gallery_master
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (home / "serve.log").open("w")  # a file, not a pipe: thousands of requests are logged
    process = subprocess.Popen(
        [sys.executable, "-m", "pixseek.cli", "serve", "--port", str(port), "--no-ocr"],
        env={**pixseek_env, "PIXSEEK_HOME": str(home)}, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/api/health", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, (home / "serve.log").read_text()
                time.sleep(0.2)
        with httpx.Client(base_url=url, headers=CSRF, timeout=60) as client:
            photos = [gallery / "photos" / "chelsea.png", faces["eileen_collins-original.jpg"], faces["eileen_collins-crop.jpg"]]
            _upload(client, photos)
        yield {"url": url, "home": home, "photos": photos}
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="module")
def token(served) -> str:
    """A user with a password and an API token (which ends single-user mode), with photos of their own."""
    store = open_store(served["home"])
    user = store.accounts.add_user("tester", hash_password("tester-secret"))
    secret, secret_hash = new_token()
    store.accounts.add_token(user.id, secret_hash, "schemathesis")
    store.close()
    with httpx.Client(base_url=served["url"], headers={"Authorization": f"Bearer {secret}"}, timeout=60) as client:
        assert client.get("/api/me").json()["name"] == "tester"
        _upload(client, served["photos"])
    return secret


def test_every_operation_keeps_to_the_schema_in_single_user_mode(served):
    failures = run_schemathesis(served["url"], CSRF)
    assert not failures, "\n\n".join(failures)


def test_every_operation_keeps_to_the_schema_with_a_token(served, token):
    # The boundary values were all sent in single-user mode: generated requests are enough here.
    # ignored_auth: each operation the schema says needs credentials refuses a request without them.
    failures = run_schemathesis(
        served["url"], {"Authorization": f"Bearer {token}"}, coverage=False, checks=("ignored_auth",)
    )
    assert not failures, "\n\n".join(failures)


def test_the_schema_declares_one_error_body(served):
    """FastAPI's default 422 body (`detail` as a list) is not what the server sends: it is gone."""
    raw = httpx.get(served["url"] + "/openapi.json").json()
    assert "HTTPValidationError" not in str(raw)
    for path, methods in raw["paths"].items():
        for method, operation in methods.items():
            for status, answer in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, (
                        method, path, status
                    )


def test_the_schema_says_which_operations_need_a_user(served):
    raw = httpx.get(served["url"] + "/openapi.json").json()
    assert set(raw["components"]["securitySchemes"]) == {"token", "session"}
    open_to_all = {("get", "/api/health"), ("post", "/api/login"), ("post", "/api/logout")}
    for path, methods in raw["paths"].items():
        for method, operation in methods.items():
            expected = None if (method, path) in open_to_all else [{"token": []}, {"session": []}]
            assert operation.get("security") == expected, (method, path)


def test_wrong_methods_name_every_allowed_one(served):
    """405 with the methods the path really serves, from the API (not the web UI's file server)."""
    for path, allowed in [("/api/images/1", "DELETE, GET"), ("/api/login", "POST"), ("/api/images", "GET, POST")]:
        answer = httpx.put(served["url"] + path, headers=CSRF)
        assert answer.status_code == 405 and answer.headers["allow"] == allowed, (path, answer.headers)
        assert answer.json() == {"detail": "Method Not Allowed"}
    unknown = httpx.get(served["url"] + "/api/no-such-thing")
    assert unknown.status_code == 404 and unknown.json() == {"detail": "Not Found"}
    assert httpx.get(served["url"] + "/").status_code == 200  # the web UI is still there
