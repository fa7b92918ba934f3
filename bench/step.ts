/**
 * One measured benchmark step, run in its own process so its peak memory and CPU are its
 * own: `node dist/bench/step.js archive STORE SOURCE [init]` stores SOURCE as a snapshot.
 * Prints one JSON line: seconds, CPU seconds, peak RSS, bytes added.
 */
import { LocalBackend } from '../src/backend/local.js';
import { archiveDirectory } from '../src/repository/archiver.js';
import { Repository } from '../src/repository/repository.js';

const [, , command, store, source, init] = process.argv;
if (command !== 'archive' || !store || !source) {
  process.stderr.write('usage: step.js archive STORE SOURCE [init]\n');
  process.exit(2);
}
const secret = { kind: 'passphrase', passphrase: 'bench' } as const;
const repo = init === 'init' ? await Repository.init(new LocalBackend(store), secret) : await Repository.open(new LocalBackend(store), secret);
const started = process.hrtime.bigint();
const { tree, stats, nextFileId } = await archiveDirectory(repo, source);
await repo.saveSnapshot({ tree, stats, nextFileId });
await repo.close();
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
const usage = process.resourceUsage();
process.stdout.write(
  `${JSON.stringify({ seconds, cpuSeconds: (usage.userCPUTime + usage.systemCPUTime) / 1e6, maxRssMiB: usage.maxRSS / 1024, addedBytes: stats.addedBytes, bytes: stats.bytes, files: stats.files })}\n`,
);
