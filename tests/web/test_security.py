"""The token rule, cookies and headers; the CLI's refusal to listen openly without a token."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from queuectl.api import Queue
from queuectl.location import is_postgres
from tests.contract.support import make_dead, state_of
from tests.support.backends import pg_with_password
from tests.support.cli import cli
from tests.web.conftest import TOKEN, app_client
from tests.web.processes import dashboard_process
from tests.web.support import csrf_of

PAGES = ["/", "/jobs", "/jobs/dead-1", "/dlq", "/metrics", "/live/overview", "/live/jobs/dead-1"]


@pytest.fixture
def dead(token_client: TestClient, queue: Queue) -> TestClient:
    make_dead(queue.backend, "dead-1")
    return token_client


@pytest.mark.parametrize("path", PAGES)
def test_with_a_token_every_page_needs_it(dead: TestClient, path: str) -> None:
    assert dead.get(path).status_code == 401
    assert dead.get(path, headers={"authorization": "Bearer wrong"}).status_code == 401
    assert dead.get(path, headers={"authorization": f"Basic {TOKEN}"}).status_code == 401
    assert dead.get(path, headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_a_browser_without_the_token_gets_the_login_form(dead: TestClient) -> None:
    page = dead.get("/", headers={"accept": "text/html"})
    assert page.status_code == 401
    assert '<form method="post" action="/login">' in page.text
    assert page.headers["www-authenticate"].startswith("Bearer")
    assert dead.post("/login", data={"token": "wrong"}).status_code == 401
    assert dead.get("/").status_code == 401
    login = dead.post("/login", data={"token": TOKEN})
    assert login.status_code == 303
    cookie = login.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
    assert dead.get("/").status_code == 200


def test_token_in_the_address_sets_the_cookie_and_leaves_the_address(dead: TestClient) -> None:
    assert dead.get("/dlq?token=wrong").status_code == 401
    first = dead.get(f"/dlq?token={TOKEN}&page=1")
    assert first.status_code == 303
    assert first.headers["location"] == "/dlq?page=1"
    assert "HttpOnly" in first.headers["set-cookie"]
    assert dead.get("/dlq").status_code == 200
    assert dead.get("/metrics").status_code == 200


def test_actions_need_the_token_and_the_csrf_field(dead: TestClient, queue: Queue) -> None:
    bearer = {"authorization": f"Bearer {TOKEN}"}
    dead.get(f"/?token={TOKEN}")  # logged in by cookie
    csrf = csrf_of(dead)
    dead.cookies.delete("queuectl_session")
    assert dead.post("/dlq/retry", data={"id": "dead-1", "csrf": csrf}).status_code == 401
    assert dead.post("/dlq/retry", data={"id": "dead-1"}, headers=bearer).status_code == 403
    done = dead.post("/dlq/retry", data={"id": "dead-1", "csrf": csrf}, headers=bearer)
    assert done.status_code == 303
    assert state_of(queue.backend, "dead-1") == "pending"


def test_pages_carry_protective_headers(client: TestClient) -> None:
    page = client.get("/")
    assert "script-src" not in page.headers["content-security-policy"]  # 'self' only
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert (
        "HttpOnly" in page.headers["set-cookie"] and "SameSite=Strict" in page.headers["set-cookie"]
    )


def test_without_a_token_loopback_needs_none(location: str) -> None:
    with app_client(location) as opened:
        assert opened.get("/").status_code == 200
        assert opened.get("/metrics").status_code == 200


def test_the_cli_refuses_to_listen_openly_without_a_token(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for host in ("0.0.0.0", "::", "example.org"):
        done = cli(home, "dashboard", "--host", host, "--port", "0", timeout=30)
        assert done.returncode == 2, done.stderr
        lines = done.stderr.splitlines()
        assert len(lines) == 1 and "needs an access token" in lines[0]
        assert "QUEUECTL_DASHBOARD_TOKEN" in lines[0]
        assert done.stdout == ""
    assert not home.exists()  # nothing was created or written
    empty = cli(home, "dashboard", "--host", "0.0.0.0", env={"QUEUECTL_DASHBOARD_TOKEN": ""})
    assert empty.returncode == 2
    bad_port = cli(home, "dashboard", "--port", "70000")
    assert bad_port.returncode == 2 and len(bad_port.stderr.splitlines()) == 1


def test_the_token_file_guards_the_dashboard_and_ps_shows_no_secret(
    location: str, queue: Queue, tmp_path: Path
) -> None:
    """The token read from --token-file, a PostgreSQL password from the environment:
    the running dashboard's arguments (/proc/PID/cmdline, what ps shows every user)
    hold neither."""
    import httpx

    password = "pg-pass-in-env"
    db = pg_with_password(location, password) if is_postgres(location) else location
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    home = tmp_path / "home"
    extra = ("--token-file", str(token_file))
    with dashboard_process(home, None, *extra, env={"QUEUECTL_DB": db}) as (process, base):
        cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes()
        assert TOKEN.encode() not in cmdline and password.encode() not in cmdline
        assert b"--token-file" in cmdline  # what ps shows: where the token is, not what
        assert httpx.get(f"{base}/metrics", timeout=30).status_code == 401
        bearer = {"authorization": f"Bearer {TOKEN}"}
        assert httpx.get(f"{base}/metrics", headers=bearer, timeout=30).status_code == 200
