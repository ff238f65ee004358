import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { topicNames, type TaggedDefinition } from '@featurelog/domain';
import { LocalSchemaRegistry, RowDecoder } from '@featurelog/avro';
import { FileEventLog, type LogRecord } from '@featurelog/log';
import {
  buildOfflineView,
  HyparquetSegmentCodec,
  SegmentEventSerde,
  SegmentRowReader,
  writeSegment,
  type SegmentRow,
} from '@featurelog/offline-store';
import type { HistorySources } from '@featurelog/jobs';
import type { UnreadableRecord } from '@featurelog/view-rows';
import { customer, customersSource, customerView, CUSTOMERS_TOPIC } from '@featurelog/view-rows/testing';

/**
 * Test fixtures shared by the CDC specs: the customers table's Debezium topic on an embedded log, and
 * a prefix of a partition compacted into a segment as the compactor writes it, so that a job reads
 * part of the history from segments and the rest from the log tail.
 */

export const PROJECT = 'shop';

/** The customer entity, the Debezium source of the customers table and the view over it. */
export const DEFINITIONS: TaggedDefinition[] = [
  { kind: 'entity', definition: customer },
  { kind: 'data_source', definition: customersSource('debezium') },
  { kind: 'feature_view', definition: customerView },
];

export interface CdcHistory {
  /** A fresh temp folder, removed by close(). */
  dir: string;
  log: FileEventLog;
  schemas: LocalSchemaRegistry;
  /** What the jobs read: the log, the schemas and the segments under `<dir>/offline`. */
  sources: HistorySources;
  close(): Promise<void>;
}

/** An embedded log with CUSTOMERS_TOPIC (`partitions` partitions) and the project's segments topic. */
export async function openCdcHistory(name: string, partitions: number): Promise<CdcHistory> {
  const dir = mkdtempSync(join(tmpdir(), `featurelog-${name}-`));
  const log = await FileEventLog.open({ directory: join(dir, 'log'), fsync: 'never' });
  const schemas = await LocalSchemaRegistry.open({ directory: join(dir, 'schemas') });
  const sources = {
    log,
    schemas,
    codec: new HyparquetSegmentCodec(),
    offlineRoot: join(dir, 'offline'),
    project: PROJECT,
  };
  await log.ensureTopic({ name: CUSTOMERS_TOPIC, partitions, config: {} });
  await log.ensureTopic({ name: topicNames.segments(PROJECT), partitions: 1, config: {} });
  return {
    dir,
    log,
    schemas,
    sources,
    close: async () => {
      await log.close();
      await schemas.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Compacts offsets [0, untilOffset) of one partition of CUSTOMERS_TOPIC into a segment of `date`, as the
 * compactor decodes and writes them (every record must decode), and announces it on the segments topic.
 */
export async function compactIntoSegment(
  { log, schemas, sources }: CdcHistory,
  partition: number,
  untilOffset: number,
  date: string,
): Promise<void> {
  const view = buildOfflineView(PROJECT, customerView, [customer], customersSource('debezium'));
  const reader = SegmentRowReader.open(view, schemas, PROJECT);
  const records: LogRecord[] = [];
  for await (const batch of log.read(CUSTOMERS_TOPIC, partition, 0, { untilOffset })) records.push(...batch);
  const unreadable: UnreadableRecord[] = [];
  const rows = (await reader.read(new RowDecoder(schemas), records, unreadable)).filter(
    (row): row is SegmentRow => row !== null,
  );
  assert.deepEqual(unreadable, []);
  const event = await writeSegment(sources.codec, {
    root: sources.offlineRoot,
    project: PROJECT,
    schema: reader.schema,
    date,
    ranges: [{ partition, fromOffset: 0, untilOffset }],
    rows: [rows.sort((a, b) => (a.joinKeys.customer_id as number) - (b.joinKeys.customer_id as number))],
  });
  await log.append(topicNames.segments(PROJECT), [
    { key: Buffer.from(view.key), value: await new SegmentEventSerde(schemas, PROJECT).encode(event) },
  ]);
}
