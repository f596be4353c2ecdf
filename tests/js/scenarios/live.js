// Issue 3 scenario: a live-channel client on node 1 sends messageToThing and a live getThing; a
// device on node 2 (a plain WebSocket driven by the Rust test) answers both.
'use strict';
const { client, emit, env } = require('./lib');

async function main() {
  const id = env('THING_ID');
  const live = client(env('NODE1'), 'alice', 'alice-pw', true);
  const reply = await live.getMessagesHandle().messageToThing(id, 'ask', { q: 'hello' }, 'application/json');
  emit({ step: 'message', status: reply.status, body: reply.body });
  const thing = await live.getThingsHandle().getThing(id);
  emit({ step: 'liveGet', thingId: thing.thingId, attributes: thing.attributes });
  live.close();
  setTimeout(() => process.exit(0), 200);
}

main().catch((e) => {
  emit({ error: String(e && (e.message || e.error || e)), detail: e });
  process.exit(1);
});
