# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.portcullis.ports.plugins.filter.ports import play_keyword
from ansible_collections.portcullis.ports.plugins.plugin_utils._play_keywords import PlayKeywordError, one_value


def test_the_value_every_host_has_or_the_default():
    hostvars = {"a": {"serial": [1, "100%"]}, "b": {"serial": [1, "100%"]}}
    assert one_value(["a", "b"], "serial", hostvars, ["100%"]) == [1, "100%"]
    assert one_value(["a", "b"], "other", hostvars, ["100%"]) == ["100%"]
    assert one_value([], "serial", hostvars, 100) == 100


def test_hosts_that_disagree_are_named_with_where_the_variable_goes():
    hostvars = dict(("h%d" % number, {"serial": 2}) for number in range(8))
    hostvars["h3"] = {"serial": 1}
    hostvars["h4"] = {}
    with pytest.raises(PlayKeywordError) as error:
        one_value(sorted(hostvars), "serial", hostvars, None)
    assert str(error.value).startswith("serial is 2 on h0, h1, h2, h5, h6 and 1 more; 1 on h3; unset on h4: ")
    assert "group_vars/all" in str(error.value) and "(-e)" in str(error.value)


def test_the_filter_names_itself_and_gives_the_default_without_hostvars():
    with pytest.raises(AnsibleFilterError, match="portcullis.ports.play_keyword: serial is"):
        play_keyword(["a", "b"], "serial", {"a": {"serial": 1}, "b": {"serial": 2}})
    # ansible-playbook --syntax-check templates play keywords with no hostvars at all.
    assert play_keyword(["a"], "serial", None, ["100%"]) == ["100%"]
