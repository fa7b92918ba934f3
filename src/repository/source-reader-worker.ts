/**
 * The worker side of source-reader.ts: lists folders and seals files (several at a time,
 * while their blobs compress), posting each file's batches in order. It blocks (Atomics.wait) while the main
 * thread holds too many of its batches, so a big file never piles up in memory.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { scanFolder } from './scan-folder.js';
import { type SealedBatch, type SealingKeys, sealFile } from './seal-file.js';
import type { ReaderReply, ReaderRequest, ReaderWorkerData } from './source-reader.js';

const { credit, maxOutstanding } = workerData as ReaderWorkerData;
/** From the first message (the thread may start before the repository is open). */
let keys: SealingKeys | undefined;
const outstanding = new Int32Array(credit);
const port = parentPort!;

function post(reply: ReaderReply, transfer: ArrayBuffer[] = []): void {
  port.postMessage(reply, transfer);
}

function send(reply: ReaderReply & { batch: SealedBatch }): void {
  // Wait for room first: the main thread gives a credit back once it has packed a batch.
  for (;;) {
    const now = Atomics.load(outstanding, 0);
    if (now < maxOutstanding) break;
    Atomics.wait(outstanding, 0, now);
  }
  Atomics.add(outstanding, 0, 1);
  post(reply, [reply.batch.ids.buffer as ArrayBuffer, reply.batch.sealed.buffer as ArrayBuffer]);
}

port.on('message', (request: ReaderRequest) => {
  if ('keys' in request) {
    keys = request.keys;
    return;
  }
  if ('scan' in request) {
    try {
      post({ job: request.job, entries: scanFolder(request.scan, request.known) });
    } catch (e) {
      fail(request.job, e);
    }
    return;
  }
  // Files are sealed side by side (the thread reads one while blobs of others compress on
  // libuv's pool); each file's batches still go out in order.
  sealAndPost(request.job, request.seal, request.stored).catch((e: unknown) => fail(request.job, e));
});

async function sealAndPost(job: number, path: string, stored: readonly string[]): Promise<void> {
  // Each batch is held until the next is ready, so the last one carries the file's size:
  // one message for most files instead of two.
  const batches = sealFile(path, keys!, new Set(stored));
  let held: SealedBatch | undefined;
  for (let step = await batches.next(); ; step = await batches.next()) {
    if (step.done) {
      if (held) send({ job, batch: held, size: step.value });
      else post({ job, size: step.value });
      return;
    }
    if (held) send({ job, batch: held });
    held = step.value;
  }
}

function fail(job: number, e: unknown): void {
  const error = e as NodeJS.ErrnoException;
  post({ job, error: { message: error.message, code: error.code } });
}
