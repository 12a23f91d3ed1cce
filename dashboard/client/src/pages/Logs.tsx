// Logs: a node's log files by category (/api/v0/logs), one file's last lines
// followed live (/api/v0/logs/file), and the whole file to download. A
// process's files are found by its pid in their names (Ray's layout:
// worker-<id>-<job>-<pid>.out).
import { useEffect, useState } from 'preact/hooks';
import { getJson, getText, list, optional } from '../api';
import { shortId } from '../format';
import { usePoll } from '../poll';
import type { NodeRow } from '../types';
import { Loaded, Section } from '../ui';

const TAIL_LINES = 1000;

function fileUrl(node: string, file: string, lines: number): string {
  const q = new URLSearchParams({ node_id: node, filename: file, lines: String(lines) });
  return `/api/v0/logs/file?${q.toString()}`;
}

function Viewer(props: { node: string; file: string }) {
  const [follow, setFollow] = useState(true);
  const polled = usePoll(
    (signal) => getText(fileUrl(props.node, props.file, TAIL_LINES), signal),
    [props.node, props.file, follow],
    follow ? 1500 : 0,
  );
  const [pre, setPre] = useState<HTMLPreElement | null>(null);
  useEffect(() => {
    if (follow && pre) pre.scrollTop = pre.scrollHeight;
  }, [polled.data, follow, pre]);
  return (
    <Section title={props.file} testId="log-viewer">
      <div class="toolbar">
        <label>
          <input type="checkbox" checked={follow} onChange={(e) => setFollow((e.target as HTMLInputElement).checked)} />{' '}
          follow (last {TAIL_LINES} lines)
        </label>
        <a href={fileUrl(props.node, props.file, -1)} download={props.file.split('/').pop()}>
          download the whole file
        </a>
      </div>
      <Loaded polled={polled}>{(text) => <pre class="log" ref={setPre}>{text}</pre>}</Loaded>
    </Section>
  );
}

// The files by category: the reply keys them by node id first (Lumen's
// dashboard does, for the node asked about); a flat {category: files} is taken as is.
function byCategory(result: Record<string, string[] | Record<string, string[]>>, node: string) {
  const nested = result[node];
  if (nested && !Array.isArray(nested)) return nested;
  const flat: Record<string, string[]> = {};
  for (const [key, value] of Object.entries(result)) if (Array.isArray(value)) flat[key] = value;
  return flat;
}

export function Logs(props: { params: URLSearchParams }) {
  const nodes = usePoll((signal) => list<NodeRow>('nodes', { limit: 10000 }, signal), [], 5000);
  const [node, setNode] = useState(props.params.get('node') ?? '');
  const [match, setMatch] = useState(props.params.get('pid') ?? '');
  const [file, setFile] = useState('');
  const chosen = node || nodes.data?.result.find((n) => n.is_head_node)?.node_id || nodes.data?.result[0]?.node_id || '';
  const files = usePoll(
    (signal) =>
      chosen
        ? optional(() =>
            getJson<{ data: { result: Record<string, string[] | Record<string, string[]>> } }>(
              `/api/v0/logs?node_id=${encodeURIComponent(chosen)}`,
              signal,
            ),
          )
        : Promise.resolve(undefined),
    [chosen],
    5000,
  );
  return (
    <>
      <div class="toolbar">
        <label>
          Node{' '}
          <select value={chosen} onChange={(e) => (setNode((e.target as HTMLSelectElement).value), setFile(''))}>
            {(nodes.data?.result ?? []).map((n) => (
              <option key={n.node_id} value={n.node_id}>
                {n.node_ip} {shortId(n.node_id)} {n.state === 'DEAD' ? '(dead)' : ''}
              </option>
            ))}
          </select>
        </label>
        <label>
          Name contains <input value={match} onInput={(e) => setMatch((e.target as HTMLInputElement).value)} />
        </label>
      </div>
      <Loaded polled={files}>
        {(reply) =>
          reply === null ? (
            <p class="muted" data-testid="logs-unavailable">
              This dashboard does not serve logs (<code>/api/v0/logs</code> answered 404).
            </p>
          ) : reply === undefined ? (
            <p class="muted">No node.</p>
          ) : (
            <div class="logs">
              <div class="file-list" data-testid="log-files">
                {Object.entries(byCategory(reply.data.result, chosen)).map(([category, names]) => {
                  const shown = names.filter((n) => !match || n.includes(match));
                  return shown.length === 0 ? null : (
                    <div key={category}>
                      <h3>{category}</h3>
                      <ul>
                        {shown.map((name) => (
                          <li key={name}>
                            <a
                              href="#/logs"
                              class={name === file ? 'selected' : undefined}
                              onClick={(e) => (e.preventDefault(), setFile(name))}
                            >
                              {name}
                            </a>
                          </li>
                        ))}
                      </ul>
                    </div>
                  );
                })}
              </div>
              <div class="file-view">{file ? <Viewer node={chosen} file={file} /> : <p class="muted">Pick a file.</p>}</div>
            </div>
          )
        }
      </Loaded>
    </>
  );
}
