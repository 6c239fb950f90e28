"""The SSRF guard on addresses people type (instance and PDS URLs)."""

import pytest
from flask import Flask

from app.infra.http import UnsafeUrl, normalize_base_url


@pytest.fixture
def strict():
    app = Flask(__name__)
    app.config["ALLOW_INSECURE_PLATFORM_URLS"] = False
    with app.app_context():
        yield


@pytest.fixture
def insecure():
    app = Flask(__name__)
    app.config["ALLOW_INSECURE_PLATFORM_URLS"] = True
    with app.app_context():
        yield


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:3000",  # not https
        "https://127.0.0.1",
        "https://localhost",
        "https://10.0.0.5",
        "https://192.168.1.1",
        "https://169.254.169.254",  # cloud metadata
        "https://[::1]",
        "https://[fe80::1]",
        "https://[::ffff:127.0.0.1]",  # IPv4-mapped loopback
        "https://0.0.0.0",
        "https://100.64.0.1",  # carrier-grade NAT
    ],
)
def test_private_loopback_and_plain_http_addresses_are_refused(strict, url):
    with pytest.raises(UnsafeUrl):
        normalize_base_url(url)


@pytest.mark.parametrize("url", ["", "https://", "https://user:pw@example.com", "ht!tp://x y"])
def test_malformed_addresses_are_refused_with_a_reason(strict, url):
    with pytest.raises(UnsafeUrl) as caught:
        normalize_base_url(url)
    assert caught.value.message


def test_a_name_that_does_not_resolve_is_refused(strict):
    with pytest.raises(UnsafeUrl, match="could not be found"):
        normalize_base_url("https://no-such-host.invalid")


def test_the_development_setting_allows_loopback_servers(insecure):
    assert normalize_base_url("http://127.0.0.1:3000/some/path?q=1") == "http://127.0.0.1:3000"
    assert normalize_base_url("LOCALHOST:8080") == "https://localhost:8080"
    with pytest.raises(UnsafeUrl):
        normalize_base_url("ftp://127.0.0.1")
