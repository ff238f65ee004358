"""Online features through each client at batch 1 and 100, beside raw HTTP from the same language.

    .venv/bin/python bench/clients/online_bench.py                       # Python and TypeScript
    .venv/bin/python bench/clients/online_bench.py --scale 0.2           # a short run
    .venv/bin/python bench/clients/online_bench.py --go 'go -C clients/go run ./cmd/bench' \\
        --java 'mvn -q -B -f clients/java test-compile exec:exec'           # all four languages

Against the apps of FEATURELOG_SERVING_URL / FEATURELOG_REGISTRY_URL / FEATURELOG_API_KEY (scopes read and
push; the drivers example applied) or, when FEATURELOG_SERVING_URL is unset, a `featurelog dev` of a copy of
examples/drivers (embedded stores, no keys) started for the run. It pushes fresh `driver_hourly_stats` rows
for its own drivers (--driver-base, 100 of them) and asks for the view's 3 features by list, for 1 driver
and for 100.

Every language's part runs one request in flight and interleaves its client with its raw HTTP request by
request (same machine, same moment), after a warm-up; it prints one JSON line per case and mode:

    {"language": "go", "mode": "client" | "raw", "case": "batch 1", "batch": 1, "requests": 2000,
     "p50_ms": 0.9, "p99_ms": 3.1, "mean_ms": 1.1, "rps": 900.0}

Python and TypeScript (bench/clients/online-ts.bench.ts) are built in; any other language is a command
(--go, --java, or --client NAME=COMMAND) run with BENCH_CASES_FILE (JSON: servingUrl, registryUrl, warmup,
cases: [{name, batch, requests, body}], the body being the get-online-features request to send as is) and
FEATURELOG_API_KEY in its environment, which prints those lines. "client" is the language's featurelog
client returning its typed answer; "raw" is that language's plain HTTP client posting the same body and
parsing the JSON. The ratio client/raw is the client's own cost.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from featurelog_dev import NODE, ROOT, Dev, featurelog_command, free_port_offset, machine, run_cli  # noqa: E402

sys.path.append(str(ROOT / "sdk" / "python" / "src"))

VIEW = "driver_hourly_stats"


def summary(language: str, mode: str, case: dict, millis: list[float]) -> dict:
    ordered = sorted(millis)
    at = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {
        "language": language,
        "mode": mode,
        "case": case["name"],
        "batch": case["batch"],
        "requests": len(millis),
        "p50_ms": at(0.5),
        "p99_ms": at(0.99),
        "mean_ms": statistics.fmean(millis),
        "rps": len(millis) / (sum(millis) / 1000),
    }


def python_part(spec: dict, api_key: str | None, urls: dict) -> list[dict]:
    import featurelog
    import httpx

    store = featurelog.FeatureStore(url=spec["servingUrl"], registry_url=urls["registry"], api_key=api_key)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    raw_client = httpx.Client(headers=headers, timeout=30)
    url = f"{spec['servingUrl']}/get-online-features"
    out = []
    for case in spec["cases"]:
        body = case["body"]
        rows = [dict(zip(body["entities"], values)) for values in zip(*body["entities"].values())]

        def raw() -> object:
            response = raw_client.post(url, json=body)
            response.raise_for_status()
            return response.json()

        def client() -> object:
            return store.get_online_features(features=body["features"], entity_rows=rows).to_dict()

        for _ in range(spec["warmup"]):
            raw(), client()
        times: dict[str, list[float]] = {"client": [], "raw": []}
        for _ in range(case["requests"]):
            for mode, call in (("raw", raw), ("client", client)):
                started = time.perf_counter()
                call()
                times[mode].append((time.perf_counter() - started) * 1000)
        out += [summary("python", mode, case, times[mode]) for mode in ("client", "raw")]
    raw_client.close()
    store.close()
    return out


def command_part(name: str, command: list[str], cases_file: Path, cwd: Path) -> list[dict]:
    done = subprocess.run(
        command,
        cwd=cwd,
        env={**os.environ, "BENCH_CASES_FILE": str(cases_file), "SWC_NODE_PROJECT": str(ROOT / "tsconfig.json")},
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the {name} part failed ({done.returncode}):\n{done.stderr[-4000:]}")
    # A wrapper's terminal escapes (Maven prints colour resets even with -B -q) must not hide a line.
    lines = (re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", line) for line in done.stdout.splitlines())
    return [json.loads(line) for line in lines if line.startswith("{")]


def seed(store, driver_ids: list[int]) -> None:
    """Fresh rows for the bench's drivers, then wait (deadline) until serving answers them PRESENT."""
    import pandas as pd

    now = datetime.now(timezone.utc) - timedelta(seconds=5)
    store.push(
        VIEW,
        pd.DataFrame(
            {
                "driver_id": driver_ids,
                "event_timestamp": [now] * len(driver_ids),
                "conv_rate": [0.5 + i / 1000 for i in range(len(driver_ids))],
                "acc_rate": [0.9] * len(driver_ids),
                "avg_daily_trips": [10 + i for i in range(len(driver_ids))],
            }
        ),
    )
    deadline = time.monotonic() + 60
    while True:
        answer = store.get_online_features(features=[f"{VIEW}:conv_rate"], entity_rows=[{"driver_id": d} for d in driver_ids])
        if all(status == "PRESENT" for status in answer.statuses["conv_rate"]):
            return
        if time.monotonic() > deadline:
            raise RuntimeError("the pushed rows were not served within 60 s")
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="requests: 2000 × scale at batch 1, 500 × scale at batch 100")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--driver-base", type=int, default=8_800_000)
    parser.add_argument("--go", help="command of the Go part (prints the JSON lines)")
    parser.add_argument("--java", help="command of the Java part")
    parser.add_argument("--client", action="append", default=[], metavar="NAME=COMMAND", help="another language's part")
    parser.add_argument("--no-typescript", action="store_true")
    parser.add_argument("--featurelog", help="the featurelog command for the dev this bench starts (see featurelog_dev.py)")
    args = parser.parse_args()

    import featurelog

    scratch = Path(tempfile.mkdtemp(prefix="featurelog-bench-online-"))
    dev = None
    try:
        if os.environ.get("FEATURELOG_SERVING_URL"):
            urls = {
                "serving": os.environ["FEATURELOG_SERVING_URL"],
                "registry": os.environ.get("FEATURELOG_REGISTRY_URL") or featurelog.derive_app_urls(os.environ["FEATURELOG_SERVING_URL"])[0],
            }
        else:
            repo = scratch / "drivers"
            shutil.copytree(ROOT / "examples" / "drivers", repo, ignore=shutil.ignore_patterns(".featurelog"))
            cli = featurelog_command(args.featurelog)
            run_cli(cli, ["apply"], repo)
            dev = Dev(cli, repo, free_port_offset(), scratch / "dev.log")
            urls = dev.urls
        api_key = os.environ.get("FEATURELOG_API_KEY")
        store = featurelog.FeatureStore(url=urls["serving"], registry_url=urls["registry"], api_key=api_key)
        features = [f"{VIEW}:{name}" for name in store.get_feature_view(VIEW).feature_names]
        drivers = list(range(args.driver_base, args.driver_base + 100))
        seed(store, drivers)
        store.close()
        spec = {
            "servingUrl": urls["serving"],
            # Clients that read feature types from the registry (Python, Go, Java) decode typed values.
            "registryUrl": urls["registry"],
            "warmup": args.warmup,
            "cases": [
                {"name": "batch 1", "batch": 1, "requests": max(20, round(2000 * args.scale)),
                 "body": {"features": features, "entities": {"driver_id": drivers[:1]}}},
                {"name": "batch 100", "batch": 100, "requests": max(10, round(500 * args.scale)),
                 "body": {"features": features, "entities": {"driver_id": drivers}}},
            ],
        }
        cases_file = scratch / "cases.json"
        cases_file.write_text(json.dumps(spec))
        parts: list[tuple[str, list[str] | None]] = [("python", None)]
        if not args.no_typescript:
            parts.append(("typescript", [str(NODE), "-r", "@swc-node/register", str(ROOT / "bench" / "clients" / "online-ts.bench.ts")]))
        if args.go:
            parts.append(("go", shlex.split(args.go)))
        if args.java:
            parts.append(("java", shlex.split(args.java)))
        for extra in args.client:
            name, _, command = extra.partition("=")
            parts.append((name, shlex.split(command)))

        print(f"{len(features)} features of {VIEW}; {machine()}; serving {urls['serving']}", flush=True)
        lines: list[dict] = []
        for name, command in parts:
            got = python_part(spec, api_key, urls) if command is None else command_part(name, command, cases_file, ROOT)
            for line in got:
                print(f"  {name:<10} {line['case']:<9} {line['mode']:<6} p50 {line['p50_ms']:7.2f} ms  p99 {line['p99_ms']:7.2f} ms  {line['rps']:8.0f} req/s", flush=True)
            lines += got
        print(f"  {machine()} at the end\n")
        print("| language | batch | client p50 / p99 | raw HTTP p50 / p99 | client req/s | raw req/s | client / raw (mean) |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for name, _ in parts:
            for case in spec["cases"]:
                by_mode = {l["mode"]: l for l in lines if l["language"] == name and l["case"] == case["name"]}
                if set(by_mode) != {"client", "raw"}:
                    raise RuntimeError(f"the {name} part printed no client and raw lines for {case['name']}")
                c, r = by_mode["client"], by_mode["raw"]
                print(
                    f"| {name} | {case['batch']} | {c['p50_ms']:.2f} / {c['p99_ms']:.2f} ms | {r['p50_ms']:.2f} / {r['p99_ms']:.2f} ms "
                    f"| {c['rps']:,.0f} | {r['rps']:,.0f} | {c['mean_ms'] / r['mean_ms']:.2f}× |"
                )
    finally:
        if dev is not None:
            dev.stop()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
