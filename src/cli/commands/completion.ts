/**
 * `cairn completion bash|zsh`: a completion script generated from the command definitions
 * themselves (commander's tree of commands and options), so it never falls behind them.
 * Completes command names, subcommand names (`key add`), and each command's options;
 * arguments (stores, folders) complete as file names.
 */
import type { Command } from 'commander';
import { CairnError } from '../../errors/errors.js';
import { out } from '../output.js';

/** Words to offer after a command path ("" = top level, "key" = after `cairn key`). */
function completionTable(root: Command): { table: Map<string, string[]>; groups: string[] } {
  const table = new Map<string, string[]>();
  const groups: string[] = [];
  const walk = (command: Command, path: string) => {
    const words = [
      ...command.commands.filter((c) => c.name() !== 'help').flatMap((c) => [c.name(), ...c.aliases()]),
      ...command.options.flatMap((o) => [o.long, o.short].filter((f): f is string => !!f)),
      '--help',
    ];
    table.set(path, [...new Set(words)]);
    if (path && command.commands.length > 0) groups.push(path);
    for (const sub of command.commands) for (const name of [sub.name(), ...sub.aliases()]) walk(sub, path ? `${path} ${name}` : name);
  };
  walk(root, '');
  return { table, groups };
}

/**
 * A bash function: the longest known command path among the words typed picks the list;
 * a command with subcommands (`key`) offers only those, the others also file names.
 */
function bashScript({ table, groups }: { table: Map<string, string[]>; groups: string[] }): string {
  const cases = [...table]
    .map(([path, words]) => `    '${path}') words='${words.join(' ')}' ;;`)
    .join('\n');
  return `# cairn completion for bash: source <(cairn completion bash), or save it in
# ~/.local/share/bash-completion/completions/cairn
_cairn() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path="" try="" words="" i
  for ((i = 1; i < COMP_CWORD; i++)); do
    [[ \${COMP_WORDS[i]} == -* ]] && continue
    try="\${path:+\$path }\${COMP_WORDS[i]}"
    case "\$try" in
${[...table.keys()].filter(Boolean).map((p) => `      '${p}') path="\$try" ;;`).join('\n')}
    esac
  done
  case "\$path" in
${cases}
  esac
  if [[ \$cur == -* || -z \$path${groups.map((g) => ` || \$path == '${g}'`).join('')} ]]; then
    COMPREPLY=(\$(compgen -W "\$words" -- "\$cur"))
  else
    COMPREPLY=(\$(compgen -W "\$words" -- "\$cur") \$(compgen -f -- "\$cur"))
  fi
}
complete -o filenames -F _cairn cairn
`;
}

export function registerCompletion(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script (bash or zsh): source <(cairn completion bash)')
    .argument('<shell>', 'bash or zsh')
    .action((shell: string) => {
      const script = bashScript(completionTable(program));
      if (shell === 'bash') return out(script.trimEnd());
      // zsh runs bash completion functions through its bashcompinit layer.
      if (shell === 'zsh') return out(`# cairn completion for zsh: source <(cairn completion zsh)\nautoload -U +X bashcompinit && bashcompinit\n${script.trimEnd()}`);
      throw new CairnError('USAGE', `no completion for ${shell}`, { hint: 'use bash or zsh' });
    });
}
