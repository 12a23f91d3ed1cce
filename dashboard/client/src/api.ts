// The dashboard's HTTP API as the page uses it: Ray's state API
// (/api/v0/<resource> with server-side filters and limit), the Jobs API
// (/api/jobs/), logs (/api/v0/logs) and /metrics. Requests go to the origin
// that served the page and carry the login cookie (HttpOnly, set by /login);
// a 401 means the session is gone (a restarted cluster has a new token), so
// the page goes back to the login form.

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

// A page polls several endpoints at once, and each gets the 401: only the
// first goes to the login form, since a second navigation would abort it.
let leaving = false;

async function request(path: string, signal?: AbortSignal): Promise<Response> {
  const res = await fetch(path, { credentials: 'same-origin', signal });
  if (res.status === 401) {
    if (!leaving) {
      leaving = true;
      window.location.assign('/login');
    }
    throw new HttpError(401, 'signed out: the cluster token is required');
  }
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`;
    try {
      const body = await res.json();
      if (body && typeof body.msg === 'string' && body.msg) message = body.msg;
    } catch {
      // not JSON: keep the status line
    }
    throw new HttpError(res.status, message);
  }
  return res;
}

export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  return (await request(path, signal)).json() as Promise<T>;
}

export async function getText(path: string, signal?: AbortSignal): Promise<string> {
  return (await request(path, signal)).text();
}

export type Row = Record<string, unknown>;

/** Ray's list reply (`data.result` of /api/v0/<resource>). */
export interface ListResult<R = Row> {
  total: number;
  num_filtered: number;
  num_after_truncation: number;
  result: R[];
  warnings?: string[] | null;
  /** Tasks only (a Lumen addition): attempts the control service no longer keeps. */
  num_dropped?: number;
}

interface Envelope<T> {
  result: boolean;
  msg: string;
  data: { result: T };
}

export interface Filter {
  key: string;
  predicate: '=' | '!=';
  value: string;
}

export interface ListOptions {
  filters?: Filter[];
  limit?: number;
  /** Matching rows skipped before the limit (a Lumen addition: paging). */
  offset?: number;
  detail?: boolean;
}

/** The query string of a state API list request (Ray's parameter names). */
export function listQuery(options: ListOptions = {}): string {
  const params = new URLSearchParams();
  for (const f of options.filters ?? []) {
    params.append('filter_keys', f.key);
    params.append('filter_predicates', f.predicate);
    params.append('filter_values', f.value);
  }
  if (options.limit !== undefined) params.set('limit', String(options.limit));
  if (options.offset) params.set('offset', String(options.offset));
  if (options.detail) params.set('detail', '1');
  const text = params.toString();
  return text ? `?${text}` : '';
}

export async function list<R = Row>(resource: string, options: ListOptions = {}, signal?: AbortSignal) {
  const body = await getJson<Envelope<ListResult<R>>>(`/api/v0/${resource}${listQuery(options)}`, signal);
  return body.data.result;
}

export interface StateCounts {
  func_or_class_name: string;
  type: string;
  state_counts: Record<string, number>;
}

export interface TaskSummary {
  summary: Record<string, StateCounts>;
  total_tasks: number;
  total_actor_tasks: number;
  total_actor_scheduled: number;
}

export async function summarizeTasks(options: ListOptions = {}, signal?: AbortSignal) {
  const body = await getJson<Envelope<{ result: { node_id_to_summary: { cluster: TaskSummary } } }>>(
    `/api/v0/tasks/summarize${listQuery(options)}`,
    signal,
  );
  return body.data.result.result.node_id_to_summary.cluster;
}

/**
 * A request to an endpoint this dashboard may not serve (yet): the reply, or
 * null when it answers 404.
 */
export async function optional<T>(load: () => Promise<T>): Promise<T | null> {
  try {
    return await load();
  } catch (e) {
    if (e instanceof HttpError && e.status === 404) return null;
    throw e;
  }
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
