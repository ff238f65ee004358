"""Training set into pandas through the Python SDK, beside the Parquet export read with pyarrow, same run.

    .venv/bin/python bench/clients/training_bench.py                 # 1,000,000 entity rows × 3 views
    .venv/bin/python bench/clients/training_bench.py --rows 20000    # a short run

Cases, each in its own Python process (peak RSS = that process's VmHWM; pandas and pyarrow are
imported before the clock starts, and the RSS after those imports is printed too):

- **SDK**: ``FeatureStore.get_historical_features(<entities.parquet>, features=[…]).to_df()``: the entity
  rows go up as an Arrow IPC stream, the job runs in the jobs app, the result streams back as Arrow IPC
  record batches into a DataFrame.
- **export + read_table** (the baseline): ``featurelog export --entities <entities.parquet> --features …
  --output <file>.parquet`` (the same job, timed from the CLI's start to its exit), then in Python
  ``pyarrow.parquet.read_table(file)`` and ``.to_pandas()``.

Both give the same DataFrame (columns, dtypes and every value: a hash of the rows sorted by row_id), or the
bench fails. The issue's targets: SDK time within 1.3× of export + read_table; peak RSS under 2× the
DataFrame's size (``memory_usage(deep=True)``). They are printed, never asserted.

Data (generated once per --rows/--history, kept under /tmp/featurelog-bench-clients/): the shapes of
bench/export — entity rows (row_id, driver_id, customer_id, event_timestamp, label) over 10 days, and
three views with history (driver_hourly TTL 1 d with 3 features, driver_daily no TTL with 2,
customer_weekly TTL 7 d with 2; half, 3/10 and 1/5 of the history rows), ties on event time with
different created times, 5% null values — in an embedded feature repo (`featurelog apply`, then
`featurelog ingest` of one Parquet file per view), served by `featurelog dev --port-offset` (the first free offset from
400 by default) for the run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from featurelog_dev import ROOT, Dev, featurelog_command, free_port_offset, machine, run_cli  # noqa: E402

# This checkout's SDK when no featurelog package is installed (pip install ./sdk/python installs it).
sys.path.append(str(ROOT / "sdk" / "python" / "src"))

START_US = 1_735_689_600_000_000  # 2025-01-01T00:00:00Z
DAY_US = 86_400_000_000
DAYS = 10
PROJECT = "bench_clients"
VIEWS = {
    # name: (entity, join key, ttl, share of history, features)
    "driver_hourly": ("driver", "driver_id", "24h", 0.5, [("conv_rate", "float64"), ("acc_rate", "float64"), ("trips", "int64")]),
    "driver_daily": ("driver", "driver_id", "0", 0.3, [("rating", "float64"), ("level", "int64")]),
    "customer_weekly": ("customer", "customer_id", "168h", 0.2, [("spend", "float64"), ("orders", "int64")]),
}
FEATURES = [f"{view}:{name}" for view, (_, _, _, _, features) in VIEWS.items() for name, _ in features]


# ------------------------------------------------------------------------------------------ data


def generate(root: Path, rows: int, history: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(42)
    drivers, customers = max(10, rows // 10), max(10, rows // 20)
    ts = pa.timestamp("us", tz="UTC")
    pq.write_table(
        pa.table(
            {
                "row_id": pa.array(np.arange(rows, dtype=np.int64)),
                "driver_id": pa.array(rng.integers(0, drivers, rows, dtype=np.int64)),
                "customer_id": pa.array(rng.integers(0, customers, rows, dtype=np.int64)),
                "event_timestamp": pa.array(START_US + rng.integers(0, DAYS * 86_400, rows) * 1_000_000, ts),
                "label": pa.array(rng.integers(0, 2, rows, dtype=np.int32)),
            }
        ),
        root / "entities.parquet",
        row_group_size=100_000,
    )
    for view, (_entity, key, _ttl, share, features) in VIEWS.items():
        n = max(1, round(history * share))
        event = START_US + rng.integers(0, DAYS * 86_400, n) * 1_000_000
        created = event + rng.integers(0, 4, n) * 1_000_000
        columns = {
            key: pa.array(rng.integers(0, drivers if key == "driver_id" else customers, n, dtype=np.int64)),
            "event_timestamp": pa.array(event, ts),
            # Ties on event time with different created times (30% without one): the tie-break has work to do.
            "created_timestamp": pa.array(created, ts, mask=rng.random(n) < 0.3),
        }
        for name, kind in features:
            values = rng.integers(0, 10_000, n) if kind == "int64" else np.round(rng.random(n) * 1e6) / 1e6
            columns[name] = pa.array(values, pa.int64() if kind == "int64" else pa.float64(), mask=rng.random(n) < 0.05)
        pq.write_table(pa.table(columns), root / f"history_{view}.parquet", row_group_size=200_000)


def write_repo(repo: Path) -> None:
    repo.mkdir(parents=True, exist_ok=True)
    (repo / "featurelog.yaml").write_text(
        f"project: {PROJECT}\n"
        "log: { type: embedded, path: .featurelog/log }\n"
        "schemaRegistry: { type: embedded, path: .featurelog/schemas }\n"
        "onlineStore: { type: embedded, path: .featurelog/online }\n"
        "offlineStore: { type: local, path: .featurelog/offline }\n"
    )
    for entity, key in (("driver", "driver_id"), ("customer", "customer_id")):
        (repo / f"{entity}.yaml").write_text(
            f"kind: entity\nname: {entity}\njoin_keys:\n  - name: {key}\n    type: int64\n"
        )
    for view, (entity, _key, ttl, _share, features) in VIEWS.items():
        lines = [f"kind: feature_view", f"name: {view}", f"entities: [{entity}]", f"ttl: {ttl}",
                 # Training sets only: nothing to materialize while the bench runs.
                 "online: false", "features:"]
        lines += [f"  - name: {name}\n    type: {kind}" for name, kind in features]
        (repo / f"{view}.yaml").write_text("\n".join(lines) + "\n")


def prepare(args: argparse.Namespace, cli: list[str]) -> Path:
    root = Path(args.data) / f"rows-{args.rows}-history-{args.history}"
    if (root / "ready").exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    started = time.perf_counter()
    generate(root, args.rows, args.history)
    write_repo(root / "repo")
    run_cli(cli, ["apply"], root / "repo")
    for view in VIEWS:
        run_cli(cli, ["ingest", view, str(root / f"history_{view}.parquet")], root / "repo")
    (root / "ready").write_text("")
    print(f"data generated and ingested in {time.perf_counter() - started:.1f} s: {root}", flush=True)
    return root


# ------------------------------------------------------------------------------------------ child cases


def max_rss() -> int:
    """Peak RSS of this process. VmHWM, not ru_maxrss: Linux carries ru_maxrss over execve, so a child
    would report the bench runner's own peak (it generated the data) when that is higher."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def describe(df, seconds: float, **extra) -> dict:
    import pandas as pd

    peak = max_rss()
    ordered = df.sort_values("row_id", kind="stable").reset_index(drop=True)
    return {
        "seconds": seconds,
        "peak_rss": peak,
        "rows": len(df),
        "df_bytes": int(df.memory_usage(deep=True).sum()),
        "dtypes": {str(c): str(t) for c, t in df.dtypes.items()},
        "hash": str(int(pd.util.hash_pandas_object(ordered, index=False).sum())),
        **extra,
    }


def child(args: argparse.Namespace) -> None:
    import pandas  # noqa: F401  (imported before the clock, as a notebook has it)
    import pyarrow.parquet as pq

    after_imports = max_rss()
    if args.child == "sdk":
        import featurelog

        store = featurelog.FeatureStore(
            url=args.urls["serving"], registry_url=args.urls["registry"], jobs_url=args.urls["jobs"],
            api_key=os.environ.get("FEATURELOG_API_KEY"), timeout=600,
        )
        started = time.perf_counter()
        df = store.get_historical_features(args.entities, features=FEATURES, progress=False).to_df()
        seconds = time.perf_counter() - started
        print(json.dumps(describe(df, seconds, rss_after_imports=after_imports)))
    else:
        started = time.perf_counter()
        table = pq.read_table(args.parquet)
        read = time.perf_counter() - started
        df = table.to_pandas()
        seconds = time.perf_counter() - started
        del table
        print(json.dumps(describe(df, seconds, read_table_seconds=read, rss_after_imports=after_imports)))


def run_child(args: argparse.Namespace, case: str, **params: str) -> dict:
    command = [sys.executable, __file__, "--child", case, "--urls", json.dumps(args.urls)]
    for name, value in params.items():
        command += [f"--{name}", value]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"case {case} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------ runner


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="entity rows (default 1,000,000)")
    parser.add_argument("--history", type=int, help="history rows over the 3 views (default 2 × rows)")
    parser.add_argument("--rounds", type=int, default=2, help="each case this many times, alternating (default 2)")
    parser.add_argument("--port-offset", type=int, help="of featurelog dev (default: the first free one from 400)")
    parser.add_argument("--data", default="/tmp/featurelog-bench-clients")
    parser.add_argument("--cases", default="sdk,export", help="which cases (default sdk,export)")
    parser.add_argument("--featurelog", help="the featurelog command (default: this checkout's, see featurelog_dev.py)")
    parser.add_argument("--child", choices=["sdk", "parquet"], help=argparse.SUPPRESS)
    parser.add_argument("--urls", type=json.loads, help=argparse.SUPPRESS)
    parser.add_argument("--entities", help=argparse.SUPPRESS)
    parser.add_argument("--parquet", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    args.history = args.history or 2 * args.rows

    cli = featurelog_command(args.featurelog)
    root = prepare(args, cli)
    entities = str(root / "entities.parquet")
    output = root / "export.parquet"
    print(f"{args.rows:,} entity rows × {len(VIEWS)} views ({len(FEATURES)} features), {args.history:,} history rows; {machine()}")
    results: dict[str, list[dict]] = {"sdk": [], "export": []}
    offset = args.port_offset if args.port_offset is not None else free_port_offset()
    with Dev(cli, root / "repo", offset, root / "dev.log") as dev:
        args.urls = dev.urls
        for round_ in range(args.rounds):
            cases = args.cases.split(",")
            sdk = run_child(args, "sdk", entities=entities) if "sdk" in cases else None
            if sdk is not None:
                results["sdk"].append(sdk)
            if "export" not in cases:
                print(f"  round {round_ + 1}: SDK {sdk['seconds']:.2f} s", flush=True)
                continue
            output.unlink(missing_ok=True)
            started = time.perf_counter()
            run_cli(cli, ["export", "--entities", entities, "--features", *FEATURES, "--output", str(output)], root / "repo")
            exported = time.perf_counter() - started
            read = run_child(args, "parquet", parquet=str(output))
            read["export_seconds"] = exported
            results["export"].append(read)
            print(
                f"  round {round_ + 1}: SDK {sdk['seconds'] if sdk else float('nan'):.2f} s; export {exported:.2f} s + read_table "
                f"{read['read_table_seconds']:.2f} s + to_pandas {read['seconds'] - read['read_table_seconds']:.2f} s",
                flush=True,
            )
        print(f"  {machine()} at the end")

    sdk, base = results["sdk"], results["export"]
    if not sdk or not base:
        only = sdk or base
        print(f"one case only: {json.dumps([{k: v for k, v in r.items() if k != 'dtypes'} for r in only])}")
        return
    problems = []
    for a, b in zip(sdk, base):
        if a["rows"] != args.rows or b["rows"] != args.rows:
            problems.append(f"rows: SDK {a['rows']}, export {b['rows']}, entity rows {args.rows}")
        if a["dtypes"] != b["dtypes"]:
            problems.append(f"dtypes differ: SDK {a['dtypes']} vs export {b['dtypes']}")
        elif a["hash"] != b["hash"]:
            problems.append("the DataFrames differ (hash of the rows sorted by row_id)")
    sdk_time = statistics.median(r["seconds"] for r in sdk)
    base_time = statistics.median(r["export_seconds"] + r["seconds"] for r in base)
    base_read = statistics.median(r["read_table_seconds"] for r in base)
    df_bytes = sdk[0]["df_bytes"]
    rows = [
        ("SDK get_historical_features().to_df()", sdk_time, max(r["peak_rss"] for r in sdk), sdk[0]["rss_after_imports"]),
        ("featurelog export + read_table + to_pandas", base_time, max(r["peak_rss"] for r in base), base[0]["rss_after_imports"]),
    ]
    print(f"\n| case | time (median of {args.rounds}) | vs baseline | peak RSS | peak / DataFrame | RSS after imports | (peak − imports) / DataFrame |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, seconds, peak, imports in rows:
        print(
            f"| {name} | {seconds:.2f} s | {seconds / base_time:.2f}× | {mib(peak)} | {peak / df_bytes:.2f}× "
            f"| {mib(imports)} | {(peak - imports) / df_bytes:.2f}× |"
        )
    print(f"\nDataFrame: {sdk[0]['rows']:,} rows, {mib(df_bytes)} (memory_usage deep); of the baseline, read_table alone "
          f"{base_read:.2f} s, the export {statistics.median(r['export_seconds'] for r in base):.2f} s")
    print(f"targets (issue 14): SDK within 1.3× of export + read_table: {sdk_time / base_time:.2f}×; "
          f"SDK peak RSS under 2× the DataFrame: {max(r['peak_rss'] for r in sdk) / df_bytes:.2f}×")
    if problems:
        print("DIFFERENT RESULTS:\n  " + "\n  ".join(problems))
        sys.exit(1)
    print(f"agreement: the SDK's DataFrame equals the export's read with pyarrow ({args.rounds} round(s): dtypes and every row)")


if __name__ == "__main__":
    main()
