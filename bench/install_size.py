"""Installed size and package count of the core and of each extra, from fresh virtual environments.

    python bench/install_size.py               # core, s3, postgres, server, all
    python bench/install_size.py core s3       # just these

Each variant gets a new venv in a temporary folder (pip's cache keeps it quick), then reports the packages pip
installed, the size of site-packages, which heavy packages came along, the import time of ``symbl_dagster`` and the
load time of the code location (``symbl_dagster.definitions``). The core is the baseline of the ratios; the target
is a core under 450 MB with none of av, scipy, pocketsphinx, vaderSentiment, ctranslate2 or psycopg2.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VARIANTS = {
    "core": [str(REPO)],
    "s3": [f"{REPO}[s3]"],
    "postgres": [f"{REPO}[postgres]"],
    "duckdb": [f"{REPO}[duckdb]"],
    "server": [str(REPO / "server"), f"{REPO}[server]"],
    "all": [str(REPO / "server"), f"{REPO}[all]"],
}
SERVER_ONLY = ("av", "scipy", "pocketsphinx", "vadersentiment", "ctranslate2", "faster-whisper", "onnxruntime")
NEVER = ("psycopg2", "psycopg2-binary")
CORE_LIMIT_MB = 450

_IMPORT_PROBE = """
import json, os, resource, sys, time
start = time.perf_counter()
import symbl_dagster
imported = time.perf_counter() - start
heavy = sorted(name for name in ("dagster_aws", "boto3", "psycopg", "av", "scipy", "symbl_server") if name in sys.modules)
os.environ.setdefault("SYMBL_RECORDINGS_DIR", os.getcwd())
start = time.perf_counter()
import symbl_dagster.definitions
loaded = time.perf_counter() - start
print(json.dumps({"import_s": imported, "location_s": loaded, "heavy_after_import": heavy,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6


def measure(name: str, requirements: list[str], workdir: Path) -> dict:
    venv = workdir / name
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *requirements], capture_output=True, text=True, cwd=workdir
    )
    if installed.returncode:
        raise SystemExit(f"pip install {' '.join(requirements)} failed:\n{installed.stderr[-4000:]}")
    listed = json.loads(
        subprocess.run(
            [str(python), "-m", "pip", "list", "--format", "json", "--exclude", "pip", "--exclude", "setuptools"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    names = {package["name"].lower() for package in listed}
    site = next((venv / "lib").glob("python*/site-packages"))
    probe = subprocess.run(
        [str(python), "-c", _IMPORT_PROBE], check=True, capture_output=True, text=True, cwd=workdir
    ).stdout
    return {
        "variant": name,
        "packages": len(names),
        "size_mb": round(_size_mb(site), 1),
        "server_only_present": sorted(n for n in names if n in SERVER_ONLY),
        "never_present": sorted(n for n in names if n in NEVER),
        **json.loads(probe.strip().splitlines()[-1]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="symbl-install-") as tmp:
        for name in args.variants:
            start = time.perf_counter()
            result = measure(name, VARIANTS[name], Path(tmp))
            result["install_s"] = round(time.perf_counter() - start, 1)
            results.append(result)
            print(json.dumps(result), flush=True)
    core = next((r for r in results if r["variant"] == "core"), None)
    print(
        f"\n{'variant':<10}{'packages':>9}{'MB':>9}{'x core':>8}{'import s':>10}{'location s':>12}  server-only / psycopg2"
    )
    for r in results:
        ratio = f"{r['size_mb'] / core['size_mb']:.2f}" if core else "-"
        extras = ",".join(r["server_only_present"] + r["never_present"]) or "none"
        print(
            f"{r['variant']:<10}{r['packages']:>9}{r['size_mb']:>9.1f}{ratio:>8}"
            f"{r['import_s']:>10.2f}{r['location_s']:>12.2f}  {extras}"
        )
    if core is None:
        return 0
    ok = core["size_mb"] < CORE_LIMIT_MB and not core["server_only_present"] and not core["never_present"]
    print(f"\ncore: {core['size_mb']:.0f} MB (limit {CORE_LIMIT_MB}), {'OK' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    sys.exit(main())
