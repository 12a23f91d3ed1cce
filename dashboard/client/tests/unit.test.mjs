// Unit tests of the UI's pure parts, run by node's test runner (ctest:
// dashboard_ui_unit): the Prometheus text reader the Metrics page charts
// from, and the state API query strings the pages send. Each module is
// bundled from its TypeScript source with esbuild (a Vite dependency) and
// imported from memory.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const src = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src');

async function load(file) {
  const out = await build({
    entryPoints: [path.join(src, file)],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    write: false,
    logLevel: 'silent',
  });
  return import(`data:text/javascript;base64,${Buffer.from(out.outputFiles[0].text).toString('base64')}`);
}

const { parseMetrics, sumBy } = await load('prometheus.ts');
const { listQuery } = await load('api.ts');

const TEXT = `# HELP ray_tasks Tasks by state and name
# TYPE ray_tasks gauge
ray_tasks{SessionName="s",State="FINISHED",Name="Square"} 5
ray_tasks{SessionName="s",State="FAILED",Name="Boom"} 1
ray_tasks{SessionName="s",State="FINISHED",Name="Boom"} 2 1700000000000
ray_cluster_active_nodes{SessionName="s"} 3
lumen_plain 7.5
odd{Name="a \\"quoted\\" \\\\ back\\nslash, comma"} +Inf
bad{Name="x"} not-a-number
`;

test('samples keep their name, labels and value; comments, timestamps and bad values are skipped', () => {
  const samples = parseMetrics(TEXT);
  assert.equal(samples.length, 6);
  assert.deepEqual(samples[0], {
    name: 'ray_tasks',
    labels: { SessionName: 's', State: 'FINISHED', Name: 'Square' },
    value: 5,
  });
  assert.equal(samples[2].value, 2); // the timestamp is not the value
  assert.deepEqual(samples[4], { name: 'lumen_plain', labels: {}, value: 7.5 });
  assert.equal(samples[5].labels.Name, 'a "quoted" \\ back\nslash, comma');
  assert.equal(samples[5].value, Infinity);
});

test('sumBy adds up a metric by the values of its labels, where the others match', () => {
  const samples = parseMetrics(TEXT);
  assert.deepEqual([...sumBy(samples, 'ray_tasks', ['State'])], [
    ['FINISHED', 7],
    ['FAILED', 1],
  ]);
  assert.deepEqual([...sumBy(samples, 'ray_tasks', ['State'], { Name: 'Boom' })], [
    ['FAILED', 1],
    ['FINISHED', 2],
  ]);
  assert.deepEqual([...sumBy(samples, 'ray_cluster_active_nodes', [])], [['ray_cluster_active_nodes', 3]]);
  assert.equal(sumBy(samples, 'no_such_metric', ['State']).size, 0);
});

test('list queries use Ray parameter names, one triple per filter, with values encoded', () => {
  assert.equal(listQuery(), '');
  const q = new URLSearchParams(
    listQuery({
      filters: [
        { key: 'state', predicate: '=', value: 'FAILED' },
        { key: 'func_or_class_name', predicate: '!=', value: 'a&b=c' },
      ],
      limit: 1000,
      detail: true,
    }).slice(1),
  );
  assert.deepEqual(q.getAll('filter_keys'), ['state', 'func_or_class_name']);
  assert.deepEqual(q.getAll('filter_predicates'), ['=', '!=']);
  assert.deepEqual(q.getAll('filter_values'), ['FAILED', 'a&b=c']);
  assert.equal(q.get('limit'), '1000');
  assert.equal(q.get('detail'), '1');
  assert.equal(listQuery({ limit: 5 }), '?limit=5');
  assert.equal(listQuery({ limit: 100, offset: 200 }), '?limit=100&offset=200');
  assert.equal(listQuery({ offset: 0 }), '');
});
