import fc from 'fast-check';
import { HoldExpiryQueue } from './hold-expiry-queue';

describe('HoldExpiryQueue', () => {
  it('gives back nothing before the soonest expiry, and that one from then on', () => {
    const queue = new HoldExpiryQueue();
    queue.add('late', 300);
    queue.add('soon', 100);
    queue.add('middle', 200);
    expect(queue.takeDue(99)).toBeUndefined();
    expect(queue.takeDue(100)).toEqual({ holdId: 'soon', expiresAtMs: 100 });
    expect(queue.takeDue(100)).toBeUndefined();
    expect(queue.takeDue(1_000)?.holdId).toBe('middle');
    expect(queue.takeDue(1_000)?.holdId).toBe('late');
    expect(queue.takeDue(1_000)).toBeUndefined();
    expect(queue.size).toBe(0);
  });

  it('keeps one entry per hold: removed when settled early, moved when added again, across any order of steps', () => {
    type Step = { add: number; id: number } | { remove: number } | { takeAt: number };
    const step = fc.oneof(
      fc.record({ add: fc.integer({ min: 0, max: 1_000 }), id: fc.integer({ min: 0, max: 30 }) }),
      fc.record({ remove: fc.integer({ min: 0, max: 30 }) }),
      fc.record({ takeAt: fc.integer({ min: 0, max: 1_000 }) }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 300 }), (steps: Step[]) => {
        const queue = new HoldExpiryQueue();
        const model = new Map<string, number>();
        for (const each of steps) {
          if ('add' in each) {
            queue.add(`hold-${each.id}`, each.add);
            model.set(`hold-${each.id}`, each.add);
          } else if ('remove' in each) {
            queue.remove(`hold-${each.remove}`);
            model.delete(`hold-${each.remove}`);
          } else {
            const taken: number[] = [];
            for (let due = queue.takeDue(each.takeAt); due !== undefined; due = queue.takeDue(each.takeAt)) {
              expect(model.get(due.holdId)).toBe(due.expiresAtMs);
              model.delete(due.holdId);
              taken.push(due.expiresAtMs);
            }
            expect(taken).toEqual([...taken].sort((a, b) => a - b));
            expect([...model.values()].every((at) => at > each.takeAt)).toBe(true);
          }
          expect(queue.size).toBe(model.size);
        }
      }),
      { seed: Number(process.env.LEDGER_PROPERTY_SEED ?? 42) },
    );
  });

  it('takes every entry due, soonest first, across any order of adds and takes', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.record({ add: fc.integer({ min: 0, max: 1_000 }) }), fc.record({ takeAt: fc.integer({ min: 0, max: 1_000 }) })), { maxLength: 200 }), (steps) => {
        const queue = new HoldExpiryQueue();
        const model: number[] = [];
        steps.forEach((step, index) => {
          if ('add' in step) {
            queue.add(`hold-${index}`, step.add);
            model.push(step.add);
            return;
          }
          const taken: number[] = [];
          for (let due = queue.takeDue(step.takeAt); due !== undefined; due = queue.takeDue(step.takeAt)) taken.push(due.expiresAtMs);
          const expected = model.filter((at) => at <= step.takeAt).sort((a, b) => a - b);
          expect(taken).toEqual(expected);
          model.splice(0, model.length, ...model.filter((at) => at > step.takeAt));
        });
        expect(queue.size).toBe(model.length);
      }),
      { seed: Number(process.env.LEDGER_PROPERTY_SEED ?? 42) },
    );
  });
});
