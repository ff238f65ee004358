import { randomUUID } from 'node:crypto';
import { FeaturelogError, topicNames, type RegistryState } from '@featurelog/domain';
import type { SchemaRegistryPort } from '@featurelog/avro';
import { DLQ_HEADERS, type EventLog, type LogRecord } from '@featurelog/log';
import {
  consumerRefusal,
  decodeBody,
  firstClaims,
  foldDeadLetters,
  matchesDeadLetterFilter,
  positionText,
  readDeadLetterLog,
  REDRIVE_HEADERS,
  REDRIVE_MARKER_HEADER,
  topicReaders,
  type DeadLetter,
  type DeadLetterDetail,
  type DeadLetterFilter,
  type Position,
  type RedriveMarker,
} from './dead-letters';

export interface DeadLetterQueueOptions {
  log: EventLog;
  project: string;
  schemas: SchemaRegistryPort;
  /** The registry as of now (which view reads which topic, with which definition). */
  registry: () => Promise<RegistryState>;
}

export interface DeadLetterPage {
  total: number;
  skip: number;
  limit: number;
  items: DeadLetter[];
  /** `skip` of the next page, when there is one. */
  next?: number;
}

export interface RedriveRequest {
  /** DLQ entries (`<dlq topic>/<p>/<o>`) or source records (`<source topic>/<p>/<o>`: every entry of it). */
  positions?: Position[];
  /** Every entry matching this; `{}` with `all` for every entry. */
  filter?: DeadLetterFilter;
  all?: boolean;
  /** Say what would happen, change nothing. */
  dryRun?: boolean;
  /** Redrive entries already claimed by an earlier redrive too (one that crashed before completing). */
  force?: boolean;
  /** Recorded in the claim marker. */
  by?: string;
}

export type RedriveEntryOutcome = 'reappended' | 'would-reappend' | 'fails-again' | 'already-redriven';

export interface RedriveResult {
  dryRun: boolean;
  /** Names this redrive in the DLQ's markers and in the re-appended records' headers. */
  redriveId?: string;
  matched: number;
  /** Entries whose record was re-appended (would be, in a dry run). */
  reappended: number;
  /** Entries the consumers would still refuse: left in the DLQ, to redrive once the cause is fixed. */
  failsAgain: number;
  /** Entries an earlier (or concurrent) redrive claimed: not re-appended again. */
  alreadyRedriven: number;
  entries: Array<{
    id: string;
    source: Position;
    outcome: RedriveEntryOutcome;
    to?: Position;
    error?: { code: string; message: string };
  }>;
}

const MAX_PAGE = 1_000;

/**
 * The operations on `<project>.dlq`: list (filtered by view, error, time, status; paged), show one
 * entry with its body and whether a redrive would take it, and redrive.
 *
 * A redrive re-appends each selected record — original key, bytes and headers, plus REDRIVE_HEADERS —
 * to its source topic and partition, where every consumer reads it again. A record the consumers would
 * still refuse (the materializer's own decode step says so, e.g. its schema id is still unknown) is
 * not re-appended: it "fails again" and stays, to redrive once the cause is fixed.
 *
 * Each entry is re-appended at most once: a redrive first appends a claim of the entries it will
 * re-append to DLQ partition 0, then reads the claims back up to its own; an entry an earlier claim
 * holds is left to that redrive (the log's order decides between two concurrent redrives, as it
 * does between two applies). After re-appending, a completion marker records where each went.
 * Entries of one source record (dead-lettered twice) are re-appended once.
 */
export class DeadLetterQueue {
  readonly topic: string;

  constructor(private readonly options: DeadLetterQueueOptions) {
    this.topic = topicNames.dlq(options.project);
  }

  async list(filter: DeadLetterFilter = {}, { skip = 0, limit = 100 }: { skip?: number; limit?: number } = {}) {
    if (!Number.isInteger(skip) || skip < 0) {
      throw new FeaturelogError('DLQ_PAGE_INVALID', `skip must be a whole number >= 0, got ${skip}`);
    }
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
      throw new FeaturelogError('DLQ_PAGE_INVALID', `limit must be a whole number from 1 to ${MAX_PAGE}, got ${limit}`);
    }
    const all = (await this.entries()).filter((entry) => matchesDeadLetterFilter(entry, filter));
    const page: DeadLetterPage = { total: all.length, skip, limit, items: all.slice(skip, skip + limit) };
    if (skip + limit < all.length) page.next = skip + limit;
    return page;
  }

  /** One entry by its DLQ position, or the newest entry of a source record. Throws DLQ_ENTRY_NOT_FOUND. */
  async show(position: Position): Promise<DeadLetterDetail> {
    const { log: _log, project, schemas } = this.options;
    const state = await this.options.registry();
    const readers = topicReaders(state, project);
    const raw = await readDeadLetterLog(this.options.log, project);
    const entries = foldDeadLetters(raw, readers);
    const entry = this.select(entries, position).at(-1)!;
    const record = raw.entries.find(
      (candidate) => candidate.offset === entry.position.offset && candidate.partition === entry.position.partition,
    )!;
    const refusal = await consumerRefusal(asSource(record, entry), readers.get(entry.source.topic), project, schemas);
    return {
      ...entry,
      body: await decodeBody(record.value, schemas),
      redriveCheck: refusal === undefined ? { ok: true } : { ok: false, code: refusal.code, message: refusal.message },
    };
  }

  async redrive(request: RedriveRequest): Promise<RedriveResult> {
    const { log, project, schemas } = this.options;
    const state = await this.options.registry();
    const readers = topicReaders(state, project);
    const raw = await readDeadLetterLog(log, project);
    const entries = foldDeadLetters(raw, readers);
    const selected = withSiblings(this.selectForRedrive(entries, request), entries);
    const dryRun = request.dryRun ?? false;
    const result: RedriveResult = {
      dryRun,
      matched: selected.length,
      reappended: 0,
      failsAgain: 0,
      alreadyRedriven: 0,
      entries: [],
    };
    const recordOf = new Map(raw.entries.map((record) => [positionText(record), record]));
    /** Source record → the verdict of the consumers' check, shared by its entries. */
    const verdicts = new Map<string, FeaturelogError | undefined>();
    const candidates: DeadLetter[] = [];
    for (const entry of selected) {
      if (entry.status !== 'dead' && !request.force) {
        result.entries.push({ id: entry.id, source: entry.source, outcome: 'already-redriven' });
        continue;
      }
      const sourceId = positionText(entry.source);
      if (!verdicts.has(sourceId)) {
        const record = asSource(recordOf.get(entry.id)!, entry);
        verdicts.set(sourceId, await consumerRefusal(record, readers.get(entry.source.topic), project, schemas));
      }
      const refusal = verdicts.get(sourceId);
      if (refusal !== undefined) {
        result.entries.push({
          id: entry.id,
          source: entry.source,
          outcome: 'fails-again',
          error: { code: refusal.code, message: refusal.message },
        });
        continue;
      }
      candidates.push(entry);
    }
    if (dryRun || candidates.length === 0) {
      for (const entry of candidates)
        result.entries.push({ id: entry.id, source: entry.source, outcome: 'would-reappend' });
      return tally(result);
    }

    const redriveId = randomUUID();
    result.redriveId = redriveId;
    const claim: RedriveMarker = {
      type: 'RedriveClaimed',
      redriveId,
      at: Date.now() * 1000,
      ...(request.by === undefined ? {} : { by: request.by }),
      entries: candidates.map((entry) => entry.position),
    };
    const claimOffset = await this.appendMarker(claim);
    const markers = (await readDeadLetterLog(log, project, { until: new Map([[0, claimOffset + 1]]) })).markers;
    const claims = firstClaims(markers);
    const mine: DeadLetter[] = [];
    for (const entry of candidates) {
      const first = claims.get(entry.id);
      // With force, an earlier claim is overridden on purpose (it never completed, or the operator knows better).
      if (first?.redriveId === redriveId || (request.force && first !== undefined)) mine.push(entry);
      else result.entries.push({ id: entry.id, source: entry.source, outcome: 'already-redriven' });
    }

    const appendedTo = new Map<string, Position>();
    const completed: Array<{ entry: Position; to: Position }> = [];
    for (const entry of mine) {
      const sourceId = positionText(entry.source);
      let to = appendedTo.get(sourceId);
      if (to === undefined) {
        to = await this.reappend(recordOf.get(entry.id)!, entry, redriveId);
        appendedTo.set(sourceId, to);
      }
      completed.push({ entry: entry.position, to });
      result.entries.push({ id: entry.id, source: entry.source, outcome: 'reappended', to });
    }
    await this.appendMarker({ type: 'RedriveCompleted', redriveId, at: Date.now() * 1000, entries: completed });
    return tally(result);
  }

  private async entries(): Promise<DeadLetter[]> {
    const readers = topicReaders(await this.options.registry(), this.options.project);
    return foldDeadLetters(await readDeadLetterLog(this.options.log, this.options.project), readers);
  }

  /** The entries at a DLQ position, or of a source record (oldest first). */
  private select(entries: DeadLetter[], position: Position): DeadLetter[] {
    const id = positionText(position);
    const found =
      position.topic === this.topic
        ? entries.filter((entry) => entry.id === id)
        : entries.filter((entry) => positionText(entry.source) === id);
    if (found.length === 0) {
      throw new FeaturelogError(
        'DLQ_ENTRY_NOT_FOUND',
        position.topic === this.topic
          ? `${this.topic} holds no dead letter at ${id}`
          : `${this.topic} holds no dead letter of the record ${id}`,
      );
    }
    return found;
  }

  private selectForRedrive(entries: DeadLetter[], request: RedriveRequest): DeadLetter[] {
    const filter = request.filter ?? {};
    const filtered = Object.values(filter).some((value) => value !== undefined);
    if (request.positions !== undefined && request.positions.length > 0) {
      const chosen = new Map<string, DeadLetter>();
      for (const position of request.positions) {
        for (const entry of this.select(entries, position)) chosen.set(entry.id, entry);
      }
      return [...chosen.values()].filter((entry) => matchesDeadLetterFilter(entry, filter));
    }
    if (!filtered && !request.all) {
      throw new FeaturelogError(
        'DLQ_REDRIVE_UNSCOPED',
        'say what to redrive: positions, a filter (view, reason, since, until), or all',
      );
    }
    return entries.filter((entry) => matchesDeadLetterFilter(entry, filter));
  }

  private async appendMarker(marker: RedriveMarker): Promise<number> {
    const [position] = await this.options.log.append(this.topic, [
      {
        key: Buffer.from(`redrive/${marker.redriveId}`),
        value: Buffer.from(JSON.stringify(marker)),
        headers: { [REDRIVE_MARKER_HEADER]: marker.type },
        partition: 0,
      },
    ]);
    return position!.offset;
  }

  /** The original key, bytes and headers (without the DLQ's), to the source topic and partition. */
  private async reappend(record: LogRecord, entry: DeadLetter, redriveId: string): Promise<Position> {
    const dlqHeaders = new Set<string>(Object.values(DLQ_HEADERS));
    const headers: Record<string, Buffer | string> = {};
    for (const [name, value] of Object.entries(record.headers)) if (!dlqHeaders.has(name)) headers[name] = value;
    headers[REDRIVE_HEADERS.from] = entry.id;
    headers[REDRIVE_HEADERS.at] = new Date().toISOString();
    headers[REDRIVE_HEADERS.count] = String(entry.redrivenBefore + 1);
    headers[REDRIVE_HEADERS.redriveId] = redriveId;
    const partitions = await this.options.log.partitionCount(entry.source.topic);
    const [position] = await this.options.log.append(entry.source.topic, [
      {
        key: record.key,
        value: record.value,
        headers,
        ...(entry.source.partition >= 0 && entry.source.partition < partitions
          ? { partition: entry.source.partition }
          : {}),
      },
    ]);
    return { topic: entry.source.topic, partition: position!.partition, offset: position!.offset };
  }
}

/** The DLQ record as it stood in its source topic: what the consumers' check must see. */
function asSource(record: LogRecord, entry: DeadLetter): LogRecord {
  return { ...record, topic: entry.source.topic, partition: entry.source.partition, offset: entry.source.offset };
}

function tally(result: RedriveResult): RedriveResult {
  const count = (outcome: RedriveEntryOutcome) => result.entries.filter((entry) => entry.outcome === outcome).length;
  result.reappended = count(result.dryRun ? 'would-reappend' : 'reappended');
  result.failsAgain = count('fails-again');
  result.alreadyRedriven = count('already-redriven');
  return result;
}

/**
 * The selection with every other entry of the same source records: each consumer that refused a
 * record dead-lettered it once (the materializer and the compactor both read a view's topic), and a
 * redrive re-appends the record once, so all its entries are claimed and completed together. A later
 * redrive of any of them is then already done, never a second copy of the record.
 */
function withSiblings(selected: DeadLetter[], entries: DeadLetter[]): DeadLetter[] {
  const ids = new Set(selected.map((entry) => entry.id));
  const sources = new Set(selected.map((entry) => positionText(entry.source)));
  return entries.filter((entry) => ids.has(entry.id) || sources.has(positionText(entry.source)));
}
