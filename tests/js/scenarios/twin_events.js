// Issue 2 scenario: a twin client on node 1 creates a thing and puts an attribute, while a twin
// client on node 2 that called requestEvents() receives both events.
'use strict';
const { Thing } = require('@eclipse-ditto/ditto-javascript-client-node');
const { client, emit, waitFor, env } = require('./lib');

async function main() {
  const id = env('THING_ID');
  const writer = client(env('NODE1'), 'ditto', 'ditto', false);
  const reader = client(env('NODE2'), 'ditto', 'ditto', false);
  const events = [];
  const handle = reader.getEventsHandle();
  await handle.requestEvents();
  emit({ step: 'requestEvents' });
  handle.subscribeToThing(id, (e) => events.push(e));

  const created = await writer.getThingsHandle().createThing(new Thing(id, undefined, { location: 'lab' }));
  emit({ step: 'created', status: created.status, thingId: created.body && created.body.thingId, attributes: created.body && created.body.attributes });
  const put = await writer.getThingsHandle().putAttribute(id, 'temperature', 21.5);
  emit({ step: 'putAttribute', status: put.status });
  const got = await writer.getThingsHandle().getThing(id);
  emit({ step: 'getThing', thingId: got.thingId, attributes: got.attributes });

  await waitFor(() => events.length >= 2, 10000, 'two events on node 2');
  for (const e of events) {
    emit({ step: 'event', action: e.action, path: e.path, value: e.value, topic: e.topic });
  }
  writer.close();
  reader.close();
  setTimeout(() => process.exit(0), 200);
}

main().catch((e) => {
  emit({ error: String(e && (e.message || e.error || e)), detail: e });
  process.exit(1);
});
