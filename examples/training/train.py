"""Train a small model on the drivers example, notebook style: training set in, online features out.

    # the drivers example applied and its apps running (featurelog dev, or the apps on Kafka/Redis)
    export FEATURELOG_SERVING_URL=http://127.0.0.1:6574 FEATURELOG_REGISTRY_URL=http://127.0.0.1:6570 \
           FEATURELOG_JOBS_URL=http://127.0.0.1:6573 FEATURELOG_API_KEY=...   # scopes read, push, jobs
    python examples/training/train.py [--drivers 40] [--driver-base N] [--seed 7]

The steps, each printed as it runs:

1. Push a few hours of `driver_hourly_stats` rows for drivers of this run's own id range (1,000,000,000 and
   up, from the clock; so it needs no data but the applied example, and leaves other drivers alone): each driver has a hidden "quality"
   that drives its conversion and acceptance rates, its trips, and whether it completes a ride — the
   label the model learns.
2. Build the entity DataFrame (driver_id, event_timestamp, label) at times between the pushed rows and
   pull the point-in-time training set of the example's feature service through the SDK
   (`get_historical_features(...).to_df()`).
3. Train a scikit-learn logistic regression on the features and score it on held-out rows, beside the
   majority-class baseline.
4. Fetch the same drivers' online features (`get_online_features(feature_service=...)`) and predict.

Exits non-zero (with the error) on any failure: a request refused, a training set without the features
that were pushed, a model no better than the baseline, an online answer missing a pushed driver.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import featurelog

VIEW = "driver_hourly_stats"
HOURS = 6
ROWS_PER_HOUR = 2


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def fail(text: str) -> None:
    raise SystemExit(f"train.py: FAILED: {text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drivers", type=int, default=40, help="drivers of this run (default 40)")
    parser.add_argument(
        "--driver-base",
        type=int,
        help="first driver id of this run's own range (default: from the clock, so that runs never share drivers: "
        "a rerun's labels must not meet an earlier run's features)",
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.driver_base is None:
        args.driver_base = 1_000_000_000 + int(time.time()) % 10_000_000 * 100
    started = time.perf_counter()

    store = featurelog.FeatureStore.from_env()
    print(f"store: {store!r}")

    # ---------------------------------------------------------------- the example's definitions
    step("definitions, from the registry API")
    view = store.get_feature_view(VIEW)
    services = [s for s in store.list_feature_services() if any(ref.startswith(f"{VIEW}:") for ref in s.features)]
    if not services:
        fail(f"no feature service reads {VIEW}: is the drivers example (examples/drivers) applied?")
    service = services[0]
    features = [ref.split(":", 1)[1] for ref in service.features if ref.startswith(f"{VIEW}:")]
    print(f"view {view.name}: features {', '.join(view.feature_names)}, ttl {view.ttl_seconds} s")
    print(f"feature service {service.name}: {', '.join(service.features)}")
    if not {"conv_rate", "acc_rate", "avg_daily_trips"} <= set(features):
        fail(f"feature service {service.name} lacks the example's conv_rate/acc_rate/avg_daily_trips: {features}")

    # ---------------------------------------------------------------- 1. rows of our own drivers
    step(f"push {HOURS} h of {VIEW} rows for drivers {args.driver_base}..{args.driver_base + args.drivers - 1}")
    rng = np.random.default_rng(args.seed)
    driver_ids = np.arange(args.driver_base, args.driver_base + args.drivers, dtype=np.int64)
    quality = rng.uniform(0, 1, size=args.drivers)
    # Whole seconds, the newest a minute old: every pushed row is in the past and inside the view's TTL.
    now = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=1)
    times = [now - timedelta(minutes=60 // ROWS_PER_HOUR * k) for k in range(HOURS * ROWS_PER_HOUR)][::-1]
    history = pd.DataFrame(
        [
            {
                "driver_id": int(driver),
                "event_timestamp": at,
                "conv_rate": float(np.clip(q + rng.normal(0, 0.08), 0, 1)),
                "acc_rate": float(np.clip(0.5 + 0.4 * q + rng.normal(0, 0.08), 0, 1)),
                "avg_daily_trips": int(max(0, round(5 + 20 * q + rng.normal(0, 2)))),
            }
            for driver, q in zip(driver_ids, quality)
            for at in times
        ]
    )
    pushed = store.push(VIEW, history, to="online_and_offline")
    print(f"pushed {len(history)} rows: {pushed}")

    # ---------------------------------------------------------------- 2. the training set
    step(f"training set of feature service {service.name}, point in time")
    n = args.drivers * 10
    picks = rng.integers(0, args.drivers, size=n)
    # Between the first and the newest pushed row, so each row sees features pushed before its time.
    offsets = rng.uniform(0, (times[-1] - times[0]).total_seconds(), size=n)
    q = quality[picks]
    entity_df = pd.DataFrame(
        {
            "driver_id": driver_ids[picks],
            "event_timestamp": pd.to_datetime([times[0] + timedelta(seconds=float(s)) for s in offsets], utc=True),
            # Whether the ride was completed: likelier for better drivers (the model sees them only through features).
            "label": (rng.uniform(0, 1, size=n) < 0.1 + 0.8 * q).astype(np.int64),
        }
    )
    job = store.get_historical_features(entity_df, feature_service=service.name, progress=sys.stderr.isatty())
    training_df = job.to_df()
    print(f"{job!r}: {len(training_df)} rows, columns {list(training_df.columns)}")
    print(training_df.head().to_string())
    if len(training_df) != len(entity_df):
        fail(f"the training set has {len(training_df)} rows for {len(entity_df)} entity rows")
    missing = [c for c in ("driver_id", "event_timestamp", "label", *features) if c not in training_df.columns]
    if missing:
        fail(f"the training set lacks column(s) {missing}")
    complete = training_df.dropna(subset=features)
    if len(complete) < 0.9 * len(training_df):
        fail(f"only {len(complete)} of {len(training_df)} rows have every feature: the pushed rows were not joined")

    # ---------------------------------------------------------------- 3. the model
    step("train a logistic regression")
    X = complete[features].to_numpy(dtype=float)
    y = complete["label"].to_numpy()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=args.seed, stratify=y)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X_train, y_train)
    accuracy = accuracy_score(y_test, model.predict(X_test))
    baseline = max(np.mean(y_test), 1 - np.mean(y_test))
    print(f"held-out accuracy {accuracy:.3f} vs majority-class baseline {baseline:.3f} ({len(X_train)} train, {len(X_test)} test rows)")
    if accuracy <= baseline:
        fail("the model is no better than always answering the majority class")

    # ---------------------------------------------------------------- 4. online features and predictions
    step(f"online features of {service.name} for {min(5, args.drivers)} drivers, and predictions")
    wanted = [{"driver_id": int(d)} for d in driver_ids[:5]]
    newest = history.sort_values("event_timestamp").groupby("driver_id").last()
    expected = [newest.loc[row["driver_id"], "conv_rate"] for row in wanted]
    # The materializer applies pushed rows asynchronously: ask until the newest pushed values are served.
    deadline = time.monotonic() + 60
    while True:
        answer = store.get_online_features(feature_service=service.name, entity_rows=wanted)
        online_df = answer.to_df()
        not_present = {f: s for f, s in answer.statuses.items() if f in features and any(x != "PRESENT" for x in s)}
        if not not_present and online_df["conv_rate"].tolist() == expected:
            break
        if time.monotonic() > deadline:
            fail(
                f"online features of the pushed drivers are not their newest pushed rows within 60 s: "
                f"statuses {not_present}, conv_rate {online_df['conv_rate'].tolist()} (expected {expected})"
            )
        time.sleep(0.2)
    online_df["p_complete"] = model.predict_proba(online_df[features].to_numpy(dtype=float))[:, 1]
    print(online_df[["driver_id", *features, "p_complete"]].to_string(index=False))

    print(f"\ndone in {time.perf_counter() - started:.1f} s")
    store.close()


if __name__ == "__main__":
    try:
        main()
    except featurelog.FeaturelogError as error:
        raise SystemExit(f"train.py: FAILED: {error}") from error
