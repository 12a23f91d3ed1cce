// Tasks: counts by function and state (the summary), and a list filtered on
// the server (state, function, job, type, node) with each failed task's error.
import { useState } from 'preact/hooks';
import type { Filter } from '../api';
import { list, summarizeTasks } from '../api';
import { shortId, time } from '../format';
import { usePoll } from '../poll';
import type { TaskRow } from '../types';
import { Badge, Loaded, Section, Table } from '../ui';

const STATES = [
  '',
  'PENDING_ARGS_AVAIL',
  'PENDING_NODE_ASSIGNMENT',
  'SUBMITTED_TO_WORKER',
  'RUNNING',
  'FINISHED',
  'FAILED',
];
const TYPES = ['', 'NORMAL_TASK', 'ACTOR_CREATION_TASK', 'ACTOR_TASK'];
const LIMITS = [100, 1000, 10000];

interface TaskFilters {
  state: string;
  func: string;
  job: string;
  type: string;
  limit: number;
  offset: number; // matching attempts before this page (oldest first)
}

function filtersOf(f: TaskFilters): Filter[] {
  const out: Filter[] = [];
  if (f.state) out.push({ key: 'state', predicate: '=', value: f.state });
  if (f.func.trim()) out.push({ key: 'func_or_class_name', predicate: '=', value: f.func.trim() });
  if (f.job.trim()) out.push({ key: 'job_id', predicate: '=', value: f.job.trim() });
  if (f.type) out.push({ key: 'type', predicate: '=', value: f.type });
  return out;
}

function Summary(props: { setFunc: (name: string) => void }) {
  const polled = usePoll((signal) => summarizeTasks({}, signal), []);
  return (
    <Section title="Counts by function and state" testId="task-summary">
      <Loaded polled={polled}>
        {(s) => (
          <>
            <p class="muted">
              {s.total_tasks} tasks, {s.total_actor_tasks} actor tasks, {s.total_actor_scheduled} actors scheduled
            </p>
            <Table
              columns={[
                {
                  title: 'Function or class',
                  cell: (e) => (
                    <a href="#/tasks" onClick={(ev) => (ev.preventDefault(), props.setFunc(e.func_or_class_name))}>
                      {e.func_or_class_name}
                    </a>
                  ),
                },
                { title: 'Type', cell: (e) => e.type },
                {
                  title: 'States',
                  cell: (e) =>
                    Object.entries(e.state_counts).map(([state, n]) => (
                      <span key={state} class="count">
                        <Badge state={state} /> {n}
                      </span>
                    )),
                },
              ]}
              rows={Object.values(s.summary)}
              rowKey={(e) => `${e.func_or_class_name}/${e.type}`}
              empty="no tasks recorded"
            />
          </>
        )}
      </Loaded>
    </Section>
  );
}

// Pages of the matching attempts, oldest first; "Newest" is the last page.
function Pager(props: { offset: number; limit: number; matching: number; go: (offset: number) => void }) {
  const { offset, limit, matching, go } = props;
  const last = Math.max(0, Math.floor((matching - 1) / limit) * limit);
  if (matching <= limit && offset === 0) return null;
  return (
    <p class="toolbar" data-testid="task-pager">
      <button type="button" disabled={offset === 0} onClick={() => go(0)}>
        Oldest
      </button>
      <button type="button" disabled={offset === 0} onClick={() => go(Math.max(0, offset - limit))}>
        Previous
      </button>
      <span class="muted">
        page {Math.floor(offset / limit) + 1} of {Math.floor(last / limit) + 1}
      </span>
      <button type="button" disabled={offset >= last} onClick={() => go(Math.min(last, offset + limit))}>
        Next
      </button>
      <button type="button" disabled={offset >= last} onClick={() => go(last)}>
        Newest
      </button>
    </p>
  );
}

export function Tasks(props: { params: URLSearchParams }) {
  const [f, setF] = useState<TaskFilters>({
    state: props.params.get('state') ?? '',
    func: props.params.get('func') ?? '',
    job: '',
    type: '',
    limit: 100,
    offset: 0,
  });
  // Text fields apply when the form is sent, not on each key.
  const [draft, setDraft] = useState({ func: f.func, job: f.job });
  const filters = filtersOf(f);
  const polled = usePoll(
    (signal) => list<TaskRow>('tasks', { detail: true, limit: f.limit, offset: f.offset, filters }, signal),
    [JSON.stringify(filters), f.limit, f.offset],
  );
  // A new filter or page size starts again at the first page.
  const set = (patch: Partial<TaskFilters>) => setF({ ...f, offset: 0, ...patch });
  return (
    <>
      <Summary setFunc={(func) => (setDraft({ ...draft, func }), set({ func }))} />
      <Section title="Tasks" testId="task-list">
        <form
          class="toolbar"
          onSubmit={(e) => {
            e.preventDefault();
            set({ func: draft.func, job: draft.job });
          }}
        >
          <label>
            State{' '}
            <select
              name="state"
              value={f.state}
              onChange={(e) => set({ state: (e.target as HTMLSelectElement).value })}
            >
              {STATES.map((s) => (
                <option key={s} value={s}>
                  {s || 'any'}
                </option>
              ))}
            </select>
          </label>
          <label>
            Type{' '}
            <select value={f.type} onChange={(e) => set({ type: (e.target as HTMLSelectElement).value })}>
              {TYPES.map((s) => (
                <option key={s} value={s}>
                  {s || 'any'}
                </option>
              ))}
            </select>
          </label>
          <label>
            Function{' '}
            <input
              name="func"
              value={draft.func}
              onInput={(e) => setDraft({ ...draft, func: (e.target as HTMLInputElement).value })}
            />
          </label>
          <label>
            Job{' '}
            <input
              name="job"
              size={10}
              value={draft.job}
              onInput={(e) => setDraft({ ...draft, job: (e.target as HTMLInputElement).value })}
            />
          </label>
          <label>
            Show{' '}
            <select value={f.limit} onChange={(e) => set({ limit: Number((e.target as HTMLSelectElement).value) })}>
              {LIMITS.map((n) => (
                <option key={n} value={n}>
                  {n}
                </option>
              ))}
            </select>
          </label>
          <button type="submit">Apply</button>
        </form>
        <Loaded polled={polled}>
          {(d) => (
            <>
              <p class="muted" data-testid="task-count">
                {d.num_after_truncation > 0
                  ? `${f.offset + 1}–${f.offset + d.num_after_truncation} shown`
                  : 'none shown'}{' '}
                of {d.num_filtered} matching ({d.total} task attempts kept
                {d.num_dropped ? `, ${d.num_dropped} dropped` : ''})
              </p>
              <Pager
                offset={f.offset}
                limit={f.limit}
                matching={d.num_filtered}
                go={(offset) => setF({ ...f, offset })}
              />
              <Table
                testId="tasks"
                columns={[
                  { title: 'Task', cell: (t) => <code title={t.task_id}>{shortId(t.task_id)}</code> },
                  { title: 'Attempt', cell: (t) => t.attempt_number, numeric: true },
                  { title: 'Function', cell: (t) => t.func_or_class_name },
                  { title: 'Type', cell: (t) => t.type },
                  { title: 'State', cell: (t) => <Badge state={t.state} /> },
                  { title: 'Job', cell: (t) => t.job_id },
                  { title: 'Node', cell: (t) => shortId(t.node_id) },
                  { title: 'PID', cell: (t) => t.worker_pid ?? '', numeric: true },
                  { title: 'Created', cell: (t) => time(t.creation_time_ms) },
                  {
                    title: 'Error',
                    cell: (t) =>
                      t.error_type || t.error_message ? (
                        <details class="error-text" open={f.state === 'FAILED'}>
                          <summary>{t.error_type ?? 'error'}</summary>
                          <pre>{t.error_message ?? ''}</pre>
                        </details>
                      ) : (
                        ''
                      ),
                  },
                ]}
                rows={d.result}
                rowKey={(t) => `${t.task_id}:${t.attempt_number}`}
                rowClass={(t) => (t.state === 'FAILED' ? 'failed' : undefined)}
                empty="no task matches"
              />
            </>
          )}
        </Loaded>
      </Section>
    </>
  );
}
