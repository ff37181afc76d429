"""Put pip into a virtual environment created with ``--without-pip``.

Debian ships ``ensurepip`` in a separate package (python3-venv); when it is missing,
``make`` creates the venv without pip and runs this, which fetches the newest pip
wheel from PyPI (the package registry, nothing else) and installs it from itself.
Standard library only.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

INDEX = "https://pypi.org/pypi/pip/json"


def main(venv: str) -> int:
    python = Path(venv) / "bin" / "python"
    with urllib.request.urlopen(INDEX, timeout=60) as response:
        release = json.load(response)
    wheel = next(
        f
        for f in release["urls"]
        if f["packagetype"] == "bdist_wheel" and f["filename"].endswith(".whl")
    )
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / wheel["filename"]
        url = urllib.parse.urljoin(INDEX, wheel["url"])  # mirrors may answer with relative URLs
        if not url.startswith("https://"):
            print(f"refusing non-https download {url}", file=sys.stderr)
            return 1
        with urllib.request.urlopen(url, timeout=120) as response:  # noqa: S310
            target.write_bytes(response.read())
        digest = hashlib.sha256(target.read_bytes()).hexdigest()
        if digest != wheel["digests"]["sha256"]:
            print(f"pip wheel hash mismatch: {digest}", file=sys.stderr)
            return 1
        # A pip wheel can run itself: python pip.whl/pip install pip.whl
        return subprocess.call([str(python), f"{target}/pip", "install", "--no-index", str(target)])  # noqa: S603


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ".venv"))
