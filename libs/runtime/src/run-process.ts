import { spawn } from 'node:child_process';

/** How a child process ended: its exit code (-1 when a signal ended it) and all it wrote. */
export interface ProcessResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `command args` to its end and collects its output (the CLI run as a user runs it, by the demo
 * and the CLI specs); rejects only when it cannot be started.
 */
export function runProcess(
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
): Promise<ProcessResult> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, options);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', fail);
    child.on('close', (code) => done({ code: code ?? -1, stdout, stderr }));
  });
}
