import { describe, expect, it } from 'vitest';
import { GroupCommit } from '../../src/primitives/group-commit';
import { PerTick } from '../../src/primitives/per-tick';

/** Gate-and-tick tests (Temporal's semaphore tests): no sleeps; commits are held open by gates. */
const tick = () => new Promise<void>((r) => setImmediate(r));
const ticks = async (n: number) => {
  for (let i = 0; i < n; i++) await tick();
};

function gated<I>() {
  const groups: I[][] = [];
  const gates: (() => void)[] = [];
  const commit = async (items: readonly I[]) => {
    groups.push([...items]);
    await new Promise<void>((r) => gates.push(r));
    return items.map((i) => (i instanceof Error ? i : (`ok:${String(i)}` as const)));
  };
  return { groups, gates, commit };
}

describe('GroupCommit', () => {
  it('groups what is submitted in one tick into one commit, each request with its own answer', async () => {
    const g = gated<number>();
    const gc = new GroupCommit<number, string>(g.commit);
    const answers = [1, 2, 3].map((i) => gc.submit(i));
    await tick();
    expect(g.groups).toEqual([[1, 2, 3]]);
    g.gates.shift()!();
    expect(await Promise.all(answers)).toEqual(['ok:1', 'ok:2', 'ok:3']);
  });

  it('an Error answer refuses that request alone; a throw refuses the whole group', async () => {
    const gc = new GroupCommit<string, string>(async (items) => items.map((i) => (i === 'bad' ? new Error('refused') : i)));
    const [a, b, c] = ['x', 'bad', 'y'].map((i) => gc.submit(i));
    await expect(a).resolves.toBe('x');
    await expect(b).rejects.toThrow('refused');
    await expect(c).resolves.toBe('y');
    const failing = new GroupCommit<number, number>(async () => {
      throw new Error('database down');
    });
    await expect(Promise.all([failing.submit(1), failing.submit(2)])).rejects.toThrow('database down');
  });

  it('splits at maxGroup', async () => {
    const g = gated<number>();
    const gc = new GroupCommit<number, string>(g.commit, { maxGroup: 2, maxInFlight: 10 });
    const answers = [1, 2, 3, 4, 5].map((i) => gc.submit(i));
    await tick();
    expect(g.groups).toEqual([[1, 2], [3, 4], [5]]);
    g.gates.splice(0).forEach((open) => open());
    expect(await Promise.all(answers)).toHaveLength(5);
  });

  it('while maxInFlight groups commit, the next group keeps filling, then goes as one', async () => {
    const g = gated<number>();
    const gc = new GroupCommit<number, string>(g.commit, { maxInFlight: 1 });
    const first = gc.submit(1);
    await tick();
    expect(g.groups).toEqual([[1]]);
    const rest = [2, 3].map((i) => gc.submit(i));
    await ticks(3);
    const more = gc.submit(4);
    await ticks(3);
    // Nothing else committed while the first group held the only slot.
    expect(g.groups).toHaveLength(1);
    expect(gc.committing).toBe(1);
    g.gates.shift()!();
    await first;
    await ticks(3);
    expect(g.groups).toEqual([[1], [2, 3, 4]]);
    g.gates.shift()!();
    expect(await Promise.all([...rest, more])).toEqual(['ok:2', 'ok:3', 'ok:4']);
    expect(gc.committing).toBe(0);
  });

  it('a commit answering fewer results than requests refuses the unanswered ones', async () => {
    const gc = new GroupCommit<number, number>(async (items) => items.slice(0, 1));
    const [a, b] = [1, 2].map((i) => gc.submit(i));
    await expect(a).resolves.toBe(1);
    await expect(b).rejects.toThrow(/answered 1 of 2/);
  });
});

describe('PerTick', () => {
  it('items added in one tick leave in one flush, and every caller awaits it', async () => {
    const flushed: number[][] = [];
    const gates: (() => void)[] = [];
    const pt = new PerTick<number>(async (items) => {
      flushed.push(items);
      await new Promise<void>((r) => gates.push(r));
    });
    let settled = 0;
    const sends = [pt.add([1]), pt.add([2, 3])].map((p) => p.then(() => settled++));
    await tick();
    expect(flushed).toEqual([[1, 2, 3]]);
    expect(settled).toBe(0);
    const next = pt.add([4]);
    await tick();
    expect(flushed).toEqual([[1, 2, 3], [4]]);
    gates.splice(0).forEach((open) => open());
    await Promise.all([...sends, next]);
    expect(settled).toBe(2);
  });
});
