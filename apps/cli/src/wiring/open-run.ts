/** The model of a checkpoint plus the dataset it is evaluated on (eval, embed and visualize share this). */
import path from 'node:path';
import type { ArrowDataset } from '@hier-ts/data';
import { openArrow, resolveArrow } from './data.js';
import { type RestoredRun, restoreRun } from './restore.js';

export interface OpenRun {
  restored: RestoredRun;
  dataset: ArrowDataset;
  arrowFile: string;
}

export async function openRunData(v: { checkpoint: string; data_path?: string }, log: (line: string) => void): Promise<OpenRun> {
  const restored = await restoreRun(v.checkpoint);
  const dataPath = v.data_path ?? restored.config.data_path;
  const cacheDir = path.join(restored.runDir ?? path.dirname(restored.checkpointDir), 'data');
  const arrowFile = await resolveArrow(restored.config.dataset, dataPath, cacheDir, log);
  const dataset = await openArrow(arrowFile, restored.config.dataset);
  return { restored, dataset, arrowFile };
}
