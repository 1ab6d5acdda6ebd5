import { describe, expect, it } from 'vitest';
import { writeMat5 } from '../__fixtures__/mat5-writer.js';
import { matCharRows, readMat5 } from './mat5.js';

describe('MAT-file Level 5 reader', () => {
  for (const compress of [false, true]) {
    it(`reads numeric, char, cell, struct, logical, complex and empty values (${compress ? 'compressed' : 'plain'})`, () => {
      const bytes = writeMat5(
        [
          { name: 'd', value: { kind: 'numeric', cls: 'double', dims: [2, 3], data: [1, 2, 3, 4, 5, 6.5] } },
          { name: 'narrow', value: { kind: 'numeric', cls: 'double', storage: 'uint8', data: [200] } },
          { name: 'u16', value: { kind: 'numeric', cls: 'uint16', data: [65535, 7] } },
          { name: 'i64', value: { kind: 'numeric', cls: 'int64', data: [-5, 2 ** 40] } },
          { name: 's', value: { kind: 'numeric', cls: 'single', data: [0.5] } },
          { name: 'flag', value: { kind: 'numeric', cls: 'uint8', logical: true, data: [1, 0, 1] } },
          { name: 'z', value: { kind: 'numeric', cls: 'double', data: [1, 2], imag: [3, -4] } },
          { name: 'txt', value: { kind: 'char', text: 'Acura RL Sedan 2012' } },
          { name: 'u8txt', value: { kind: 'char', text: 'Zoë', utf8: true } },
          { name: 'mat', value: { kind: 'char', text: 'adbecf', dims: [2, 3] } },
          { name: 'c', value: { kind: 'cell', dims: [1, 3], cells: [{ kind: 'char', text: 'a' }, { kind: 'empty' }, { kind: 'numeric', cls: 'double', data: [9] }] } },
          {
            name: 'st',
            value: {
              kind: 'struct',
              dims: [1, 2],
              fields: ['name', 'v'],
              elements: [
                { name: { kind: 'char', text: 'x' }, v: { kind: 'numeric', cls: 'uint8', data: [3] } },
                { name: { kind: 'char', text: 'yy' }, v: { kind: 'numeric', cls: 'uint16', data: [300] } },
              ],
            },
          },
        ],
        { compress },
      );
      const vars = readMat5(bytes, 'test.mat');
      expect(vars.get('d')).toMatchObject({ kind: 'numeric', class: 'double', dims: [2, 3], real: [1, 2, 3, 4, 5, 6.5] });
      expect(vars.get('narrow')).toMatchObject({ class: 'double', real: [200] });
      expect(vars.get('u16')).toMatchObject({ class: 'uint16', real: [65535, 7] });
      expect(vars.get('i64')).toMatchObject({ class: 'int64', real: [-5, 2 ** 40] });
      expect(vars.get('s')).toMatchObject({ class: 'single', real: [0.5] });
      expect(vars.get('flag')).toMatchObject({ logical: true, real: [1, 0, 1] });
      expect(vars.get('z')).toMatchObject({ real: [1, 2], imag: [3, -4] });
      expect(vars.get('txt')).toMatchObject({ kind: 'char', text: 'Acura RL Sedan 2012' });
      expect(vars.get('u8txt')).toMatchObject({ kind: 'char', text: 'Zoë' });
      expect(matCharRows(vars.get('mat')!)).toEqual(['abc', 'def']);
      const c = vars.get('c')!;
      expect(c.kind === 'cell' && c.cells.map((x) => x.kind)).toEqual(['char', 'empty', 'numeric']);
      const st = vars.get('st')!;
      expect(st.kind).toBe('struct');
      if (st.kind === 'struct') {
        expect(st.fields).toEqual(['name', 'v']);
        expect(st.elements[1]!.name).toMatchObject({ text: 'yy' });
        expect(st.elements[1]!.v).toMatchObject({ class: 'uint16', real: [300] });
      }
    });
  }

  it('rejects v7.3 (HDF5), non-Level-5 and truncated files', () => {
    const h5 = Buffer.alloc(1024);
    h5.write('MATLAB 7.3 MAT-file', 0, 'latin1');
    h5.write('\x89HDF\r\n\x1a\n', 512, 'latin1');
    expect(() => readMat5(h5, 'v73.mat')).toThrow(expect.objectContaining({ code: 'MAT_V73', message: expect.stringContaining('v73.mat') }));
    const v4 = Buffer.alloc(200);
    expect(() => readMat5(v4, 'old.mat')).toThrow(expect.objectContaining({ code: 'MAT_NOT_LEVEL5' }));
    expect(() => readMat5(Buffer.from('short'), 's.mat')).toThrow(expect.objectContaining({ code: 'MAT_NOT_LEVEL5' }));
    const good = writeMat5([{ name: 'd', value: { kind: 'numeric', cls: 'double', data: [1, 2, 3, 4, 5] } }], { compress: false });
    expect(() => readMat5(good.subarray(0, good.length - 16), 't.mat')).toThrow(expect.objectContaining({ code: 'MAT_MALFORMED' }));
    const z = writeMat5([{ name: 'd', value: { kind: 'numeric', cls: 'double', data: [1, 2, 3, 4, 5] } }], { compress: true });
    z[140] = (z[140] ?? 0) ^ 0xff;
    expect(() => readMat5(z, 'z.mat')).toThrow(expect.objectContaining({ code: 'MAT_MALFORMED' }));
  });
});
