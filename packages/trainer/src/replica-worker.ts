/**
 * Entry point of one replica, as a worker thread (parentPort, SharedArrayBuffer collectives) or as a child process
 * (HIER_HUB_PORT: a loopback socket to the parent's hub). It builds its model and losses through the factory
 * module named in the init message, then serves step / export / import commands in order.
 */
import net from 'node:net';
import { parentPort } from 'node:worker_threads';
import { HierError, Rng } from '@hier-ts/core';
import { type BackendRequest, initBackend } from '@hier-ts/engine';
import { HubCollective, type SabBuffers, SabCollective } from './collective.js';
import type { TrainConfig } from './config.js';
import { Mailbox, type Message } from './mailbox.js';
import { FlatLayout, collectParams } from './params.js';
import { type Collective, Replica, type ReplicaFactory } from './replica.js';
import { FrameReader, encodeFrame } from './wire.js';

interface Link {
  send(msg: unknown, transfer?: ArrayBuffer[]): void;
  mailbox: Mailbox;
}

function threadLink(): Link {
  const port = parentPort!;
  const mailbox = new Mailbox('parent', 0);
  port.on('message', (m: Message) => mailbox.push(m));
  return { send: (msg, transfer) => port.postMessage(msg, transfer ?? []), mailbox };
}

async function socketLink(port: number, rank: number): Promise<Link> {
  const mailbox = new Mailbox('parent', 0);
  const sock = net.connect({ host: '127.0.0.1', port });
  sock.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  const reader = new FrameReader();
  sock.on('data', (chunk: Buffer) => {
    for (const m of reader.push(chunk)) mailbox.push(m as Message);
  });
  // The parent going away means the run is over: leave instead of waiting forever.
  sock.on('close', () => process.exit(3));
  sock.on('error', () => process.exit(3));
  sock.write(encodeFrame({ type: 'hello', rank }));
  return { send: (msg) => sock.write(encodeFrame(msg)), mailbox };
}

async function serve(link: Link): Promise<void> {
  const { mailbox, send } = link;
  const init = await mailbox.next('init');
  const cfg = init.config as TrainConfig;
  const rank = init.rank as number;
  const size = init.size as number;
  const isThread = parentPort !== null;
  await initBackend((init.backend as BackendRequest) ?? 'wasm');
  const spec = init.factory as { module: string; export: string; options?: unknown };
  const mod = (await import(spec.module)) as Record<string, unknown>;
  const factory = mod[spec.export] as ReplicaFactory | undefined;
  if (typeof factory !== 'function') throw new HierError('E_REPLICA', `factory ${spec.export} not exported by ${spec.module}`);
  const lossRng = new Rng(cfg.seed);
  const parts = await factory(cfg, { rank, size, lossRng, options: spec.options });
  // The parent sizes the shared buffers from this before any replica allocates optimiser state.
  const paramCount = new FlatLayout(collectParams(parts.model, { metric: parts.metric, hier: parts.hier }, cfg)).size;
  let collective: Collective;
  const timeoutMs = (init.timeoutMs as number) ?? 600_000;
  if (isThread) {
    send({ type: 'ready', params: paramCount, emb: parts.model.embeddingDim });
    const attach = await mailbox.next('attach');
    collective = new SabCollective(rank, size, attach.buffers as SabBuffers, timeoutMs);
  } else {
    collective = new HubCollective(rank, size, send, (t) => mailbox.next(t));
    send({ type: 'ready', params: paramCount, emb: parts.model.embeddingDim });
  }
  const replica = new Replica(parts, cfg, collective);
  await replica.init();
  send({ type: 'initialised' });
  for (;;) {
    const m = await mailbox.next('step', 'export', 'exportShard', 'import', 'params', 'stop');
    if (m.type === 'stop') break;
    if (m.type === 'step') {
      const report = await replica.step(m.batch as never, m.ctx as never);
      send({ type: 'stepped', report });
    } else if (m.type === 'export') {
      send({ type: 'state', state: await replica.exportState() });
    } else if (m.type === 'exportShard') {
      send({ type: 'shard', rank, ...replica.optimizerShard() });
    } else if (m.type === 'import') {
      await replica.importState(m.state as never);
      send({ type: 'imported' });
    } else if (m.type === 'params') {
      send({ type: 'params', data: await replica.parameters() });
    }
  }
  send({ type: 'stopped' });
}

async function main(): Promise<void> {
  const port = process.env.HIER_HUB_PORT;
  const link = parentPort ? threadLink() : port ? await socketLink(Number(port), Number(process.env.HIER_RANK ?? 0)) : null;
  if (!link) throw new Error('replica-worker must run as a worker thread or with HIER_HUB_PORT set');
  try {
    await serve(link);
    if (!parentPort) process.exit(0);
  } catch (err) {
    const e = err as Error & { code?: string };
    link.send({ type: 'error', code: e.code ?? 'E_REPLICA', message: e.stack ?? e.message });
    if (!parentPort) setTimeout(() => process.exit(1), 100);
  }
}

void main();
