/**
 * `cairn completion bash|zsh` is generated from the command definitions: sourced into a
 * real bash, it completes commands, subcommands and each command's options, including
 * ones added recently (so it cannot fall behind), and zsh loads it through bashcompinit.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { CLI } from '../helpers/cli.js';

/** What bash completes for the words typed (the last one is being completed). */
function complete(...words: string[]): string[] {
  const script = `source <("${process.execPath}" "${CLI}" completion bash)
COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}
_cairn; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const r = spawnSync('bash', ['-c', script], { encoding: 'utf8', cwd: '/' });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.split('\n').filter(Boolean);
}

describe('shell completion', () => {
  it('completes commands, subcommands and options in bash', () => {
    expect(complete('cairn', 'mo')).toEqual(['mount']);
    expect(complete('cairn', 'un').sort()).toEqual(['unlock', 'unmount']);
    expect(complete('cairn', 'key', '')).toEqual(expect.arrayContaining(['add', 'list', 'remove', 'passwd']));
    expect(complete('cairn', 'key', '')).not.toContain('etc'); // a group offers its subcommands, not files
    expect(complete('cairn', 'mount', '--da')).toEqual(['--daemon']);
    expect(complete('cairn', 'key', 'passwd', '--new')).toEqual(['--new-password-file']);
    expect(complete('cairn', 'prune', 'STORE', '--j')).toEqual(['--json']);
    // Arguments complete as file names.
    expect(complete('cairn', 'restore', 'et')).toContain('etc');
  });

  it('gives zsh the same function through bashcompinit, and refuses other shells', () => {
    const zsh = spawnSync(process.execPath, [CLI, 'completion', 'zsh'], { encoding: 'utf8' });
    expect(zsh.status).toBe(0);
    expect(zsh.stdout).toContain('bashcompinit');
    expect(zsh.stdout).toContain('complete -o filenames -F _cairn cairn');
    const fish = spawnSync(process.execPath, [CLI, 'completion', 'fish'], { encoding: 'utf8' });
    expect(fish.status).toBe(2);
    expect(fish.stderr).toContain('use bash or zsh');
  });
});
