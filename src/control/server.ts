/** The mount's end of the control channel: answers requests with the handler's result. */
import { chmodSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { CairnError } from '../errors/errors.js';
import type { ControlReply, ControlRequest } from './protocol.js';

export type ControlHandler = (request: ControlRequest) => Promise<ControlReply>;

export async function startControlServer(socketPath: string, handle: ControlHandler): Promise<Server> {
  rmSync(socketPath, { force: true }); // a socket file left by a mount that died
  const server = createServer((socket) => {
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('data', (data: string) => {
      buffered += data;
      const end = buffered.indexOf('\n');
      if (end < 0) return;
      const line = buffered.slice(0, end);
      buffered = '';
      let request: ControlRequest;
      try {
        request = JSON.parse(line) as ControlRequest;
      } catch {
        socket.end(`${JSON.stringify({ ok: false, code: 'USAGE', message: 'malformed request' })}\n`);
        return;
      }
      handle(request).then(
        (reply) => socket.end(`${JSON.stringify(reply)}\n`),
        (e: unknown) => {
          const reply: ControlReply = e instanceof CairnError ? { ok: false, code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) } : { ok: false, code: 'UNREACHABLE', message: (e as Error).message };
          socket.end(`${JSON.stringify(reply)}\n`);
        },
      );
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  chmodSync(socketPath, 0o600); // only the user who mounted may ask for snapshots
  server.unref();
  return server;
}
