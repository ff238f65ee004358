import { useMemo, useState } from 'preact/hooks';
import { Loading, Problem, ShowMore, Table, Tags } from '../components';
import { KINDS, matches, searchText, type AnyDefinition, type FeatureView, type KindSegment } from '../definitions';
import { href, useApi, type Route } from '../hooks';

/** Rows rendered at first: a registry of thousands of objects stays quick to draw; more on demand. */
const PAGE = 100;

/**
 * One kind of the registry, searchable by name, tag and owner, now or as of a registry version.
 * The list is read once and indexed (one lowercase text per object), so each keystroke filters in
 * memory; only the first rows of the result are drawn.
 */
export function CatalogPage({ route }: { route: Route }) {
  const segment = (route.parts[1] ?? 'feature-views') as KindSegment;
  const kind = KINDS.find((k) => k.segment === segment) ?? KINDS[0];
  const query = route.query.get('q') ?? '';
  const version = route.query.get('version') ?? '';
  const at = route.query.get('time') ?? '';
  const asOf = version ? `?version=${encodeURIComponent(version)}` : at ? `?time=${encodeURIComponent(at)}` : '';
  const list = useApi<{ version: number; items: AnyDefinition[] }>('registry', `/${kind.segment}${asOf}`);
  const [shown, setShown] = useState(PAGE);
  const indexed = useMemo(
    () => (list.data?.items ?? []).map((item) => ({ item, text: searchText(item) })),
    [list.data],
  );
  const found = useMemo(
    () => indexed.filter(({ item, text }) => matches(item, text, query)).map(({ item }) => item),
    [indexed, query],
  );
  const navigate = (next: { q?: string; version?: string; time?: string }) => {
    location.hash = href(['catalog', kind.segment], { q: query, version, time: at, ...next });
    setShown(PAGE);
  };
  return (
    <div>
      <h1>{kind.label}</h1>
      <nav aria-label="Kinds" class="tabs">
        {KINDS.map((k) => (
          <a
            key={k.segment}
            href={href(['catalog', k.segment], { q: query })}
            aria-current={k === kind ? 'page' : undefined}
          >
            {k.label}
          </a>
        ))}
      </nav>
      <form class="filters" role="search" onSubmit={(event) => event.preventDefault()}>
        <label>
          Search by name, tag or owner
          <input
            type="search"
            name="q"
            value={query}
            placeholder="driver  tag:team=ml  owner:alice"
            onInput={(event) => navigate({ q: event.currentTarget.value })}
          />
        </label>
        <label>
          As of registry version
          <input
            type="number"
            min={0}
            name="version"
            value={version}
            placeholder="now"
            onChange={(event) => navigate({ version: event.currentTarget.value, time: undefined })}
          />
        </label>
        <label>
          Or as of a time (ISO 8601, UTC unless a zone is given)
          <input
            type="text"
            name="time"
            value={at}
            placeholder="2025-01-01T12:00:00Z"
            onChange={(event) => navigate({ time: event.currentTarget.value, version: undefined })}
          />
        </label>
      </form>
      {list.error && <Problem error={list.error} what={`reading ${kind.label.toLowerCase()}`} />}
      {list.loading && !list.data && <Loading what={kind.label.toLowerCase()} />}
      {list.data && (
        <>
          <p class="muted" role="status">
            {found.length} of {list.data.items.length} {kind.label.toLowerCase()}, registry version {list.data.version}
          </p>
          <Table
            caption={kind.label}
            columns={[
              'Name',
              ...(kind.segment === 'feature-views' ? ['Entities', 'Features'] : []),
              'Owner',
              'Tags',
              'Description',
            ]}
          >
            {found.slice(0, shown).map((item) => (
              <tr key={item.name}>
                <th scope="row">
                  <a href={href([kind.segment, item.name], { version: asOf ? String(list.data!.version) : undefined })}>
                    {item.name}
                  </a>
                </th>
                {kind.segment === 'feature-views' && <td>{(item as FeatureView).entities.join(', ')}</td>}
                {kind.segment === 'feature-views' && <td>{(item as FeatureView).features.length}</td>}
                <td>{item.owner ?? <span class="muted">none</span>}</td>
                <td>
                  <Tags tags={item.tags} />
                </td>
                <td>{item.description ?? ''}</td>
              </tr>
            ))}
          </Table>
          <ShowMore total={found.length} shown={shown} page={PAGE} onMore={setShown} />
        </>
      )}
    </div>
  );
}
