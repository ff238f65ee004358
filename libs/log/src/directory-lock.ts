import { readFile, realpath, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FeaturelogError } from '@featurelog/domain';

/** Directories this process holds, so a second open in the same process is refused too. */
const heldInThisProcess = new Set<string>();

/**
 * Exclusive ownership of a log directory: a `LOCK` file created with O_EXCL holding the owner's
 * pid. A lock whose pid is no longer alive is stale (the owner crashed) and is taken over.
 * No fcntl: Node has none, and a pid check is enough for one machine's processes.
 */
export class DirectoryLock {
  private constructor(
    readonly directory: string,
    private readonly file: string,
  ) {}

  static async acquire(directory: string): Promise<DirectoryLock> {
    const canonical = await realpath(directory);
    if (heldInThisProcess.has(canonical)) {
      throw new FeaturelogError('LOG_DIRECTORY_LOCKED', `log directory ${canonical} is already open in this process`);
    }
    const file = join(canonical, 'LOCK');
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await writeFile(file, `${process.pid}\n`, { flag: 'wx' });
        heldInThisProcess.add(canonical);
        return new DirectoryLock(canonical, file);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const owner = Number.parseInt(await readFile(file, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(owner) && owner > 0 && isAlive(owner)) {
        throw new FeaturelogError(
          'LOG_DIRECTORY_LOCKED',
          `log directory ${canonical} is held by process ${owner}; stop it or use another directory`,
        );
      }
      // The owner is gone: the lock is stale. Whoever unlinks first retries the exclusive create.
      await unlink(file).catch(() => undefined);
    }
    throw new FeaturelogError('LOG_DIRECTORY_LOCKED', `could not take the lock on log directory ${canonical}`, {
      retriable: true,
    });
  }

  async release(): Promise<void> {
    heldInThisProcess.delete(this.directory);
    await unlink(this.file).catch(() => undefined);
  }
}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
