import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { keySlot, writeRowsThenCheckpoint, type RedisTopology } from './redis-topology';

describe('keySlot: the hash slot Redis gives a key', () => {
  it('is CRC16 (XMODEM) of the key modulo 16384', () => {
    // The check value of CRC16/XMODEM, as in the Redis Cluster specification.
    assert.equal(keySlot('123456789'), 0x31c3);
    assert.equal(keySlot(''), 0);
  });

  it('hashes only the hash tag: between the first { and the first } after it, when not empty (Redis Cluster spec)', () => {
    assert.equal(keySlot('{user1000}.following'), keySlot('user1000'));
    assert.equal(keySlot('foo{bar}{zap}'), keySlot('bar'));
    assert.equal(keySlot('foo{{bar}}zap'), keySlot('{bar'));
    // An empty tag means no tag: the whole key (cluster-key-slot 1.1 gets `{}}` wrong, see keySlot).
    // The numbers are what Redis 7.0 answers to CLUSTER KEYSLOT.
    assert.equal(keySlot('p:{}}'), 8194);
    assert.equal(keySlot('foo{}{bar}'), 8363);
    assert.equal(keySlot('no tag {here'), 4645);
  });

  it('hashes the UTF-8 bytes Redis receives', () => {
    assert.equal(keySlot('{ü🌍}x'), keySlot('ü🌍'));
  });
});

describe('writeRowsThenCheckpoint', () => {
  const topology = (isCluster: boolean) =>
    ({
      isCluster,
      scriptGroups: <T>(items: readonly T[], keyOf: (item: T) => string) => {
        const groups = new Map<number, T[]>();
        for (const item of items) groups.set(keySlot(keyOf(item)), [...(groups.get(keySlot(keyOf(item))) ?? []), item]);
        return [...groups.values()];
      },
    }) as unknown as RedisTopology;
  const rows = ['{a}', '{b}', '{a}', '{c}'];
  const checkpoint = { next: 4 };

  it('on one node: one call with every row and the checkpoint', async () => {
    const calls: Array<[readonly string[], unknown, boolean]> = [];
    const won = await writeRowsThenCheckpoint(topology(false), rows, checkpoint, String, async (r, c, replicated) => {
      calls.push([r, c, replicated]);
      return r.length;
    });
    assert.equal(won, 4);
    assert.deepEqual(calls, [[rows, checkpoint, false]]);
  });

  it('on a cluster: one replicated call per group, then the checkpoint alone once every slot succeeded', async () => {
    const calls: Array<[readonly string[], unknown, boolean]> = [];
    let rowCallsDone = 0;
    const won = await writeRowsThenCheckpoint(topology(true), rows, checkpoint, String, async (r, c, replicated) => {
      if (c !== undefined) assert.equal(rowCallsDone, 3, 'the checkpoint waits for every group');
      calls.push([r, c, replicated]);
      await new Promise((done) => setImmediate(done));
      if (c === undefined) rowCallsDone++;
      return r.length;
    });
    assert.equal(won, 4);
    assert.deepEqual(
      calls.map(([r, c, replicated]) => [[...r].sort().join(''), c, replicated]),
      [
        ['{a}{a}', undefined, true],
        ['{b}', undefined, true],
        ['{c}', undefined, true],
        ['', checkpoint, true],
      ],
    );
  });

  it('on a cluster: a failed group leaves the checkpoint unwritten', async () => {
    const checkpoints: unknown[] = [];
    await assert.rejects(
      writeRowsThenCheckpoint(topology(true), rows, checkpoint, String, async (r, c) => {
        if (c !== undefined) checkpoints.push(c);
        if (r.includes('{b}')) throw new Error('node down');
        return r.length;
      }),
      /node down/,
    );
    assert.deepEqual(checkpoints, []);
  });
});
