/** One dependency a process needs in order to do its job (Redis, the log, the registry fold). */
export interface HealthCheck {
  readonly name: string;
  /** Resolves when healthy; rejects with an error that says what is wrong. */
  check(): Promise<void>;
}

export interface HealthReport {
  status: 'ok' | 'unavailable';
  checks: Record<string, { status: 'ok' | 'unavailable'; error?: string; ms: number }>;
}

/** Runs every check concurrently, each bounded by `timeoutMs`, and reports all of them. */
export async function runHealthChecks(checks: readonly HealthCheck[], timeoutMs = 2_000): Promise<HealthReport> {
  const report: HealthReport = { status: 'ok', checks: {} };
  await Promise.all(
    checks.map(async (probe) => {
      const started = performance.now();
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          probe.check(),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
          }),
        ]);
        report.checks[probe.name] = { status: 'ok', ms: Math.round(performance.now() - started) };
      } catch (error) {
        report.status = 'unavailable';
        report.checks[probe.name] = {
          status: 'unavailable',
          error: error instanceof Error ? error.message : String(error),
          ms: Math.round(performance.now() - started),
        };
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return report;
}
