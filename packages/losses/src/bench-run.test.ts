import { it } from 'vitest';
import { runBenchmarks } from './bench.js';
it('bench', async () => { const r = await runBenchmarks({ quick: true, log: console.log }); console.log(JSON.stringify(r.map((x) => [x.id, x.value, x.params]))); }, 600000);
