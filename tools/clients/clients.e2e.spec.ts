/**
 * Every client's own test suite, run against the real apps: the Python SDK's pytest suite, the Go
 * client's `go test`, the Java client's `mvn test` and the training example, each pointed at a running
 * `featurelog dev` (tools/clients/client-fixture.test-kit.ts) — on Kafka + the schema registry + Redis,
 * and on the embedded default. Each suite asserts its own behaviour and checks every recorded
 * get-online-features case against the raw HTTP answer; this spec asserts that each suite ran and passed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FeaturelogClient, type OnlineFeaturesRequest } from '@featurelog/client';
import { REPO_ROOT } from '../quickstart/demo';
import { startClientFixture, type ClientFixture, type FixtureMode } from './client-fixture.test-kit';

const PYTHON = join(REPO_ROOT, '.venv', 'bin', 'python');

interface Run {
  code: number | null;
  output: string;
}

/** Runs a client's test command with the fixture's environment; its output is kept for the failure message. */
function run(command: string, args: string[], cwd: string, env: Record<string, string>): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, ...env } });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', fail);
    child.on('close', (code) => done({ code, output }));
  });
}

function assertPassed(what: string, result: Run, ran: RegExp): void {
  assert.equal(result.code, 0, `${what} failed:\n${result.output}`);
  assert.match(result.output, ran, `${what} did not report running its tests:\n${result.output}`);
}

const MODES: FixtureMode[] = ['kafka', 'embedded'];

for (const mode of MODES) {
  describe(`the clients against featurelog dev on ${mode === 'kafka' ? 'Kafka + Apicurio + Redis' : 'the embedded default'}`, () => {
    let fixture: ClientFixture;
    before(async () => {
      fixture = await startClientFixture(mode);
    });
    after(async () => {
      await fixture?.stop();
    });

    it('records the raw HTTP answers the clients must reproduce', () => {
      assert.ok(fixture.cases.length >= 7);
      const statuses = new Set(
        fixture.cases.flatMap((each) =>
          (each.response as { results: Array<{ statuses: string[] }> }).results.flatMap((column) => column.statuses),
        ),
      );
      for (const status of ['PRESENT', 'NOT_FOUND', 'NULL_VALUE']) assert.ok(statuses.has(status), `no ${status} case`);
    });

    it('TypeScript client: every case equals the raw HTTP answer', async () => {
      const client = new FeaturelogClient({
        url: fixture.env.FEATURELOG_SERVING_URL!,
        apiKey: fixture.env.FEATURELOG_API_KEY!,
      });
      for (const { name, request, response } of fixture.cases) {
        const { features, feature_service, entities, full_feature_names } = request as {
          features?: string[];
          feature_service?: string;
          entities: Record<string, unknown[]>;
          full_feature_names?: boolean;
        };
        const asked: OnlineFeaturesRequest = {
          ...(features !== undefined ? { features } : { featureService: feature_service! }),
          entities,
          ...(full_feature_names !== undefined ? { fullFeatureNames: full_feature_names } : {}),
        };
        assert.deepEqual(await client.getOnlineFeatures(asked), response, name);
      }
    });

    it('Python SDK: pytest sdk/python/tests', async () => {
      const result = await run(
        PYTHON,
        ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', 'sdk/python/tests'],
        REPO_ROOT,
        { ...fixture.env, PYTHONPATH: join(REPO_ROOT, 'sdk', 'python', 'src'), PYTHONDONTWRITEBYTECODE: '1' },
      );
      assertPassed('pytest', result, /\d+ passed/);
      // On Kafka nothing may be skipped: every live test has what it needs.
      if (mode === 'kafka') assert.doesNotMatch(result.output, /\d+ skipped/, result.output);
    });

    it('Go client: go test ./...', async () => {
      const result = await run(
        'go',
        ['test', '-count=1', '-v', './...'],
        join(REPO_ROOT, 'clients', 'go'),
        fixture.env,
      );
      assertPassed('go test', result, /^ok\s/m);
      assert.doesNotMatch(result.output, /--- SKIP/, result.output);
    });

    it('Java client: mvn test', async () => {
      const result = await run('mvn', ['-B', '-ntp', 'test'], join(REPO_ROOT, 'clients', 'java'), fixture.env);
      assertPassed(
        'mvn test',
        result,
        /Tests run: [1-9]\d*, Failures: 0, Errors: 0, Skipped: 0, .* in dev\.featurelog\.client\.LiveServingTest/,
      );
      // The one skip allowed is the benchmark class, which runs only when asked (FEATURELOG_JAVA_BENCH=1).
      assert.doesNotMatch(
        result.output,
        /Skipped: [1-9].* in dev\.featurelog\.client\.(?!OnlineBenchTest)/,
        result.output,
      );
    });

    it("the README's Python snippet, with the SDK as `pip install ./sdk/python` installed it", async () => {
      const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
      const snippet = [...readme.matchAll(/```python\n([\s\S]*?)```/g)]
        .map((match) => match[1]!)
        .find((code) => code.includes('get_historical_features'));
      assert.ok(snippet !== undefined, 'README.md has no Python snippet with get_historical_features');
      // No PYTHONPATH: the package tools/stack/install-system.sh installed into .venv.
      // Run where a user runs it: in the feature repo of the running `featurelog dev`.
      const result = await run(PYTHON, ['-c', snippet], fixture.repoDir, fixture.env);
      assert.equal(result.code, 0, `the README snippet failed:\n${result.output}`);
      assert.match(result.output, /conv_rate/);
      assert.match(result.output, /PRESENT|NOT_FOUND|OUTSIDE_MAX_AGE/);
    });

    it('the training example: examples/training/train.py', async () => {
      const result = await run(PYTHON, [join('examples', 'training', 'train.py')], REPO_ROOT, {
        ...fixture.env,
        PYTHONPATH: join(REPO_ROOT, 'sdk', 'python', 'src'),
        PYTHONDONTWRITEBYTECODE: '1',
      });
      assert.equal(result.code, 0, `train.py failed:\n${result.output}`);
    });
  });
}
