# -*- coding: utf-8 -*-
"""What the tests that go through the proxies share: the two proxies (by
suite name and address) and the CDN stand-in in front of them."""

import pytest
import testinfra

PROXIES = {"bookworm": "172.30.80.11", "trixie": "172.30.80.12"}


@pytest.fixture(params=sorted(PROXIES), ids=sorted(PROXIES))
def proxy_name(request):
    """Each proxy's suite name (its container is portcullis-proxy-NAME)."""
    return request.param


@pytest.fixture
def proxy(proxy_name):
    """Each proxy's address, one test run per proxy."""
    return PROXIES[proxy_name]


@pytest.fixture(scope="module")
def cdn():
    """The CDN stand-in (172.30.80.40), whose CF-Connecting-IP the proxies believe."""
    return testinfra.get_host("docker://portcullis-web-cdn")
