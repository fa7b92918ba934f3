/**
 * Glob patterns over paths inside a folder, as `find` and `backup --exclude` take them: a
 * pattern without '/' matches a name at any depth; with one, the path from the top (a leading
 * '/' optional). `*` stays within a name, `**` crosses folders, `?` and `[abc]` as in the
 * shell; names starting with '.' match too. A trailing '/' matches folders only (as rsync's).
 */
import picomatch from 'picomatch';

export interface Glob {
  /** Matches names, not paths (no '/' in the pattern). */
  readonly byName: boolean;
  readonly dirOnly: boolean;
  /** Tests a name (byName) or a path from the top. */
  readonly test: (nameOrPath: string) => boolean;
}

export function compileGlob(pattern: string): Glob {
  const dirOnly = pattern.length > 1 && pattern.endsWith('/');
  const body = dirOnly ? pattern.slice(0, -1) : pattern;
  const byName = !body.includes('/');
  return { byName, dirOnly, test: picomatch(byName ? body : body.replace(/^\/+/, ''), { dot: true }) };
}

/** True when a path (relative, '/'-separated) matches any of the patterns. */
export function pathExcluder(patterns: readonly string[]): (path: string, isDir: boolean) => boolean {
  const globs = patterns.map(compileGlob);
  return (path, isDir) => globs.some((g) => (!g.dirOnly || isDir) && g.test(g.byName ? path.slice(path.lastIndexOf('/') + 1) : path));
}
