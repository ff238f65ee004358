import { readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_DATA_DIR } from '@featurelog/config';

/**
 * What a running `featurelog dev` tells the other processes of its repo, in
 * `<repo>/.featurelog/dev.json`: who it is, which embedded stores it holds (single-process stores,
 * so nobody else may open them while it runs) and where its HTTP APIs listen.
 */
export interface DevServerRecord {
  pid: number;
  project: string;
  /** ISO-8601. */
  startedAt: string;
  /** Absolute paths of the embedded stores this process holds; absent when the store is a service. */
  holds: { log?: string; onlineStore?: string };
  urls: DevServerUrls;
}

export interface DevServerUrls {
  /** The dev server's own API: aggregated /health and the log bridge other processes use. */
  dev: string;
  registry: string;
  materializer: string;
  serving: string;
  compactor?: string;
  jobs?: string;
  /** The web UI (apps/ui): the page a browser opens. */
  ui?: string;
}

export const DEV_RECORD_FILE = 'dev.json';

export function devRecordPath(repoDir: string): string {
  return join(repoDir, DEFAULT_DATA_DIR, DEV_RECORD_FILE);
}

/** Written atomically (temp + rename), so a reader never sees half a record. */
export async function writeDevServerRecord(repoDir: string, record: DevServerRecord): Promise<void> {
  const path = devRecordPath(repoDir);
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(record, null, 2)}\n`);
  await rename(temporary, path);
}

/** Removes the record if it is this process's (a newer dev server's record is left alone). */
export async function removeDevServerRecord(repoDir: string, pid = process.pid): Promise<void> {
  const record = await readDevServerRecord(repoDir);
  if (record?.pid === pid) await unlink(devRecordPath(repoDir)).catch(() => undefined);
}

export async function readDevServerRecord(repoDir: string): Promise<DevServerRecord | undefined> {
  try {
    return JSON.parse(await readFile(devRecordPath(repoDir), 'utf8')) as DevServerRecord;
  } catch {
    return undefined;
  }
}

/**
 * The dev server running on this repo in another process, if any. A record left by a killed dev
 * server is ignored: its pid must be alive and, when it holds the embedded log, still be the pid in
 * the log's LOCK file (so a recycled pid does not pass for it).
 */
export async function liveDevServer(repoDir: string): Promise<DevServerRecord | undefined> {
  const record = await readDevServerRecord(repoDir);
  if (record === undefined || record.pid === process.pid || !isProcessAlive(record.pid)) return undefined;
  if (record.holds.log !== undefined && (await lockHolder(record.holds.log)) !== record.pid) return undefined;
  return record;
}

/** The pid in an embedded log directory's LOCK file (see the file log's DirectoryLock). */
export async function lockHolder(logDirectory: string): Promise<number | undefined> {
  const pid = Number.parseInt(await readFile(join(logDirectory, 'LOCK'), 'utf8').catch(() => ''), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** How to tell a user that a running dev server holds what they asked for, and what to do instead. */
export function devServerHoldsMessage(record: DevServerRecord, what: string, useInstead: string): string {
  return (
    `featurelog dev (pid ${record.pid}) is running on this repo and holds ${what}; ` +
    `${useInstead}, or stop it (Ctrl-C in its terminal, or kill ${record.pid})`
  );
}
