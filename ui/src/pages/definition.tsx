import { useState } from 'preact/hooks';
import { project } from '../api';
import { Loading, Problem, Section, seconds, Table, Tags, time, ttl } from '../components';
import {
  diffLines,
  foldUnchanged,
  KINDS,
  stableJson,
  typeName,
  viewTopic,
  type AnyDefinition,
  type FeatureService,
  type FeatureView,
  type ObjectVersion,
} from '../definitions';
import { liveOf, useFreshness } from '../freshness';
import { href, useApi, type Route } from '../hooks';
import { FreshnessChart } from './chart';

/** `#/<kind>/<name>`: one object of the registry, its definition, and every change that touched it. */
export function DefinitionPage({ route }: { route: Route }) {
  const kind = KINDS.find((k) => k.segment === route.parts[0]) ?? KINDS[0];
  const name = route.parts[1] ?? '';
  const version = route.query.get('version') ?? '';
  const base = `/${kind.segment}/${encodeURIComponent(name)}`;
  const object = useApi<{ definition: AnyDefinition; offset: number; createdAt: number; updatedAt: number }>(
    'registry',
    `${base}${version ? `?version=${encodeURIComponent(version)}` : ''}`,
  );
  const history = useApi<{ versions: ObjectVersion[] }>('registry', `${base}/history`);
  const definition = object.data?.definition;
  return (
    <div>
      <p class="breadcrumb">
        <a href={href(['catalog', kind.segment])}>{kind.label}</a> /
      </p>
      <h1>
        {name} <span class="muted kind">{kind.one}</span>
      </h1>
      {version && (
        <p class="note" role="note">
          As of registry version {version}. <a href={href([kind.segment, name])}>See it now</a>
        </p>
      )}
      {object.error && <Problem error={object.error} what={`reading ${kind.one} ${name}`} />}
      {object.loading && !object.data && <Loading what={name} />}
      {definition && kind.segment === 'feature-views' && <ViewDetails view={definition as FeatureView} />}
      {definition && kind.segment !== 'feature-views' && (
        <Section title="Definition">
          <Described definition={definition} />
          <pre class="code" tabIndex={0}>
            {stableJson(definition)}
          </pre>
        </Section>
      )}
      {definition && kind.segment !== 'feature-views' && <Lineage segment={kind.segment} definition={definition} />}
      {definition && kind.segment === 'feature-views' && <Freshness view={name} />}
      <History segment={kind.segment} name={name} loaded={history} />
    </div>
  );
}

function Described({ definition }: { definition: AnyDefinition }) {
  return (
    <dl class="facts">
      <dt>Owner</dt>
      <dd>{definition.owner ?? <span class="muted">none</span>}</dd>
      <dt>Tags</dt>
      <dd>
        <Tags tags={definition.tags} />
      </dd>
      {definition.description && (
        <>
          <dt>Description</dt>
          <dd>{definition.description}</dd>
        </>
      )}
    </dl>
  );
}

function ViewDetails({ view }: { view: FeatureView }) {
  const entities = useApi<{ items: Array<{ name: string; joinKeys: Array<{ name: string; type: string }> }> }>(
    'registry',
    '/entities',
  );
  const services = useApi<{ items: FeatureService[] }>('registry', '/feature-services');
  const using = (services.data?.items ?? []).filter((service) =>
    service.features.some((feature) => feature.split(':')[0] === view.name),
  );
  const joinKeys = (entities.data?.items ?? [])
    .filter((entity) => view.entities.includes(entity.name))
    .flatMap((entity) => entity.joinKeys.map((key) => ({ ...key, entity: entity.name })));
  return (
    <>
      <Section title="Overview">
        <dl class="facts">
          <dt>Version</dt>
          <dd>{view.version}</dd>
          <dt>TTL</dt>
          <dd>{ttl(view.ttlSeconds)}</dd>
          <dt>Source</dt>
          <dd>
            {view.source ? <a href={href(['data-sources', view.source])}>{view.source}</a> : 'managed (its own topic)'}
          </dd>
          <dt>Topic</dt>
          <dd>
            <code>{viewTopic(project(), view)}</code>
          </dd>
          <dt>Stores</dt>
          <dd>{[view.online && 'online', view.offline && 'offline'].filter(Boolean).join(', ') || 'none'}</dd>
          <dt>Entities</dt>
          <dd>
            {view.entities.map((entity, i) => (
              <span key={entity}>
                {i > 0 && ', '}
                <a href={href(['entities', entity])}>{entity}</a>
              </span>
            ))}
          </dd>
        </dl>
        <Described definition={view} />
      </Section>
      <Section title="Schema">
        <Table caption={`Schema of ${view.name}`} columns={['Column', 'Type', 'Role', 'Description']}>
          {joinKeys.map((key) => (
            <tr key={`key-${key.name}`}>
              <th scope="row">{key.name}</th>
              <td>{key.type}</td>
              <td>join key ({key.entity})</td>
              <td />
            </tr>
          ))}
          <tr>
            <th scope="row">event_timestamp</th>
            <td>timestamp (µs, UTC)</td>
            <td>event time</td>
            <td />
          </tr>
          {view.features.map((feature) => (
            <tr key={feature.name}>
              <th scope="row">{feature.name}</th>
              <td>{typeName(feature.type)}</td>
              <td>feature</td>
              <td>{feature.description ?? ''}</td>
            </tr>
          ))}
        </Table>
        {entities.error && <Problem error={entities.error} what="reading the entities" />}
      </Section>
      <Section title="Feature services using it">
        {services.error && <Problem error={services.error} what="reading the feature services" />}
        {services.data &&
          (using.length === 0 ? (
            <p class="muted">No feature service uses this view.</p>
          ) : (
            <ul>
              {using.map((service) => (
                <li key={service.name}>
                  <a href={href(['feature-services', service.name])}>{service.name}</a>{' '}
                  <span class="muted">
                    ({service.features.filter((f) => f.split(':')[0] === view.name).join(', ')})
                  </span>
                </li>
              ))}
            </ul>
          ))}
      </Section>
    </>
  );
}

/** Now minus the newest event time online, whole seconds (never negative: an event stamped ahead of this clock is 0 s old). */
function lagSeconds(newestEventSeconds: number): number {
  return Math.max(0, Math.round(Date.now() / 1000 - newestEventSeconds));
}

export function Freshness({ view }: { view: string }) {
  const { error, polls } = useFreshness();
  const live = liveOf(view);
  return (
    <Section title="Freshness and lag" id="freshness">
      {error && <Problem error={error} what="reading the materializer's metrics" />}
      {!error && !live && <Loading what="freshness" />}
      {live && (
        <>
          <dl class="facts live" aria-live="polite">
            <dt>Rows consumed</dt>
            <dd data-testid="rows-consumed">{live.latest.rowsConsumed}</dd>
            <dt>Rows written online (won)</dt>
            <dd data-testid="rows-won">{live.latest.rowsWon}</dd>
            <dt>Rows/s</dt>
            <dd>{live.rowsPerSecond === undefined ? '–' : live.rowsPerSecond.toFixed(1)}</dd>
            <dt>Event to online delay (recent)</dt>
            <dd data-testid="recent-delay">
              {live.recentDelaySeconds === undefined ? '–' : seconds(live.recentDelaySeconds)}
            </dd>
            <dt>Last write seen</dt>
            <dd data-testid="last-write">
              {live.lastWriteSeenAt ? time(live.lastWriteSeenAt) : 'not while this page was open'}
            </dd>
            <dt>Newest event online</dt>
            <dd data-testid="newest-event">
              {live.latest.newestEventSeconds === undefined
                ? 'no row written since the materializer started'
                : `${time(live.latest.newestEventSeconds * 1000)} (${lagSeconds(live.latest.newestEventSeconds)} s ago)`}
            </dd>
            <dt>Lag (seconds)</dt>
            <dd data-testid="lag-seconds">
              {live.latest.newestEventSeconds === undefined ? '–' : lagSeconds(live.latest.newestEventSeconds)}
            </dd>
            <dt>Lag (records)</dt>
            <dd data-testid="lag">{live.lagRecords}</dd>
            <dt>Dead letters</dt>
            <dd>{live.latest.deadLetters}</dd>
          </dl>
          {live.latest.lag.length > 0 && (
            <Table caption={`Lag per partition of ${view}`} columns={['Topic', 'Partition', 'Records behind']}>
              {live.latest.lag.map((p) => (
                <tr key={`${p.topic}/${p.partition}`}>
                  <td>{p.topic}</td>
                  <td>{p.partition}</td>
                  <td>{p.records}</td>
                </tr>
              ))}
            </Table>
          )}
          <FreshnessChart view={view} polls={polls} />
        </>
      )}
    </Section>
  );
}

function History({
  segment,
  name,
  loaded,
}: {
  segment: string;
  name: string;
  loaded: ReturnType<typeof useApi<{ versions: ObjectVersion[] }>>;
}) {
  const versions = loaded.data?.versions ?? [];
  const [picked, setPicked] = useState<{ from?: number; to?: number }>({});
  const to = picked.to ?? versions[versions.length - 1]?.offset;
  const from = picked.from ?? versions[versions.length - 2]?.offset;
  const before = versions.find((v) => v.offset === from);
  const after = versions.find((v) => v.offset === to);
  return (
    <Section title="History">
      {loaded.error && <Problem error={loaded.error} what="reading the history" />}
      {loaded.data && (
        <>
          <Table
            caption={`Changes of ${name}`}
            columns={['Registry offset', 'Applied', 'Change', 'Author', 'Diff from', 'Diff to', 'Registry then']}
          >
            {versions.map((v) => (
              <tr key={v.offset} class="history-row">
                <th scope="row">{v.offset}</th>
                <td>{time(v.appliedAt)}</td>
                <td>{v.op}</td>
                <td>{v.author ?? <span class="muted">unknown</span>}</td>
                {(['from', 'to'] as const).map((end) => (
                  <td key={end}>
                    <input
                      type="radio"
                      name={`diff-${end}`}
                      aria-label={`diff ${end} offset ${v.offset}`}
                      checked={v.offset === (end === 'from' ? from : to)}
                      onChange={() => setPicked({ from, to, [end]: v.offset })}
                    />
                  </td>
                ))}
                <td>
                  <a href={href([segment, name], { version: String(v.offset + 1) })}>as of version {v.offset + 1}</a>
                </td>
              </tr>
            ))}
          </Table>
          <h3 id="diff-heading">
            Diff {before ? `offset ${before.offset}` : '(nothing)'} → {after ? `offset ${after.offset}` : '(nothing)'}
          </h3>
          <pre class="diff code" aria-labelledby="diff-heading" tabIndex={0}>
            {foldUnchanged(diffLines(before?.definition, after?.definition)).map((line, i) =>
              line.op === '…' ? (
                <span key={i} class="folded">
                  … {line.skipped} unchanged line{line.skipped === 1 ? '' : 's'}
                  {'\n'}
                </span>
              ) : (
                <span key={i} class={line.op === '+' ? 'added' : line.op === '-' ? 'removed' : undefined}>
                  {line.op} {line.line}
                  {'\n'}
                </span>
              ),
            )}
          </pre>
        </>
      )}
    </Section>
  );
}

/**
 * What an entity, data source or feature service is linked to: the views of an entity or a source,
 * the views (and features) a service reads.
 */
function Lineage({ segment, definition }: { segment: string; definition: AnyDefinition }) {
  const views = useApi<{ items: FeatureView[] }>(
    'registry',
    segment === 'feature-services' ? undefined : '/feature-views',
  );
  if (segment === 'feature-services') {
    const byView = new Map<string, string[]>();
    for (const ref of (definition as FeatureService).features) {
      const [view = '', feature = ''] = ref.split(':');
      byView.set(view, [...(byView.get(view) ?? []), feature]);
    }
    return (
      <Section title="Feature views it reads">
        <ul>
          {[...byView].map(([view, features]) => (
            <li key={view}>
              <a href={href(['feature-views', view])}>{view}</a>: {features.join(', ')}
            </li>
          ))}
        </ul>
      </Section>
    );
  }
  const using = (views.data?.items ?? []).filter((view) =>
    segment === 'entities' ? view.entities.includes(definition.name) : view.source === definition.name,
  );
  return (
    <Section title="Feature views using it">
      {views.error && <Problem error={views.error} what="reading the feature views" />}
      {views.data &&
        (using.length === 0 ? (
          <p class="muted">No feature view uses it.</p>
        ) : (
          <ul>
            {using.map((view) => (
              <li key={view.name}>
                <a href={href(['feature-views', view.name])}>{view.name}</a>
              </li>
            ))}
          </ul>
        ))}
    </Section>
  );
}
