import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { stackEnvVars } from './stack-env';
import { waitFor } from './wait-for';

const REPO_ROOT = resolve(__dirname, '..', '..', '..');

/**
 * One of the repo's apps (`apps/<app>/src/main.ts`, run from source) as its own process, on the stack's
 * environment plus what `env` returns at each launch. A launch is up once the app printed
 * `listening on <url>`; it is stopped, killed or frozen by signal.
 */
export class AppProcess {
  private child: ChildProcess | undefined;
  private output = '';
  launches = 0;
  /** Where it answers, once started. */
  url = '';

  constructor(
    private readonly app: string,
    private readonly env: () => Record<string, string>,
  ) {}

  get running(): boolean {
    const child = this.child;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  /** The last lines it wrote (stdout and stderr), for failure messages. */
  get lastOutput(): string {
    return this.output.slice(-4_000);
  }

  async start(): Promise<void> {
    this.launches++;
    const child = spawn(process.execPath, ['-r', '@swc-node/register', join('apps', this.app, 'src', 'main.ts')], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...stackEnvVars(), ...this.env() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.output = '';
    let url: string | undefined;
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString()).slice(-20_000);
      url ??= /listening on (http:\/\/\S+)/.exec(this.output)?.[1];
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    await waitFor(() => url !== undefined || child.exitCode !== null, {
      description: `the ${this.app} process to listen`,
      timeoutMs: 60_000,
    });
    if (url === undefined) throw new Error(`the ${this.app} process exited: ${this.output}`);
    this.url = url;
  }

  kill9(): Promise<void> {
    return this.signalAndWait('SIGKILL');
  }

  /** SIGTERM: a graceful stop. */
  stop(): Promise<void> {
    return this.signalAndWait('SIGTERM');
  }

  /** SIGSTOP: frozen mid-work. */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  private async signalAndWait(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (child === undefined || !this.running) return;
    const exited = new Promise((done) => child.once('exit', done));
    child.kill(signal);
    // A paused process must run again to handle SIGTERM.
    if (signal === 'SIGTERM') child.kill('SIGCONT');
    await exited;
  }
}
