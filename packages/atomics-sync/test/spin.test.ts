import test from 'ava';
import { AdaptiveSpin } from '../src/index.js';

test('the spin budget halves on each miss down to min, doubles on each catch up to max', (t) => {
  const s = new AdaptiveSpin(1000, 16);
  t.is(s.next(), 1000);
  const seen: number[] = [];
  for (let i = 0; i < 8; i++) {
    s.missed();
    seen.push(s.budget);
  }
  t.deepEqual(seen, [500, 250, 125, 62, 31, 16, 16, 16]);
  s.caught();
  s.caught();
  t.is(s.budget, 64);
  for (let i = 0; i < 10; i++) s.caught();
  t.is(s.budget, 1000);
});

test('every PROBE_EVERY-th wait spins the full budget even after misses', (t) => {
  const s = new AdaptiveSpin(800, 16);
  for (let i = 0; i < 10; i++) s.missed();
  const budgets = Array.from({ length: AdaptiveSpin.PROBE_EVERY * 2 }, () => s.next());
  t.is(budgets.filter((b) => b === 800).length, 2);
  t.is(budgets.filter((b) => b === 16).length, AdaptiveSpin.PROBE_EVERY * 2 - 2);
});

test('a max below min is respected, and the default min is 64', (t) => {
  const s = new AdaptiveSpin(4, 16);
  s.missed();
  t.is(s.budget, 4);
  t.is(new AdaptiveSpin(0).next(), 0);
  const d = new AdaptiveSpin(2000);
  for (let i = 0; i < 10; i++) d.missed();
  t.is(d.budget, 64);
});
