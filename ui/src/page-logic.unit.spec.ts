import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
// The page's pure parts (no DOM): what it makes of the apps' answers.
import { parsePrometheus, viewFreshness } from './prometheus';
import { diffLines, foldUnchanged, matches, searchText, type FeatureView } from './definitions';

const METRICS = `# HELP featurelog_materializer_rows_total Feature rows consumed
# TYPE featurelog_materializer_rows_total counter
featurelog_materializer_rows_total{view="driver_hourly_stats",outcome="won"} 840
featurelog_materializer_rows_total{view="driver_hourly_stats",outcome="lost"} 3
featurelog_materializer_freshness_seconds_bucket{le="0.005",view="driver_hourly_stats"} 0
featurelog_materializer_freshness_seconds_sum{view="driver_hourly_stats"} 12.5
featurelog_materializer_freshness_seconds_count{view="driver_hourly_stats"} 840
featurelog_materializer_lag_records{topic="drivers.features.driver_hourly_stats",partition="0"} 7
featurelog_materializer_newest_event_timestamp_seconds{view="driver_hourly_stats"} 1764638400.25
featurelog_projection_lag_records{projection="drivers.materializer",stream="s",topic="drivers.features.driver_hourly_stats",partition="0"} 7
featurelog_projection_lag_records{projection="drivers.compactor",stream="s",topic="drivers.features.driver_hourly_stats",partition="0"} 99
featurelog_materializer_lag_records{topic="drivers.features.other.v2",partition="1"} 2
featurelog_materializer_dead_letters_total{topic="drivers.features.driver_hourly_stats",code="SCHEMA_NOT_FOUND"} 1
process_cpu_seconds_total 1.5
`;

describe('the page’s reading of the materializer’s /metrics', () => {
  it('parses samples with labels, escapes and special values', () => {
    const samples = parsePrometheus('a{x="q\\"uote",y="b"} +Inf\nb 2\n# comment\nmalformed\n');
    assert.deepEqual(samples, [
      { name: 'a', labels: { x: 'q"uote', y: 'b' }, value: Infinity },
      { name: 'b', labels: {}, value: 2 },
    ]);
  });

  it('groups rows, the delay histogram, the newest event online, lag (each partition once, the materializer’s only) and dead letters by view', () => {
    const views = viewFreshness(parsePrometheus(METRICS), 'drivers');
    assert.deepEqual(views.get('driver_hourly_stats'), {
      view: 'driver_hourly_stats',
      delaySum: 12.5,
      delayCount: 840,
      rowsConsumed: 843,
      rowsWon: 840,
      lag: [{ topic: 'drivers.features.driver_hourly_stats', partition: '0', records: 7 }],
      deadLetters: 1,
      newestEventSeconds: 1764638400.25,
    });
    assert.equal(views.get('other')?.newestEventSeconds, undefined, 'no row of other written yet');
    assert.deepEqual(views.get('other')?.lag, [{ topic: 'drivers.features.other.v2', partition: '1', records: 2 }]);
  });
});

describe('the catalog search and the history diff', () => {
  const view: FeatureView = {
    name: 'driver_hourly_stats',
    version: 1,
    entities: ['driver'],
    features: [],
    ttlSeconds: 7200,
    online: true,
    offline: true,
    owner: 'ml-platform',
    tags: { team: 'driver-performance' },
  };
  const indexed = searchText(view);

  it('matches words anywhere, or in one field with owner:, tag:k=v, tag:k and name:', () => {
    for (const query of ['', 'driver', 'DRIVER hourly', 'owner:ml', 'tag:team=driver', 'tag:team', 'name:hourly']) {
      assert.ok(matches(view, indexed, query), query);
    }
    for (const query of ['owner:driver', 'tag:owner', 'tag:team=ml', 'name:platform', 'driver nothing']) {
      assert.ok(!matches(view, indexed, query), query);
    }
  });

  it('diffs two definitions line by line, keys sorted so a reordering is no change', () => {
    const lines = diffLines({ b: 1, a: [1, 2] }, { a: [1, 3], b: 1, c: true });
    assert.deepEqual(
      lines.filter((line) => line.op !== ' '),
      [
        { op: '-', line: '    2' },
        { op: '+', line: '    3' },
        { op: '-', line: '  "b": 1' },
        { op: '+', line: '  "b": 1,' },
        { op: '+', line: '  "c": true' },
      ],
    );
    assert.deepEqual(
      diffLines({ a: 1, b: 2 }, { b: 2, a: 1 }).filter((line) => line.op !== ' '),
      [],
    );
    assert.ok(diffLines(undefined, { a: 1 }).every((line) => line.op === '+'));
  });

  it('folds unchanged runs away from a change, keeping the lines around it', () => {
    const same = (n: number) => Array.from({ length: n }, (_, i) => ({ op: ' ' as const, line: `s${i}` }));
    const folded = foldUnchanged([...same(6), { op: '+', line: 'new' }, ...same(6)], 2);
    assert.deepEqual(folded, [
      { op: '…', skipped: 4 },
      { op: ' ', line: 's4' },
      { op: ' ', line: 's5' },
      { op: '+', line: 'new' },
      { op: ' ', line: 's0' },
      { op: ' ', line: 's1' },
      { op: '…', skipped: 4 },
    ]);
  });
});
