// Every actor: state, class, name, namespace, pid, node, restarts, why a
// dead one died, and the states it went through. Filtered by state on the
// server.
import { useState } from 'preact/hooks';
import { list } from '../api';
import { shortId, time } from '../format';
import { usePoll } from '../poll';
import type { ActorEvent, ActorRow } from '../types';
import { Badge, Loaded, Table } from '../ui';

const STATES = ['', 'ALIVE', 'PENDING_CREATION', 'RESTARTING', 'DEAD', 'DEPENDENCIES_UNREADY'];

/** The states in one line; each one's time, pid and cause on hover. */
function History(props: { events: ActorEvent[]; dropped: number }) {
  const detail = props.events
    .map((e) => [time(e.created_ms), e.state, e.pid ? `pid ${e.pid}` : '', e.cause ?? ''].filter(Boolean).join('  '))
    .join('\n');
  const states = props.events.map((e) => e.state).join(' → ');
  return (
    <span class="muted history" title={detail}>
      {props.dropped > 0 ? `… ${states}` : states}
    </span>
  );
}

export function Actors() {
  const [state, setState] = useState('');
  const polled = usePoll(
    (signal) =>
      list<ActorRow>(
        'actors',
        { detail: true, limit: 10000, filters: state ? [{ key: 'state', predicate: '=', value: state }] : [] },
        signal,
      ),
    [state],
  );
  return (
    <>
      <div class="toolbar">
        <label>
          State{' '}
          <select value={state} onChange={(e) => setState((e.target as HTMLSelectElement).value)}>
            {STATES.map((s) => (
              <option key={s} value={s}>
                {s || 'any'}
              </option>
            ))}
          </select>
        </label>
      </div>
      <Loaded polled={polled}>
        {(d) => (
          <>
            <p class="muted">
              {d.num_after_truncation} shown of {d.num_filtered} matching ({d.total} actors)
            </p>
            <Table
              testId="actors"
              columns={[
                { title: 'Actor', cell: (a) => <code title={a.actor_id}>{shortId(a.actor_id)}</code> },
                { title: 'State', cell: (a) => <Badge state={a.state} /> },
                { title: 'Class', cell: (a) => a.class_name },
                { title: 'Name', cell: (a) => a.name },
                { title: 'Namespace', cell: (a) => a.ray_namespace },
                { title: 'PID', cell: (a) => a.pid ?? '', numeric: true },
                { title: 'Node', cell: (a) => shortId(a.node_id) },
                { title: 'Restarts', cell: (a) => `${a.num_restarts} / ${a.max_restarts < 0 ? '∞' : a.max_restarts}` },
                { title: 'Death cause', cell: (a) => <span class="error-text">{a.death_cause ?? ''}</span> },
                { title: 'History', cell: (a) => <History events={a.events ?? []} dropped={a.num_events_dropped ?? 0} /> },
              ]}
              rows={d.result}
              rowKey={(a) => a.actor_id}
              empty="no actors"
            />
          </>
        )}
      </Loaded>
    </>
  );
}
