// The cluster's metrics over time: /metrics read every couple of seconds
// from the first visit of the metrics page on, each chart's series kept in a
// rolling window in the page (the server keeps no history; Prometheus and
// Grafana are the place for long ones).
import { getText } from './api';
import { parseMetrics, sumBy, type Sample } from './prometheus';

export const SAMPLE_MS = 2000;
/** 10 minutes at one sample every 2 s. */
export const WINDOW = 300;

export interface ChartSpec {
  id: string;
  title: string;
  unit: string;
  /** The series of one sample: name -> value. */
  read: (samples: Sample[]) => Map<string, number>;
}

export const CHARTS: ChartSpec[] = [
  { id: 'tasks', title: 'Tasks by state', unit: 'tasks', read: (s) => sumBy(s, 'ray_tasks', ['State']) },
  { id: 'actors', title: 'Actors by state', unit: 'actors', read: (s) => sumBy(s, 'ray_actors', ['State']) },
  {
    id: 'cpus',
    title: 'Logical CPUs',
    unit: 'CPUs',
    read: (s) => sumBy(s, 'ray_resources', ['State'], { Name: 'CPU' }),
  },
  {
    id: 'component-cpu',
    title: 'CPU by component (%, 100 = one core)',
    unit: '%',
    read: (s) => sumBy(s, 'ray_component_cpu_percentage', ['Component']),
  },
  {
    id: 'component-rss',
    title: 'Resident memory by component (MB)',
    unit: 'MB',
    read: (s) => sumBy(s, 'ray_component_rss_mb', ['Component']),
  },
  {
    id: 'nodes',
    title: 'Nodes',
    unit: 'nodes',
    read: (s) => {
      const m = new Map<string, number>();
      m.set('alive', sumBy(s, 'ray_cluster_active_nodes', []).get('ray_cluster_active_nodes') ?? 0);
      m.set('dead', sumBy(s, 'ray_cluster_failed_nodes', []).get('ray_cluster_failed_nodes') ?? 0);
      return m;
    },
  },
];

/** One chart's history: times (s) and, per series, one value per time (null before it appeared). */
export interface History {
  times: number[];
  series: Map<string, (number | null)[]>;
}

type Listener = () => void;

class Sampler {
  readonly histories = new Map<string, History>(CHARTS.map((c) => [c.id, { times: [], series: new Map() }]));
  error: string | undefined;
  private listeners = new Set<Listener>();
  private started = false;

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    if (!this.started) {
      this.started = true;
      void this.tick();
    }
    return () => this.listeners.delete(listener);
  }

  private async tick() {
    try {
      const samples = parseMetrics(await getText('/metrics'));
      this.error = undefined;
      const now = Date.now() / 1000;
      for (const chart of CHARTS) this.add(this.histories.get(chart.id)!, now, chart.read(samples));
    } catch (e) {
      this.error = e instanceof Error ? e.message : String(e);
    }
    for (const l of this.listeners) l();
    window.setTimeout(() => void this.tick(), SAMPLE_MS);
  }

  private add(h: History, time: number, values: Map<string, number>) {
    h.times.push(time);
    for (const name of values.keys()) {
      if (!h.series.has(name)) h.series.set(name, new Array<number | null>(h.times.length - 1).fill(null));
    }
    for (const [name, points] of h.series) points.push(values.get(name) ?? null);
    if (h.times.length > WINDOW) {
      h.times.shift();
      for (const points of h.series.values()) points.shift();
    }
  }
}

export const sampler = new Sampler();
