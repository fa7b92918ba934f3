/**
 * The worker side of source-reader.ts: lists folders and seals files, one task after
 * another, posting each file's batches in order. It blocks (Atomics.wait) while the main
 * thread holds too many of its batches, so a big file never piles up in memory.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { scanFolder } from './scan-folder.js';
import { type SealedBatch, sealFile } from './seal-file.js';
import type { ReaderReply, ReaderRequest, ReaderWorkerData } from './source-reader.js';

const { keys, credit, maxOutstanding } = workerData as ReaderWorkerData;
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
  const { job } = request;
  try {
    if ('scan' in request) {
      post({ job, entries: scanFolder(request.scan, request.known) });
      return;
    }
    // Each batch is held until the next is ready, so the last one carries the file's size:
    // one message for most files instead of two.
    const batches = sealFile(request.seal, keys, new Set(request.stored));
    let held: SealedBatch | undefined;
    for (let step = batches.next(); ; step = batches.next()) {
      if (step.done) {
        if (held) send({ job, batch: held, size: step.value });
        else post({ job, size: step.value });
        return;
      }
      if (held) send({ job, batch: held });
      held = step.value;
    }
  } catch (e) {
    const error = e as NodeJS.ErrnoException;
    post({ job, error: { message: error.message, code: error.code } });
  }
});
