import { SOURCE_POSITION_PATTERN } from '@featurelog/domain';

/**
 * Debezium's `source` fields that say where a change sits in its database's log, by connector. Only
 * these are read; a connector not named here (MongoDB, Db2, …) gives no source position.
 */
export interface DebeziumSourceFields {
  /** `postgresql`, `mysql`, `sqlserver`, `oracle`; absent: guessed from the fields present. */
  connector?: unknown;
  /** PostgreSQL: the change's WAL position (int64, or the `X/Y` text form). */
  lsn?: unknown;
  /** MySQL: the binlog file (`mysql-bin.000003`), the event's position in it, and the row in the event. */
  file?: unknown;
  pos?: unknown;
  row?: unknown;
  /** SQL Server: `XXXXXXXX:XXXXXXXX:XXXX`, the commit's and the change's log sequence numbers (hex). */
  change_lsn?: unknown;
  commit_lsn?: unknown;
  /** Oracle: the change's system change number (decimal text). */
  scn?: unknown;
}

/** Digits each number of a position is padded to: enough for its whole range. */
const UINT64_DIGITS = 20; // 2^64 - 1 = 18446744073709551615
const UINT32_DIGITS = 10; // 2^32 - 1 = 4294967295
/** SQL Server LSN parts: 8 hex digits (a VLF sequence number), 8 (a log block offset), 4 (a slot). */
const SQLSERVER_LSN_PARTS = [8, 8, 4] as const;

/**
 * Where a Debezium change sits in its source database's log, as the digit string a RowVersion's
 * `sourcePosition` is (SOURCE_POSITION_PATTERN): each number of the position zero-padded to a width
 * fixed per connector, so that text order is the log's order. Undefined when the connector is not one
 * of these, or its position is missing or malformed (the row then ranks as having none: below any
 * that has one).
 *
 * - PostgreSQL: `lsn`, 20 digits. Within one row, a later transaction's change always has the greater
 *   LSN (it waits for the earlier one's row lock, so its WAL record comes after that commit).
 * - MySQL: the binlog file's numeric suffix (10 digits), `pos` (20) and `row` (10): 40 digits.
 * - SQL Server: `commit_lsn` then `change_lsn`, each hex part as a decimal of fixed width (10, 10 and
 *   5 digits): 50 digits; an absent one (a snapshot's `change_lsn`) is zeros, below any change.
 * - Oracle: `scn`, 20 digits.
 */
export function debeziumSourcePosition(source: DebeziumSourceFields): string | undefined {
  const kind = typeof source.connector === 'string' ? source.connector : guessConnector(source);
  let position: string | undefined;
  switch (kind) {
    case 'postgresql':
      position = postgresLsn(source.lsn);
      break;
    case 'mysql':
      position = mysqlBinlog(source.file, source.pos, source.row);
      break;
    case 'sqlserver':
      position = sqlServerLsns(source.commit_lsn, source.change_lsn);
      break;
    case 'oracle':
      position = padded(source.scn, UINT64_DIGITS);
      break;
  }
  return position !== undefined && SOURCE_POSITION_PATTERN.test(position) ? position : undefined;
}

/** The connector of a `source` block that does not say (ExtractNewRecordState's added fields), by its fields. */
function guessConnector(source: DebeziumSourceFields): string | undefined {
  if (source.lsn !== undefined && source.lsn !== null) return 'postgresql';
  if (source.file !== undefined && source.pos !== undefined) return 'mysql';
  if (isPresent(source.change_lsn) || isPresent(source.commit_lsn)) return 'sqlserver';
  if (isPresent(source.scn)) return 'oracle';
  return undefined;
}

const isPresent = (value: unknown): boolean => value !== undefined && value !== null;

/** A non-negative integer (number, bigint or decimal text) as exactly `width` digits; undefined if it is none or too wide. */
function padded(value: unknown, width: number): string | undefined {
  let digits: string;
  if (typeof value === 'bigint') digits = value.toString();
  else if (typeof value === 'number') {
    if (!Number.isInteger(value)) return undefined;
    digits = BigInt(value).toString();
  } else if (typeof value === 'string' && /^[0-9]+$/.test(value)) digits = value.replace(/^0+(?=.)/, '');
  else return undefined;
  if (digits.startsWith('-') || digits.length > width) return undefined;
  return digits.padStart(width, '0');
}

/** An LSN as Debezium writes it (int64), or in PostgreSQL's own `X/Y` text (two 32-bit hex halves). */
function postgresLsn(lsn: unknown): string | undefined {
  if (typeof lsn === 'string') {
    const halves = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn);
    if (halves !== null) return padded((BigInt(`0x${halves[1]}`) << 32n) | BigInt(`0x${halves[2]}`), UINT64_DIGITS);
  }
  return padded(lsn, UINT64_DIGITS);
}

function mysqlBinlog(file: unknown, pos: unknown, row: unknown): string | undefined {
  if (typeof file !== 'string') return undefined;
  const suffix = /\.([0-9]+)$/.exec(file);
  if (suffix === null) return undefined;
  const parts = [
    padded(suffix[1], UINT32_DIGITS),
    padded(pos, UINT64_DIGITS),
    padded(row === undefined || row === null ? 0 : row, UINT32_DIGITS),
  ];
  return parts.every((part) => part !== undefined) ? parts.join('') : undefined;
}

function sqlServerLsns(commit: unknown, change: unknown): string | undefined {
  if (!isPresent(commit) && !isPresent(change)) return undefined;
  const parts = [sqlServerLsn(commit), sqlServerLsn(change)];
  return parts.every((part) => part !== undefined) ? parts.join('') : undefined;
}

/** `XXXXXXXX:XXXXXXXX:XXXX` as 25 decimal digits (10, 10, 5); absent as 25 zeros. */
function sqlServerLsn(lsn: unknown): string | undefined {
  const width = (hexDigits: number) => (16n ** BigInt(hexDigits) - 1n).toString().length;
  if (!isPresent(lsn)) return SQLSERVER_LSN_PARTS.map((hex) => '0'.repeat(width(hex))).join('');
  if (typeof lsn !== 'string') return undefined;
  const parts = lsn.split(':');
  if (parts.length !== SQLSERVER_LSN_PARTS.length) return undefined;
  let out = '';
  for (const [i, part] of parts.entries()) {
    const hex = SQLSERVER_LSN_PARTS[i]!;
    if (!new RegExp(`^[0-9A-Fa-f]{1,${hex}}$`).test(part)) return undefined;
    out += BigInt(`0x${part}`).toString().padStart(width(hex), '0');
  }
  return out;
}
