/**
 * Whether Feast serves what featurelog serves: both /get-online-features answers parsed and compared
 * column by column, value by value. Both answer in Feast's shape (`metadata.feature_names`, then one
 * `results` entry per column with `values`, `statuses`, `event_timestamps`), so the columns are
 * matched by name.
 *
 * Where Feast holds less than featurelog, the comparison is at Feast's precision, and says so:
 * - a `timestamp` feature is a Feast UnixTimestamp, whole epoch seconds: featurelog's value (RFC 3339,
 *   microseconds) is compared floored to the second;
 * - event timestamps likewise to the second;
 * - float32: featurelog writes the shortest decimal of the float32 (4.9), Feast the double it widens
 *   to (4.900000095367432): compared as float32.
 */
import type { BenchFeatureType } from './feast-peer';

interface Answer {
  metadata: { feature_names: string[] };
  results: Array<{ values: unknown[]; statuses?: string[]; event_timestamps?: string[] }>;
}

export const FEAST_PRECISION_NOTE =
  'timestamps compared to the second (Feast UnixTimestamp holds whole seconds), float32 as float32';

function parse(which: string, body: unknown): Answer {
  const answer = body as Partial<Answer>;
  if (!Array.isArray(answer?.metadata?.feature_names) || !Array.isArray(answer.results)) {
    throw new Error(`${which} answered no feature_names/results: ${JSON.stringify(body).slice(0, 500)}`);
  }
  if (answer.results.length !== answer.metadata.feature_names.length) {
    throw new Error(
      `${which} answered ${answer.results.length} columns for ${answer.metadata.feature_names.length} names`,
    );
  }
  return answer as Answer;
}

/** Epoch seconds of an RFC 3339 timestamp, floored; undefined if it is not one. */
function epochSeconds(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : Math.floor(ms / 1_000);
}

function sameValue(type: BenchFeatureType | 'join key', featurelog: unknown, feast: unknown): boolean {
  if (featurelog === null || feast === null) return featurelog === feast;
  switch (type) {
    case 'timestamp':
      return typeof feast === 'number' && epochSeconds(featurelog) === feast;
    case 'float32':
      return (
        typeof featurelog === 'number' && typeof feast === 'number' && Math.fround(featurelog) === Math.fround(feast)
      );
    default:
      return featurelog === feast;
  }
}

/**
 * The differences between featurelog's and Feast's answers to the same request ([] when none):
 * the same column names, and per column the same values, statuses and event timestamps.
 * `typeOf` gives a feature column's type by its name as answered (`view__feature` with full names).
 */
export function compareAnswers(
  featurelogBody: unknown,
  feastBody: unknown,
  joinKeys: readonly string[],
  typeOf: (column: string) => BenchFeatureType | undefined,
): string[] {
  const featurelog = parse('featurelog', featurelogBody);
  const feast = parse('Feast', feastBody);
  const names = featurelog.metadata.feature_names;
  const feastIndex = new Map(feast.metadata.feature_names.map((name, i) => [name, i]));
  const differences: string[] = [];
  const missing = feast.metadata.feature_names.filter((name) => !names.includes(name));
  if (missing.length > 0) differences.push(`columns only Feast answered: ${missing.join(', ')}`);
  names.forEach((name, i) => {
    const j = feastIndex.get(name);
    if (j === undefined) {
      differences.push(`column ${name}: Feast did not answer it`);
      return;
    }
    const type = joinKeys.includes(name) ? 'join key' : typeOf(name);
    if (type === undefined) {
      differences.push(`column ${name}: no type known for it`);
      return;
    }
    const ours = featurelog.results[i]!;
    const theirs = feast.results[j]!;
    if (ours.values.length !== theirs.values.length) {
      differences.push(
        `column ${name}: ${ours.values.length} rows from featurelog, ${theirs.values.length} from Feast`,
      );
      return;
    }
    ours.values.forEach((value, row) => {
      if (!sameValue(type, value, theirs.values[row])) {
        differences.push(
          `column ${name} row ${row}: featurelog ${JSON.stringify(value)}, Feast ${JSON.stringify(theirs.values[row])}`,
        );
      }
      if (type === 'join key') return;
      const status = ours.statuses?.[row];
      if (status !== theirs.statuses?.[row]) {
        differences.push(
          `column ${name} row ${row}: status ${status} from featurelog, ${theirs.statuses?.[row]} from Feast`,
        );
      }
      const ourTime = epochSeconds(ours.event_timestamps?.[row]);
      const theirTime = epochSeconds(theirs.event_timestamps?.[row]);
      if (ourTime !== theirTime) {
        differences.push(
          `column ${name} row ${row}: event timestamp ${ours.event_timestamps?.[row]} from featurelog, ` +
            `${theirs.event_timestamps?.[row]} from Feast`,
        );
      }
    });
  });
  return differences;
}
