// A node:test reporter that prints one closing line, `N passed, N failed` (with `, N skipped`), counting
// test cases only: suites and the per-file wrappers node:test adds are not counted.
export default async function* summaryReporter(source) {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const failures = [];
  // A completed test is a leaf when no test one level deeper completed since the last completion at its level.
  // A parent that fails while none of its children did (a file that crashed, a failing hook) is counted
  // as one failure, so a crash can never read as a clean run.
  const childCompleted = [];
  const childFailed = [];
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { nesting, name, details, skip, todo } = event.data;
    const isParent = childCompleted[nesting + 1] === true || details?.type === 'suite';
    const aChildFailed = childFailed[nesting + 1] === true;
    childCompleted[nesting + 1] = false;
    childFailed[nesting + 1] = false;
    childCompleted[nesting] = true;
    if (event.type === 'test:fail') childFailed[nesting] = true;
    if (isParent && !(event.type === 'test:fail' && !aChildFailed)) continue;
    if (skip || todo) skipped++;
    else if (event.type === 'test:pass') passed++;
    else {
      failed++;
      failures.push(`${name}${event.data.file ? ` (${event.data.file})` : ''}`);
    }
  }
  if (failures.length) yield `\nFailed tests:\n${failures.map((f) => `  - ${f}`).join('\n')}\n`;
  yield `\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`;
}
