# -*- coding: utf-8 -*-
"""The Nostromo edge, from outside: one name split by path over two backends,
www redirected, an alias served, a CDN stand-in in front whose
CF-Connecting-IP is believed from its address only, sticky sessions and a
backup server. Requests come from the client (172.30.80.30) and from the CDN
stand-in (172.30.80.40), as users and Cloudflare would send them."""

import json
import uuid

import pytest
import testinfra

testinfra_hosts = ["portcullis-web-client"]

CLIENT_ADDRESS = "172.30.80.30"
LONG_DOMAIN = "%s.%s.%s.portcullis.test" % ("a" * 60, "b" * 60, "c" * 20)
# Session cookies that the consistent hash spreads over both servers of the sticky pair.
SESSIONS = ("ripley", "dallas", "kane", "lambert", "parker", "brett", "ash", "jones")


def curl(host, address, url, *options, port=443):
    domain = url.split("/")[2]
    return host.run("curl -sk --max-time 10 --resolve %s:%d:%s %s '%s'" % (domain, port, address, " ".join(options), url))


def seen_by_backend(host, address, url, *options):
    out = curl(host, address, url, *options)
    assert out.rc == 0, out.stderr
    return json.loads(out.stdout)


def restart_echo(backend, port):
    """Start the echo app again and wait until it accepts connections (a proxy that meets a refusal
    rests the server for its fail_timeout)."""
    assert backend.run("systemctl start portcullis-echo@%d.service" % port).rc == 0
    waited = backend.run("for attempt in $(seq 100); do nc -z 127.0.0.1 %d && exit 0; sleep 0.1; done; exit 1" % port)
    assert waited.rc == 0, "the echo app on %d did not come back" % port


def status_codes(host, address, domain, paths, headers=None):
    """Send every request at once (HTTP/1.1, one connection each); the status codes in order.
    ``headers`` is one list of header lines per path (curl's --next keeps each request's own)."""
    requests = []
    for number, path in enumerate(paths):
        options = ["-H '%s'" % line for line in (headers[number] if headers else [])]
        requests.append("-sk --http1.1 --resolve %s:443:%s %s -o /dev/null -w '%%{http_code}\\n' 'https://%s%s'"
                        % (domain, address, " ".join(options), domain, path))
    out = host.run("curl --parallel --parallel-immediate --parallel-max %d %s" % (len(paths), " --next ".join(requests)))
    codes = out.stdout.split()
    assert len(codes) == len(paths), out.stdout + out.stderr
    return codes


# Routes: one name, two services by path

def test_one_name_is_split_by_path_and_the_path_reaches_the_backend_as_sent(host, proxy):
    front = seen_by_backend(host, proxy, "https://app.portcullis.test/index.html?lang=en")
    assert (front["backend"], front["port"], front["path"]) == ("portcullis-backend-1", 4040, "/index.html?lang=en")
    api = seen_by_backend(host, proxy, "https://app.portcullis.test/api/v1/jobs?state=open")
    assert (api["backend"], api["port"], api["path"]) == ("portcullis-backend-2", 4041, "/api/v1/jobs?state=open")
    # "/api" without the slash: nginx itself sends the client to the route (a prefix location with proxy_pass).
    out = curl(host, proxy, "https://app.portcullis.test/api?x=1", "-o /dev/null -w '%{http_code} %{redirect_url}'")
    assert out.stdout == "301 https://app.portcullis.test/api/?x=1"
    # Another path that only starts like the route is the / route's.
    assert seen_by_backend(host, proxy, "https://app.portcullis.test/apiary")["port"] == 4040


def test_the_rate_limit_holds_on_api_only(host, proxy):
    front = status_codes(host, proxy, "app.portcullis.test", ["/page/%d" % number for number in range(60)])
    assert front.count("200") == 60, front
    api = status_codes(host, proxy, "app.portcullis.test", ["/api/%d" % number for number in range(60)])
    # 10 r/s with a burst of 20 (nodelay): 21 pass at once, one more each 100 ms the requests take to
    # arrive (a loaded machine spreads them), the rest get 429.
    assert 20 <= api.count("200") <= 40, api
    assert api.count("429") == 60 - api.count("200"), api


# Redirect-only names and aliases

@pytest.mark.parametrize("scheme, port", [("https", 443), ("http", 80)])
def test_www_redirects_to_app_keeping_path_and_query(host, proxy, scheme, port):
    out = curl(host, proxy, "%s://www.portcullis.test/a/b?c=1&d=2" % scheme,
               "-o /dev/null -w '%{http_code} %{redirect_url}'", port=port)
    assert out.stdout == "301 https://app.portcullis.test/a/b?c=1&d=2"


def test_the_alias_is_served_by_the_same_route(host, proxy):
    seen = seen_by_backend(host, proxy, "https://alias.portcullis.test/x")
    expected = ("portcullis-backend-1", 4040, "alias.portcullis.test")
    assert (seen["backend"], seen["port"], seen["headers"]["host"]) == expected


@pytest.mark.parametrize("name", ["app.portcullis.test", "alias.portcullis.test", "www.portcullis.test"])
def test_the_certificate_covers_every_name_served(host, proxy, name):
    out = host.run("openssl s_client -connect %s:443 -servername %s </dev/null 2>/dev/null "
                   "| openssl x509 -noout -ext subjectAltName" % (proxy, name))
    names = {item.strip() for item in out.stdout.split("\n", 1)[-1].split(",")}
    assert names >= {"DNS:app.portcullis.test", "DNS:alias.portcullis.test", "DNS:www.portcullis.test"}, out.stdout


def test_a_name_longer_than_the_subject_cn_limit_is_served(host, proxy):
    seen = seen_by_backend(host, proxy, "https://%s/" % LONG_DOMAIN)
    assert (seen["backend"], seen["port"]) == ("portcullis-backend-1", 4070)
    out = host.run("openssl s_client -connect %s:443 -servername %s </dev/null 2>/dev/null "
                   "| openssl x509 -noout -ext subjectAltName" % (proxy, LONG_DOMAIN))
    assert "DNS:%s" % LONG_DOMAIN in out.stdout


# A CDN in front

def test_the_cdn_header_is_believed_from_the_cdn(cdn, proxy):
    headers = seen_by_backend(cdn, proxy, "https://docs.portcullis.test/", "-H 'CF-Connecting-IP: 203.0.113.7'")["headers"]
    assert headers["x-real-ip"] == "203.0.113.7"
    assert headers["x-forwarded-for"] == "203.0.113.7"


def test_the_same_header_from_anyone_else_is_not_believed(host, proxy):
    headers = seen_by_backend(host, proxy, "https://docs.portcullis.test/", "-H 'CF-Connecting-IP: 203.0.113.7'")["headers"]
    assert headers["x-real-ip"] == CLIENT_ADDRESS
    assert headers["x-forwarded-for"] == CLIENT_ADDRESS


def test_each_client_behind_the_cdn_has_its_own_rate_limit_bucket(cdn, proxy):
    # 40 requests at once through one CDN address, for two clients: 20 each fits each client's
    # burst, where one shared bucket (the CDN's address) would refuse about half.
    paths = ["/bucket/%d" % number for number in range(40)]
    headers = [["CF-Connecting-IP: 203.0.113.%d" % (21 + number % 2)] for number in range(40)]
    codes = status_codes(cdn, proxy, "limited.portcullis.test", paths, headers)
    assert codes.count("200") == 40, codes
    # One client alone still meets the limit.
    codes = status_codes(cdn, proxy, "limited.portcullis.test", paths + ["/more/%d" % n for n in range(20)],
                         [["CF-Connecting-IP: 203.0.113.23"]] * 60)
    assert 20 <= codes.count("200") <= 40, codes


@pytest.mark.parametrize("sender, header, code", [
    ("cdn", "198.51.100.9", "200"),     # a partner, behind the CDN
    ("cdn", "203.0.113.9", "403"),      # someone else, behind the CDN
    ("cdn", None, "403"),               # the CDN itself is not a partner
    ("client", "198.51.100.9", "403"),  # a forged header from outside the CDN's range
])
def test_allow_lists_see_the_real_client(host, cdn, proxy, sender, header, code):
    options = ["-o /dev/null -w '%{http_code}'"] + (["-H 'CF-Connecting-IP: %s'" % header] if header else [])
    out = curl(cdn if sender == "cdn" else host, proxy, "https://partners.portcullis.test/", *options)
    assert out.stdout == code


def test_the_access_log_shows_the_real_client(cdn, proxy, proxy_name):
    path = "/logged-%s" % uuid.uuid4().hex
    curl(cdn, proxy, "https://docs.portcullis.test%s" % path, "-H 'CF-Connecting-IP: 203.0.113.77'", "-o /dev/null")
    log = testinfra.get_host("docker://portcullis-proxy-%s" % proxy_name).run("grep -F '%s' /var/log/nginx/access.log" % path)
    assert log.stdout.startswith("203.0.113.77 "), log.stdout


# Balancing: sticky sessions, a backup server

def test_a_session_cookie_stays_on_one_backend_and_sessions_spread(host, proxy):
    backends = {}
    for session in SESSIONS:
        seen = {seen_by_backend(host, proxy, "https://sticky.portcullis.test/", "-b 'session=%s'" % session)["backend"]
                for _attempt in range(4)}
        assert len(seen) == 1, (session, seen)
        backends[session] = seen.pop()
    assert set(backends.values()) == {"portcullis-backend-1", "portcullis-backend-2"}, backends


def test_the_backup_serves_only_while_the_primary_is_down(host, proxy):
    def backends():
        return [seen_by_backend(host, proxy, "https://failover.portcullis.test/")["backend"] for _attempt in range(4)]

    assert backends() == ["portcullis-backend-1"] * 4
    primary = testinfra.get_host("docker://portcullis-backend-1")
    assert primary.run("systemctl stop portcullis-echo@4060.service").rc == 0
    try:
        # No 502: nginx marks the refusing primary failed and goes on to the backup.
        assert backends() == ["portcullis-backend-2"] * 4
    finally:
        restart_echo(primary, 4060)


def test_a_stopped_server_of_a_sticky_pair_is_skipped(host, proxy):
    sessions = SESSIONS
    other = testinfra.get_host("docker://portcullis-backend-2")
    assert other.run("systemctl stop portcullis-echo@4050.service").rc == 0
    try:
        # Every session is answered (no 502), by the server still up, including those hashed to the stopped one.
        answered = [curl(host, proxy, "https://sticky.portcullis.test/", "-b 'session=%s'" % session,
                         "-o /dev/null -w '%{http_code}'").stdout for session in sessions]
        assert answered == ["200"] * len(sessions)
        backends = {seen_by_backend(host, proxy, "https://sticky.portcullis.test/", "-b 'session=%s'" % session)[
            "backend"] for session in sessions}
        assert backends == {"portcullis-backend-1"}
    finally:
        restart_echo(other, 4050)
