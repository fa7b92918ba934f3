/** `cairn snapshot`'s end of the control channel. */
import { connect } from 'node:net';
import { CairnError, type ErrorCode } from '../errors/errors.js';
import type { ControlReply, ControlRequest } from './protocol.js';

export function controlRequest(socketPath: string, request: ControlRequest): Promise<ControlReply & { ok: true }> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    let data = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on('data', (chunk: string) => (data += chunk));
    socket.on('error', (e) => reject(new CairnError('USAGE', `cannot reach the mount's control socket: ${e.message}`, { hint: 'is the folder mounted by cairn, by this user?' })));
    socket.on('end', () => {
      try {
        const reply = JSON.parse(data) as ControlReply;
        if (reply.ok) resolve(reply);
        else reject(new CairnError(reply.code as ErrorCode, reply.message, reply.hint ? { hint: reply.hint } : {}));
      } catch {
        reject(new CairnError('USAGE', 'the mount gave no answer'));
      }
    });
  });
}
