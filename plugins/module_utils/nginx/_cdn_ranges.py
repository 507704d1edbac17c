# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Written by tools/update_cdn_ranges.py (make cdn-ranges); refresh it with that, not by hand.
# The first lists were transcribed from the published pages (see OBTAINED): this machine has no web.
"""The networks each CDN connects to an origin from, as the CDN publishes
them, for nginx's real-IP module (``set_real_ip_from``): a client address
header is believed only on a connection from one of these. ``SOURCES`` says
where each list comes from and ``OBTAINED`` when it was fetched; CDNs add
ranges now and then, so refresh with ``make cdn-ranges``.

Plain Python, no Ansible import.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

OBTAINED = '2026-11-30 (transcribed from the published lists)'
SOURCES = {
    'cloudflare': ('https://www.cloudflare.com/ips-v4', 'https://www.cloudflare.com/ips-v6'),
}

CDNS = {
    'cloudflare': (
        '103.21.244.0/22',
        '103.22.200.0/22',
        '103.31.4.0/22',
        '104.16.0.0/13',
        '104.24.0.0/14',
        '108.162.192.0/18',
        '131.0.72.0/22',
        '141.101.64.0/18',
        '162.158.0.0/15',
        '172.64.0.0/13',
        '173.245.48.0/20',
        '188.114.96.0/20',
        '190.93.240.0/20',
        '197.234.240.0/22',
        '198.41.128.0/17',
        '2400:cb00::/32',
        '2405:8100::/32',
        '2405:b500::/32',
        '2606:4700::/32',
        '2803:f800::/32',
        '2a06:98c0::/29',
        '2c0f:f248::/32',
    ),
}
