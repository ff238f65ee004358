import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { HyparquetSegmentCodec, sortSegmentRows, writeSegment, type SegmentWritten } from '@featurelog/offline-store';
import { EVERY_TYPE_SCHEMA, everyTypeRows } from '@featurelog/offline-store/testing';

/** FEATURELOG_PYTHON, then the project venv, then python3: the first that can import pyarrow. */
function pythonWithPyarrow(): { python?: string; reason: string } {
  const candidates = [process.env.FEATURELOG_PYTHON, resolve(__dirname, '../../../.venv/bin/python'), 'python3'];
  const tried: string[] = [];
  for (const python of candidates) {
    if (!python || (python.includes('/') && !existsSync(python))) continue;
    if (spawnSync(python, ['-c', 'import pyarrow'], { stdio: 'ignore' }).status === 0) return { python, reason: '' };
    tried.push(python);
  }
  return {
    reason: `no python with pyarrow (tried ${tried.join(', ') || 'none'}; set FEATURELOG_PYTHON or create .venv)`,
  };
}

const TIMESTAMP_COLUMNS = ['event_timestamp', 'created_timestamp', '__append_time', 'f_timestamp'];

describe('segments are read by other engines with real timestamp columns', () => {
  let root: string;
  let segment: SegmentWritten;
  let file: string;
  // With the change-data-capture columns: a source position on every other row, a few deletes.
  const schema = { ...EVERY_TYPE_SCHEMA, changes: true };
  const rows = sortSegmentRows(
    schema,
    everyTypeRows(50).map((row, i) => ({
      ...row,
      ...(i % 2 === 0 ? { sourcePosition: String(1000 + i).padStart(20, '0') } : {}),
      ...(i % 7 === 3 ? { deleted: true } : {}),
    })),
  );

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'featurelog-interop-'));
    segment = await writeSegment(new HyparquetSegmentCodec(), {
      root,
      project: 'demo',
      schema,
      date: '2025-01-01',
      ranges: [0, 1, 2].map((partition) => ({ partition, fromOffset: 2 ** 40, untilOffset: 2 ** 40 + 50 })),
      rows: [rows],
      rowGroupSize: 16,
    });
    file = join(root, segment.path);
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  const { python, reason } = pythonWithPyarrow();
  it('pyarrow sees timestamp[us, tz=UTC], lists and exact values', { skip: python ? false : reason }, () => {
    const script = `
import json, sys, pyarrow.parquet as pq
t = pq.read_table(sys.argv[1])
print(json.dumps({
  "types": {f.name: str(f.type) for f in t.schema},
  "rows": t.num_rows,
  "event_us": t["event_timestamp"].cast("int64").to_pylist(),
  "fare": t["f_float64"].to_pylist(),
  "source_position": t["__source_position"].to_pylist(),
  "deleted": t["__deleted"].to_pylist(),
}))`;
    const out = JSON.parse(execFileSync(python!, ['-c', script, file], { encoding: 'utf8' })) as {
      types: Record<string, string>;
      rows: number;
      event_us: number[];
      fare: (number | null)[];
      source_position: (string | null)[];
      deleted: boolean[];
    };
    for (const column of TIMESTAMP_COLUMNS) assert.equal(out.types[column], 'timestamp[us, tz=UTC]', column);
    assert.equal(out.types.driver_id, 'int64');
    assert.equal(out.types.region, 'string');
    assert.equal(out.types.__partition, 'int32');
    assert.equal(out.types.f_list_float64, 'list<element: double>');
    assert.equal(out.types.f_bytes, 'binary');
    assert.equal(out.rows, rows.length);
    assert.deepEqual(
      out.event_us,
      rows.map((r) => r.eventTimestamp),
    );
    assert.deepEqual(
      out.fare,
      rows.map((r) => r.features.f_float64),
    );
    assert.equal(out.types.__source_position, 'string');
    assert.equal(out.types.__deleted, 'bool');
    assert.deepEqual(
      out.source_position,
      rows.map((r) => r.sourcePosition ?? null),
    );
    assert.deepEqual(
      out.deleted,
      rows.map((r) => r.deleted === true),
    );
  });

  it('DuckDB sees TIMESTAMP WITH TIME ZONE and exact microseconds', async () => {
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    try {
      const described = (
        await connection.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${file}')`)
      ).getRowObjects();
      const typeOf = (name: string) => described.find((row) => row.column_name === name)?.column_type;
      for (const column of TIMESTAMP_COLUMNS) assert.equal(typeOf(column), 'TIMESTAMP WITH TIME ZONE', column);
      assert.equal(typeOf('f_list_int64'), 'BIGINT[]');
      const micros = (
        await connection.runAndReadAll(`SELECT epoch_us(event_timestamp)::BIGINT AS us FROM read_parquet('${file}')`)
      ).getRowObjects();
      assert.deepEqual(
        micros.map((row) => Number(row.us)),
        rows.map((r) => r.eventTimestamp),
      );
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  });
});
