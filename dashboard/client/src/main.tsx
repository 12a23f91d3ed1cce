// Lumen's dashboard web UI: one page, hash routes (#/overview, #/nodes, ...),
// each view polling the dashboard's API while it is shown.
import { render } from 'preact';
import { Actors } from './pages/Actors';
import { Jobs } from './pages/Jobs';
import { Logs } from './pages/Logs';
import { Metrics } from './pages/Metrics';
import { Nodes } from './pages/Nodes';
import { Objects } from './pages/Objects';
import { Overview } from './pages/Overview';
import { Tasks } from './pages/Tasks';
import { useRoute, type Route } from './ui';
import './style.css';

const PAGES: { path: string; title: string; view: (route: Route) => preact.JSX.Element }[] = [
  { path: '/overview', title: 'Overview', view: () => <Overview /> },
  { path: '/nodes', title: 'Nodes', view: (r) => <Nodes params={r.params} /> },
  { path: '/actors', title: 'Actors', view: () => <Actors /> },
  { path: '/tasks', title: 'Tasks', view: (r) => <Tasks params={r.params} /> },
  { path: '/objects', title: 'Objects', view: () => <Objects /> },
  { path: '/jobs', title: 'Jobs', view: () => <Jobs /> },
  { path: '/logs', title: 'Logs', view: (r) => <Logs params={r.params} /> },
  { path: '/metrics', title: 'Metrics', view: () => <Metrics /> },
];

function App() {
  const route = useRoute();
  const page = PAGES.find((p) => p.path === route.path);
  return (
    <>
      <header class="top">
        <span class="brand">Lumen</span>
        <nav>
          {PAGES.map((p) => (
            <a key={p.path} href={`#${p.path}`} class={p === page ? 'active' : undefined}>
              {p.title}
            </a>
          ))}
        </nav>
      </header>
      <main>
        <h1>{page?.title ?? 'Not found'}</h1>
        {page ? (
          // A key per route: a page's state starts afresh when its parameters change.
          <div key={`${route.path}?${route.params.toString()}`}>{page.view(route)}</div>
        ) : (
          <p>
            No page at <code>{route.path}</code>. <a href="#/overview">Overview</a>
          </p>
        )}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
