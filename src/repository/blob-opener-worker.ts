/**
 * The worker side of blob-opener.ts: opens and decodes each box it is sent and sends the
 * plaintext back, moved rather than copied when it owns its whole buffer.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { isCairnError } from '../errors/errors.js';
import { decodeBlob } from '../format/blob-codec.js';
import type { OpenerWorkerData, OpenReply, OpenRequest } from './blob-opener.js';

const { key } = workerData as OpenerWorkerData;
const port = parentPort!;

port.on('message', (request: OpenRequest) => {
  decodeBlob(key, request.form, request.id, request.box, request.what).then(
    (plaintext) => {
      const whole = plaintext.byteOffset === 0 && plaintext.byteLength === plaintext.buffer.byteLength;
      const owned = whole ? plaintext : new Uint8Array(plaintext);
      port.postMessage({ job: request.job, plaintext: owned } satisfies OpenReply, [owned.buffer as ArrayBuffer]);
    },
    (e: unknown) => {
      const error = isCairnError(e) ? { code: e.code, message: e.message, hint: e.hint } : { message: (e as Error).message };
      port.postMessage({ job: request.job, error } satisfies OpenReply);
    },
  );
});
