# -*- coding: utf-8 -*-
"""From the client container, with curl and testssl.sh, as users reach the
proxies: every request goes through nginx to the echo backends."""

import base64
import hashlib
import json

testinfra_hosts = ["portcullis-web-client"]

CLIENT_ADDRESS = "172.30.80.30"
MOZILLA_INTERMEDIATE = {
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
}


def curl(host, address, url, *options, port=443):
    domain = url.split("/")[2]
    command = "curl -sk --max-time 10 --resolve %s:%d:%s %s '%s'" % (domain, port, address, " ".join(options), url)
    return host.run(command)


def test_request_reaches_backend_with_forwarded_headers(host, proxy):
    # A client-supplied X-Forwarded-For must not reach the backend.
    out = curl(host, proxy, "https://docs.portcullis.test/some/path?q=1", "-H 'X-Forwarded-For: 203.0.113.66'")
    assert out.rc == 0, out.stderr
    seen = json.loads(out.stdout)
    assert seen["backend"] == "portcullis-backend-1"
    assert seen["port"] == 4001
    assert seen["peer"] == proxy
    assert seen["path"] == "/some/path?q=1"
    headers = seen["headers"]
    assert headers["host"] == "docs.portcullis.test"
    assert headers["x-real-ip"] == CLIENT_ADDRESS
    assert headers["x-forwarded-for"] == CLIENT_ADDRESS
    assert headers["x-forwarded-proto"] == "https"


def test_response_has_hsts_and_no_version(host, proxy):
    out = curl(host, proxy, "https://docs.portcullis.test/", "-D - -o /dev/null")
    headers = out.stdout.lower()
    assert "strict-transport-security: max-age=63072000" in headers
    server = [line for line in headers.splitlines() if line.startswith("server:")]
    assert server == ["server: nginx"], server


def test_http_redirects_to_https(host, proxy):
    out = curl(host, proxy, "http://docs.portcullis.test/a/b?c=1", "-o /dev/null -w '%{http_code} %{redirect_url}'",
               port=80)
    assert out.stdout == "301 https://docs.portcullis.test/a/b?c=1"


def test_acme_challenge_stays_on_http(host, proxy):
    out = curl(host, proxy, "http://docs.portcullis.test/.well-known/acme-challenge/portcullis-token",
               "-w ' %{http_code}'", port=80)
    assert out.stdout == "token-for-the-test\n 200"


def test_unknown_host_refused_over_http(host, proxy):
    out = host.run("curl -s --max-time 10 -H 'Host: unknown.example.net' http://%s/" % proxy)
    assert out.rc == 52, "expected an empty reply (nginx 444), got rc %d: %s" % (out.rc, out.stdout)


def test_unknown_host_refused_at_tls_handshake(host, proxy):
    out = curl(host, proxy, "https://unknown.example.net/")
    assert out.rc == 35, "expected a refused TLS handshake, got rc %d: %s" % (out.rc, out.stdout)


def test_unknown_host_header_under_known_sni_refused(host, proxy):
    out = curl(host, proxy, "https://docs.portcullis.test/", "-H 'Host: unknown.example.net' -o /dev/null -w '%{http_code}'")
    assert out.stdout == "421"


def test_health_location_answers_from_nginx(host, proxy):
    out = curl(host, proxy, "https://docs.portcullis.test/nginx-health", "-w ' %{http_code}'")
    assert out.stdout == "ok\n 200"


def test_one_domain_balanced_over_two_backends(host, proxy):
    seen = set()
    for _attempt in range(8):
        out = curl(host, proxy, "https://api.portcullis.test/")
        seen.add(json.loads(out.stdout)["backend"])
    assert seen == {"portcullis-backend-1", "portcullis-backend-2"}


def test_allow_list_refuses_others(host, proxy):
    out = curl(host, proxy, "https://office.portcullis.test/", "-o /dev/null -w '%{http_code}'")
    assert out.stdout == "403"
    # Also the health file: allow and deny apply to it (no "return" that would bypass them).
    out = curl(host, proxy, "https://office.portcullis.test/nginx-health", "-o /dev/null -w '%{http_code}'")
    assert out.stdout == "403"


def test_rate_limit_beyond_burst(host, proxy):
    requests = " ".join("-o /dev/null -w '%%{http_code}\\n' https://limited.portcullis.test/%d" % number
                        for number in range(60))
    out = host.run("curl -sk --http1.1 --parallel --parallel-immediate --parallel-max 60 "
                   "--resolve limited.portcullis.test:443:%s %s" % (proxy, requests))
    codes = out.stdout.split()
    assert len(codes) == 60
    # 10 r/s with a burst of 20 (nodelay): 21 pass at once, one more each 100 ms the requests take to
    # arrive (a loaded machine spreads them), the rest get 429.
    assert 20 <= codes.count("200") <= 40, codes
    assert codes.count("429") == 60 - codes.count("200"), codes


def test_websocket_upgrade_passes(host, proxy):
    key = base64.b64encode(b"portcullis-nonce!").decode()
    accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
    out = curl(host, proxy, "https://docs.portcullis.test/socket",
               "--http1.1 -i -N -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13'",
               "-H 'Sec-WebSocket-Key: %s'" % key)
    # Frames are binary: read bytes, not text.
    reply = out.stdout_bytes.decode("latin-1")
    assert reply.startswith("HTTP/1.1 101 "), reply
    assert "Sec-WebSocket-Accept: %s" % accept in reply
    # The backend's first frame (FIN + text opcode) came back through the upgraded connection.
    assert "\x81" + chr(len("websocket open on portcullis-backend-1")) + "websocket open on portcullis-backend-1" in reply


def test_tls_scan_shows_only_tls12_tls13_and_strong_ciphers(host, proxy):
    report = "/tmp/testssl-%s.json" % proxy
    host.run("rm -f %s" % report)
    out = host.run("testssl --quiet --color 0 --warnings off --ip %s -p -s -E --jsonfile %s https://docs.portcullis.test"
                   % (proxy, report))
    assert out.rc == 0, out.stdout + out.stderr
    findings = {item["id"]: item for item in json.loads(host.file(report).content_string)}
    for protocol in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
        assert findings[protocol]["finding"] == "not offered", findings[protocol]
    assert findings["TLS1_2"]["finding"] == "offered"
    assert findings["TLS1_3"]["finding"].startswith("offered")
    for weak in ("NULL", "aNULL", "EXPORT", "LOW", "3DES_IDEA", "AVERAGE"):
        assert findings["cipherlist_" + weak]["finding"] == "not offered", findings["cipherlist_" + weak]
    offered = {item["finding"].split()[3] for key, item in findings.items() if key.startswith("cipher-tls")}
    assert offered, "testssl listed no ciphers"
    assert offered <= MOZILLA_INTERMEDIATE, offered - MOZILLA_INTERMEDIATE
    bad = [item for item in findings.values() if item["severity"] in ("LOW", "MEDIUM", "HIGH", "CRITICAL")]
    assert not bad, bad
