import type { Server, Socket } from 'node:net';

/**
 * Tracks `server`'s connections from now on and returns what closes it with them: a server
 * whose clients keep connections alive (a pool, a tunnel) would otherwise not finish closing.
 */
export function closeWithConnections(server: Server): () => Promise<void> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  return () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
}
