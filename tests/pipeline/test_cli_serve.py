"""`tidings serve` as a newcomer runs it: a real process on a free port with its own data
directory prints the demo project's credentials and a curl command; that exact request (sent with
httpx) reaches the sandbox handset; `tidings projects create` prints working credentials."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tidings.testing.ports import free_port

CLI = str(Path(sys.executable).with_name("tidings"))
CREDENTIAL_FIELDS = {"project_id", "key_id", "key_secret", "service_plan_id", "api_token", "webhook_secret",
                     "application_key", "application_secret", "smpp_system_id", "smpp_password"}


def clean_env() -> dict[str, str]:
    """This process's environment without any TIDINGS_* setting: the embedded defaults."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}


class Served:
    def __init__(self, process: asyncio.subprocess.Process, base_url: str) -> None:
        self.process = process
        self.base_url = base_url
        self.output: list[str] = []

    async def read_until(self, marker: str, timeout: float = 20.0) -> str:
        assert self.process.stdout is not None
        async with asyncio.timeout(timeout):
            while not any(marker in line for line in self.output):
                line = await self.process.stdout.readline()
                if not line:
                    raise AssertionError(f"tidings serve exited ({self.process.returncode}):\n" + "".join(self.output))
                self.output.append(line.decode())
        return "".join(self.output)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        CLI, "serve", "--port", str(port), "--smpp-port", "0", "--data-dir", str(tmp_path / "data"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=clean_env(),
    )
    served = Served(process, f"http://127.0.0.1:{port}")
    try:
        yield served
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(process.wait(), 10.0)
            except TimeoutError:
                process.kill()
                await process.wait()


def parse_welcome(text: str) -> tuple[dict[str, str], list[str]]:
    """The credentials JSON and the curl command's words from `tidings serve`'s welcome text."""
    creds = json.loads(re.search(r"^\{\n.*?^\}$", text, re.M | re.S).group(0))  # type: ignore[union-attr]
    curl = re.search(r"^curl -s -X POST .*?'$(?!\s*\\)", text, re.M | re.S).group(0)  # type: ignore[union-attr]
    return creds, shlex.split(curl.replace("\\\n", " "))


def curl_to_request(words: list[str]) -> dict[str, Any]:
    """httpx arguments for a `curl -s -X METHOD URL -H ... -d ...` command line."""
    assert words[0] == "curl"
    request: dict[str, Any] = {"headers": {}}
    it = iter(words[1:])
    for word in it:
        if word == "-s":
            continue
        if word == "-X":
            request["method"] = next(it)
        elif word == "-H":
            name, _, value = next(it).partition(":")
            request["headers"][name.strip()] = value.strip()
        elif word == "-d":
            request["content"] = next(it).encode()
        else:
            request["url"] = word
    return request


async def wait_for_body(http: httpx.AsyncClient, url: str, body: str, timeout: float = 10.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            messages = (await http.get(url)).json()["messages"]
            if messages and messages[-1]["body"] == body:
                return messages[-1]  # type: ignore[no-any-return]
            await asyncio.sleep(0.05)


async def test_serve_prints_a_curl_that_delivers_and_projects_create_prints_credentials(
    served: Served, tmp_path: Path,
) -> None:
    text = await served.read_until("SMPP gateway for ESMEs")
    creds, curl = parse_welcome(text)
    assert set(creds) == CREDENTIAL_FIELDS
    assert all(isinstance(v, str) and v for v in creds.values())
    request = curl_to_request(curl)
    assert request["url"] == f"{served.base_url}/xms/v1/{creds['service_plan_id']}/batches"
    assert request["headers"]["Authorization"] == f"Bearer {creds['api_token']}"
    read_url = re.search(r"Then read the handset: curl -s (\S+)", text).group(1)  # type: ignore[union-attr]
    sent = json.loads(request["content"])

    async with httpx.AsyncClient(timeout=10.0) as http:
        response = await http.request(**request)
        assert response.status_code == 201, response.text
        assert response.json()["type"] == "mt_text"
        message = await wait_for_body(http, read_url, sent["body"])
        assert message["from"] == sent["from"]
        assert read_url.endswith(f"/sandbox/v1/handsets/{sent['to'][0].lstrip('+')}/messages")

        # A second project, created by the CLI against the same data directory while serving.
        created = await asyncio.create_subprocess_exec(
            CLI, "projects", "create", "Acme", "--data-dir", str(tmp_path / "data"),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=clean_env(),
        )
        out, err = await asyncio.wait_for(created.communicate(), 30.0)
        assert created.returncode == 0, err.decode()
        acme = json.loads(out)
        assert set(acme) == CREDENTIAL_FIELDS
        assert acme["project_id"] != creds["project_id"]

        # Its credentials work against the running server, both ways of authenticating.
        batch = await http.post(f"{served.base_url}/xms/v1/{acme['service_plan_id']}/batches",
                                headers={"Authorization": f"Bearer {acme['api_token']}"},
                                json={"from": "+46700000009", "to": ["+46700000002"], "body": "From Acme"})
        assert batch.status_code == 201, batch.text
        token = await http.post(f"{served.base_url}/oauth2/token", auth=(acme["key_id"], acme["key_secret"]),
                                data={"grant_type": "client_credentials"})
        assert token.status_code == 200, token.text
        assert {"access_token", "expires_in", "scope", "token_type"} <= set(token.json())
        got = await http.get(f"{served.base_url}/xms/v1/{acme['project_id']}/batches/{batch.json()['id']}",
                             headers={"Authorization": f"Bearer {token.json()['access_token']}"})
        assert got.status_code == 200, got.text
        await wait_for_body(http, f"{served.base_url}/sandbox/v1/handsets/46700000002/messages", "From Acme")

        # The SMPP gateway's port is printed too; the demo credentials bind and send through it.
        host, port = re.search(r"SMPP gateway for ESMEs: ([\d.]+):(\d+)", text).groups()  # type: ignore[union-attr]
        message_id = await asyncio.to_thread(smpp_submit, host, int(port), creds, "46700000003", "Over SMPP")
        assert len(message_id) == 26  # a batch id
        await wait_for_body(http, f"{served.base_url}/sandbox/v1/handsets/46700000003/messages", "Over SMPP")


def smpp_submit(host: str, port: int, creds: dict[str, str], to: str, body: str) -> str:
    """Bind with smpplib as the demo project's ESME, submit one message, return its message id."""
    import smpplib.client
    import smpplib.consts

    client = smpplib.client.Client(host, port, timeout=10, allow_unknown_opt_params=True)
    client.connect()
    try:
        client.bind_transmitter(system_id=creds["smpp_system_id"], password=creds["smpp_password"])
        client.send_message(source_addr_ton=smpplib.consts.SMPP_TON_ALNUM, source_addr="Demo",
                            dest_addr_ton=smpplib.consts.SMPP_TON_INTL, destination_addr=to,
                            short_message=body.encode())
        response = client.read_pdu()
        assert response.command == "submit_sm_resp" and int(response.status) == 0
        client.unbind()
        return response.message_id.decode()  # type: ignore[no-any-return]
    finally:
        client.disconnect()


async def serve_until_exit(*args: str, timeout: float = 30.0) -> tuple[int, str]:
    """Run `tidings serve ARGS` expecting it to stop by itself: its exit code and stderr."""
    process = await asyncio.create_subprocess_exec(
        CLI, "serve", *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=clean_env(),
    )
    try:
        _, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError("tidings serve kept running") from None
    assert process.returncode is not None
    return process.returncode, err.decode()


def listening_on_a_free_port() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


async def test_a_second_serve_on_the_same_data_directory_stops_and_names_the_first(
    served: Served, tmp_path: Path,
) -> None:
    await served.read_until("SMPP gateway for ESMEs")
    data_dir = str(tmp_path / "data")
    code, err = await serve_until_exit("--port", str(free_port()), "--smpp-port", "0", "--data-dir", data_dir)
    assert code == 1
    assert f"the data directory {data_dir} is in use by another tidings serve (pid {served.process.pid})" in err
    assert "Traceback" not in err
    async with httpx.AsyncClient(timeout=10.0) as http:  # the first one is untouched
        assert (await http.get(f"{served.base_url}/health")).status_code == 200

    # kill -9 leaves no stale lock: the next serve on the directory starts.
    served.process.kill()
    await served.process.wait()
    port = free_port()
    again = await asyncio.create_subprocess_exec(
        CLI, "serve", "--port", str(port), "--smpp-port", "0", "--data-dir", data_dir,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=clean_env(),
    )
    restarted = Served(again, f"http://127.0.0.1:{port}")
    try:
        text = await restarted.read_until("Then read the handset")
        assert "Demo project (credentials kept in the data directory)" in text
    finally:
        again.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(again.wait(), 15.0) == 0  # a graceful stop


async def test_serve_with_its_api_port_taken_stops_before_starting_anything(tmp_path: Path) -> None:
    with listening_on_a_free_port() as taken:
        port = taken.getsockname()[1]
        code, err = await serve_until_exit("--port", str(port), "--smpp-port", "0",
                                           "--data-dir", str(tmp_path / "data"))
    assert code == 1
    assert f"cannot listen on 127.0.0.1:{port} for the API: Address already in use" in err
    assert "--port" in err and "Traceback" not in err
    assert not (tmp_path / "data" / "tidings.db").exists()  # stopped before the database was opened


async def test_serve_with_its_smpp_port_taken_stops_and_releases_what_it_started(tmp_path: Path) -> None:
    data_dir = str(tmp_path / "data")
    api_port = free_port()
    with listening_on_a_free_port() as taken:
        smpp_port = taken.getsockname()[1]
        code, err = await serve_until_exit("--port", str(api_port), "--smpp-port", str(smpp_port),
                                           "--data-dir", data_dir)
    assert code == 1
    assert f"cannot listen on 127.0.0.1:{smpp_port} for the SMPP gateway: Address already in use" in err
    assert "--smpp-port" in err and "Traceback" not in err

    # Its API port and the data directory are free again: the same command, now unobstructed, serves.
    process = await asyncio.create_subprocess_exec(
        CLI, "serve", "--port", str(api_port), "--smpp-port", str(smpp_port), "--data-dir", data_dir,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=clean_env(),
    )
    served = Served(process, f"http://127.0.0.1:{api_port}")
    try:
        text = await served.read_until("SMPP gateway for ESMEs")
        assert f"SMPP gateway for ESMEs: 127.0.0.1:{smpp_port}" in text
    finally:
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), 15.0) == 0


@pytest.mark.parametrize(("option", "what"), [("--smpp-port", "sandbox SMSC"), ("--port", "sandbox REST API")])
async def test_a_sandbox_whose_port_is_taken_stops_saying_so(option: str, what: str) -> None:
    with listening_on_a_free_port() as taken:
        port = taken.getsockname()[1]
        ports = {"--smpp-port": "0", "--port": "0", option: str(port)}
        process = await asyncio.create_subprocess_exec(
            CLI, "sandbox", *(word for pair in ports.items() for word in pair),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=clean_env(),
        )
        _, err = await asyncio.wait_for(process.communicate(), 30.0)
    assert process.returncode == 1
    assert (f"tidings sandbox: cannot listen on 127.0.0.1:{port} for the {what}: Address already in use; "
            f"stop whatever holds it or choose another port with {option}") in err.decode()


async def test_serve_on_any_free_port_prints_the_port_it_got(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        CLI, "serve", "--port", "0", "--smpp-port", "0", "--data-dir", str(tmp_path / "data"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=clean_env(),
    )
    served = Served(process, "")
    try:
        text = await served.read_until("Then read the handset")
        _, curl = parse_welcome(text)
        url = curl_to_request(curl)["url"]
        port = int(re.match(r"http://127\.0\.0\.1:(\d+)/xms/v1/", url).group(1))  # type: ignore[union-attr]
        assert port != 0
        async with httpx.AsyncClient(timeout=10.0) as http:
            assert (await http.get(f"http://127.0.0.1:{port}/health")).status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), 15.0) == 0


async def test_serve_with_a_data_directory_it_cannot_make_stops_saying_so(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    data_dir = str(tmp_path / "a-file" / "data")
    code, err = await serve_until_exit("--port", str(free_port()), "--smpp-port", "0", "--data-dir", data_dir)
    assert code == 1
    assert f"tidings serve: cannot use the data directory {data_dir}: Not a directory; choose another" in err
    assert "Traceback" not in err
