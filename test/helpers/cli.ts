import { spawn } from 'node:child_process';
import * as path from 'node:path';

export const CLI = path.resolve(__dirname, '../../dist/src/cli/main.js');

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the built cairn CLI (npm test builds it first) without a terminal. */
export function cairn(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return run(process.execPath, [CLI, ...args], env);
}

export function run(command: string, args: string[], env: Record<string, string> = {}, input?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    // The caller's CAIRN_* variables never leak into a test's child.
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CAIRN_')));
    const child = spawn(command, args, { env: { ...inherited, ...env }, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    if (input !== undefined) {
      // A child may exit before reading its input; that is its answer, not a test failure.
      child.stdin!.on('error', () => undefined);
      child.stdin!.end(input);
    }
  });
}
