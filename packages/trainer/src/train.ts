/**
 * The training loop `train(config, deps)`: replicas, the per-iteration lr rule, evaluation on the official
 * schedule, best/last/periodic checkpoints, exact resume, a JSONL log and a progress bar. The data pipeline, the
 * model/loss builders and the evaluation are injected (`TrainDeps`), so the loop is the same for the toy tests,
 * the Fashion-MNIST demo and paper-scale runs.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { HierError, ProgressBar, Rng, writeFileAtomic } from '@hier-ts/core';
import { type Batch, type EmbeddingModel, currentBackend } from '@hier-ts/engine';
import { type CheckpointState, checkResumable, loadCheckpoint, pruneCheckpoints, saveCheckpoint } from './checkpoint.js';
import { type TrainConfig, itersPerEpoch, shouldEvaluate, validateConfig } from './config.js';
import { type FactorySpec, Replica, type ReplicaFactory, type ReplicaParts, type StepReport } from './replica.js';
import { type ReplicaDriver, startReplicas } from './replicas.js';

export interface TrainData {
  numTrainImages: number;
  numClasses: number;
  /**
   * Global batches (batch_size x devices rows, classes contiguous) of `epoch`, from batch index `start` to `iters`
   * (exclusive). Must be a function of (seed, epoch, index) so a resumed run sees the same batches.
   */
  batches(epoch: number, start: number, iters: number): Iterable<Batch> | AsyncIterable<Batch>;
  /** Opaque state stored in checkpoints at epoch ends (sampler generators), and given back on resume. */
  state?(): unknown;
  restore?(state: unknown): void;
  close?(): Promise<void> | void;
}

export interface EvalContext {
  epoch: number;
  saveEmbeddings: boolean;
  outputDir: string;
}

export interface TrainDeps {
  /** How replica workers build the model and losses (an importable module + export). */
  factory: FactorySpec;
  /** The same builder in this process (evaluation copy, devices = 1); default: import `factory.module`. */
  localFactory?: ReplicaFactory;
  data: TrainData;
  /** Evaluation of the current model; the returned metrics are logged, and `primaryMetric` picks the best. */
  evaluate?: (model: EmbeddingModel, ctx: EvalContext) => Promise<Record<string, number>>;
  primaryMetric?: string;
  /** Log lines (default: none; the progress bar writes to stderr when config.progress). */
  log?: (line: string) => void;
  progressStream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Per-message replica timeout (ms). */
  replicaTimeoutMs?: number;
  /** Called after every step (benchmarks, tests). */
  onStep?: (info: { epoch: number; step: number; iteration: number; report: StepReport; dataSeconds: number }) => void | Promise<void>;
}

export interface EpochRecord {
  epoch: number;
  loss: number;
  metricLoss: number;
  hierLoss: number;
  seconds: number;
  imagesPerSec: number;
  metrics?: Record<string, number>;
}

export interface TrainResult {
  epochsRun: number;
  iterations: number;
  history: EpochRecord[];
  best: { epoch: number; metrics: Record<string, number> } | null;
  last: Record<string, number> | null;
  outputDir: string;
  checkpointDir: string;
  /** Flat trainable parameters at the end (replica 0). */
  parameters: Float32Array;
  /** The trained model in this process (with devices > 1, a copy loaded from replica 0). */
  model: EmbeddingModel;
}

async function resolveFactory(deps: TrainDeps): Promise<ReplicaFactory> {
  if (deps.localFactory) return deps.localFactory;
  const mod = (await import(deps.factory.module)) as Record<string, unknown>;
  const f = mod[deps.factory.export];
  if (typeof f !== 'function') throw new HierError('E_CONFIG', `factory ${deps.factory.export} is not exported by ${deps.factory.module}`);
  return f as ReplicaFactory;
}

async function* iterate<T>(it: Iterable<T> | AsyncIterable<T>): AsyncGenerator<T> {
  yield* it as AsyncIterable<T>;
}

export async function train(config: TrainConfig, deps: TrainDeps): Promise<TrainResult> {
  const cfg = validateConfig(config, { numClasses: deps.data.numClasses, numTrainImages: deps.data.numTrainImages });
  const log = deps.log ?? (() => {});
  const outputDir = path.resolve(cfg.output_dir);
  const ckptRoot = path.join(outputDir, 'checkpoints');
  const logPath = path.join(outputDir, 'train-log.jsonl');
  await fsp.mkdir(ckptRoot, { recursive: true });
  const ipe = itersPerEpoch(cfg, deps.data.numTrainImages);
  const primary = deps.primaryMetric ?? 'R@1';

  // Resume: the checkpoint is read and checked before any replica starts.
  let resumeFrom: { dir: string; ckpt: Awaited<ReturnType<typeof loadCheckpoint>> } | null = null;
  if (cfg.resume) {
    const dir = cfg.resume === 'auto' ? path.join(ckptRoot, 'last') : path.resolve(cfg.resume);
    if (cfg.resume !== 'auto' || fs.existsSync(path.join(dir, 'state.json'))) {
      const ckpt = await loadCheckpoint(dir);
      checkResumable(ckpt.state, cfg, dir);
      if (ckpt.state.itersPerEpoch !== ipe) {
        throw new HierError('E_RESUME', `cannot resume from ${dir}: it ran ${ckpt.state.itersPerEpoch} iterations per epoch, this run would run ${ipe} (dataset size or --max_iters changed)`);
      }
      resumeFrom = { dir, ckpt };
    }
  }

  const factory = await resolveFactory(deps);
  // The evaluation copy in this process; with devices = 1 it is also the training replica.
  const localParts: ReplicaParts = await factory(cfg, { rank: 0, size: 1, lossRng: new Rng(cfg.seed), options: deps.factory.options });
  const holder = cfg.devices > 1 ? new Replica(localParts, cfg) : null;
  const driver: ReplicaDriver = await startReplicas(cfg, {
    factory: deps.factory,
    localParts,
    timeoutMs: deps.replicaTimeoutMs,
    backendName: currentBackend()?.backend,
  });

  let logLines: string[] = [];
  const history: EpochRecord[] = [];
  let startEpoch = 0;
  let iteration = 0;
  let best: TrainResult['best'] = null;
  let bestRecall = cfg.best_recall;
  let last: Record<string, number> | null = null;
  if (resumeFrom) {
    const s = resumeFrom.ckpt.state;
    await driver.importState(resumeFrom.ckpt.replica);
    if (s.data !== undefined) deps.data.restore?.(s.data);
    startEpoch = s.epoch;
    iteration = s.iteration;
    last = s.metrics.last;
    bestRecall = s.metrics.bestRecall;
    if (s.metrics.best && s.metrics.bestEpoch !== null) best = { epoch: s.metrics.bestEpoch, metrics: s.metrics.best };
    // Keep the log consistent with the checkpoint: entries from the lost part of the run are dropped.
    try {
      logLines = (await fsp.readFile(logPath, 'utf8'))
        .split('\n')
        .filter((l) => l.trim())
        .filter((l) => {
          try {
            const e = JSON.parse(l) as { iteration?: number; kind?: string; epoch?: number };
            // Step entries are logged after the iteration counter advanced, so the checkpointed iteration's own
            // entry belongs to the completed part of the run.
            return e.kind === 'epoch' ? (e.epoch ?? 0) < startEpoch : (e.iteration ?? 0) <= iteration;
          } catch {
            return false;
          }
        });
    } catch {
      logLines = [];
    }
    logLines.push(JSON.stringify({ kind: 'resume', from: resumeFrom.dir, epoch: startEpoch, iteration, time: new Date().toISOString() }));
    log(`resumed from ${resumeFrom.dir} at epoch ${startEpoch} (iteration ${iteration})`);
  } else {
    logLines.push(JSON.stringify({ kind: 'start', config: cfg, replicas: driver.size, transport: driver.transport, backend: currentBackend()?.backend ?? null, itersPerEpoch: ipe, time: new Date().toISOString() }));
  }
  const flushLog = () => writeFileAtomic(logPath, `${logLines.join('\n')}\n`);

  const snapshot = (epoch: number, step: number, reason: CheckpointState['reason']): CheckpointState => ({
    schema: 1,
    config: cfg,
    epoch,
    step,
    iteration,
    itersPerEpoch: ipe,
    optimizer: { kind: cfg.optimizer, step: 0, slots: [] },
    metrics: { last, best: best?.metrics ?? null, bestEpoch: best?.epoch ?? null, bestRecall },
    data: deps.data.state?.(),
    reason,
    createdAt: new Date().toISOString(),
  });

  let epochsRun = 0;
  try {
    for (let epoch = startEpoch; epoch < cfg.epochs; epoch++) {
      const bar = new ProgressBar({ label: `epoch ${epoch + 1}/${cfg.epochs}`, total: ipe, silent: !cfg.progress, stream: deps.progressStream });
      const t0 = performance.now();
      let sum = 0;
      let sumMetric = 0;
      let sumHier = 0;
      let steps = 0;
      let tData = performance.now();
      let step = 0;
      for await (const batch of iterate(deps.data.batches(epoch, 0, ipe))) {
        const dataSeconds = (performance.now() - tData) / 1000;
        const ts = performance.now();
        const report = await driver.step({ images: batch.images, shape: batch.shape, labels: batch.labels }, { it: iteration, itersPerEpoch: ipe });
        const stepSeconds = (performance.now() - ts) / 1000;
        if (report.nonFinite) {
          const dir = path.join(ckptRoot, `nan-it${iteration}`);
          await saveCheckpoint(dir, { state: snapshot(epoch, step, 'nan'), replica: await driver.exportState() });
          logLines.push(JSON.stringify({ kind: 'nan', epoch, step, iteration, ...report.nonFinite, checkpoint: dir }));
          await flushLog();
          throw new HierError(
            'E_NAN',
            `non-finite ${report.nonFinite.term} loss at epoch ${epoch} step ${step} (iteration ${iteration}): ${report.nonFinite.detail}; ` +
              `parameters before the step are saved in ${dir}`,
          );
        }
        iteration++;
        step++;
        steps++;
        sum += report.loss;
        sumMetric += report.metricLoss;
        sumHier += report.hierLoss;
        const ips = batch.shape[0] / (stepSeconds + dataSeconds);
        bar.tick(1, `loss ${report.loss.toFixed(4)} lr ${(report.lr.pretrained_params ?? report.lr.last_layer ?? 0).toExponential(2)} ${ips.toFixed(1)} img/s`);
        if (cfg.log_every > 0 && iteration % cfg.log_every === 0) {
          logLines.push(JSON.stringify({ kind: 'step', epoch, step, iteration, loss: report.loss, metric: report.metricLoss, hier: report.hierLoss, lr: report.lr, imagesPerSec: ips, times: report.times, dataSeconds }));
        }
        await deps.onStep?.({ epoch, step, iteration, report, dataSeconds });
        tData = performance.now();
      }
      if (steps !== ipe) throw new HierError('E_DATA', `epoch ${epoch}: the data source gave ${steps} batches, expected ${ipe}`);
      const seconds = (performance.now() - t0) / 1000;
      const rec: EpochRecord = { epoch, loss: sum / steps, metricLoss: sumMetric / steps, hierLoss: sumHier / steps, seconds, imagesPerSec: (steps * cfg.batch_size * cfg.devices) / seconds };
      bar.finish(`loss ${rec.loss.toFixed(4)} ${rec.imagesPerSec.toFixed(1)} img/s`);
      let improved = false;
      if (deps.evaluate && shouldEvaluate(cfg, epoch)) {
        const model = await evaluationModel(driver, holder, localParts);
        const metrics = await deps.evaluate(model, { epoch, saveEmbeddings: cfg.save_emb, outputDir });
        rec.metrics = metrics;
        last = metrics;
        const score = metrics[primary];
        if (score !== undefined && (best === null || score > (best.metrics[primary] ?? Number.NEGATIVE_INFINITY))) {
          best = { epoch, metrics };
          improved = true;
        }
        // Official quirk (kept behind best_recall_latest): best_recall is overwritten by the latest R@1.
        if (score !== undefined) bestRecall = cfg.best_recall_latest ? score : Math.max(bestRecall, score);
        log(`epoch ${epoch}: ${Object.entries(metrics).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(' ')}`);
        await writeFileAtomic(path.join(outputDir, 'metrics.json'), `${JSON.stringify({ last: { epoch, metrics }, best }, null, 1)}\n`);
      }
      history.push(rec);
      logLines.push(JSON.stringify({ kind: 'epoch', ...rec, iteration }));
      epochsRun++;
      // The log goes to disk before the checkpoint: a kill between the two leaves entries past the previous
      // checkpoint, which a resume drops, instead of a checkpoint whose epoch never reached the log.
      await flushLog();
      // Checkpoint at the epoch boundary: the next epoch starts from batch 0, so resume needs no sampler replay.
      const state = await driver.exportState();
      await saveCheckpoint(path.join(ckptRoot, 'last'), { state: snapshot(epoch + 1, 0, 'epoch'), replica: state });
      if (improved) await saveCheckpoint(path.join(ckptRoot, 'best'), { state: snapshot(epoch + 1, 0, 'best'), replica: state });
      if ((epoch + 1) % cfg.saveckp_freq === 0) {
        await saveCheckpoint(path.join(ckptRoot, `epoch-${String(epoch + 1).padStart(4, '0')}`), { state: snapshot(epoch + 1, 0, 'periodic'), replica: state });
        await pruneCheckpoints(ckptRoot, cfg.keep_last);
      }
    }
    const parameters = (await driver.parameters())[0]!;
    const model = await evaluationModel(driver, holder, localParts);
    return { epochsRun, iterations: iteration, history, best, last, outputDir, checkpointDir: ckptRoot, parameters, model };
  } finally {
    await driver.close();
    await deps.data.close?.();
    // The model is handed to the caller (result.model); the losses' variables are released here.
    localParts.metric?.dispose();
    localParts.hier?.dispose();
  }
}

/** The model evaluation runs on: the replica itself in-process, else this process's copy loaded from replica 0. */
async function evaluationModel(driver: ReplicaDriver, holder: Replica | null, localParts: ReplicaParts): Promise<EmbeddingModel> {
  if (!holder) return localParts.model;
  await holder.importState(await driver.exportState());
  return holder.parts.model;
}
