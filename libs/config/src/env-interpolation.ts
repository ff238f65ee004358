/** Where interpolation failed: the setting (path) and why. */
export interface InterpolationProblem {
  path: Array<string | number>;
  message: string;
  /** The variable, when the problem is an unset one (rather than a malformed placeholder). */
  variable?: string;
}

const PLACEHOLDER = /\$\$|\$\{([^}]*)\}|\$\{/g;

/**
 * Replaces `${VAR}` and `${VAR:-default}` in every string of a parsed YAML value, like a shell:
 * the default applies when VAR is unset or empty; `$$` is a literal `$`. A `${VAR}` without default
 * whose variable is unset, or a malformed placeholder, is a problem naming the setting.
 */
export function interpolateEnv(
  value: unknown,
  env: Readonly<Record<string, string | undefined>>,
  problems: InterpolationProblem[],
  path: Array<string | number> = [],
): unknown {
  if (typeof value === 'string') return interpolateString(value, env, problems, path);
  if (Array.isArray(value)) return value.map((item, i) => interpolateEnv(item, env, problems, [...path, i]));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, member]) => [key, interpolateEnv(member, env, problems, [...path, key])]),
    );
  }
  return value;
}

function interpolateString(
  text: string,
  env: Readonly<Record<string, string | undefined>>,
  problems: InterpolationProblem[],
  path: Array<string | number>,
): string {
  return text.replace(PLACEHOLDER, (match, body: string | undefined) => {
    if (match === '$$') return '$';
    const parsed = body === undefined ? null : /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s.exec(body);
    if (!parsed) {
      problems.push({ path, message: `"${match}" is not \${VAR} or \${VAR:-default} (write $$ for a literal $)` });
      return match;
    }
    const [, name, fallback] = parsed;
    const set = env[name!];
    if (set !== undefined && set !== '') return set;
    if (fallback !== undefined) return fallback;
    problems.push({
      path,
      message: `environment variable ${name} is not set and \${${name}} has no default (\${${name}:-default})`,
      variable: name,
    });
    return match;
  });
}
