// Charts of the cluster's metrics over time (uPlot), fed by the sampler.
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { CHARTS, SAMPLE_MS, WINDOW, sampler, type ChartSpec, type History } from '../metrics';
import { Section } from '../ui';

const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#4b5563'];

function Chart(props: { spec: ChartSpec; history: History; version: number }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const names = [...props.history.series.keys()];
  const shape = names.join('\u0000');
  // A new series (a state seen for the first time) makes a new chart.
  useEffect(() => {
    if (!box.current) return;
    const opts: uPlot.Options = {
      width: Math.max(320, box.current.clientWidth),
      height: 220,
      series: [{}, ...names.map((n, i) => ({ label: n, stroke: COLORS[i % COLORS.length], width: 2 }))],
      axes: [{}, { label: props.spec.unit }],
      scales: { x: { time: true } },
      legend: { live: false },
    };
    plot.current = new uPlot(opts, [[]], box.current);
    return () => {
      plot.current?.destroy();
      plot.current = null;
    };
  }, [shape]);
  useEffect(() => {
    const h = props.history;
    plot.current?.setData([h.times, ...names.map((n) => h.series.get(n)!)] as uPlot.AlignedData);
  }, [props.version, shape]);
  return (
    <Section title={props.spec.title} testId={`chart-${props.spec.id}`}>
      <div ref={box} class="chart" />
      {names.length === 0 && <p class="muted">no samples yet</p>}
    </Section>
  );
}

export function Metrics() {
  const [version, setVersion] = useState(0);
  useEffect(() => sampler.subscribe(() => setVersion((v) => v + 1)), []);
  return (
    <>
      <p class="muted">
        Read from <code>/metrics</code> every {SAMPLE_MS / 1000} s; the last {(WINDOW * SAMPLE_MS) / 60000} minutes are
        kept in this page. For longer history, scrape <code>/metrics</code> with Prometheus (docs/dashboard.md).
      </p>
      {sampler.error && <p class="error">Could not read /metrics: {sampler.error}</p>}
      <div class="charts">
        {CHARTS.map((c) => (
          <Chart key={c.id} spec={c} history={sampler.histories.get(c.id)!} version={version} />
        ))}
      </div>
    </>
  );
}
