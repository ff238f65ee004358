import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { JsonWriter, timestampJson, writeTimestampJson } from '@featurelog/serving';

let seed = 11;
const random = () => {
  seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
  return seed / 2_147_483_648;
};

describe('JsonWriter', () => {
  it('writes strings exactly as JSON.stringify does: escapes, multi-byte text, surrogate pairs and lone surrogates', () => {
    const samples = [
      '',
      'plain',
      'a"b\\c/d',
      '\b\f\n\r\t\u0000\u0001\u001f\u007f',
      'são paulo — 東京 🌍',
      '\ud83c',
      '\udf0d',
      'x\ud83cy',
      '\udf0d\ud83c',
      'é'.repeat(100),
    ];
    // Random UTF-16 units, surrogates and controls included.
    for (let k = 0; k < 300; k++) {
      const units = Array.from({ length: Math.floor(random() * 40) }, () =>
        random() < 0.3 ? Math.floor(random() * 0x80) : Math.floor(random() * 0x10000),
      );
      samples.push(String.fromCharCode(...units));
    }
    const out = new JsonWriter(8);
    for (const text of samples) {
      out.reset();
      out.string(text);
      assert.equal(out.toString(), JSON.stringify(text), JSON.stringify(text));
      out.reset();
      out.string(`s${text}`, 1);
      assert.equal(out.toString(), JSON.stringify(text), 'from an offset');
    }
  });

  it('writes UTF-8 bytes as raw and string write their text, bad UTF-8 as its decoding', () => {
    const texts = [
      '',
      'plain',
      'a"b\\c/d',
      '\b\f\n\r\t\u0000\u0001\u001f\u007f',
      'são paulo — 東京 🌍',
      '\ufeffbom first',
      '\u2028\u2029\uffff',
      'é'.repeat(100),
      'x'.repeat(60),
    ];
    const sources = texts.map((text) => Buffer.from(text));
    // Lone surrogates (stored as U+FFFD), overlong forms, encoded surrogates, truncated sequences, stray continuation bytes.
    sources.push(
      Buffer.from('x\ud83cy'),
      Buffer.from([0xc0, 0xaf]),
      Buffer.from([0xed, 0xa0, 0x80]),
      Buffer.from([0x61, 0xe6, 0x9d]),
      Buffer.from([0x80, 0x22, 0xbf]),
      Buffer.from([0xf4, 0x90, 0x80, 0x80]),
    );
    for (let k = 0; k < 300; k++) {
      sources.push(
        Buffer.from(
          Array.from({ length: Math.floor(random() * 70) }, () =>
            random() < 0.5 ? Math.floor(random() * 0x80) : Math.floor(random() * 0x100),
          ),
        ),
      );
    }
    const out = new JsonWriter(8);
    const expected = new JsonWriter(8);
    for (const bytes of sources) {
      // Somewhere inside a larger buffer, as a store's reply holds it.
      const source = Buffer.concat([Buffer.from('\u00ff"'), bytes, Buffer.from('\\\u0000')]);
      const [start, end] = [2, 2 + bytes.length];
      const text = source.toString('utf8', start, end);
      out.reset();
      out.utf8(source, start, end);
      expected.reset();
      expected.raw(text);
      assert.deepEqual(out.finish(), expected.finish(), `raw ${bytes.toString('hex')}`);
      out.reset();
      out.stringOfUtf8(source, start, end);
      assert.deepEqual(out.finish(), Buffer.from(JSON.stringify(text)), `string ${bytes.toString('hex')}`);
    }
  });

  it('writes raw text as UTF-8 (ASCII by a loop, the rest by Buffer#write), growing as needed', () => {
    const out = new JsonWriter(4);
    const pieces = ['123', '-4.5e-7', 'ü', 'x'.repeat(100), '["a","東京"]', 'null'];
    for (const piece of pieces) out.raw(piece);
    out.byte(0x2c);
    out.bytes(Buffer.from('[1]'));
    assert.equal(out.toString(), `${pieces.join('')},[1]`);
    assert.ok(out.endsWithNull() === false);
    out.raw('null');
    assert.ok(out.endsWithNull());
    const body = out.finish();
    out.reset();
    out.raw('written over');
    assert.equal(
      body.toString(),
      `${pieces.join('')},[1]null`,
      'finish copies: the next answer does not write over it',
    );
  });

  it('writes timestamps exactly as timestampJson does', () => {
    const values = [
      0,
      1,
      999,
      1_000,
      -1,
      -1_000_001,
      Date.UTC(2025, 0, 1) * 1_000,
      Date.UTC(1969, 11, 31, 23, 59, 59, 999) * 1_000 + 999,
      Number.MAX_SAFE_INTEGER,
      Number.MIN_SAFE_INTEGER,
    ];
    for (let k = 0; k < 2_000; k++) values.push(Math.floor((random() - 0.3) * 4e15));
    const out = new JsonWriter(8);
    for (const micros of values) {
      out.reset();
      writeTimestampJson(out, micros);
      assert.equal(out.toString(), timestampJson(micros), String(micros));
    }
  });
});
