/**
 * The parent side of data parallelism: one replica in-process (devices = 1), or N replicas as worker threads (CPU:
 * each has its own single-threaded wasm instance) or child processes (GPU: one per device with
 * CUDA_VISIBLE_DEVICES, talking to this process over loopback sockets). All expose the same `ReplicaDriver`.
 */
import { type ChildProcess, fork } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { HierError, Rng, resolveWorkerUrl } from '@hier-ts/core';
import { CTRL_ABORT, CTRL_GENERATION, type SabBuffers, ctrlWords, firstIndex, meanOf } from './collective.js';
import type { TrainConfig } from './config.js';
import { Mailbox, type Message } from './mailbox.js';
import { type FactorySpec, type LocalBatch, Replica, type ReplicaFactory, type ReplicaParts, type ReplicaState, type StepContext, type StepReport } from './replica.js';
import { FrameReader, encodeFrame } from './wire.js';

export interface ReplicaDriver {
  readonly size: number;
  readonly transport: 'local' | 'threads' | 'processes';
  /** One training step on the global batch (split into equal contiguous slices, rank order). */
  step(batch: LocalBatch, ctx: StepContext): Promise<StepReport>;
  /** State of replica 0 (every replica holds the same trainable parameters). */
  exportState(): Promise<ReplicaState>;
  importState(state: ReplicaState): Promise<void>;
  /** Flat trainable parameters of every replica (to check they agree). */
  parameters(): Promise<Float32Array[]>;
  close(): Promise<void>;
}

export class LocalDriver implements ReplicaDriver {
  readonly size = 1;
  readonly transport = 'local' as const;
  readonly replica: Replica;
  /** `ownsParts`: the driver built the model and losses itself, so close() disposes them. */
  constructor(
    parts: ReplicaParts,
    cfg: TrainConfig,
    private readonly ownsParts = false,
  ) {
    this.replica = new Replica(parts, cfg);
  }
  step(batch: LocalBatch, ctx: StepContext): Promise<StepReport> {
    return this.replica.step(batch, ctx);
  }
  exportState(): Promise<ReplicaState> {
    return this.replica.exportState();
  }
  importState(state: ReplicaState): Promise<void> {
    return this.replica.importState(state);
  }
  async parameters(): Promise<Float32Array[]> {
    return [await this.replica.parameters()];
  }
  async close(): Promise<void> {
    if (!this.ownsParts) return;
    const { model, metric, hier } = this.replica.parts;
    model.dispose();
    metric?.dispose();
    hier?.dispose();
  }
}

export interface WorkerGroupOptions {
  cfg: TrainConfig;
  factory: FactorySpec;
  transport: 'threads' | 'processes';
  /** Per-message timeout (a replica that stops answering fails the run). Default 15 min. */
  timeoutMs?: number;
  /** Timeout of start-up (wasm, model build, first state broadcast). Default max(timeoutMs, 5 min). */
  startupTimeoutMs?: number;
  /** tfjs backend inside replicas (default: wasm for threads, cfg.backend for processes). */
  backend?: string;
}

interface Peer {
  rank: number;
  mailbox: Mailbox;
  send(msg: unknown, transfer?: ArrayBuffer[]): void;
  kill(): void;
  alive: boolean;
}

function sliceBatch(b: LocalBatch, rank: number, size: number): LocalBatch {
  const n = b.shape[0];
  if (n % size !== 0) throw new HierError('E_REPLICA', `global batch of ${n} does not split evenly over ${size} replicas`);
  const m = n / size;
  const per = b.shape[1] * b.shape[2] * b.shape[3];
  return {
    images: b.images.slice(rank * m * per, (rank + 1) * m * per),
    shape: [m, b.shape[1], b.shape[2], b.shape[3]],
    labels: b.labels.slice(rank * m, (rank + 1) * m),
  };
}

export class WorkerGroup implements ReplicaDriver {
  readonly size: number;
  readonly transport: 'threads' | 'processes';
  private readonly peers: Peer[] = [];
  private ctrl: Int32Array | null = null;
  private server: net.Server | null = null;
  private closed = false;
  private failure: Error | null = null;

  private constructor(size: number, transport: 'threads' | 'processes') {
    this.size = size;
    this.transport = transport;
  }

  static async start(opts: WorkerGroupOptions): Promise<WorkerGroup> {
    const { cfg } = opts;
    const g = new WorkerGroup(cfg.devices, opts.transport);
    const timeoutMs = opts.timeoutMs ?? 15 * 60_000;
    g.startupTimeoutMs = opts.startupTimeoutMs ?? Math.max(timeoutMs, 5 * 60_000);
    const url = resolveWorkerUrl(import.meta.url, './replica-worker.js');
    try {
      if (opts.transport === 'threads') {
        for (let r = 0; r < g.size; r++) g.peers.push(g.spawnThread(url, r, timeoutMs));
      } else {
        await g.spawnProcesses(url, timeoutMs, opts);
      }
      const backend = opts.backend ?? (opts.transport === 'threads' ? (cfg.backend === 'cpu' ? 'cpu' : 'wasm') : cfg.backend);
      for (const p of g.peers) p.send({ type: 'init', rank: p.rank, size: g.size, config: cfg, factory: opts.factory, backend, timeoutMs });
      const ready = await g.all('ready');
      const params = ready[0]!.params as number;
      const emb = ready[0]!.emb as number;
      if (ready.some((m) => m.params !== params)) throw new HierError('E_REPLICA', `replicas built different models (${ready.map((m) => m.params).join(' vs ')} parameters)`);
      if (opts.transport === 'threads') {
        const gatherSlot = cfg.batch_size * (emb + 1);
        const buffers: SabBuffers = {
          ctrl: new SharedArrayBuffer(ctrlWords(g.size) * 4),
          gather: new SharedArrayBuffer(gatherSlot * g.size * 4),
          gatherSlot,
          grads: new SharedArrayBuffer(params * g.size * 4),
          params: new SharedArrayBuffer(params * 4),
          n: params,
        };
        g.ctrl = new Int32Array(buffers.ctrl);
        for (const p of g.peers) p.send({ type: 'attach', buffers });
      }
      await g.all('initialised');
      // Replicas are built from the same seed; broadcasting rank 0's state makes that a guarantee, not a hope.
      if (g.size > 1) await g.importState(await g.exportState());
    } catch (err) {
      await g.close();
      throw err;
    }
    return g;
  }

  private spawnThread(url: URL, rank: number, timeoutMs: number): Peer {
    // execArgv: [] drops the parent's flags (e.g. vitest's source-condition), so the compiled packages load.
    const w = new Worker(url, { env: { ...process.env, HIER_RANK: String(rank) }, execArgv: [] });
    const mailbox = new Mailbox(`replica ${rank} (thread)`, timeoutMs);
    const peer: Peer = {
      rank,
      mailbox,
      alive: true,
      send: (msg, transfer) => w.postMessage(msg, transfer ?? []),
      kill: () => void w.terminate(),
    };
    w.on('message', (m: Message) => {
      if (m.type === 'error') this.fail(new HierError(String(m.code ?? 'E_REPLICA'), `replica ${rank} (thread) failed: ${String(m.message)}`));
      else mailbox.push(m);
    });
    w.on('error', (e) => this.fail(new HierError('E_REPLICA', `replica ${rank} (thread) crashed: ${e.message}`)));
    w.on('exit', (code) => {
      peer.alive = false;
      if (!this.closed) this.fail(new HierError('E_REPLICA', `replica ${rank} (thread) exited with code ${code} during the run`));
    });
    return peer;
  }

  private async spawnProcesses(url: URL, timeoutMs: number, opts: WorkerGroupOptions): Promise<void> {
    const server = net.createServer();
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const sockets = new Map<number, net.Socket>();
    const connected = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new HierError('E_REPLICA', `replica processes did not connect within ${this.startupTimeoutMs} ms`)), this.startupTimeoutMs);
      server.on('connection', (sock) => {
        sock.setNoDelay(true);
        const reader = new FrameReader();
        let rank = -1;
        sock.on('data', (chunk: Buffer) => {
          for (const raw of reader.push(chunk)) {
            const m = raw as Message;
            if (m.type === 'hello') {
              rank = m.rank as number;
              sockets.set(rank, sock);
              if (sockets.size === this.size) {
                clearTimeout(timer);
                resolve();
              }
            } else if (m.type === 'error') this.fail(new HierError(String(m.code ?? 'E_REPLICA'), `replica ${rank} (process) failed: ${String(m.message)}`));
            else this.peers[rank]?.mailbox.push(m);
          }
        });
        sock.on('error', () => {});
      });
    });
    const children: ChildProcess[] = [];
    for (let r = 0; r < this.size; r++) {
      const env: NodeJS.ProcessEnv = { ...process.env, HIER_HUB_PORT: String(port), HIER_RANK: String(r), WORLD_SIZE: String(this.size) };
      const backend = opts.backend ?? opts.cfg.backend;
      if (backend === 'tensorflow-gpu' || backend === 'auto') env.CUDA_VISIBLE_DEVICES = String(r);
      const child = fork(fileURLToPath(url), [], { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
      children.push(child);
      const mailbox = new Mailbox(`replica ${r} (process ${child.pid})`, timeoutMs);
      const peer: Peer = {
        rank: r,
        mailbox,
        alive: true,
        send: (msg) => {
          const s = sockets.get(r);
          if (!s) throw new HierError('E_REPLICA', `replica ${r} is not connected`);
          s.write(encodeFrame(msg));
        },
        kill: () => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        },
      };
      child.on('exit', (code, signal) => {
        peer.alive = false;
        if (!this.closed) this.fail(new HierError('E_REPLICA', `replica ${r} (process ${child.pid}) exited during the run (${signal ? `signal ${signal}` : `code ${code}`})`));
      });
      this.peers.push(peer);
    }
    await Promise.race([
      connected,
      new Promise<never>((_, reject) => {
        const check = setInterval(() => {
          if (this.failure) {
            clearInterval(check);
            reject(this.failure);
          }
        }, 50);
        void connected.finally(() => clearInterval(check));
      }),
    ]);
  }

  /** Marks the run failed: every wait rejects, the other replicas are told to stop (threads: abort flag). */
  private fail(err: Error): void {
    if (this.failure || this.closed) return;
    this.failure = err;
    if (this.ctrl) {
      Atomics.store(this.ctrl, CTRL_ABORT, 1);
      Atomics.notify(this.ctrl, CTRL_GENERATION);
    }
    for (const p of this.peers) p.mailbox.fail(err);
  }

  private startupTimeoutMs = 0;

  private async all(...types: string[]): Promise<Message[]> {
    if (this.failure) throw this.failure;
    try {
      const starting = types.includes('ready') || types.includes('initialised');
      return await Promise.all(this.peers.map((p) => (starting ? p.mailbox.within(this.startupTimeoutMs, ...types) : p.mailbox.next(...types))));
    } catch (err) {
      this.fail(err as Error);
      throw this.failure ?? err;
    }
  }

  async step(batch: LocalBatch, ctx: StepContext): Promise<StepReport> {
    if (this.failure) throw this.failure;
    for (const p of this.peers) {
      const b = sliceBatch(batch, p.rank, this.size);
      p.send({ type: 'step', batch: b, ctx }, this.transport === 'threads' ? [b.images.buffer as ArrayBuffer, b.labels.buffer as ArrayBuffer] : undefined);
    }
    for (;;) {
      const msgs = await this.all('gather', 'reduce', 'agree', 'shards', 'stepped');
      const kind = msgs[0]!.type;
      if (msgs.some((m) => m.type !== kind)) {
        const err = new HierError('E_REPLICA', `replicas diverged: got ${msgs.map((m) => m.type).join(', ')}`);
        this.fail(err);
        throw err;
      }
      if (kind === 'stepped') {
        const reports = msgs.map((m) => m.report as StepReport);
        // All replicas computed the same global loss; report rank 0's with the slowest timings.
        const r = reports[0]!;
        r.replicaTimes = reports.map((o) => ({ ...o.times }));
        for (const o of reports.slice(1)) for (const k of Object.keys(r.times) as (keyof StepReport['times'])[]) r.times[k] = Math.max(r.times[k], o.times[k]);
        return r;
      }
      if (kind === 'gather') {
        const z = concatF32(msgs.map((m) => m.z as Float32Array));
        const labels = concatI32(msgs.map((m) => m.labels as Int32Array));
        for (const p of this.peers) p.send({ type: 'gathered', z, labels });
      } else if (kind === 'reduce') {
        // Reduce-scatter: each replica gets the mean of its own shard only.
        const mean = meanOf(msgs.map((m) => m.data as Float32Array));
        for (const [i, p] of this.peers.entries()) p.send({ type: 'reduced', data: mean.subarray(msgs[i]!.from as number, msgs[i]!.to as number) });
      } else if (kind === 'agree') {
        const value = firstIndex(msgs.map((m) => m.value as number));
        for (const p of this.peers) p.send({ type: 'agreed', value });
      } else {
        // All-gather of the updated parameter shards.
        const all = new Float32Array(msgs[0]!.length as number);
        for (const m of msgs) all.set(m.data as Float32Array, m.from as number);
        for (const p of this.peers) p.send({ type: 'allShards', data: all });
      }
    }
  }

  /** Rank 0's model and loss state, with the optimiser moments assembled from every replica's shard (ZeRO-1). */
  async exportState(): Promise<ReplicaState> {
    if (this.failure) throw this.failure;
    this.peers[0]!.send({ type: 'export' });
    for (const p of this.peers.slice(1)) p.send({ type: 'exportShard' });
    const state = (await this.peers[0]!.mailbox.next('state')).state as ReplicaState;
    const shards = await Promise.all(this.peers.slice(1).map((p) => p.mailbox.next('shard')));
    for (const m of shards) {
      const [lo] = m.range as [number, number];
      for (const [k, v] of Object.entries(m.slots as Record<string, Float32Array>)) {
        const full = state.optimizer.slots[k];
        if (!full) throw new HierError('E_REPLICA', `replica ${String(m.rank)} has optimiser slot ${k} that replica 0 lacks`);
        full.set(v, lo);
      }
    }
    return state;
  }

  async importState(state: ReplicaState): Promise<void> {
    for (const p of this.peers) p.send({ type: 'import', state });
    await this.all('imported');
  }

  async parameters(): Promise<Float32Array[]> {
    for (const p of this.peers) p.send({ type: 'params' });
    return (await this.all('params')).map((m) => m.data as Float32Array);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const wasFailed = this.failure !== null;
    if (!wasFailed) {
      for (const p of this.peers) {
        try {
          if (p.alive) p.send({ type: 'stop' });
        } catch {
          // already gone
        }
      }
      await Promise.race([Promise.all(this.peers.map((p) => p.mailbox.next('stopped').catch(() => null))), new Promise((r) => setTimeout(r, 5000))]);
    }
    this.closed = true;
    for (const p of this.peers) p.kill();
    this.server?.close();
  }

  /** Why the group failed, if it did. */
  get error(): Error | null {
    return this.failure;
  }
}

function concatF32(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function concatI32(parts: Int32Array[]): Int32Array {
  const out = new Int32Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Starts the replicas a config asks for: in-process for devices = 1, else threads or processes. */
export async function startReplicas(
  cfg: TrainConfig,
  opts: { factory: FactorySpec; localFactory?: ReplicaFactory; localParts?: ReplicaParts; timeoutMs?: number; backendName?: string },
): Promise<ReplicaDriver> {
  if (cfg.devices === 1) {
    let parts = opts.localParts;
    const owns = !parts;
    if (!parts) {
      const factory = opts.localFactory ?? ((await import(opts.factory.module)) as Record<string, ReplicaFactory>)[opts.factory.export];
      if (typeof factory !== 'function') throw new HierError('E_REPLICA', `factory ${opts.factory.export} not exported by ${opts.factory.module}`);
      parts = await factory(cfg, { rank: 0, size: 1, lossRng: new Rng(cfg.seed), options: opts.factory.options });
    }
    const d = new LocalDriver(parts, cfg, owns);
    await d.replica.init();
    return d;
  }
  const transport = resolveTransport(cfg, opts.backendName);
  return WorkerGroup.start({ cfg, factory: opts.factory, transport, timeoutMs: opts.timeoutMs });
}

/** auto: threads on CPU backends (wasm/cpu), processes for native tfjs (its addon is not worker-safe). */
export function resolveTransport(cfg: TrainConfig, activeBackend?: string): 'threads' | 'processes' {
  if (cfg.replica_transport === 'threads' || cfg.replica_transport === 'processes') return cfg.replica_transport;
  const b = activeBackend ?? cfg.backend;
  return b === 'tensorflow' || b === 'tensorflow-gpu' ? 'processes' : 'threads';
}
