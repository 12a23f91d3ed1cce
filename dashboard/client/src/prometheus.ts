// A reader of the Prometheus text format (what /metrics serves): samples
// with their name, labels and value. Comments (# HELP, # TYPE) and
// timestamps are skipped; label values are unescaped (\\, \", \n).

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    while (text[i] === ',' || text[i] === ' ') i += 1;
    const eq = text.indexOf('=', i);
    if (eq < 0) break;
    const key = text.slice(i, eq).trim();
    i = eq + 1;
    if (text[i] !== '"') break;
    i += 1;
    let value = '';
    while (i < text.length && text[i] !== '"') {
      if (text[i] === '\\' && i + 1 < text.length) {
        const c = text[i + 1];
        value += c === 'n' ? '\n' : c;
        i += 2;
      } else {
        value += text[i];
        i += 1;
      }
    }
    i += 1;
    labels[key] = value;
  }
  return labels;
}

function parseValue(text: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  return Number(text);
}

export function parseMetrics(body: string): Sample[] {
  const samples: Sample[] = [];
  for (const raw of body.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const brace = line.indexOf('{');
    let name: string;
    let labels: Record<string, string> = {};
    let rest: string;
    if (brace >= 0 && brace < line.indexOf(' ')) {
      name = line.slice(0, brace);
      const close = line.lastIndexOf('}');
      labels = parseLabels(line.slice(brace + 1, close));
      rest = line.slice(close + 1).trim();
    } else {
      const space = line.indexOf(' ');
      name = line.slice(0, space);
      rest = line.slice(space + 1).trim();
    }
    const value = parseValue(rest.split(/\s+/)[0]);
    if (!Number.isNaN(value)) samples.push({ name, labels, value });
  }
  return samples;
}

/** The sum of `metric`'s samples grouped by the values of `by` (joined with '/'). */
export function sumBy(samples: Sample[], metric: string, by: string[], where: Record<string, string> = {}) {
  const out = new Map<string, number>();
  for (const s of samples) {
    if (s.name !== metric) continue;
    if (Object.entries(where).some(([k, v]) => s.labels[k] !== v)) continue;
    const key = by.map((b) => s.labels[b] ?? '').join('/') || metric;
    out.set(key, (out.get(key) ?? 0) + s.value);
  }
  return out;
}
