// The cluster at a glance: logical resources used of total, nodes, jobs,
// task counts and the latest failed tasks.
import { list, summarizeTasks } from '../api';
import { number, shortId, time } from '../format';
import { usePoll } from '../poll';
import type { JobRow, NodeRow, TaskRow } from '../types';
import { Badge, Loaded, Section, Table, href } from '../ui';

interface OverviewData {
  nodes: NodeRow[];
  jobs: JobRow[];
  failed: TaskRow[];
  failedTotal: number;
  stateCounts: Record<string, number>;
  totalTasks: number;
}

async function load(signal: AbortSignal): Promise<OverviewData> {
  const failedQuery = { filters: [{ key: 'state', predicate: '=' as const, value: 'FAILED' }], detail: true };
  const [nodes, jobs, failed, summary] = await Promise.all([
    list<NodeRow>('nodes', { detail: true, limit: 10000 }, signal),
    list<JobRow>('jobs', { detail: true, limit: 10000 }, signal),
    list<TaskRow>('tasks', { ...failedQuery, limit: 10000 }, signal),
    summarizeTasks({}, signal),
  ]);
  const stateCounts: Record<string, number> = {};
  for (const entry of Object.values(summary.summary))
    for (const [state, n] of Object.entries(entry.state_counts)) stateCounts[state] = (stateCounts[state] ?? 0) + n;
  // Tasks come oldest first: the latest failures are the last ones.
  const recent = [...failed.result].sort((a, b) => (b.end_time_ms ?? 0) - (a.end_time_ms ?? 0)).slice(0, 10);
  return {
    nodes: nodes.result,
    jobs: jobs.result,
    failed: recent,
    failedTotal: failed.num_filtered,
    stateCounts,
    totalTasks: summary.total_tasks,
  };
}

/** Used and total of each logical resource over the alive nodes. */
function clusterResources(nodes: NodeRow[]) {
  const total: Record<string, number> = {};
  const used: Record<string, number> = {};
  for (const n of nodes) {
    if (n.state !== 'ALIVE') continue;
    for (const [name, amount] of Object.entries(n.resources_total ?? {})) {
      total[name] = (total[name] ?? 0) + amount;
      const available = n.resources_available?.[name] ?? amount;
      used[name] = (used[name] ?? 0) + (amount - available);
    }
  }
  return Object.keys(total)
    .sort()
    .map((name) => ({ name, used: used[name], total: total[name] }));
}

export function Meter(props: { used: number; total: number; label: string }) {
  const share = props.total > 0 ? Math.min(1, props.used / props.total) : 0;
  return (
    <div class="meter" title={`${props.label}: ${number(props.used, 2)} of ${number(props.total, 2)}`}>
      <div class="meter-fill" style={{ width: `${(share * 100).toFixed(1)}%` }} />
      <span class="meter-text">
        {props.label} {number(props.used, 2)} / {number(props.total, 2)}
      </span>
    </div>
  );
}

export function Overview() {
  const polled = usePoll(load, []);
  return (
    <Loaded polled={polled}>
      {(d) => {
        const alive = d.nodes.filter((n) => n.state === 'ALIVE').length;
        return (
          <>
            <div class="cards">
              <div class="card" data-testid="card-nodes">
                <div class="card-value">{alive}</div>
                <div class="card-label">nodes alive ({d.nodes.length - alive} dead)</div>
              </div>
              <div class="card">
                <div class="card-value">{d.jobs.filter((j) => j.status === 'RUNNING').length}</div>
                <div class="card-label">jobs running ({d.jobs.length} in all)</div>
              </div>
              <div class="card">
                <div class="card-value">{d.totalTasks}</div>
                <div class="card-label">tasks recorded</div>
              </div>
              <div class="card">
                <div class="card-value">{d.failedTotal}</div>
                <div class="card-label">tasks failed</div>
              </div>
            </div>
            <Section title="Cluster resources (logical, used / total)" testId="resources">
              {clusterResources(d.nodes).map((r) => (
                <Meter key={r.name} label={r.name} used={r.used} total={r.total} />
              ))}
            </Section>
            <Section title="Tasks by state">
              <p>
                {Object.entries(d.stateCounts).map(([state, n]) => (
                  <span key={state} class="count">
                    <Badge state={state} /> {n}
                  </span>
                ))}
                {Object.keys(d.stateCounts).length === 0 && <span class="muted">no tasks recorded</span>}
              </p>
            </Section>
            <Section title="Nodes">
              <Table
                columns={[
                  { title: 'Node', cell: (n) => <a href={href('/nodes', { node: n.node_id })}>{shortId(n.node_id)}</a> },
                  { title: 'IP', cell: (n) => n.node_ip },
                  { title: 'Head', cell: (n) => (n.is_head_node ? 'yes' : '') },
                  { title: 'State', cell: (n) => <Badge state={n.state} /> },
                  { title: 'Started', cell: (n) => time(n.start_time_ms) },
                ]}
                rows={d.nodes}
                rowKey={(n) => n.node_id}
              />
            </Section>
            <Section title="Jobs">
              <Table
                columns={[
                  { title: 'Job', cell: (j) => j.job_id },
                  { title: 'Type', cell: (j) => j.type },
                  { title: 'Status', cell: (j) => <Badge state={j.status} /> },
                  { title: 'Driver pid', cell: (j) => j.driver_info?.pid ?? '' },
                  { title: 'Started', cell: (j) => time(j.start_time) },
                  { title: 'Ended', cell: (j) => time(j.end_time) },
                ]}
                rows={[...d.jobs].reverse().slice(0, 10)}
                rowKey={(j) => j.job_id}
                empty="no jobs"
              />
            </Section>
            <Section title="Recent failed tasks" testId="recent-failures">
              <Table
                columns={[
                  { title: 'Task', cell: (t) => shortId(t.task_id) },
                  { title: 'Function', cell: (t) => t.func_or_class_name },
                  { title: 'Error', cell: (t) => t.error_type ?? '' },
                  { title: 'Message', cell: (t) => <pre class="error-text">{t.error_message ?? ''}</pre> },
                  { title: 'Ended', cell: (t) => time(t.end_time_ms) },
                ]}
                rows={d.failed}
                rowKey={(t) => `${t.task_id}:${t.attempt_number}`}
                empty="no failed tasks"
              />
            </Section>
          </>
        );
      }}
    </Loaded>
  );
}
