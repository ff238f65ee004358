import { useState } from 'preact/hooks';
import { apiKey, appUrl } from '../api';
import { Problem, Section, Table } from '../components';
import { FeatureChoice, useFeatureChoice } from '../feature-choice';
import { useAction } from '../hooks';

interface OnlineResponse {
  metadata: { feature_names: string[] };
  results: Array<{ values: unknown[]; statuses: string[]; event_timestamps: string[] }>;
}

/**
 * `driver_id=1001,1002` per line into Feast's `entities` object of equally long lists; numbers stay
 * numbers (join keys are ints or strings), anything else is text.
 */
export function parseEntities(text: string): Record<string, Array<string | number>> {
  const entities: Record<string, Array<string | number>> = {};
  for (const line of text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)) {
    const at = line.indexOf('=');
    if (at <= 0) throw new Error(`"${line}" is not key=value,value,…`);
    entities[line.slice(0, at).trim()] = line
      .slice(at + 1)
      .split(',')
      .map((v) => v.trim())
      .filter((v) => v !== '')
      .map((v) => (/^-?\d+$/.test(v) && Number.isSafeInteger(Number(v)) ? Number(v) : v));
  }
  return entities;
}

/** `#/lookup`: one online request, its values and statuses, and the same request as code. */
export function LookupPage() {
  const choice = useFeatureChoice();
  const [entities, setEntities] = useState('driver_id=1001,1002');
  const [full, setFull] = useState(false);
  const [inputError, setInputError] = useState<string | undefined>();
  const lookup = useAction<OnlineResponse>();
  let body: Record<string, unknown> | undefined;
  try {
    body = {
      ...(choice.mode === 'service' ? { feature_service: choice.service } : { features: choice.featureList }),
      entities: parseEntities(entities),
      ...(full ? { full_feature_names: true } : {}),
    };
  } catch {
    body = undefined;
  }
  return (
    <div>
      <h1>Online lookup</h1>
      <form
        class="lookup"
        onSubmit={async (event) => {
          event.preventDefault();
          try {
            parseEntities(entities);
            setInputError(undefined);
          } catch (error) {
            setInputError((error as Error).message);
            return;
          }
          if (body) await lookup.run('serving', '/get-online-features', { method: 'POST', body });
        }}
      >
        <FeatureChoice
          choice={choice}
          legend="What to read"
          name="lookup"
          featuresLabel="Features (view:feature, separated by commas)"
        />
        <label>
          Entities (one join key per line: key=value,value,…)
          <textarea rows={3} value={entities} onInput={(e) => setEntities(e.currentTarget.value)} />
        </label>
        <label class="inline">
          <input type="checkbox" checked={full} onChange={(e) => setFull(e.currentTarget.checked)} /> Full feature names
          (view__feature)
        </label>
        {inputError && (
          <p class="problem" role="alert">
            {inputError}
          </p>
        )}
        <button type="submit" disabled={lookup.running}>
          Get online features
        </button>
      </form>
      {lookup.error && <Problem error={lookup.error} what="the lookup" />}
      {lookup.result && <Results response={lookup.result} />}
      {body && <Snippets body={body} />}
    </div>
  );
}

function Results({ response }: { response: OnlineResponse }) {
  const names = response.metadata.feature_names;
  const rows = response.results[0]?.values.length ?? 0;
  return (
    <Section title="Values and statuses" id="lookup-results">
      <Table caption="Online features" columns={names}>
        {Array.from({ length: rows }, (_, row) => (
          <tr key={row}>
            {response.results.map((column, i) => (
              <td key={i} class={column.statuses[row] === 'PRESENT' ? '' : 'bad'}>
                {JSON.stringify(column.values[row])}
                <div class="muted status-text">{column.statuses[row]}</div>
              </td>
            ))}
          </tr>
        ))}
      </Table>
    </Section>
  );
}

function Snippets({ body }: { body: Record<string, unknown> }) {
  const url = `${appUrl('serving') ?? 'http://127.0.0.1:6574'}/get-online-features`;
  const json = JSON.stringify(body);
  // The key itself is never written into a snippet: it names the variable to set.
  const keyed = apiKey() !== undefined;
  const curl = [
    `curl -s ${url} \\`,
    ...(keyed ? ['  -H "Authorization: Bearer $FEATURELOG_API_KEY" \\'] : []),
    `  -H 'content-type: application/json' \\`,
    `  -d '${json.replace(/'/g, "'\\''")}'`,
  ].join('\n');
  const python = [
    'import os, requests',
    '',
    `response = requests.post(`,
    `    "${url}",`,
    ...(keyed ? ['    headers={"Authorization": f"Bearer {os.environ[\'FEATURELOG_API_KEY\']}"},'] : []),
    `    json=${JSON.stringify(body, null, 4)
      .replace(/\btrue\b/g, 'True')
      .replace(/\bfalse\b/g, 'False')
      .replace(/\n/g, '\n    ')},`,
    ')',
    'response.raise_for_status()',
    'print(response.json())',
  ].join('\n');
  const typescript = [
    `const response = await fetch('${url}', {`,
    `  method: 'POST',`,
    `  headers: {`,
    `    'content-type': 'application/json',`,
    ...(keyed ? ['    authorization: `Bearer ${process.env.FEATURELOG_API_KEY}`,'] : []),
    `  },`,
    `  body: JSON.stringify(${JSON.stringify(body, null, 2).replace(/\n/g, '\n  ')}),`,
    `});`,
    `if (!response.ok) throw new Error(await response.text());`,
    `console.log(await response.json());`,
  ].join('\n');
  return (
    <Section title="The same request as code" id="snippets">
      {[
        ['curl', curl],
        ['Python', python],
        ['TypeScript', typescript],
      ].map(([language, code]) => (
        <figure key={language}>
          <figcaption>{language}</figcaption>
          <pre class="code" tabIndex={0} data-language={language}>
            {code}
          </pre>
        </figure>
      ))}
    </Section>
  );
}
