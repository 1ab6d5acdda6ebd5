import { Code, buildModule, instantiate, wasmApi, V128, I32 } from './dist/simd/wasm-builder.js';
import v8 from 'node:v8'; v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
for (const fma of [true,false]) for (const ACC of [8,12,16]) {
const c=new Code();
for(let i=0;i<ACC;i++){c.f32x4Const(0.001*i).set(1+i);}
c.f32x4Const(1.0000001).set(ACC+1); c.f32x4Const(0.9999999).set(ACC+2);
c.block().loop();
for(let i=0;i<ACC;i++){ if(fma) c.get(ACC+1).get(ACC+2).get(1+i).f32x4RelaxedMadd().set(1+i); else c.get(ACC+1).get(1+i).f32x4Mul().set(1+i);}
c.get(0).i32(1).sub().tee(0).eqz().brIf(1).br(0).end().end();
for(let i=0;i<ACC;i++){ c.i32(16*i).get(1+i).v128Store(); }
const bytes=buildModule([{name:'peak',params:[I32],results:[],locals:[...Array(ACC+2).fill(V128)],body:c}],1);
const mem=new wasmApi.Memory({initial:1});
const ex=instantiate(bytes,mem);
ex.peak(1000);
for(let r=0;r<2;r++){const n=2e7;const t=process.hrtime.bigint();ex.peak(n);const s=Number(process.hrtime.bigint()-t)/1e9;console.log(fma?'fma':'mul',ACC,'acc',(n*ACC*(fma?8:4)/s/1e9).toFixed(1),'GF/s');}
}
