import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Debian's chromium package (scripts/setup-system.sh installs it); Playwright's own download needs internet. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Where browser tests leave their screenshots (gitignored); tests run from the repository root. */
export const ARTIFACTS = process.env.SENTINEL_ARTIFACTS ?? join(process.cwd(), 'test-artifacts');

/**
 * Headless chromium with everything that would reach the internet switched off: the dashboard must work
 * offline, and a stray request would only slow the test down. launch() gives every browser a fresh
 * temporary profile of its own (Playwright refuses --user-data-dir there) and deletes it on close.
 */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Collects the page's uncaught errors and console errors, so a test can assert there were none. */
export function watchPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
  });
  return errors;
}

export async function screenshot(page: Page, name: string, fullPage = false): Promise<string> {
  const dir = join(ARTIFACTS, 'dashboard');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.png`);
  await page.screenshot({ path, fullPage });
  return path;
}
