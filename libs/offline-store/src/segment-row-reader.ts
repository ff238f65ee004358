import { FeaturelogError, pushDestinationOf, PUSH_TO_HEADER } from '@featurelog/domain';
import type { RowDecoder, SchemaRegistryPort } from '@featurelog/avro';
import type { LogRecord } from '@featurelog/log';
import { unreadableRecord, ViewRowDecoder, type UnreadableRecord, type ViewRow } from '@featurelog/view-rows';
import type { OfflineView } from './offline-view';
import { segmentSchemaFor, type SegmentRow, type SegmentSchema } from './segment-schema';

/**
 * Turns feature-topic records into segment rows, decoded by the one decoder every reader of the log
 * shares (ViewRowDecoder), so a row reads the same in the online store, in a segment and in an export's
 * log tail, and the same records are refused for the same reasons.
 */
export class SegmentRowReader {
  /** The decoder for the RowDecoder of the last `read` (its writer schemas are loaded into that one). */
  private rows: ViewRowDecoder | undefined;

  private constructor(
    readonly view: OfflineView,
    readonly schema: SegmentSchema,
    private readonly schemas: SchemaRegistryPort,
    private readonly project: string,
    private readonly skipPushedFor: 'online' | 'offline',
  ) {}

  /**
   * `forStore`: the store the rows are for. Segments (and exports, which read segments plus the log tail)
   * are for the offline store, so rows pushed for the online store only are left out; a backfill from the
   * log is for the online store and leaves out rows pushed for the offline store only.
   */
  static open(
    view: OfflineView,
    schemas: SchemaRegistryPort,
    project: string,
    { forStore = 'offline' }: { forStore?: 'offline' | 'online' } = {},
  ): SegmentRowReader {
    const schema = { ...segmentSchemaFor(view.definition, view.entities), view: view.key };
    return new SegmentRowReader(view, schema, schemas, project, forStore === 'offline' ? 'online' : 'offline');
  }

  /**
   * The rows of `records`, in order — a delete (change data capture) as a row without values marked
   * `deleted`, with the change's source position when its format knows it; null for a tombstone (the
   * history has no use for it, unlike the online store's consumer, which dead-letters it), a row pushed
   * for the other store only (see `open`), or an unreadable record (then listed in `unreadable`). Loads
   * the writer schemas first, so a registry outage fails the whole batch (retriable).
   */
  async read(
    decoder: RowDecoder,
    records: readonly LogRecord[],
    unreadable: UnreadableRecord[],
  ): Promise<(SegmentRow | null)[]> {
    if (this.rows?.decoder !== decoder) {
      this.rows = new ViewRowDecoder(this.view, this.project, decoder, this.schemas);
    }
    const rows = this.rows;
    await rows.prepare(records);
    return records.map((record) => {
      // Pushed with `to: online` (for segments): in the log for the online store only; the offset still counts as covered.
      if (record.value === null || pushDestinationOf(record.headers[PUSH_TO_HEADER]) === this.skipPushedFor) {
        return null;
      }
      try {
        const change = rows.decodeChange(record.value);
        if (change.op === 'tombstone') return null;
        // A delete is a row of the history with no values (ARCHITECTURE.md, Deletes): the winner at t is
        // then read with null features, as if the entity had no row; a backfill writes it as a delete.
        const row = this.toSegmentRow(change.row, record);
        if (change.sourcePosition !== undefined) row.sourcePosition = change.sourcePosition;
        if (change.op === 'delete') row.deleted = true;
        return row;
      } catch (error) {
        if (error instanceof FeaturelogError && error.retriable) throw error;
        unreadable.push(unreadableRecord(record, error));
        return null;
      }
    });
  }

  private toSegmentRow(row: ViewRow, record: Pick<LogRecord, 'partition' | 'offset' | 'timestamp'>): SegmentRow {
    return {
      joinKeys: row.joinKeys,
      eventTimestamp: row.eventTimestamp,
      createdTimestamp: row.createdTimestamp,
      partition: record.partition,
      offset: record.offset,
      appendTime: record.timestamp * 1000,
      features: row.features,
    };
  }
}
