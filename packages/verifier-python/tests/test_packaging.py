"""The package as pip builds it: a wheel from pyproject.toml (in a copy of the package, so the
source tree stays clean) holds the modules and py.typed, depends on PyJWT and cryptography only,
and works when installed on its own (a vector verified from the installed copy)."""

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]


def test_wheel_builds_installs_and_verifies(tmp_path):
    source = tmp_path / "src-copy"
    shutil.copytree(PACKAGE, source, ignore=shutil.ignore_patterns("tests", "__pycache__", "build", "*.egg-info"))
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-cache-dir", "-q", "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (tmp_path / "dist").glob("invoker_gateway_verifier-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert "invoker_verifier/py.typed" in names and "invoker_verifier/starlette.py" in names and "invoker_verifier/wsgi.py" in names
    requires = sorted(line.split(":", 1)[1].strip().split(" ")[0].split(">")[0] for line in metadata.splitlines() if line.startswith("Requires-Dist:") and "extra ==" not in line)
    assert requires == ["PyJWT", "cryptography"]
    target = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)  # a wheel is installed by unpacking it (PEP 427)
    vectors = PACKAGE.parents[1] / "test" / "vectors" / "x-invoker.json"
    script = (
        "import json, sys; import invoker_verifier as v; f = json.load(open(sys.argv[1])); x = f['vectors'][0];"
        "r = v.InvokerVerifier(f['verifier']['issuer'], f['verifier']['audience'], jwks=f['jwks'], now=lambda: x['now'])"
        ".verify({'x-invoker': x['token']}, x['request']['method'], x['request']['url']);"
        "print(json.dumps([v.__file__, r.invoker]))"
    )
    run = subprocess.run([sys.executable, "-c", script, str(vectors)], capture_output=True, text=True, env={"PYTHONPATH": str(target), "PYTHONDONTWRITEBYTECODE": "1"}, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    location, invoker = json.loads(run.stdout)
    assert location.startswith(str(target))
    assert invoker["id"] == json.loads(vectors.read_text())["vectors"][0]["expect"]["invoker"]["id"]
