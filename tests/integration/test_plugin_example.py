"""The third-party plugin in examples/plugin_example, installed as a user would install it: into a
fresh virtual environment (which sees tradebridge's environment, as a plugin's environment has
tradebridge), with pip, offline. Then `tradebridge plugins list` shows it, and its own tests pass
there (they trade its strategy on the simulated broker)."""

from __future__ import annotations

import os
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PLUGIN = PROJECT_ROOT / "examples" / "plugin_example"
TIMEOUT = 120


@pytest.fixture(scope="module")
def plugin_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment holding the installed plugin; returns its python."""
    root = tmp_path_factory.mktemp("plugin-venv")
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(root)
    python = root / "bin" / "python"
    # Make tradebridge's environment (tradebridge, pluggy, pytest, ...) visible in the new one,
    # the way a user's environment already holds tradebridge when they add a plugin to it.
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    host_sites = [path for path in site.getsitepackages() if Path(path).is_dir()]
    lines = "".join(f"import site; site.addsitedir({path!r})\n" for path in host_sites)
    (Path(purelib) / "zz_tradebridge_host.pth").write_text(lines)
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-build-isolation",
         "--no-index", str(PLUGIN)],
        capture_output=True, text=True, timeout=TIMEOUT, check=False, env=_quiet_env(),
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    assert "Successfully installed tradebridge-momentum-0.1.0" in install.stdout
    return python


def _quiet_env() -> dict[str, str]:
    return {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def test_tradebridge_plugins_list_shows_the_installed_plugin(plugin_python: Path) -> None:
    listing = subprocess.run(
        [str(plugin_python), "-m", "entrypoints.cli", "plugins", "list"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=TIMEOUT, check=False, env=_quiet_env(),
    )
    assert listing.returncode == 0, listing.stdout + listing.stderr
    assert "momentum  [tradebridge-momentum 0.1.0]\n    strategy: momentum" in listing.stdout
    assert "builtin.templates  [tradebridge (built-in)]" in listing.stdout
    assert "FAILED" not in listing.stderr


def test_the_plugin_is_not_there_without_installing_it() -> None:
    listing = subprocess.run(
        [sys.executable, "-m", "entrypoints.cli", "plugins", "list"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=TIMEOUT, check=False, env=_quiet_env(),
    )
    assert listing.returncode == 0 and "tradebridge-momentum" not in listing.stdout


def test_the_plugins_own_tests_pass_where_it_is_installed(plugin_python: Path) -> None:
    result = subprocess.run(
        [str(plugin_python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:benchmark", "tests"],
        cwd=PLUGIN, capture_output=True, text=True, timeout=TIMEOUT, check=False, env=_quiet_env(),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout  # none skipped: the installed entry point was found
