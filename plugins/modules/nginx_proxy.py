#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: nginx_proxy
short_description: TLS reverse-proxy sites for nginx, checked value by value and proven with nginx -t before they apply
version_added: 0.1.0
author: portcullis.ports maintainers (@portcullis)
description:
  - Writes one configuration file (O(config_path)) with a server block pair for every site of O(sites) - an HTTP
    server that redirects to HTTPS and keeps the ACME http-01 path open, and a TLS server that proxies to the
    site's upstream block - and a default server that refuses any Host no site names.
  - TLS follows Mozilla's C(intermediate) profile (TLS 1.2 and 1.3, its cipher list, session cache without tickets,
    HSTS), or C(modern) (TLS 1.3 only).
  - Proxied requests carry C(Host), C(X-Real-IP), C(X-Forwarded-For) (the client address only; a client's own
    header is not passed on) and C(X-Forwarded-Proto); websocket upgrades pass through.
  - Every value is checked before anything is written. A value containing C(;), C({), C(}), a quote, C(#), C($),
    a backslash, a space or a newline is refused with an error naming it, so a value can never add a directive.
  - Each file is replaced atomically (a reader sees the old or the new one) and O(replaces) are removed; then
    C(nginx -t) checks the whole configuration. If it fails, every file is put back as it was (content, mode,
    symlinks) and the task fails with nginx's message.
  - Each site's certificate is read (openssl) for the names the site serves. A self-signed one
    (O(sites[].self_signed)) that is missing, unreadable, misses a name or expires within O(self_signed_renew_days)
    is made anew (EC P-256, every name in subjectAltName), written next to the old pair and moved in place, the key
    with mode 0600, in a directory of mode 0700. A certbot site (O(sites[].certbot)) serves certbot's certificate
    once there is one, and RV(certbot) says what certbot still has to do. A given certificate that misses a name
    is a warning.
  - The ACME web root (O(acme_root)) is created.
  - With O(service), nginx is reloaded once C(nginx -t) accepted a change (new files, or a new self-signed pair), and
    kept running and enabled; without it the module never reloads nginx, and a refused configuration never serves.
  - Uses C(http2 on) from nginx 1.25.1 and C(ssl_reject_handshake) from 1.19.4; older versions get the older
    forms (the default server then needs O(fallback_certificate) or the first site's certificate).
extends_documentation_fragment:
  - portcullis.ports.attributes
  - portcullis.ports.attributes.CHANGES
  - portcullis.ports.attributes.LINUX
options:
  sites:
    description:
      - The sites to publish. The M(portcullis.ports.nginx_proxy) role builds them from the registry with the
        P(portcullis.ports.proxy_sites#filter) filter.
    type: list
    elements: dict
    required: true
    suboptions:
      domain:
        description: The host name the site answers to.
        type: str
        required: true
      upstreams:
        description:
          - For a site that is one route (C(/)) - its backend servers, each C(host:port) or C([IPv6]:port), or a
            mapping of C(server) and nginx's server parameters C(weight), C(max_fails), C(fail_timeout) and
            C(backup). More than one balances between them. Give O(sites[].routes) instead for several routes.
          - The route options below work the same way at this level, for that one route.
        type: list
        elements: raw
      aliases:
        description: More names the site answers on, with the same routes; the certificate must cover them.
        type: list
        elements: str
        default: []
      redirects:
        description:
          - Names that only redirect to O(sites[].domain), on HTTP and HTTPS, with the path and query kept; the
            certificate must cover them.
        type: list
        elements: str
        default: []
      redirect_code:
        description: The redirect status - V(301), or V(308), which also keeps the method and body.
        type: int
        choices: [301, 308]
        default: 301
      routes:
        description:
          - The site's routes, by path prefix; the longest prefix that matches a request wins. Each has its own
            servers and options.
        type: list
        elements: dict
        suboptions:
          path:
            description:
              - The path prefix, ending with C(/) (V(/api/)); plain segments only. The request's path goes to the
                backend as the client sent it (no rewriting).
            type: str
            default: /
          upstreams:
            description: As O(sites[].upstreams).
            type: list
            elements: raw
            required: true
          service:
            description: The registry service the route comes from (a comment in the file).
            type: str
          host:
            description: The inventory host of that service (a comment in the file).
            type: str
          health:
            description: The service's health path, checked by the audit; not used by nginx.
            type: str
          allow:
            description: Addresses or CIDRs allowed in; when not empty, everyone else is denied. Default none.
            type: list
            elements: str
          deny:
            description: Addresses or CIDRs denied, checked before allow. Default none.
            type: list
            elements: str
          rate_limit:
            description:
              - V(true) for 10 requests a second per client address with a burst of 20, or a mapping with C(rate)
                (such as C(10r/s)) and C(burst). Requests beyond it get HTTP 429. The client address is the real one
                behind a trusted proxy (O(real_ip)).
            type: raw
          client_max_body_size:
            description: Largest request body. Default V(10m).
            type: str
          connect_timeout:
            description: Time to connect to the backend. Default V(5s).
            type: str
          send_timeout:
            description: Time between two writes to the backend. Default V(60s).
            type: str
          read_timeout:
            description: Time between two reads from the backend (also how long an idle websocket stays open). Default V(60s).
            type: str
          websocket:
            description: Pass websocket upgrades through. Default V(true).
            type: bool
          headers:
            description:
              - More request headers for the backend, name to literal value (a string or a number).
              - The headers the proxy sets itself (C(Host), C(X-Real-IP), C(X-Forwarded-For), C(X-Forwarded-Proto),
                C(Upgrade), C(Connection)) cannot be given.
            type: dict
          balance:
            description:
              - How requests are spread over the servers - V(round_robin) (the default), V(least_conn), V(ip_hash), or
                C(cookie:NAME), a consistent hash on the cookie C(NAME) for sticky sessions.
            type: str
          max_fails:
            description:
              - Failed attempts after which a server is taken out for O(sites[].fail_timeout) (nginx's passive health
                check); V(0) never. Default V(1). A server's own value wins.
            type: int
          fail_timeout:
            description: How long a failed server stays out, and the window its failures are counted in. Default V(10s).
            type: str
      certificate:
        description: Path of the PEM certificate (with its chain) on the host.
        type: path
        required: true
      certificate_key:
        description: Path of the certificate's private key on the host.
        type: path
        required: true
      allow:
        description: Addresses or CIDRs allowed in; when not empty, everyone else is denied. Default none.
        type: list
        elements: str
      deny:
        description: Addresses or CIDRs denied, checked before allow. Default none.
        type: list
        elements: str
      rate_limit:
        description:
          - V(true) for 10 requests a second per client address with a burst of 20, or a mapping with C(rate)
            (such as C(10r/s)) and C(burst). Requests beyond it get HTTP 429. The client address is the real one
            behind a trusted proxy (O(real_ip)).
        type: raw
      client_max_body_size:
        description: Largest request body. Default V(10m).
        type: str
      connect_timeout:
        description: Time to connect to the backend. Default V(5s).
        type: str
      send_timeout:
        description: Time between two writes to the backend. Default V(60s).
        type: str
      read_timeout:
        description: Time between two reads from the backend (also how long an idle websocket stays open). Default V(60s).
        type: str
      websocket:
        description: Pass websocket upgrades through. Default V(true).
        type: bool
      headers:
        description:
          - More request headers for the backend, name to literal value (a string or a number).
          - The headers the proxy sets itself (C(Host), C(X-Real-IP), C(X-Forwarded-For), C(X-Forwarded-Proto),
            C(Upgrade), C(Connection)) cannot be given.
        type: dict
      balance:
        description:
          - How requests are spread over the servers - V(round_robin) (the default), V(least_conn), V(ip_hash), or
            C(cookie:NAME), a consistent hash on the cookie C(NAME) for sticky sessions.
        type: str
      max_fails:
        description:
          - Failed attempts after which a server is taken out for O(sites[].fail_timeout) (nginx's passive health
            check); V(0) never. Default V(1). A server's own value wins.
        type: int
      fail_timeout:
        description: How long a failed server stays out, and the window its failures are counted in. Default V(10s).
        type: str
      service:
        description: The registry service the site comes from (a comment in the file).
        type: str
      host:
        description: The inventory host of that service (a comment in the file).
        type: str
      self_signed:
        description:
          - The certificate is self-signed, made on the host - when O(sites[].certificate) or its key is missing,
            cannot be read, misses one of the site's names, or expires within O(self_signed_renew_days). The
            P(portcullis.ports.proxy_sites#filter) filter sets it for a site without a certificate of its own.
          - The directories of O(sites[].certificate) and O(sites[].certificate_key) are made and kept at mode 0700.
        type: bool
      certbot:
        description:
          - certbot obtains the site's certificate (as C(--cert-name) O(sites[].domain)). Once certbot's live directory
            (C(/etc/letsencrypt/live/DOMAIN/)) holds C(fullchain.pem) and C(privkey.pem), the site serves them;
            until then it serves O(sites[].certificate) (self-signed with O(sites[].self_signed)) and is listed in
            RV(certbot.waiting). The filter sets it when its C(certbot) is on.
        type: bool
      names:
        description: Set by the filter - every name the site serves, for its certificate; ignored here.
        type: list
        elements: str
  tls_profile:
    description: Mozilla's profile for the TLS settings.
    type: str
    choices: [intermediate, modern]
    default: intermediate
  hsts_max_age:
    description: C(Strict-Transport-Security) max-age in seconds; V(0) sends no HSTS header.
    type: int
    default: 63072000
  health_path:
    description:
      - A location that answers C(200 ok) from nginx itself, for load balancers and monitoring. Empty for none.
      - It is a static file under O(health_root) (written by the module), so a site's allow and deny apply to it.
    type: str
    default: /nginx-health
  health_root:
    description: Directory of the health file.
    type: path
    default: /var/www/portcullis-health
  main_config:
    description:
      - When given, the module also owns the main C(nginx.conf), keeping the distribution's user, pid and includes
        but with hardened C(http) defaults (C(server_tokens off), TLS 1.2 and 1.3 only, no server cipher
        preference) and C(worker_rlimit_nofile) at twice C(worker_connections), so every server on the host,
        not only these sites, is graded clean by gixy. It is written, validated and rolled back together with
        O(config_path).
    type: dict
    suboptions:
      path:
        description: The main configuration file.
        type: path
        default: /etc/nginx/nginx.conf
      user:
        description: The user the workers run as (C(www-data) on Debian, C(nginx) on Red Hat).
        type: str
        required: true
      pid:
        description: The pid file.
        type: path
        default: /run/nginx.pid
      error_log:
        description: The error log.
        type: path
        default: /var/log/nginx/error.log
      access_log:
        description: The access log.
        type: path
        default: /var/log/nginx/access.log
      mime_types:
        description: The MIME types file.
        type: path
        default: /etc/nginx/mime.types
      worker_connections:
        description: Connections per worker.
        type: int
        default: 1024
      main_includes:
        description: Files included at the top level (dynamic modules).
        type: list
        elements: str
        default: []
      http_includes:
        description: Files included in the C(http) block; one must match O(config_path).
        type: list
        elements: str
        default: [/etc/nginx/conf.d/*.conf]
  acme_root:
    description: Web root for ACME http-01 challenges on port 80. Empty for none.
    type: str
    default: /var/www/portcullis-acme
  http2:
    description: Offer HTTP/2 on the TLS servers.
    type: bool
    default: true
  ipv6:
    description: Listen on IPv6 too; V(auto) when the host has IPv6 addresses.
    type: str
    choices: [auto, "true", "false"]
    default: auto
  fallback_certificate:
    description:
      - Certificate for the default server on an nginx older than 1.19.4, which cannot refuse the TLS handshake.
    type: dict
    suboptions:
      certificate:
        description: Certificate path.
        type: path
        required: true
      certificate_key:
        description: Key path.
        type: path
        required: true
  config_path:
    description: The file this module owns; it must be inside the C(http) context (C(conf.d) is).
    type: path
    default: /etc/nginx/conf.d/portcullis-proxy.conf
  edge_log:
    description:
      - Also log every request of the servers this module writes to this file, in the edge format that the mtail
        program of P(portcullis.ports.edge_exporter#filter) reads - the route (C(DOMAIN+PATH) of the route that took
        it, V(other) for an unknown host, a path outside every route and the port-80 redirects), the status and its
        class, the request time, the bytes received and sent, the upstream's address and time.
      - Those servers keep logging to the main access log as well (O(main_config.access_log), or
        C(/var/log/nginx/access.log)). Its directory is made (mode 0755) when missing.
      - With O(edge_exporter) too, the module fails before any change when mtail is not installed (outside check
        mode), since the role's next step compiles the program with it.
      - Unset, no edge log is written.
    type: path
  edge_exporter:
    description:
      - Where the edge metrics' exporter (mtail) is set up - read, never changed (but for the program's directory,
        made with O(edge_log) when missing), so that the C(portcullis.ports.nginx_proxy) role can remove what it
        wrote and no longer wants.
      - The programs (C(NAME.mtail)) that begin with the collection's marker line (C(# Managed by portcullis.ports
        (nginx_proxy)) in the directory of O(edge_exporter.program) and in the one our O(edge_exporter.environment) names (mtail's
        C(--progs) before the program moved) are returned in RV(edge_exporter.files) - with O(edge_log), all but
        O(edge_exporter.program) itself (mtail would load them too and count every request twice); without it, all
        of them and the environment file when it is ours, and then the state of O(edge_exporter.service) in
        RV(edge_exporter.service). A file without the marker is not the collection's and is not listed.
    type: dict
    suboptions:
      program:
        description: The mtail program the role writes.
        type: path
        required: true
      environment:
        description: The service's environment file the role writes (Debian's C(/etc/default/mtail)).
        type: path
        required: true
      service:
        description: The exporter's service (C(mtail.service)); its state is read only when O(edge_exporter.environment) is the collection's.
        type: str
        required: true
  self_signed_days:
    description: How long a self-signed certificate the module makes is valid.
    type: int
    default: 365
  self_signed_renew_days:
    description: A self-signed certificate that expires within this many days is made anew (below O(self_signed_days)).
    type: int
    default: 30
  service:
    description:
      - The nginx service (C(nginx)). When given, the module keeps it running and enabled at boot (systemd; without
        systemd, the init script keeps it running and boot is not checked), and reloads it after C(nginx -t) accepted
        what the module changed, in the same task. A stopped service is started instead.
      - Not given, nothing is reloaded; reload nginx from a handler when the task reports a change.
    type: str
  replaces:
    description:
      - Files to remove in the same change, such as the distribution's default site that would also claim
        C(default_server). They are put back if validation fails.
    type: list
    elements: path
    default: []
  real_ip:
    description:
      - A CDN or another trusted proxy in front. The client's address is taken from its header only when the
        connection comes from one of its networks (nginx's real-IP module), so rate limits, allow and deny, the
        backends' C(X-Real-IP) and C(X-Forwarded-For) and the access log see the client, and a client elsewhere
        that sends the header is not believed.
    type: dict
    suboptions:
      from:
        description:
          - The proxy's networks (CIDRs), or a CDN's name - V(cloudflare), the ranges it publishes, shipped with the
            collection with the date they were obtained (C(make cdn-ranges) refreshes them).
          - Networks that together cover every address of a family (V(0.0.0.0/0), or V(0.0.0.0/1) with
            V(128.0.0.0/1)) are refused, naming them - the header would be believed from anyone.
        type: list
        elements: str
        required: true
      header:
        description: The header with the client address; V(CF-Connecting-IP) for V(cloudflare), else V(X-Forwarded-For).
        type: str
        choices: [CF-Connecting-IP, X-Forwarded-For, X-Real-IP, True-Client-IP]
      recursive:
        description: With X-Forwarded-For, skip trusted addresses from the right to the first untrusted one (on by default for it).
        type: bool
notes:
  - Check mode renders and checks every value and reads the certificates and the service's state; it reports what
    would change and changes nothing. C(nginx -t) runs only when files are written.
  - After C(nginx -t) accepted the files (and, with O(service), nginx was reloaded onto them), a marker in
    C(/var/lib/portcullis/) records their digest. Files that have the wanted content without a matching marker (a run
    stopped between writing and the reload) are proven on the next run, which reloads nginx and reports a change.
  - A self-signed pair made in a run whose C(nginx -t) fails is put back too.
  - The diff never shows the content of a file that is not world-readable.
seealso:
  - plugin: portcullis.ports.proxy_sites
    plugin_type: filter
    description: Builds the sites from the registry; the portcullis.ports.nginx_proxy role uses it, installs nginx
      and runs certbot.
  - name: Mozilla Server Side TLS guidelines
    description: Where the intermediate and modern profiles come from.
    link: https://wiki.mozilla.org/Security/Server_Side_TLS
"""

EXAMPLES = r"""
- name: Publish one backend under docs.example.com
  portcullis.ports.nginx_proxy:
    sites:
      - domain: docs.example.com
        upstreams: ["10.0.0.5:4001"]
        certificate: /etc/ssl/portcullis/docs.example.com.crt
        certificate_key: /etc/ssl/portcullis/docs.example.com.key
        rate_limit: true
    replaces: [/etc/nginx/sites-enabled/default]
  become: true
  notify: Reload nginx

- name: A self-signed site; the module makes its certificate and reloads nginx itself
  portcullis.ports.nginx_proxy:
    sites:
      - domain: wiki.example.com
        upstreams: ["10.0.0.7:8080"]
        certificate: /etc/ssl/portcullis/wiki.example.com.crt
        certificate_key: /etc/ssl/portcullis/wiki.example.com.key
        self_signed: true
    self_signed_renew_days: 30
    service: nginx
  become: true

- name: One name, two backends by path, www redirected, behind Cloudflare
  portcullis.ports.nginx_proxy:
    sites:
      - domain: app.example.com
        redirects: [www.example.com]
        certificate: /etc/letsencrypt/live/app.example.com/fullchain.pem
        certificate_key: /etc/letsencrypt/live/app.example.com/privkey.pem
        routes:
          - {path: /, upstreams: ["10.0.0.11:4321"]}
          - path: /api/
            upstreams:
              - {server: "10.0.0.12:8000", max_fails: 3, fail_timeout: 30s}
              - {server: "10.0.0.13:8000", backup: true}
            rate_limit: {rate: 10r/s, burst: 20}
            balance: cookie:session
    real_ip: {from: [cloudflare]}
  become: true

- name: Two servers behind one domain, only the office may reach it
  portcullis.ports.nginx_proxy:
    sites:
      - domain: api.example.com
        upstreams: ["10.0.0.5:4018", "10.0.0.6:4018"]
        certificate: /etc/letsencrypt/live/api.example.com/fullchain.pem
        certificate_key: /etc/letsencrypt/live/api.example.com/privkey.pem
        allow: [203.0.113.0/24]
        rate_limit: {rate: 5r/s, burst: 10}
  become: true
"""

RETURN = r"""
config_path:
  description: The file written.
  returned: always
  type: str
  sample: /etc/nginx/conf.d/portcullis-proxy.conf
acme_root:
  description: The web root the ACME http-01 path is served from (O(acme_root)), or null when there is none.
  returned: always
  type: str
domains:
  description: The published domains, sorted.
  returned: always
  type: list
  elements: str
  sample: [docs.example.com]
written:
  description: Files that were (or in check mode would be) written.
  returned: always
  type: list
  elements: str
  sample: [/etc/nginx/conf.d/portcullis-proxy.conf, /var/www/portcullis-health/nginx-health]
removed:
  description: Files of O(replaces) that were (or in check mode would be) removed.
  returned: always
  type: list
  elements: str
names:
  description: Every name each site serves (domain, aliases, redirects), which its certificate must cover.
  returned: always
  type: dict
  sample: {app.example.com: [app.example.com, www.example.com]}
proven:
  description: True when files an earlier run left unproven were checked with C(nginx -t) in this run.
  returned: when that happened
  type: bool
made:
  description: Certificates of self-signed sites that were (or in check mode would be) made, with their keys.
  returned: always
  type: list
  elements: str
  sample: [/etc/ssl/portcullis/docs.example.com.crt]
directories:
  description: Directories that were (or would be) created or given their mode - the ACME web root, those of the self-signed pairs.
  returned: always
  type: list
  elements: str
certificates:
  description:
    - For each domain, the certificate it serves - C(source) (C(given), C(self_signed), or C(certbot) once certbot has
      one), C(certificate), C(certificate_key), C(lacks) (names the site serves that the certificate does not cover,
      as read before this run made anything) and C(made) (why this run made it, or null).
  returned: always
  type: dict
  sample:
    docs.example.com:
      source: self_signed
      certificate: /etc/ssl/portcullis/docs.example.com.crt
      certificate_key: /etc/ssl/portcullis/docs.example.com.key
      lacks: []
      made: expires within 30 days
certbot:
  description: What certbot still has to do for the sites with O(sites[].certbot).
  returned: always
  type: dict
  contains:
    waiting:
      description: Domains certbot has no certificate for yet (they serve their own, self-signed one).
      type: list
      elements: str
    expand:
      description: Domains whose certbot certificate misses a name the site serves.
      type: list
      elements: str
  sample: {waiting: [shop.example.com], expand: []}
service:
  description: The service (O(service)) and what was (or would be) done to it - C(start), C(reload), C(enable).
  returned: when O(service) is given
  type: dict
  sample: {name: nginx, actions: [reload]}
edge_exporter:
  description:
    - What of O(edge_exporter) is the collection's and no longer wanted - with O(edge_log), its older programs;
      without, all of it.
  returned: when O(edge_exporter) is given
  type: dict
  contains:
    files:
      description: The files that begin with the collection's marker line, the programs first; empty when none.
      type: list
      elements: str
    service:
      description:
        - The service, C(name), whether it is C(running) and C(enabled) at boot (null without systemd), when the
          environment file is among RV(edge_exporter.files); null otherwise.
      type: dict
  sample: {files: [/etc/mtail/portcullis-edge.mtail, /etc/default/mtail],
           service: {name: mtail.service, running: true, enabled: true}}
nginx_version:
  description: The installed nginx version, or null when nginx is not installed (check mode only).
  returned: always
  type: str
  sample: 1.22.1
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.portcullis.ports.plugins.module_utils.nginx import _apply as _nginx
from ansible_collections.portcullis.ports.plugins.module_utils import _host
from ansible_collections.portcullis.ports.plugins.module_utils.nginx import _config as _nginx_config
from ansible_collections.portcullis.ports.plugins.module_utils.nginx._config import NginxProxyError


def main():
    module = AnsibleModule(argument_spec=_nginx_config.argument_spec(), supports_check_mode=True)
    # rate_limit accepts booleans given as strings too (a role variable may arrive as "true").
    for site in module.params["sites"]:
        for place in [site] + list(site.get("routes") or []):
            if isinstance(place.get("rate_limit"), str):
                try:
                    place["rate_limit"] = boolean(place["rate_limit"], strict=True)
                except TypeError:
                    module.fail_json(msg="site %s: rate_limit %r is not valid: expected true, false or a mapping of "
                                         "rate and burst" % (site["domain"], place["rate_limit"]))
    proxy = _nginx.NginxProxy(_host.Runner(module), module.params)
    try:
        result = proxy.run(module.check_mode)
    except NginxProxyError as error:
        module.fail_json(msg=str(error))
    except (IOError, OSError, UnicodeError) as error:
        module.fail_json(msg="could not read or write the nginx configuration: %s" % error)
    for warning in proxy.warnings:
        module.warn(warning)
    if not module._diff or not result["changed"]:
        result.pop("diff", None)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
