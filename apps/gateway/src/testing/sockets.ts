// Raw TCP sockets for the connection-limit tests of both ports.
import { connect, type Socket } from 'node:net';

export function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** True when the server closes the socket before sending a byte (false once a byte arrives: an HTTP/2 server's SETTINGS, an answer). */
export function closedWithoutAnswer(socket: Socket): Promise<boolean> {
  return new Promise((resolve) => {
    socket.once('data', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
    socket.once('close', () => resolve(true));
  });
}

/** Writes raw bytes to the port and answers everything the server sent until it closed the connection. */
export async function rawExchange(port: number, bytes: string | Buffer): Promise<string> {
  const socket = await openSocket(port);
  return new Promise((resolve, reject) => {
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.once('error', reject);
    socket.once('close', () => resolve(Buffer.concat(received).toString('latin1')));
    socket.write(bytes);
  });
}
