import assert from 'node:assert/strict';
import { ConfigInvalidError, parseProjectConfig } from './project-config';

/** featurelog.yaml text parsed as the file of a repo at /repo, with `env` as the environment. */
export const parse = (text: string, env: Record<string, string> = {}) =>
  parseProjectConfig(text, { file: 'featurelog.yaml', repoDir: '/repo', env });

/** The problems `text` is refused for, as `<line> <setting>: <message>`; fails when it is accepted. */
export function problemsOf(text: string, env: Record<string, string> = {}): string[] {
  try {
    parse(text, env);
  } catch (error) {
    assert.ok(error instanceof ConfigInvalidError, String(error));
    assert.equal(error.code, 'CONFIG_INVALID');
    return error.problems.map((p) => `${p.line ?? '-'} ${p.setting}: ${p.message}`);
  }
  assert.fail('expected the settings to be refused');
}
