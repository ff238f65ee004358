import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Pid files record the start time from /proc/<pid>/stat as well as the pid, so
 * that `down` never signals an unrelated process that reused the pid.
 */
export interface PidRecord {
  pid: number;
  startTicks: string;
  command: string;
  startedAt: string;
}

export type ProcessState = 'running' | 'dead' | 'not-started';

function procStat(pid: number): { state: string; startTicks: string } | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may contain spaces and parentheses: parse after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const state = fields[0];
    const startTicks = fields[19];
    if (state === undefined || startTicks === undefined) return undefined;
    return { state, startTicks };
  } catch {
    return undefined;
  }
}

/** Alive and not a zombie, and (when given) the same process that was recorded. */
export function isAlive(pid: number, startTicks?: string): boolean {
  const stat = procStat(pid);
  if (stat === undefined || stat.state === 'Z' || stat.state === 'X') return false;
  return startTicks === undefined || stat.startTicks === startTicks;
}

export function readPidFile(file: string): PidRecord | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as PidRecord;
  } catch {
    return undefined;
  }
}

export function pidFileState(file: string): { state: ProcessState; record?: PidRecord } {
  const record = readPidFile(file);
  if (record === undefined) return { state: 'not-started' };
  return { state: isAlive(record.pid, record.startTicks) ? 'running' : 'dead', record };
}

export interface Launched {
  child: ChildProcess;
  record: PidRecord;
  /** set once the process has exited (the CLI is its parent while `up` runs) */
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
}

/**
 * Starts a long-running service in its own session and process group (so `down`
 * can signal the whole group), stdout+stderr appended to logFile, pid recorded.
 */
export function launch(options: {
  command: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  logFile: string;
  pidFile: string;
  uid?: number;
  gid?: number;
}): Launched {
  fs.mkdirSync(path.dirname(options.logFile), { recursive: true });
  const out = fs.openSync(options.logFile, 'a');
  fs.writeSync(out, `\n==== ${new Date().toISOString()} ${options.command} ${options.args.join(' ')}\n`);
  const child = spawn(options.command, options.args, {
    cwd: options.cwd,
    env: options.env,
    detached: true,
    stdio: ['ignore', out, out],
    // libuv drops root's supplementary groups when it switches user
    ...(options.uid !== undefined && { uid: options.uid }),
    ...(options.gid !== undefined && { gid: options.gid }),
  });
  fs.closeSync(out);
  if (child.pid === undefined) {
    throw new Error(`could not start ${options.command}`);
  }
  const record: PidRecord = {
    pid: child.pid,
    startTicks: procStat(child.pid)?.startTicks ?? '',
    command: [options.command, ...options.args].join(' '),
    startedAt: new Date().toISOString(),
  };
  fs.writeFileSync(options.pidFile, JSON.stringify(record, null, 2) + '\n');
  const launched: Launched = { child, record, exit: undefined };
  child.on('exit', (code, signal) => {
    launched.exit = { code, signal };
  });
  child.unref();
  return launched;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
  } catch {
    return false;
  }
  // kill(0) succeeds for zombies too; look for a live member of the group.
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[2] === String(pid) && fields[0] !== 'Z') return true;
    } catch {
      // raced with exit
    }
  }
  return false;
}

export async function waitUntil(predicate: () => boolean, timeoutMs: number, intervalMs = 200): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (predicate()) return true;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  return predicate();
}

/**
 * SIGTERM (or the service's own stop signal) to the process group, wait up to
 * graceMs for every member to exit, then SIGKILL. Returns how it ended.
 */
export async function stopGroup(
  record: PidRecord,
  graceMs: number,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<'stopped' | 'killed' | 'gone'> {
  if (!isAlive(record.pid, record.startTicks)) {
    // leader gone; members of its group may still linger
    if (groupAlive(record.pid)) signalGroup(record.pid, 'SIGKILL');
    return 'gone';
  }
  signalGroup(record.pid, signal);
  if (await waitUntil(() => !groupAlive(record.pid), graceMs)) return 'stopped';
  signalGroup(record.pid, 'SIGKILL');
  await waitUntil(() => !groupAlive(record.pid), 10_000);
  return 'killed';
}

export function tailFile(file: string, lines = 40): string {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const length = Math.min(size, 64 * 1024);
      const buffer = Buffer.alloc(length);
      fs.readSync(fd, buffer, 0, length, size - length);
      return buffer
        .toString('utf8')
        .split('\n')
        .slice(-lines - 1)
        .join('\n');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return `(no log at ${file})`;
  }
}
