// Pieces every page uses: tables, state badges, messages, the hash route.
import type { ComponentChildren, JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { Polled } from './poll';

export interface Column<R> {
  title: string;
  cell: (row: R) => ComponentChildren;
  /** Right-aligned numbers. */
  numeric?: boolean;
}

export function Table<R>(props: {
  columns: Column<R>[];
  rows: R[];
  rowKey: (row: R, index: number) => string;
  empty?: string;
  testId?: string;
  rowClass?: (row: R) => string | undefined;
}): JSX.Element {
  const { columns, rows } = props;
  return (
    <table class="table" data-testid={props.testId}>
      <thead>
        <tr>
          {columns.map((c) => (
            <th key={c.title} class={c.numeric ? 'num' : undefined}>
              {c.title}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.length === 0 ? (
          <tr>
            <td colSpan={columns.length} class="empty">
              {props.empty ?? 'none'}
            </td>
          </tr>
        ) : (
          rows.map((r, i) => (
            <tr key={props.rowKey(r, i)} class={props.rowClass?.(r)}>
              {columns.map((c) => (
                <td key={c.title} class={c.numeric ? 'num' : undefined}>
                  {c.cell(r)}
                </td>
              ))}
            </tr>
          ))
        )}
      </tbody>
    </table>
  );
}

const GOOD = new Set(['ALIVE', 'FINISHED', 'SUCCEEDED', 'RUNNING', 'CREATED']);
const BAD = new Set(['DEAD', 'FAILED', 'STOPPED', 'REMOVED']);

export function Badge(props: { state: unknown }) {
  const s = typeof props.state === 'string' ? props.state : String(props.state ?? '');
  const kind = BAD.has(s) ? 'bad' : GOOD.has(s) ? 'good' : 'pending';
  return <span class={`badge ${kind}`}>{s}</span>;
}

/** A loading line, the last error (data already shown stays), or the content. */
export function Loaded<T>(props: { polled: Polled<T>; children: (data: T) => ComponentChildren }) {
  const { polled } = props;
  return (
    <>
      {polled.error && <p class="error">Could not load: {polled.error}</p>}
      {polled.data !== undefined ? props.children(polled.data) : !polled.error && <p class="muted">Loading…</p>}
    </>
  );
}

export function Section(props: { title: string; children: ComponentChildren; testId?: string }) {
  return (
    <section class="section" data-testid={props.testId}>
      <h2>{props.title}</h2>
      {props.children}
    </section>
  );
}

/** The route: the part of the hash before '?', and its parameters. */
export interface Route {
  path: string;
  params: URLSearchParams;
}

function currentRoute(): Route {
  const hash = window.location.hash.replace(/^#/, '') || '/overview';
  const mark = hash.indexOf('?');
  return mark < 0
    ? { path: hash, params: new URLSearchParams() }
    : { path: hash.slice(0, mark), params: new URLSearchParams(hash.slice(mark + 1)) };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(currentRoute);
  useEffect(() => {
    const onChange = () => setRoute(currentRoute());
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

export function href(path: string, params: Record<string, string> = {}): string {
  const q = new URLSearchParams(params).toString();
  return `#${path}${q ? `?${q}` : ''}`;
}
