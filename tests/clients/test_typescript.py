"""The TypeScript client (clients/typescript) as a Node host app uses it: its own tests (node's
test runner) against the real `jeton serve --demo` on loopback, its types against the OpenAPI
document the server serves, its methods and errors against `jeton.Client`'s, and the README's
first charge from Node run as written.

Needs Node.js (18 or later) and npm: without them these tests are skipped, unless
JETON_REQUIRE_NODE is set (CI), where a missing Node is a failure. `npm ci` installs the one
development dependency (TypeScript, for `npm run typecheck`) when node_modules lacks it.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

import jeton
from jeton.core.clock import to_us
from jeton.core.errors import JetonError, error_for
from jeton.core.statuses import Status
from jeton.services.events.endpoints import new_secret
from jeton.services.events.signing import message_body, sign_headers

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "typescript"
HOST = "127.0.0.1"
SERVER_START_TIMEOUT_S = 60.0
# The server stops by itself after this, even if the test run is killed before its teardown.
SERVER_LIFETIME_S = 600
NODE_TIMEOUT_S = 240
# Runs in the child before it becomes `jeton serve`: an alarm that outlives the exec.
_WITH_ALARM = (
    "import os, signal, sys; signal.alarm(int(sys.argv[1])); os.execv(sys.argv[2], sys.argv[2:])"
)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("JETON_REQUIRE_NODE"):
            pytest.fail(f"`{name}` is not installed and JETON_REQUIRE_NODE is set (CI)")
        pytest.skip(f"the TypeScript client's tests need Node.js 18+ and npm (`{name}`)")
    return path


def _node(
    *args: str, env: dict[str, str] | None = None, cwd: Path = CLIENT, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_tool("node"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )


@dataclass(frozen=True)
class Served:
    base_url: str
    api_key: str  # the admin key `jeton serve --demo` printed for community `demo`


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`jeton serve --demo` in a subprocess, as the README's quick start runs it, with
    webhooks allowed to loopback (the Node tests receive deliveries there)."""
    folder = tmp_path_factory.mktemp("serve")
    port = _free_port()
    base_url = f"http://{HOST}:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("JETON_")}
    env.update(JETON_WEBHOOKS_ALLOW_PRIVATE="1", PYTHONUNBUFFERED="1")
    log_path = folder / "serve.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _WITH_ALARM,
            str(SERVER_LIFETIME_S),
            sys.executable,
            "-m",
            "jeton.cli",
            "serve",
            "--demo",
            "--host",
            HOST,
            "--port",
            str(port),
            "--database-url",
            f"sqlite:///{folder / 'jeton.db'}",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=folder,
    )
    try:
        _wait_until_up(base_url, process, log_path)
        key = re.search(r"^API key\s+(jtk_\S+)", log_path.read_text(), re.M)
        assert key, log_path.read_text()
        yield Served(base_url, key.group(1))
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        log.close()


def _wait_until_up(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"jeton serve exited:\n{log.read_text()}")
        try:
            if httpx.get(base_url + "/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(
        f"jeton serve did not start in {SERVER_START_TIMEOUT_S} s:\n{log.read_text()}"
    )


def _signed_messages(path: Path) -> Path:
    """Messages signed by Jeton's own signing code, for the verifier's tests."""
    at = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    payload = json.dumps(
        {
            "member_id": "bob",
            "service": "mall.sticker_pack",
            "asset": "CREDIT",
            "status": "insufficient_credits",
            "balance": 20,
            "required": 30,
        }
    )
    body = message_body("charge.declined", to_us(at), payload)
    secret, other, old = new_secret(), new_secret(), new_secret()
    fixture = {
        "signed": {
            "secret": secret,
            "body": body,
            "at": int(at.timestamp()),
            "headers": sign_headers("01a1ffec-0001", body, [secret], at),
        },
        "otherSecret": other,
        "rotating": {
            "secrets": [secret, old],
            "body": body,
            "at": int(at.timestamp()),
            "headers": sign_headers("01a1ffec-0002", body, [secret, old], at),
        },
    }
    path.write_text(json.dumps(fixture))
    return path


def _installed() -> bool:
    """node_modules holds what package-lock.json pins (so `npm ci` can be skipped)."""
    lock = json.loads((CLIENT / "package-lock.json").read_text())
    for name, entry in lock["packages"].items():
        if not name:
            continue
        manifest = CLIENT / name / "package.json"
        if not manifest.exists() or json.loads(manifest.read_text())["version"] != entry["version"]:
            return False
    return True


def test_the_node_tests_pass_against_jeton_serve(served: Served, tmp_path: Path) -> None:
    npm = _tool("npm")
    if not _installed():
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=CLIENT,
            capture_output=True,
            text=True,
            timeout=NODE_TIMEOUT_S,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    typed = subprocess.run(
        [npm, "run", "--silent", "typecheck"],
        cwd=CLIENT,
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT_S,
        check=False,
    )
    assert typed.returncode == 0, typed.stdout + typed.stderr
    env = {
        "JETON_TEST_URL": served.base_url,
        "JETON_TEST_KEY": served.api_key,
        "JETON_TEST_WEBHOOKS": str(_signed_messages(tmp_path / "signed.json")),
    }
    files = sorted(str(p.relative_to(CLIENT)) for p in (CLIENT / "test").glob("*.test.js"))
    done = _node("--test", "--test-reporter=spec", *files, env=env, timeout=NODE_TIMEOUT_S)
    assert done.returncode == 0, done.stdout + done.stderr
    passed = re.search(r"^ℹ pass (\d+)$", done.stdout, re.M)
    assert passed, done.stdout
    written = sum(len(re.findall(r"^test\(", (CLIENT / f).read_text(), re.M)) for f in files)
    assert int(passed.group(1)) == written > 0, done.stdout  # every test ran, and passed
    assert re.search(r"^ℹ fail 0$", done.stdout, re.M), done.stdout


def test_the_types_are_those_the_served_openapi_document_gives(
    served: Served, tmp_path: Path
) -> None:
    document = tmp_path / "openapi.json"
    document.write_text(httpx.get(served.base_url + "/openapi.json", timeout=10).text)
    done = _node("scripts/generate-types.mjs", "--check", str(document))
    assert done.returncode == 0, done.stdout + done.stderr


def _python_methods() -> set[str]:
    return {
        name
        for name, value in vars(jeton.Client).items()
        if not name.startswith("_") and inspect.isfunction(value)
    }


def test_the_client_has_the_methods_of_the_python_client() -> None:
    listed = _node(
        "--input-type=module",
        "-e",
        "import { Client } from './src/index.js';"
        "console.log(JSON.stringify(Object.getOwnPropertyNames(Client.prototype)))",
    )
    assert listed.returncode == 0, listed.stderr
    names = [n for n in json.loads(listed.stdout) if n != "constructor" and not n.startswith("_")]
    as_python = {re.sub(r"[A-Z]", lambda m: "_" + m.group(0).lower(), n) for n in names}
    assert all(n[0].islower() and "_" not in n for n in names), names  # camelCase, one rule
    assert as_python == _python_methods(), {
        "missing in TypeScript": sorted(_python_methods() - as_python),
        "not in Python": sorted(as_python - _python_methods()),
    }


def test_each_error_code_is_the_class_python_raises() -> None:
    listed = _node(
        "--input-type=module",
        "-e",
        "import { ERROR_CLASSES } from './src/index.js';"
        "console.log(JSON.stringify(Object.fromEntries(Object.entries(ERROR_CLASSES)"
        ".map(([code, cls]) => [code, cls.name]))))",
    )
    assert listed.returncode == 0, listed.stderr
    python = {s.value: type(error_for(s, "")).__name__ for s in Status}
    assert json.loads(listed.stdout) == {
        k: v for k, v in python.items() if v != JetonError.__name__
    }


def _app_folder(tmp_path: Path) -> Path:
    """A host app's folder with the package installed, as `npm install <clone>/clients/typescript`
    leaves it (a link: the package has no dependencies to install)."""
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / "jeton").symlink_to(CLIENT, target_is_directory=True)
    return tmp_path


def _example(code: str, folder: Path, name: str, served: Served) -> Path:
    script = folder / name
    script.write_text(code.replace("http://127.0.0.1:8000", served.base_url))
    return script


def _js_blocks(text: str) -> list[str]:
    return re.findall(r"```js\n(.*?)```", text, re.S)


def test_the_readme_first_charge_from_node_runs_as_written(served: Served, tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## First charge from Node\n")
    (code,) = _js_blocks(readme[start : readme.find("\n## ", start + 1)])
    assert len(code.strip().splitlines()) == 5, code
    script = _example(code, _app_folder(tmp_path), "first-charge.mjs", served)
    done = _node(str(script), cwd=tmp_path, env={"JETON_KEY": served.api_key})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "30"
    # The client's own README starts with the same five lines.
    assert _js_blocks((CLIENT / "README.md").read_text())[0] == code


def test_the_client_readme_examples_run_as_written(served: Served, tmp_path: Path) -> None:
    first, declined, receiver = _js_blocks((CLIENT / "README.md").read_text())
    folder = _app_folder(tmp_path)
    key = {"JETON_KEY": served.api_key}
    for _ in range(2):  # run again, each answers the same: the keys replay, declines keep none
        done = _node(str(_example(first, folder, "first.mjs", served)), cwd=folder, env=key)
        assert (done.returncode, done.stdout.strip()) == (0, "30"), done.stderr
        done = _node(str(_example(declined, folder, "declined.mjs", served)), cwd=folder, env=key)
        assert (done.returncode, done.stdout.strip()) == (0, "insufficient_credits 0 30"), (
            done.stderr
        )

    # The webhook receiver, given the secret of an endpoint that points at it, prints what a
    # real delivery was.
    port = _free_port()
    with jeton.Client(served.base_url, served.api_key) as demo:
        endpoint = demo.create_webhook_endpoint(
            f"http://{HOST}:{port}/jeton", event_types=["charge.declined"]
        )
        script = _example(receiver, folder, "receiver.mjs", served)
        env = {**os.environ, "PORT": str(port), "JETON_WEBHOOK_SECRET": endpoint.secret}
        process = subprocess.Popen(
            [_tool("node"), str(script)], cwd=folder, env=env, stdout=subprocess.PIPE, text=True
        )
        try:
            _wait_for_port(port, process)
            demo.create_member("yann-node")
            with pytest.raises(jeton.InsufficientCredits):
                demo.charge("yann-node", "mall.sticker_pack", idempotency_key="yann-1")
            assert process.stdout is not None
            line = _read_line(process, timeout_s=30)
            assert line == "charge.declined yann-node"
        finally:
            process.kill()
            process.wait(timeout=10)
            if process.stdout is not None:
                process.stdout.close()
            demo.delete_webhook_endpoint(endpoint.id)


def _wait_for_port(port: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, "the receiver exited"
        with socket.socket() as s:
            if s.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError("the receiver never listened")


def _read_line(process: subprocess.Popen[str], *, timeout_s: float) -> str:
    """The receiver's first line of output, or a failure after `timeout_s`."""
    import selectors

    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout_s):
            raise AssertionError(f"no delivery reached the receiver in {timeout_s} s")
    return process.stdout.readline().strip()


def test_the_package_has_no_runtime_dependency_and_its_lock_names_no_host() -> None:
    package = json.loads((CLIENT / "package.json").read_text())
    assert "dependencies" not in package
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", v) for v in package["devDependencies"].values())
    lock = (CLIENT / "package-lock.json").read_text()
    assert '"resolved"' not in lock
    assert not re.search(r"https?://", lock)
