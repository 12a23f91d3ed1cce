// A real Lumen cluster for the browser tests and the page-load benchmark:
// a head started with the built `lumen start` in a private temp folder (its
// own LUMEN_TMPDIR, so `lumen stop --force` stops only what it started), the
// dashboard on a free port, and programs run against it with their output in
// files (a daemon must never hold a pipe of ours open).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** Only a real hang reaches it. */
export const DEADLINE_MS = 120_000;

export class Cluster {
  constructor(cli, prefix = 'lui') {
    this.cli = cli;
    // Short: Unix socket paths hold 107 bytes.
    this.root = fs.mkdtempSync(`/tmp/${prefix}-`);
    this.env = { ...process.env, LUMEN_TMPDIR: path.join(this.root, 'reg') };
    this.runs = 0;
    this.children = [];
  }

  /** Runs `program` to its end; {rc, out, err}. */
  run(program, args) {
    const n = this.runs++;
    const out = path.join(this.root, `out.${n}`);
    const err = path.join(this.root, `err.${n}`);
    const o = fs.openSync(out, 'w');
    const e = fs.openSync(err, 'w');
    const r = spawnSync(program, args, { env: this.env, stdio: ['ignore', o, e] });
    fs.closeSync(o);
    fs.closeSync(e);
    return { rc: r.status ?? 128, out: fs.readFileSync(out, 'utf8'), err: fs.readFileSync(err, 'utf8') };
  }

  /** Starts the head; sets address, dashboard ("http://host:port") and token. */
  startHead(extra = []) {
    const started = this.run(this.cli, [
      'start',
      '--head',
      '--port=0',
      '--num-cpus=2',
      '--dashboard-port=0',
      '--object-store-memory=100000000',
      `--temp-dir=${path.join(this.root, 'head')}`,
      ...extra,
    ]);
    if (started.rc !== 0) throw new Error(`lumen start failed (${started.rc}): ${started.err}${started.out}`);
    const address = /Cluster address: (\S+)/.exec(started.out);
    const dashboard = /Dashboard: (http:\/\/\S+)/.exec(started.out);
    if (!address || !dashboard) throw new Error(`lumen start printed no address or dashboard:\n${started.out}`);
    this.address = address[1];
    this.dashboard = dashboard[1].replace(/\/$/, '');
    this.startOutput = started.out;
    const session = fs.realpathSync(path.join(this.root, 'head', 'session_latest'));
    this.token = fs.readFileSync(path.join(session, 'token'), 'utf8').trim();
    return this;
  }

  /** Starts `program` without waiting; its output in files. */
  spawn(program, args) {
    const n = this.runs++;
    const out = path.join(this.root, `out.${n}`);
    const err = path.join(this.root, `err.${n}`);
    const o = fs.openSync(out, 'w');
    const e = fs.openSync(err, 'w');
    const child = spawn(program, args, { env: this.env, stdio: ['ignore', o, e] });
    fs.closeSync(o);
    fs.closeSync(e);
    child.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? 128)));
    child.done = false;
    child.exited.then(() => (child.done = true));
    child.outFile = out;
    child.errFile = err;
    this.children.push(child);
    return child;
  }

  /** Waits until the child's stdout holds `text`; throws if it exits first or at the deadline. */
  async waitForOutput(child, text, deadlineMs = DEADLINE_MS) {
    const end = Date.now() + deadlineMs;
    for (;;) {
      const out = fs.readFileSync(child.outFile, 'utf8');
      if (out.includes(text)) return out;
      if (child.done || Date.now() > end) {
        throw new Error(
          `no "${text}" from ${child.spawnfile} (${child.done ? 'it exited' : 'deadline'}):\n` +
            `${out}${fs.readFileSync(child.errFile, 'utf8')}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** A GET of the dashboard's API with the token: the parsed body. */
  async api(pathAndQuery) {
    const res = await fetch(this.dashboard + pathAndQuery, { headers: { Authorization: `Bearer ${this.token}` } });
    if (!res.ok) throw new Error(`${pathAndQuery}: ${res.status} ${await res.text()}`);
    return res.json();
  }

  /** Stops everything it started, whatever state it is in; idempotent. */
  stop() {
    for (const child of this.children) if (!child.done) child.kill('SIGKILL');
    if (fs.existsSync(this.root)) {
      this.run(this.cli, ['stop', '--force']);
      fs.rmSync(this.root, { recursive: true, force: true });
    }
  }
}
