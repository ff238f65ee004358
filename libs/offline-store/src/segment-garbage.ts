import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { SegmentCatalog } from './segment-catalog';

export interface SweepInput {
  root: string;
  project: string;
  view: string;
  /**
   * May be a SegmentLog's catalog, which moves on while the sweep awaits the file system: a segment
   * announced meanwhile may then count as live, which only keeps a file longer.
   */
  catalog: SegmentCatalog;
  extension: string;
  /** When the merge that replaced a segment was written (epoch µs); undefined if it was never replaced. */
  replacedAt: (segmentId: string) => number | undefined;
  /** Replaced files stay this long after their merge, for exports that began before it. */
  replacedGraceMs: number;
  /**
   * Files no announcement names (a crash between writing and announcing) are left this long, in case
   * another compactor is between those two steps right now.
   */
  orphanGraceMs: number;
  now?: number;
}

export interface SweepResult {
  deletedReplaced: string[];
  deletedOrphans: string[];
}

/**
 * Deletes the files of a view's directory that no reader will ever be sent to: segments replaced by a
 * durable merge, files whose announcement never happened (or was refused), and temporary files of writes
 * that died. A live segment's file is never touched. Paths returned are relative to the root.
 */
export async function sweepSegmentFiles(input: SweepInput): Promise<SweepResult> {
  const { root, project, view, catalog, extension, now = Date.now() } = input;
  const live = catalog.live.get(view) ?? new Map();
  const result: SweepResult = { deletedReplaced: [], deletedOrphans: [] };
  const viewDir = join(root, project, view);
  for (const dateDir of await listOrEmpty(viewDir)) {
    if (!dateDir.startsWith('date=')) continue;
    for (const name of await listOrEmpty(join(viewDir, dateDir))) {
      const relative = `${project}/${view}/${dateDir}/${name}`;
      const path = join(viewDir, dateDir, name);
      const temporary = name.startsWith('.') && name.endsWith('.tmp');
      if (!temporary && !name.endsWith(extension)) continue;
      const id = temporary ? undefined : name.slice(0, -extension.length);
      if (id !== undefined && live.has(id)) continue;
      const replacedAt = id === undefined ? undefined : input.replacedAt(id);
      if (replacedAt !== undefined) {
        if (now - replacedAt / 1000 < input.replacedGraceMs) continue;
        await rm(path, { force: true });
        result.deletedReplaced.push(relative);
        continue;
      }
      const modified = await stat(path).then(
        (s) => s.mtimeMs,
        () => undefined,
      );
      if (modified === undefined || now - modified < input.orphanGraceMs) continue;
      await rm(path, { force: true });
      result.deletedOrphans.push(relative);
    }
  }
  return result;
}

async function listOrEmpty(directory: string): Promise<string[]> {
  try {
    return (await readdir(directory)).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}
