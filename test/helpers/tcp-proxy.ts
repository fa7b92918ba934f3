/**
 * A slow or breaking network link for tests: a TCP proxy on a free loopback port in front of
 * a real server, adding latency and a bandwidth cap in each direction, and able to cut every
 * connection at once (a link that drops, while the server itself stays up).
 */
import * as net from 'node:net';

export interface LinkShape {
  /** One-way delay added to every piece of data. */
  latencyMs: number;
  /** Bytes per second in each direction (0: unlimited). */
  bytesPerSecond: number;
}

export interface TcpProxy {
  readonly port: number;
  shape: LinkShape;
  /** Bytes carried so far from client to server. */
  readonly bytesUp: () => number;
  /** Cuts every open connection (RST); new connections are accepted again at once. */
  drop(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, shape: LinkShape): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let up = 0;
  const proxy: { shape: LinkShape } = { shape };

  /**
   * Forwards `from` to `to`: each piece takes its time on the link (bandwidth; reading pauses
   * meanwhile, so the sender feels it as TCP back-pressure) and arrives `latencyMs` after that,
   * in order. Latency does not limit throughput, as on a real link.
   */
  const pipe = (from: net.Socket, to: net.Socket, count: (n: number) => void) => {
    let free = Date.now(); // when the link has sent everything so far
    from.on('data', (piece: Buffer) => {
      const { latencyMs, bytesPerSecond } = proxy.shape;
      const now = Date.now();
      const sent = Math.max(now, free) + (bytesPerSecond > 0 ? (piece.length / bytesPerSecond) * 1000 : 0);
      free = sent;
      setTimeout(() => {
        if (!to.destroyed) to.write(piece);
        count(piece.length);
      }, sent + latencyMs - now);
      if (sent > now) {
        from.pause();
        setTimeout(() => from.resume(), sent - now);
      }
    });
    from.on('end', () => setTimeout(() => to.end(), Math.max(0, free - Date.now()) + proxy.shape.latencyMs));
  };

  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      s.setNoDelay(true); // the link's own pacing only: no Nagle delays on top
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    pipe(client, upstream, (n) => (up += n));
    pipe(upstream, client, () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    get shape() {
      return proxy.shape;
    },
    set shape(s: LinkShape) {
      proxy.shape = s;
    },
    bytesUp: () => up,
    drop() {
      for (const s of sockets) s.resetAndDestroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
