// Each node and its processes at a glance: the node service, the store,
// drivers and workers with their pid, role, CPU and memory, and what each
// worker runs now (its actor, or the tasks it is running).
import { list, optional } from '../api';
import { bytes, number, shortId, time } from '../format';
import { usePoll } from '../poll';
import type { ActorRow, NodeRow, ProcessRow, TaskRow, WorkerRow } from '../types';
import { Badge, Loaded, Section, Table, href } from '../ui';
import { Meter } from './Overview';

/** One process of a node, from whichever sources know of its pid. */
export interface ProcessView {
  pid: number;
  role: string;
  cpu?: number;
  rss?: number;
  worker?: WorkerRow;
  runs: string;
}

interface NodesData {
  nodes: NodeRow[];
  processes: Map<string, ProcessView[]>;
  /** False when the dashboard has no per-process figures. */
  haveStats: boolean;
}

function runsText(pid: number, actors: Map<number, ActorRow>, running: Map<number, string[]>, w?: WorkerRow) {
  const actor = actors.get(pid);
  if (actor) return `actor ${actor.class_name}${actor.name ? ` "${actor.name}"` : ''}`;
  const tasks = running.get(pid);
  if (tasks?.length) {
    const counts = new Map<string, number>();
    for (const name of tasks) counts.set(name || '(unnamed)', (counts.get(name || '(unnamed)') ?? 0) + 1);
    const names = [...counts].map(([name, n]) => (n > 1 ? `${name} ×${n}` : name));
    return `running ${names.slice(0, 5).join(', ')}${names.length > 5 ? `, … (${names.length} functions)` : ''}`;
  }
  if (w?.worker_type === 'DRIVER') return `driver of job ${w.job_id}`;
  if (w) return w.is_leased ? 'leased' : 'idle';
  return '';
}

async function load(signal: AbortSignal): Promise<NodesData> {
  // Without detail: the fields this needs (worker_pid, func_or_class_name, type) and no more.
  const running = { filters: [{ key: 'state', predicate: '=' as const, value: 'RUNNING' }] };
  const [nodes, stats, workers, actors, tasks] = await Promise.all([
    list<NodeRow>('nodes', { detail: true, limit: 10000 }, signal),
    optional(() => list<ProcessRow>('node_processes', { limit: 10000 }, signal)),
    list<WorkerRow>('workers', { detail: true, limit: 10000 }, signal),
    list<ActorRow>('actors', { detail: true, limit: 10000, filters: [{ key: 'state', predicate: '=', value: 'ALIVE' }] }, signal),
    list<TaskRow>('tasks', { ...running, limit: 10000 }, signal),
  ]);
  const actorByPid = new Map<number, ActorRow>();
  for (const a of actors.result) if (a.pid) actorByPid.set(a.pid, a);
  const runningByPid = new Map<number, string[]>();
  for (const t of tasks.result) {
    if (!t.worker_pid || t.type === 'ACTOR_CREATION_TASK') continue;
    const names = runningByPid.get(t.worker_pid) ?? [];
    names.push(t.func_or_class_name || t.name);
    runningByPid.set(t.worker_pid, names);
  }
  const byNode = new Map<string, Map<number, ProcessView>>();
  const at = (node: string) => {
    let m = byNode.get(node);
    if (!m) byNode.set(node, (m = new Map()));
    return m;
  };
  for (const w of workers.result) {
    if (!w.is_alive) continue;
    at(w.node_id).set(w.pid, {
      pid: w.pid,
      role: w.worker_type === 'DRIVER' ? 'driver' : actorByPid.has(w.pid) ? 'actor worker' : 'worker',
      worker: w,
      runs: runsText(w.pid, actorByPid, runningByPid, w),
    });
  }
  for (const p of stats?.result ?? []) {
    const m = at(p.node_id);
    const known = m.get(p.pid);
    const view = known ?? { pid: p.pid, role: p.component, runs: runsText(p.pid, actorByPid, runningByPid) };
    view.cpu = p.cpu_percent;
    view.rss = p.rss_bytes;
    if (!known) m.set(p.pid, view);
  }
  const processes = new Map<string, ProcessView[]>();
  for (const [node, m] of byNode) processes.set(node, [...m.values()].sort((a, b) => a.pid - b.pid));
  return { nodes: nodes.result, processes, haveStats: stats !== null };
}

export function Nodes(props: { params: URLSearchParams }) {
  const polled = usePoll(load, []);
  const only = props.params.get('node');
  return (
    <Loaded polled={polled}>
      {(d) => (
        <>
          {!d.haveStats && <p class="muted">This dashboard does not report per-process CPU and memory.</p>}
          {d.nodes
            .filter((n) => !only || n.node_id === only)
            .map((n) => (
              <Section key={n.node_id} title={`Node ${n.node_ip}${n.is_head_node ? ' (head)' : ''}${n.is_driver_node ? " (a driver's)" : ''}`} testId="node">
                <p>
                  <Badge state={n.state} /> <code>{n.node_id}</code> · node service pid {n.pid} · started{' '}
                  {time(n.start_time_ms)}
                </p>
                {Object.entries(n.resources_total ?? {}).map(([name, total]) => (
                  <Meter
                    key={name}
                    label={name}
                    used={total - (n.resources_available?.[name] ?? total)}
                    total={total}
                  />
                ))}
                <Table
                  testId="processes"
                  columns={[
                    { title: 'PID', cell: (p) => p.pid, numeric: true },
                    { title: 'Role', cell: (p) => p.role },
                    { title: 'CPU %', cell: (p) => number(p.cpu), numeric: true },
                    { title: 'RSS', cell: (p) => bytes(p.rss), numeric: true },
                    { title: 'Worker', cell: (p) => shortId(p.worker?.worker_id) },
                    { title: 'Job', cell: (p) => p.worker?.job_id ?? '' },
                    { title: 'Runs', cell: (p) => p.runs },
                    {
                      title: 'Logs',
                      cell: (p) => <a href={href('/logs', { node: n.node_id, pid: String(p.pid) })}>logs</a>,
                    },
                  ]}
                  rows={d.processes.get(n.node_id) ?? []}
                  rowKey={(p) => String(p.pid)}
                  empty={n.state === 'ALIVE' ? 'no processes reported' : 'the node is dead'}
                />
              </Section>
            ))}
        </>
      )}
    </Loaded>
  );
}
