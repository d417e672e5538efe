import { Controller, Get, Logger, NotFoundException, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { type Request, type Response } from 'express';
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The compiled controller lives at <build>/apps/api/src/dashboard/; scripts/copy-assets.mjs copies
 * apps/api/dashboard/** to <build>/apps/api/dashboard/, two folders up from here.
 */
export const DASHBOARD_ROOT = fileURLToPath(new URL('../../dashboard/', import.meta.url));

const require = createRequire(import.meta.url);

/**
 * Third-party browser files are served straight from node_modules (pinned by package-lock), so nothing
 * vendored sits in git and nothing is fetched from a CDN: the dashboard works with no internet access.
 */
const VENDOR: Record<string, string> = {
  'uplot.esm.js': require.resolve('uplot/dist/uPlot.esm.js'),
  'uplot.min.css': require.resolve('uplot/dist/uPlot.min.css'),
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json; charset=utf-8',
};

/**
 * Only our own origin: proves in every browser that the page needs no CDN. uPlot positions its cursor and
 * legend through element.style, which CSP's style-src governs only for markup, but it also injects a few
 * style attributes, hence 'unsafe-inline' for styles (never for scripts).
 */
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

interface CachedFile {
  body: Buffer;
  etag: string;
  mtimeMs: number;
}

/**
 * The web dashboard: `GET /` is the single page, `/assets/*` its ES modules and styles. The page calls
 * the API's own /v1 endpoints with the same auth as any client, so this controller serves files only.
 */
@ApiExcludeController()
@Controller()
export class DashboardController {
  private readonly log = new Logger('Dashboard');
  private readonly cache = new Map<string, CachedFile>();

  @Get()
  async index(@Req() req: Request, @Res() res: Response): Promise<void> {
    await this.send(req, res, resolve(DASHBOARD_ROOT, 'index.html'), 'no-cache');
  }

  @Get('assets/vendor/:file')
  async vendor(@Req() req: Request, @Res() res: Response): Promise<void> {
    const path = VENDOR[String(req.params.file)];
    if (!path) throw new NotFoundException();
    // Versioned by package-lock; an hour is short enough that an upgrade shows up the same day.
    await this.send(req, res, path, 'public, max-age=3600');
  }

  @Get('assets/*path')
  async asset(@Req() req: Request, @Res() res: Response): Promise<void> {
    const relative = decodeURIComponent(req.path.slice('/assets/'.length));
    const path = resolve(DASHBOARD_ROOT, relative);
    // resolve() collapses any `..`; whatever lands outside the dashboard folder does not exist here.
    if (!path.startsWith(DASHBOARD_ROOT.endsWith(sep) ? DASHBOARD_ROOT : DASHBOARD_ROOT + sep)) {
      throw new NotFoundException();
    }
    // Unfingerprinted file names: the browser may keep a copy but must revalidate (cheap, ETag → 304).
    await this.send(req, res, path, 'no-cache');
  }

  private async send(req: Request, res: Response, path: string, cacheControl: string): Promise<void> {
    const type = TYPES[extname(path)];
    if (!type) throw new NotFoundException();
    const file = await this.load(path);
    if (!file) throw new NotFoundException();
    res.setHeader('Content-Type', type);
    res.setHeader('Cache-Control', cacheControl);
    res.setHeader('ETag', file.etag);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    if (type.startsWith('text/html')) res.setHeader('Content-Security-Policy', CSP);
    if (req.headers['if-none-match'] === file.etag) {
      res.status(304).end();
      return;
    }
    res.status(200).send(file.body);
  }

  /** Reads a file once and again only when its mtime changes (a redeploy or a developer's edit). */
  private async load(path: string): Promise<CachedFile | null> {
    let mtimeMs: number;
    try {
      const info = await stat(path);
      if (!info.isFile()) return null;
      mtimeMs = info.mtimeMs;
    } catch {
      return null;
    }
    const cached = this.cache.get(path);
    if (cached && cached.mtimeMs === mtimeMs) return cached;
    const body = await readFile(path);
    const etag = `"${createHash('sha1').update(body).digest('base64url')}"`;
    const file = { body, etag, mtimeMs };
    this.cache.set(path, file);
    this.log.debug(`loaded ${path}`);
    return file;
  }
}
