// Live data without reloading: a hook that loads, then loads again a moment
// after each answer (never two requests of one view at once, so a slow
// server is not buried under them), and stops when its view goes away or its
// inputs change.
import { useEffect, useState } from 'preact/hooks';
import { errorText } from './api';

/** How often views refresh. */
export const POLL_MS = 1500;

export interface Polled<T> {
  data?: T;
  error?: string;
}

/** Loads with `load` now and, unless `intervalMs` is 0, again that long after each answer. */
export function usePoll<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[], intervalMs = POLL_MS) {
  const [state, setState] = useState<Polled<T>>({});
  useEffect(() => {
    const abort = new AbortController();
    let timer: number | undefined;
    const tick = async () => {
      try {
        const data = await load(abort.signal);
        if (!abort.signal.aborted) setState({ data });
      } catch (e) {
        if (!abort.signal.aborted) setState((s) => ({ data: s.data, error: errorText(e) }));
      }
      if (!abort.signal.aborted && intervalMs > 0) timer = window.setTimeout(tick, intervalMs);
    };
    void tick();
    return () => {
      abort.abort();
      window.clearTimeout(timer);
    };
  }, deps);
  return state;
}
