// Helpers shared by the scenarios: building clients exactly as reference/ditto-js-client.md §7
// shows, and printing results as one JSON object per line for the Rust test to assert.
'use strict';
const { DittoNodeClient, NodeWebSocketBasicAuth } = require('@eclipse-ditto/ditto-javascript-client-node');

// The client rethrows connection failures inside promises; without this Node 20 exits (§6).
process.on('unhandledRejection', (e) => {
  const msg = e && (e.error || e.code || e.message || e);
  if (msg !== 'Reconnect disabled' && !(e && e.message === 'Reconnect disabled')) {
    emit({ unhandledRejection: String(msg) });
  }
});

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function client(domain, user, pass, live) {
  const b = DittoNodeClient.newWebSocketClient({ ignoreProxyFromEnv: true })
    .withoutTls()
    .withDomain(domain)
    .withAuthProvider(NodeWebSocketBasicAuth.newInstance(user, pass))
    .withBuffer(100);
  return (live ? b.liveChannel() : b.twinChannel()).build();
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

async function waitFor(pred, ms, what) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (pred()) return;
    await sleep(20);
  }
  throw new Error('timed out waiting for ' + what);
}

function env(name) {
  const v = process.env[name];
  if (!v) throw new Error('missing environment variable ' + name);
  return v;
}

module.exports = { client, emit, sleep, waitFor, env };
