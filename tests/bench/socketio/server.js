// The Socket.IO peer of `make bench`: one of two Node processes sharing the bench's Redis through
// @socket.io/redis-streams-adapter. A writer's `modify` is broadcast as `event` to every other
// socket on every process, the same shape as a twin change fanned out to all subscribers.
'use strict';
const { createServer } = require('http');
const { Server } = require('socket.io');
const { createClient } = require('redis');
const { createAdapter } = require('@socket.io/redis-streams-adapter');

async function main() {
  const port = Number(process.env.PORT);
  const redis = createClient({ url: process.env.REDIS_URL });
  await redis.connect();
  const io = new Server({
    adapter: createAdapter(redis),
    serveClient: false,
    perMessageDeflate: false,
    transports: ['websocket'],
  });
  io.on('connection', (socket) => {
    socket.on('modify', (data) => socket.broadcast.emit('event', data));
  });
  // Loopback only, like the other targets (and no clash with the bench's client ports elsewhere).
  const http = createServer();
  io.attach(http);
  http.listen(port, '127.0.0.1', () => console.log(`socket.io listening on ${port}`));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
