import { FlagTable } from '../args.js';
import type { Command } from '../cli.js';
import { chooseBackend, outputFile } from '../common.js';
import { CHECKPOINT_FLAGS } from './eval.js';

const table = new FlagTable([
  ...CHECKPOINT_FLAGS,
  { name: 'out', type: 'path', required: true, help: 'Arrow file to write (index, label, split, vector as fixed_size_list<float32>, coarse_label)' },
]);

export const embedCommand: Command = {
  name: 'embed',
  summary: 'embed',
  examples: ['examples:', '  hier embed --checkpoint runs/fmnist --out fmnist-emb.arrow                 # protocol splits', '  hier embed --checkpoint runs/cub --split train,test --out cub-emb.arrow   # pyarrow.ipc.open_file(...) reads it'],
  async flags() {
    return table;
  },
  async run(args, io) {
    const v = args.values as { checkpoint: string; data_path?: string; split?: string[]; limit?: number; out: string; backend: string };
    const out = outputFile('out', v.out);
    const { openRunData } = await import('../wiring/open-run.js');
    await chooseBackend(v.backend, io);
    const log = (line: string) => io.stderr.write(`${line}\n`);
    const run = await openRunData(v, log);
    try {
      const { evalPlan, evalSource } = await import('../wiring/data.js');
      const { embedSource, exportEmbeddingsArrow } = await import('@hier-ts/eval');
      const plan = evalPlan(run.dataset.info.dataset);
      const splits = v.split ?? (plan.pair ? [plan.pair.query, plan.pair.gallery] : plan.splits);
      const parts = [];
      for (const split of splits) {
        const src = await evalSource(run.dataset, split, run.restored.config, plan.coarseColumn, v.limit);
        const e = await embedSource(run.restored.model, src, `split '${split}'`);
        parts.push({ split, embeddings: e.embeddings, labels: e.labels, indices: e.indices, ...(e.coarseLabels ? { coarseLabels: e.coarseLabels } : {}) });
        log(`embedded ${split}: ${e.embeddings.rows} x ${e.embeddings.dim}`);
      }
      const r = await exportEmbeddingsArrow(out, parts, {
        checkpoint: run.restored.checkpointDir,
        dataset: run.dataset.info.dataset,
        model: run.restored.config.model,
        hyp_c: String(run.restored.config.hyp_c),
      });
      io.stdout.write(`${JSON.stringify({ out, rows: r.rows, bytes: r.bytes, splits })}\n`);
    } finally {
      await run.dataset.close();
    }
    return 0;
  },
};
