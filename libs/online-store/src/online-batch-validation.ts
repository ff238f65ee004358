import { FeaturelogError, SOURCE_POSITION_PATTERN, type RowVersion } from '@featurelog/domain';
import type { OnlineRow, OnlineWriteBatch } from './online-store.port';

/**
 * Refuses a batch before any of it is stored, so that no adapter ever applies half a batch because
 * row 300 was malformed. The rules are those the stored layouts rely on (see OnlineRow).
 */
export function validateWriteBatch(batch: OnlineWriteBatch): void {
  batch.rows.forEach(validateRow);
  if (batch.checkpoint === undefined) return;
  const { consumer, offsets } = batch.checkpoint;
  if (typeof consumer !== 'string' || consumer === '' || consumer.includes('\0')) {
    throw invalid(`checkpoint consumer must be a non-empty string without NUL, got ${JSON.stringify(consumer)}`);
  }
  for (const { topic, partition, nextOffset } of offsets) {
    if (typeof topic !== 'string' || topic === '' || topic.includes('\0')) {
      throw invalid(`checkpoint of ${consumer}: topic must be a non-empty string, got ${JSON.stringify(topic)}`);
    }
    if (!isNaturalNumber(partition) || !isNaturalNumber(nextOffset)) {
      throw invalid(`checkpoint of ${consumer} for ${topic}: partition and nextOffset must be integers >= 0`);
    }
  }
}

export function validateProjectName(project: string): void {
  if (typeof project !== 'string' || !/^[^:{}\0_][^:{}\0]*$/.test(project)) {
    throw invalid(
      `project must be non-empty, not start with _ and not contain : { } or NUL, got ${JSON.stringify(project)}`,
    );
  }
}

export function validateViewName(view: string): void {
  if (typeof view !== 'string' || !/^[^:\0]+$/.test(view)) {
    throw invalid(`view must be non-empty and not contain : or NUL, got ${JSON.stringify(view)}`);
  }
}

/** A read's views, and its feature lists when given: one list per view, names as a row may carry them. */
export function validateReadSelection(
  views: readonly string[],
  features: ReadonlyArray<readonly string[]> | undefined,
): void {
  views.forEach(validateViewName);
  if (features === undefined) return;
  if (!Array.isArray(features) || features.length !== views.length) {
    throw invalid(`a read names ${views.length} views but features for ${features.length}: give one list per view`);
  }
  features.forEach((names, j) => {
    for (const name of names) {
      if (typeof name !== 'string' || name === '' || name === '__v' || /[,|\0]/.test(name)) {
        throw invalid(
          `features of view ${views[j]}: ${JSON.stringify(name)} is empty, reserved or contains , | or NUL`,
        );
      }
    }
  });
}

/** The project and view names of the previous row: every row of a batch usually repeats them. */
let lastValidProject: string | undefined;
let lastValidView: string | undefined;

function validateRow(row: OnlineRow, index: number): void {
  if (typeof row.project !== 'string' || row.project !== lastValidProject) {
    validateProjectName(row.project);
    lastValidProject = row.project;
  }
  if (typeof row.view !== 'string' || row.view !== lastValidView) {
    validateViewName(row.view);
    lastValidView = row.view;
  }
  if (typeof row.entityKey !== 'string') throw invalid(`${rowWhere(row, index)}: entityKey must be a string`);
  validateVersion(row, index);
  if (row.ttlSeconds !== undefined && !isNaturalNumber(row.ttlSeconds)) {
    throw invalid(`${rowWhere(row, index)}: ttlSeconds must be an integer >= 0, got ${row.ttlSeconds}`);
  }
  if (typeof row.features !== 'object' || row.features === null)
    throw invalid(`${rowWhere(row, index)}: features must be an object`);
  if (row.deleted === true && Object.keys(row.features).length > 0) {
    throw invalid(`${rowWhere(row, index)}: a deleted row carries no features`);
  }
  for (const name of Object.keys(row.features)) {
    if (validNames.has(name)) continue;
    if (name === '' || name === '__v' || name === '__proto__' || /[,|\0]/.test(name)) {
      throw invalid(
        `${rowWhere(row, index)}: feature name ${JSON.stringify(name)} is empty, reserved or contains , | or NUL`,
      );
    }
    if (validNames.size >= 100_000) validNames.clear();
    validNames.add(name);
  }
}

/** Feature names already found valid: a batch repeats the same few names on every row. */
const validNames = new Set<string>();

function validateVersion(row: OnlineRow, index: number): void {
  const { eventTimestamp, createdTimestamp, sourcePosition, position } = row.version ?? ({} as Partial<RowVersion>);
  if (!Number.isSafeInteger(eventTimestamp))
    throw invalid(`${rowWhere(row, index)}: eventTimestamp must be integer microseconds`);
  if (createdTimestamp !== null && !Number.isSafeInteger(createdTimestamp)) {
    throw invalid(`${rowWhere(row, index)}: createdTimestamp must be integer microseconds or null`);
  }
  if (
    sourcePosition !== undefined &&
    (typeof sourcePosition !== 'string' || !SOURCE_POSITION_PATTERN.test(sourcePosition))
  ) {
    throw invalid(
      `${rowWhere(row, index)}: sourcePosition must be 1 to 60 digits, got ${JSON.stringify(sourcePosition)}`,
    );
  }
  if (!isNaturalNumber(position?.partition) || !isNaturalNumber(position?.offset)) {
    throw invalid(`${rowWhere(row, index)}: position.partition and position.offset must be integers >= 0`);
  }
}

/** Which row a refusal is about (built only for a refusal: every row of every batch is checked). */
function rowWhere(row: OnlineRow, index: number): string {
  return `row ${index} (${row.project}/${row.view}/${row.entityKey})`;
}

function isNaturalNumber(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function invalid(message: string): FeaturelogError {
  return new FeaturelogError('INVALID_ONLINE_ROW', message);
}
