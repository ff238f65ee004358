import type { ComponentChildren } from 'preact';
import type { ApiError } from './api';

/** Why a panel has no data: the app down, the key refused, or the request wrong; the rest of the page stays. */
export function Problem({ error, what }: { error: ApiError; what: string }) {
  const title =
    error.kind === 'down'
      ? `${error.app} is down`
      : error.kind === 'auth'
        ? `${error.app} refused the API key`
        : `${what} failed`;
  return (
    <div class={`problem problem-${error.kind}`} role="alert" data-app={error.app} data-kind={error.kind}>
      <strong>{title}</strong>
      <span>{error.message}</span>
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="loading" role="status">
      Loading {what}…
    </p>
  );
}

export function Section({ title, children, id }: { title: string; children: ComponentChildren; id?: string }) {
  const headingId = `${id ?? title.toLowerCase().replace(/\W+/g, '-')}-heading`;
  return (
    <section aria-labelledby={headingId} class="panel">
      <h2 id={headingId}>{title}</h2>
      {children}
    </section>
  );
}

/**
 * A table that scrolls sideways on a narrow screen instead of overflowing the page. With `columns`
 * it writes the header row (one column header each) and `children` are the body's rows.
 */
export function Table({
  caption,
  columns,
  children,
}: {
  caption: string;
  columns?: ReadonlyArray<string>;
  children: ComponentChildren;
}) {
  return (
    <div class="table-scroll" tabIndex={0} role="region" aria-label={caption}>
      <table>
        <caption class="visually-hidden">{caption}</caption>
        {columns ? (
          <>
            <thead>
              <tr>
                {columns.map((column) => (
                  <th key={column} scope="col">
                    {column}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>{children}</tbody>
          </>
        ) : (
          children
        )}
      </table>
    </div>
  );
}

/** A long list shows `shown` items; this button shows `page` more while some are hidden. */
export function ShowMore({
  total,
  shown,
  page,
  onMore,
}: {
  total: number;
  shown: number;
  page: number;
  onMore(shown: number): void;
}) {
  if (total <= shown) return null;
  return (
    <button type="button" onClick={() => onMore(shown + page)}>
      Show {Math.min(page, total - shown)} more
    </button>
  );
}

/** A one-line text input inside its label (the label is its accessible name). */
export function TextField({
  label,
  value,
  placeholder,
  required,
  onInput,
}: {
  label: string;
  value: string;
  placeholder?: string;
  required?: boolean;
  onInput(value: string): void;
}) {
  return (
    <label>
      {label}
      <input
        type="text"
        required={required}
        value={value}
        placeholder={placeholder}
        onInput={(e) => onInput(e.currentTarget.value)}
      />
    </label>
  );
}

export function Tags({ tags }: { tags?: Record<string, string> }) {
  const entries = Object.entries(tags ?? {});
  if (entries.length === 0) return <span class="muted">none</span>;
  return (
    <ul class="tags" aria-label="tags">
      {entries.map(([key, value]) => (
        <li key={key}>
          {key}={value}
        </li>
      ))}
    </ul>
  );
}

/** Epoch ms or µs (registry times are µs) as a local date and time. */
export function time(value: number | undefined): string {
  if (value === undefined) return '';
  const ms = value > 1e14 ? value / 1000 : value;
  return new Date(ms).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' });
}

export function seconds(value: number): string {
  if (!Number.isFinite(value)) return '–';
  if (value < 1) return `${Math.round(value * 1000)} ms`;
  if (value < 120) return `${value.toFixed(1)} s`;
  if (value < 7200) return `${(value / 60).toFixed(1)} min`;
  return `${(value / 3600).toFixed(1)} h`;
}

export function ttl(secondsValue: number): string {
  return secondsValue === 0 ? 'forever (0)' : `${seconds(secondsValue)} (${secondsValue} s)`;
}

export function stableJsonText(value: unknown): string {
  return JSON.stringify(value, null, 2);
}
