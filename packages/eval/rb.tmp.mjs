import { runBenchmarks } from './dist/bench.js';
const recs = await runBenchmarks({ quick: process.argv[2] === 'quick', log: (l) => console.log(l) });
console.log(JSON.stringify(recs.map(r => ({ id: r.id, value: r.value, params: r.params })), null, 1));
