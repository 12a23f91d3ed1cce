// The object stores: each node's use of its store, and the largest objects
// with who holds them (the creator's process, the owner, readers' pins).
import { list } from '../api';
import { bytes, shortId } from '../format';
import { usePoll } from '../poll';
import type { NodeRow, ObjectRow, WorkerRow } from '../types';
import { Loaded, Section, Table } from '../ui';
import { Meter } from './Overview';

async function load(signal: AbortSignal) {
  const [nodes, objects, workers] = await Promise.all([
    list<NodeRow>('nodes', { detail: true, limit: 10000 }, signal),
    list<ObjectRow>('objects', { detail: true, limit: 10000 }, signal),
    list<WorkerRow>('workers', { detail: true, limit: 10000 }, signal),
  ]);
  return { nodes: nodes.result, objects: objects.result, total: objects.total, workers: workers.result };
}

export function Objects() {
  const polled = usePoll(load, []);
  return (
    <Loaded polled={polled}>
      {(d) => {
        const used = new Map<string, { bytes: number; count: number }>();
        for (const o of d.objects) {
          const u = used.get(o.node_id) ?? { bytes: 0, count: 0 };
          u.bytes += o.object_size;
          u.count += 1;
          used.set(o.node_id, u);
        }
        const ownerPid = new Map(d.workers.map((w) => [w.worker_id, w]));
        const largest = [...d.objects].sort((a, b) => b.object_size - a.object_size).slice(0, 50);
        return (
          <>
            <Section title="Store use per node" testId="store-use">
              {d.nodes
                .filter((n) => n.state === 'ALIVE')
                .map((n) => {
                  const u = used.get(n.node_id) ?? { bytes: 0, count: 0 };
                  const capacity = n.resources_total?.object_store_memory ?? 0;
                  return (
                    <div key={n.node_id}>
                      <Meter
                        label={`${n.node_ip} ${shortId(n.node_id)}: ${bytes(u.bytes)} in ${u.count} objects of ${bytes(capacity)}`}
                        used={u.bytes / 2 ** 20}
                        total={capacity / 2 ** 20}
                      />
                    </div>
                  );
                })}
              <p class="muted">Figures in MiB. Small values live in their owner's memory and are not listed.</p>
            </Section>
            <Section title={`Largest objects (${d.total} in the stores)`} testId="objects">
              <Table
                columns={[
                  { title: 'Object', cell: (o) => <code title={o.object_id}>{shortId(o.object_id)}</code> },
                  { title: 'Size', cell: (o) => bytes(o.object_size), numeric: true },
                  { title: 'Node', cell: (o) => o.ip },
                  { title: 'Creator pid', cell: (o) => o.pid ?? '', numeric: true },
                  {
                    title: 'Owner',
                    cell: (o) => {
                      const w = ownerPid.get(o.owner_worker_id);
                      return w ? `${w.worker_type.toLowerCase()} pid ${w.pid}` : shortId(o.owner_worker_id);
                    },
                  },
                  { title: 'Reference', cell: (o) => o.reference_type },
                  { title: 'Readers', cell: (o) => o.pins, numeric: true },
                  { title: 'State', cell: (o) => `${o.task_status} ${o.type === 'FREED' ? '(freed)' : ''}` },
                ]}
                rows={largest}
                rowKey={(o) => `${o.node_id}/${o.object_id}`}
                empty="no objects in the stores"
              />
            </Section>
          </>
        );
      }}
    </Loaded>
  );
}
