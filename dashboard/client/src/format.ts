// How values are shown: sizes, times, ids.

export function bytes(n: unknown): string {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export function number(n: unknown, digits = 1): string {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '';
  return Number.isInteger(n) ? String(n) : n.toFixed(digits);
}

export function time(ms: unknown): string {
  if (typeof ms !== 'number' || ms <= 0) return '';
  return new Date(ms).toLocaleString();
}

/** The first characters of a hex id: enough to tell ids apart on a page. */
export function shortId(id: unknown): string {
  if (typeof id !== 'string') return '';
  return id.length > 12 ? `${id.slice(0, 12)}…` : id;
}

export function text(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}
