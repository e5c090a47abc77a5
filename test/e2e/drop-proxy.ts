/**
 * An HTTP proxy for Chromium (`--proxy-server`) that can cut the network for real. Chromium's
 * offline emulation does not close an open WebSocket (it stalls and delivers later), so the test
 * routes the browser through here and `cut()` destroys every connection — the tunnel of the
 * WebSocket included — and refuses new ones for a moment, like a phone losing its signal.
 * Plain requests arrive in absolute form (`GET http://host/path`); WebSockets as CONNECT tunnels.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';

export interface DropProxy {
  /** `http://127.0.0.1:<port>` for `--proxy-server`. */
  url: string;
  /** CONNECT tunnels opened so far (each WebSocket connection is one). */
  readonly tunnels: number;
  /** Destroy every open connection and refuse new ones for `ms`. */
  cut(ms: number): Promise<void>;
  close(): Promise<void>;
}

export async function startDropProxy(): Promise<DropProxy> {
  const sockets = new Set<Socket>();
  let refusingUntil = 0;
  let tunnels = 0;
  const track = (socket: Socket) => {
    // Keep-alive sockets are handed to many requests: track each once.
    if (sockets.has(socket)) return;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const refusing = () => Date.now() < refusingUntil;

  const server: Server = createServer((req, res) => {
    if (refusing()) return void req.socket.destroy();
    let target: URL;
    try {
      target = new URL(req.url ?? '');
    } catch {
      res.writeHead(400).end('absolute URL expected');
      return;
    }
    const upstream = httpRequest(
      { host: target.hostname, port: target.port, method: req.method, path: `${target.pathname}${target.search}`, headers: withoutProxyHeaders(req) },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.rawHeaders);
        answer.pipe(res);
      },
    );
    upstream.on('socket', track);
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.on('connection', (socket: Socket) => {
    if (refusing()) return void socket.destroy();
    track(socket);
  });
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    if (refusing()) return void client.destroy();
    const [host, port] = (req.url ?? '').split(':');
    const upstream = connect(Number(port), host!, () => {
      tunnels++;
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    track(upstream);
    track(client);
    upstream.on('close', () => client.destroy());
    client.on('close', () => upstream.destroy());
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    get tunnels() {
      return tunnels;
    },
    async cut(ms) {
      refusingUntil = Date.now() + ms;
      for (const socket of sockets) socket.destroy();
      await new Promise((r) => setTimeout(r, ms));
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

function withoutProxyHeaders(req: IncomingMessage): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || name === 'proxy-connection' || name === 'proxy-authorization') continue;
    headers[name] = value;
  }
  return headers;
}
