import { useState } from 'preact/hooks';
import { Loading, Problem, ShowMore, Table, time } from '../components';
import { KINDS } from '../definitions';
import { href, useApi } from '../hooks';

interface AcceptedApply {
  applyId: string;
  offset: number;
  appliedAt: number;
  author?: string;
  changes: Array<{ op: string; kind: string; name: string }>;
}

const PAGE = 50;

/**
 * `#/changes`: the registry as a log: every accepted changeset, newest first, each change linked to
 * the object as of the version it made (the registry version after offset n is n + 1).
 */
export function ChangesPage() {
  const registry = useApi<{ version: number; applies: AcceptedApply[]; rejections: unknown[] }>(
    'registry',
    '/registry',
  );
  const [shown, setShown] = useState(PAGE);
  const applies = [...(registry.data?.applies ?? [])].reverse();
  return (
    <div>
      <h1>Registry changes</h1>
      {registry.error && <Problem error={registry.error} what="reading the registry" />}
      {registry.loading && !registry.data && <Loading what="the registry" />}
      {registry.data && (
        <>
          <p class="muted" role="status">
            Registry version {registry.data.version}: {applies.length} accepted changesets,{' '}
            {registry.data.rejections.length} rejected.
          </p>
          <Table
            caption="Accepted changesets, newest first"
            columns={['Offset', 'Applied', 'Author', 'Changes', 'Registry then']}
          >
            {applies.slice(0, shown).map((apply) => (
              <tr key={apply.offset}>
                <th scope="row">{apply.offset}</th>
                <td>{time(apply.appliedAt)}</td>
                <td>{apply.author ?? <span class="muted">unknown</span>}</td>
                <td>
                  <ul class="changes">
                    {apply.changes.map((change) => {
                      const kind = KINDS.find((k) => k.kind === change.kind);
                      return (
                        <li key={`${change.kind}/${change.name}`}>
                          {change.op} {kind?.one ?? change.kind}{' '}
                          {kind && change.op !== 'delete' ? (
                            <a href={href([kind.segment, change.name], { version: String(apply.offset + 1) })}>
                              {change.name}
                            </a>
                          ) : (
                            change.name
                          )}
                        </li>
                      );
                    })}
                  </ul>
                </td>
                <td>
                  <a href={href(['catalog', 'feature-views'], { version: String(apply.offset + 1) })}>
                    views as of version {apply.offset + 1}
                  </a>
                </td>
              </tr>
            ))}
          </Table>
          <ShowMore total={applies.length} shown={shown} page={PAGE} onMore={setShown} />
        </>
      )}
    </div>
  );
}
