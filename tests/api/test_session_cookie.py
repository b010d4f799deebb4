"""Behind a TLS proxy the settings trust, the session cookie is marked Secure."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI, Request
from pydantic import ValidationError

from energy_ui.proxy import install_http_middleware
from energy_ui.settings import Settings

PROXY = "127.0.0.1"


def session_app(trusted_proxies: list[str]) -> FastAPI:
    app = FastAPI()

    @app.get("/")
    def touch(request: Request) -> dict[str, str]:
        request.session["id"] = "someone"  # what NiceGUI does on every request
        return {"scheme": request.url.scheme}

    install_http_middleware(app, secret="k" * 32, trusted_proxies=trusted_proxies)
    return app


async def cookie_from(app: FastAPI, client_host: str, headers: dict[str, str]) -> str:
    transport = httpx.ASGITransport(app=app, client=(client_host, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/", headers=headers)
    assert response.status_code == 200
    return response.headers["set-cookie"]


def is_secure(cookie: str) -> bool:
    return "secure" in {part.strip().lower() for part in cookie.split(";")[1:]}


async def test_over_https_through_a_trusted_proxy_the_cookie_is_secure() -> None:
    cookie = await cookie_from(session_app([PROXY]), PROXY, {"X-Forwarded-Proto": "https"})
    assert cookie.startswith("session=")
    assert is_secure(cookie)
    assert "httponly" in cookie.lower()


async def test_over_plain_http_the_cookie_is_not_secure() -> None:
    assert not is_secure(await cookie_from(session_app([PROXY]), PROXY, {}))
    plain = {"X-Forwarded-Proto": "http"}
    assert not is_secure(await cookie_from(session_app([PROXY]), PROXY, plain))


@pytest.mark.parametrize("trusted", [[], ["192.0.2.1"], ["10.0.0.0/8"]])
async def test_a_forwarded_proto_from_an_untrusted_address_is_ignored(trusted) -> None:
    https = {"X-Forwarded-Proto": "https"}
    assert not is_secure(await cookie_from(session_app(trusted), PROXY, https))


async def test_a_trusted_network_is_honoured() -> None:
    https = {"X-Forwarded-Proto": "https"}
    assert is_secure(await cookie_from(session_app(["10.0.0.0/8"]), "10.1.2.3", https))


def test_trusted_proxies_default_to_loopback_and_read_a_comma_separated_list(monkeypatch):
    monkeypatch.delenv("ENERGY_TRUSTED_PROXIES", raising=False)
    assert Settings(_env_file=None).trusted_proxies == ["127.0.0.1", "::1"]
    monkeypatch.setenv("ENERGY_TRUSTED_PROXIES", "10.0.0.5, 192.168.0.0/16")
    assert Settings(_env_file=None).trusted_proxies == ["10.0.0.5", "192.168.0.0/16"]
    monkeypatch.setenv("ENERGY_TRUSTED_PROXIES", "")
    assert Settings(_env_file=None).trusted_proxies == []


def test_a_trusted_proxy_that_is_not_an_address_is_refused_naming_it(monkeypatch):
    monkeypatch.setenv("ENERGY_TRUSTED_PROXIES", "127.0.0.1,proxy.example")
    with pytest.raises(ValidationError, match=r"proxy\.example"):
        Settings(_env_file=None)
