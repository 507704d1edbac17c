# -*- coding: utf-8 -*-
"""From the ACME server's container, as a browser would check it: the proxy
serves a certificate pebble issued over http-01, for every name of the site
(including the alias side_effect.yml added after issuance), that verifies
against pebble's root; a forced renewal is served because certbot's deploy
hook reloads nginx."""

import time

import pytest
import testinfra

testinfra_hosts = ["portcullis-acme-ca"]

PROXY = "172.30.81.11"
NAMES = ("shop.portcullis.test", "www.shop.portcullis.test", "store.portcullis.test")
ROOT = "/tmp/pebble-root.pem"
CA_BUNDLE = "/usr/local/share/ca-certificates/portcullis-pebble-ca.crt"


@pytest.fixture(scope="module")
def root(host):
    """Pebble makes a new root at every start; its management API hands it out."""
    out = host.run("curl -sf --cacert /etc/pebble/ca.crt --resolve pebble.portcullis.test:15000:127.0.0.1 "
                   "-o %s https://pebble.portcullis.test:15000/roots/0" % ROOT)
    assert out.rc == 0, out.stderr
    return ROOT


def served(host, name):
    """The leaf certificate the proxy serves for a name: issuer, serial and names."""
    out = host.run("openssl s_client -connect %s:443 -servername %s </dev/null 2>/dev/null "
                   "| openssl x509 -noout -issuer -serial -ext subjectAltName" % (PROXY, name))
    assert out.rc == 0, out.stderr
    return out.stdout


@pytest.mark.parametrize("name", NAMES)
def test_the_certificate_is_pebbles_and_covers_every_name(host, name):
    text = served(host, name)
    assert "Pebble Intermediate CA" in text, text
    for each in NAMES:
        assert "DNS:%s" % each in text, text


def test_the_chain_verifies_against_the_acme_servers_root(host, root):
    # No -k: curl checks the chain nginx sends and the name.
    for name in ("shop.portcullis.test", "store.portcullis.test"):
        out = host.run("curl -sS --max-time 10 --cacert %s https://%s/" % (root, name))
        assert out.rc == 0, out.stderr
        assert out.stdout == "the shop\n"
    out = host.run("curl -sS --max-time 10 --cacert %s -o /dev/null -w '%%{http_code} %%{redirect_url}' "
                   "'https://www.shop.portcullis.test/cart?item=7'" % root)
    assert out.stdout == "301 https://shop.portcullis.test/cart?item=7", out.stderr


def test_a_forced_renewal_is_served_through_the_deploy_hook(host, root):
    before = served(host, NAMES[0])
    proxy = testinfra.get_host("docker://portcullis-acme-proxy")
    # What certbot's timer runs, forced; the renewal configuration holds the server and the hook.
    out = proxy.run("REQUESTS_CA_BUNDLE=%s certbot renew --force-renewal --no-random-sleep-on-renew" % CA_BUNDLE)
    assert out.rc == 0, out.stdout + out.stderr
    # The hook's "systemctl reload" returns once the signal is sent: allow the new workers a moment.
    for _attempt in range(20):
        after = served(host, NAMES[0])
        serial = [line for line in after.splitlines() if line.startswith("serial=")]
        if serial and serial[0] not in before:
            break
        time.sleep(0.5)
    assert serial and serial[0] not in before, (before, after)
    assert "Pebble Intermediate CA" in after
    out = host.run("curl -sS --max-time 10 --cacert %s https://shop.portcullis.test/" % root)
    assert out.stdout == "the shop\n", out.stderr
