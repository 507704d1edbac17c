# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the modules' host steps run commands: argument lists, never a shell."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class Runner:
    """Commands through the module; ``run_options`` go to every run_command."""

    def __init__(self, module, **run_options):
        self.module = module
        self.run_options = run_options

    def run(self, argv, data=None):
        return self.module.run_command(argv, data=data, **self.run_options)

    def which(self, name):
        return self.module.get_bin_path(name, opt_dirs=["/usr/sbin", "/sbin"])
