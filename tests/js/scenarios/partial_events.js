// Issue 7 scenario, with the official client: alice (owner) changes a thing whose policy lets bob
// read only thing:/attributes and carol nothing. bob's requestEvents() gets partial events,
// carol's gets none; bob's getThing returns only the attributes.
'use strict';
const { Thing, Feature } = require('@eclipse-ditto/ditto-javascript-client-node');
const { client, emit, sleep, waitFor, env } = require('./lib');

async function main() {
  const id = env('THING_ID');
  const [ns, name] = id.split(':');
  const alice = client(env('NODE1'), 'alice', 'alice-pw', false);
  const bob = client(env('NODE2'), 'bob', 'bob-pw', false);
  const carol = client(env('NODE2'), 'carol', 'carol-pw', false);
  const got = { bob: [], carol: [] };
  for (const [who, c] of [['bob', bob], ['carol', carol]]) {
    const h = c.getEventsHandle();
    await h.requestEvents();
    h.subscribeToAllEvents((e) => got[who].push(e));
  }
  emit({ step: 'subscribed' });

  // The policy (owner alice, bob reads thing:/attributes) was created by the test beforehand:
  // the WebSocket client has no policies handle.
  const things = alice.getThingsHandle();
  const thing = { thingId: id, policyId: id, attributes: { room: 'lab' }, features: { lamp: { properties: { on: true } } } };
  const r = await things.putThing(Thing.fromObject(thing)).catch((e) => ({ error: e }));
  emit({ step: 'thing', status: r.status, error: r.error && (r.error.error || String(r.error)) });
  await things.putAttribute(id, 'room', 'hall');
  await alice.getFeaturesHandle(id).putFeature(Feature.fromObject({ properties: { on: false } }, 'lamp'));
  await waitFor(() => got.bob.length >= 2, 10000, "bob's two events");
  await sleep(500);
  for (const e of got.bob) emit({ step: 'bob', action: e.action, path: e.path, value: e.value });
  for (const e of got.carol) emit({ step: 'carol', action: e.action, path: e.path, value: e.value });
  const bobView = await bob.getThingsHandle().getThing(id).catch((e) => ({ error: e }));
  emit({ step: 'bobGet', thing: bobView.error ? null : JSON.parse(JSON.stringify(bobView)), error: bobView.error && bobView.error.error });
  const carolView = await carol.getThingsHandle().getThing(id).catch((e) => ({ error: e }));
  emit({ step: 'carolGet', error: carolView.error && carolView.error.error, status: carolView.error && carolView.error.status });
  for (const c of [alice, bob, carol]) c.close();
  setTimeout(() => process.exit(0), 200);
}

main().catch((e) => {
  emit({ error: String(e && (e.message || e.error || e)), detail: e });
  process.exit(1);
});
