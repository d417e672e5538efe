import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cusum } from './cusum.js';
import {
  logGamma,
  normalCdf,
  regularizedIncompleteBeta,
  studentTCdf,
  studentTTwoSidedP,
} from './distributions.js';
import { pairedTTest, sampleSd } from './paired.js';
import { mannKendall, theilSen } from './trend.js';

const close = (actual: number, expected: number, tol: number, what = '') =>
  assert.ok(Math.abs(actual - expected) <= tol, `${what} ${actual} is not within ${tol} of ${expected}`);

describe('distributions', () => {
  test('log gamma matches factorials and Γ(1/2) = √π', () => {
    close(logGamma(5), Math.log(24), 1e-12);
    close(logGamma(10), Math.log(362880), 1e-11);
    close(logGamma(0.5), 0.5 * Math.log(Math.PI), 1e-12);
  });

  test('regularized incomplete beta: closed forms', () => {
    close(regularizedIncompleteBeta(0.3, 1, 1), 0.3, 1e-12); // uniform
    // I_x(2,3) = Σ_{j=2..4} C(4,j) x^j (1−x)^(4−j); at x = 1/2 that is 11/16
    close(regularizedIncompleteBeta(0.5, 2, 3), 11 / 16, 1e-12);
    close(regularizedIncompleteBeta(0.9, 5, 0.5) + regularizedIncompleteBeta(0.1, 0.5, 5), 1, 1e-12);
  });

  test("Student's t CDF: Cauchy (df = 1), df = 2 closed form, and table values", () => {
    close(studentTCdf(1, 1), 0.75, 1e-12);
    close(studentTCdf(2, 2), 0.5 + 2 / (2 * Math.sqrt(6)), 1e-12);
    close(studentTCdf(-2, 2), 0.5 - 2 / (2 * Math.sqrt(6)), 1e-12);
    // t tables: t_{0.975, 10} = 2.228, t_{0.995, 30} = 2.750
    close(studentTTwoSidedP(2.228139, 10), 0.05, 1e-6);
    close(studentTTwoSidedP(2.749996, 30), 0.01, 1e-6);
    close(studentTTwoSidedP(2, 10), 0.07338803, 1e-7);
  });

  test('normal CDF', () => {
    close(normalCdf(0), 0.5, 1e-9);
    close(normalCdf(1.959964), 0.975, 1e-7);
    close(normalCdf(-2.326348), 0.01, 1e-7);
    // deep tail keeps its relative accuracy: Φ(−5) = 2.8665157e−7
    close(normalCdf(-5) / 2.8665157e-7, 1, 1e-7);
  });
});

describe('paired t-test', () => {
  // Student's (1908) sleep data, Cushny & Peebles: extra hours of sleep with two drugs, same ten patients.
  // R: t.test(extra ~ group, data = sleep, paired = TRUE) gives t = −4.0621, df = 9, p = 0.002833.
  const drug1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0];
  const drug2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4];

  test("matches R on Student's sleep data", () => {
    const r = pairedTTest(drug2, drug1)!;
    close(r.meanDiff, 1.58, 1e-12);
    close(r.t, 4.062128, 1e-6);
    assert.equal(r.df, 9);
    close(r.p, 0.00283289, 1e-8);
    close(r.pUp, 0.00283289 / 2, 1e-8);
    close(r.se, 0.3889587, 1e-7);
  });

  test('degenerate inputs', () => {
    assert.equal(pairedTTest([1], [0]), null);
    assert.equal(pairedTTest([1, 2], [0]), null);
    const same = pairedTTest([1, 2, 3], [1, 2, 3])!;
    assert.deepEqual([same.t, same.p], [0, 1]);
    const shifted = pairedTTest([2, 3, 4], [1, 2, 3])!;
    assert.deepEqual([shifted.t, shifted.p, shifted.pUp], [Infinity, 0, 0]);
  });

  test('sample sd', () => {
    close(sampleSd([2, 4, 4, 4, 5, 5, 7, 9]), Math.sqrt(32 / 7), 1e-12);
    assert.equal(sampleSd([3]), 0);
  });
});

describe('CUSUM', () => {
  test('accumulates excess over the allowance and restarts at zero', () => {
    const { s, firstAlarm } = cusum([0, 0, 1, 2, 2, 0, -3, 3], 0.5, 3);
    assert.deepEqual(s, [0, 0, 0.5, 2, 3.5, 3, 0, 2.5]);
    assert.equal(firstAlarm, 4);
  });
});

describe('Mann–Kendall and Theil–Sen', () => {
  test('strictly increasing series of five', () => {
    const r = mannKendall([1, 2, 3, 4, 5])!;
    assert.equal(r.s, 10);
    close(r.varS, (5 * 4 * 15) / 18, 1e-12);
    close(r.z, 9 / Math.sqrt(50 / 3), 1e-12);
    close(r.pUp, 0.013745, 1e-5);
    assert.equal(r.tau, 1);
  });

  test('tie correction', () => {
    // pairs: four +1, one tie, S = 5; Var = [4·3·13 − 2·1·9] / 18
    const r = mannKendall([1, 2, 2, 3])!;
    assert.equal(r.s, 5);
    close(r.varS, (156 - 18) / 18, 1e-12);
  });

  test('no trend and too-short series', () => {
    assert.equal(mannKendall([1, 2]), null);
    const flat = mannKendall([3, 3, 3, 3])!;
    assert.deepEqual([flat.s, flat.z, flat.pUp], [0, 0, 0.5]);
  });

  test('Theil–Sen ignores an outlier', () => {
    const r = theilSen([1, 2, 3, 4, 5], [1, 2, 3, 4, 100])!;
    assert.equal(r.slope, 1);
    assert.equal(r.intercept, 0);
    assert.equal(theilSen([1, 1], [2, 3]), null);
  });
});
