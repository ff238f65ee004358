import { render } from 'preact';
import type { ComponentChildren } from 'preact';
import { useEffect, useErrorBoundary, useRef, useState } from 'preact/hooks';
import './styles.css';
import { apiKey, configure, onAuthProblem, project, setApiKey, type ApiError, type UiSettings } from './api';
import { keyChanged, useRoute } from './hooks';
import { CatalogPage } from './pages/catalog';
import { ChangesPage } from './pages/changes';
import { DefinitionPage } from './pages/definition';
import { DlqPage } from './pages/dlq';
import { JobsPage } from './pages/jobs';
import { LookupPage } from './pages/lookup';
import { ProjectsPage } from './pages/projects';
import { StatusPage } from './pages/status';

const NAV = [
  { route: '', label: 'Overview' },
  { route: 'catalog', label: 'Catalog' },
  { route: 'changes', label: 'Changes' },
  { route: 'jobs', label: 'Jobs' },
  { route: 'dlq', label: 'Dead letters' },
  { route: 'lookup', label: 'Online lookup' },
  { route: 'projects', label: 'Projects' },
];

function App() {
  const route = useRoute();
  const [asking, setAsking] = useState<ApiError | 'by-hand' | undefined>();
  useEffect(() => onAuthProblem((error) => setAsking(error)), []);
  const main = useRef<HTMLElement>(null);
  // A new page: focus its content, so keyboard and screen reader users start there (not on the first
  // load, where the skip link comes first).
  const firstPage = useRef(true);
  useEffect(() => {
    if (firstPage.current) firstPage.current = false;
    else main.current?.focus({ preventScroll: true });
  }, [route.parts[0], route.parts[1]]);
  const section = route.parts[0] ?? '';
  const page = (() => {
    switch (section) {
      case '':
        return <StatusPage />;
      case 'catalog':
        return <CatalogPage route={route} />;
      case 'feature-views':
      case 'entities':
      case 'data-sources':
      case 'feature-services':
        // Keyed: another object is a new page (its history's picks, its reads), not this one updated.
        return <DefinitionPage key={`${section}/${route.parts[1] ?? ''}`} route={route} />;
      case 'changes':
        return <ChangesPage />;
      case 'jobs':
        return <JobsPage />;
      case 'dlq':
        return <DlqPage route={route} />;
      case 'lookup':
        return <LookupPage />;
      case 'projects':
        return <ProjectsPage />;
      default:
        return (
          <p role="alert">
            No page {location.hash}. <a href="#/">Overview</a>
          </p>
        );
    }
  })();
  const navSection = ['feature-views', 'entities', 'data-sources', 'feature-services'].includes(section)
    ? 'catalog'
    : section;
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), main.current?.focus())}>
        Skip to content
      </a>
      <header>
        <span class="brand">
          featurelog <span class="project">{project()}</span>
        </span>
        <nav aria-label="Main">
          {NAV.map((item) => (
            <a key={item.route} href={`#/${item.route}`} aria-current={navSection === item.route ? 'page' : undefined}>
              {item.label}
            </a>
          ))}
        </nav>
        <button type="button" class="key-button" onClick={() => setAsking('by-hand')}>
          {apiKey() ? 'API key: set' : 'API key'}
        </button>
      </header>
      {asking && (
        <KeyPrompt
          reason={asking === 'by-hand' ? undefined : asking}
          onDone={() => {
            setAsking(undefined);
            keyChanged();
          }}
          onCancel={() => setAsking(undefined)}
        />
      )}
      <main id="main" ref={main} tabIndex={-1}>
        <PageBoundary key={route.parts.slice(0, 2).join('/')}>{page}</PageBoundary>
      </main>
    </>
  );
}

/** A page that fails to draw says so in its place; the header and the other pages keep working. */
function PageBoundary({ children }: { children: ComponentChildren }) {
  const [error] = useErrorBoundary();
  if (error !== undefined) {
    return (
      <p role="alert" class="problem">
        This page could not be drawn: {String(error)}. <a href="#/">Overview</a>
      </p>
    );
  }
  return <>{children}</>;
}

/**
 * Asks for the API key after a 401/403 (or from the header button). The key stays in this tab's
 * sessionStorage: closing the tab forgets it, and no other site can read it.
 */
function KeyPrompt({ reason, onDone, onCancel }: { reason?: ApiError; onDone(): void; onCancel(): void }) {
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);
  return (
    <section class="key-prompt" role="dialog" aria-modal="false" aria-labelledby="key-prompt-title">
      <h2 id="key-prompt-title">API key</h2>
      {reason && (
        <p role="alert" class="problem problem-auth">
          {reason.status === 403
            ? `${reason.app} refused this key (${reason.message}). A key with the read, jobs and admin scopes sees every page.`
            : `${reason.app} needs an API key: ${reason.message}`}
        </p>
      )}
      <form
        onSubmit={(event) => {
          event.preventDefault();
          setApiKey(input.current!.value.trim() || undefined);
          onDone();
        }}
        onKeyDown={(event) => event.key === 'Escape' && onCancel()}
      >
        <label>
          Key (kept in this tab only)
          <input ref={input} type="password" name="api-key" autoComplete="off" defaultValue={apiKey() ?? ''} />
        </label>
        <div class="actions">
          <button type="submit">Use this key</button>
          <button
            type="button"
            onClick={() => {
              setApiKey(undefined);
              onDone();
            }}
          >
            Forget the key
          </button>
          <button type="button" onClick={onCancel}>
            Close
          </button>
        </div>
      </form>
    </section>
  );
}

async function start(): Promise<void> {
  const root = document.getElementById('app')!;
  try {
    const response = await fetch('/config.json');
    if (!response.ok) throw new Error(`/config.json: ${response.status}`);
    configure((await response.json()) as UiSettings);
  } catch (error) {
    root.innerHTML = '';
    const message = document.createElement('p');
    message.setAttribute('role', 'alert');
    message.textContent = `The featurelog UI could not read its settings: ${String(error)}`;
    root.append(message);
    return;
  }
  document.title = `featurelog · ${project()}`;
  root.innerHTML = '';
  render(<App />, root);
}

void start();
