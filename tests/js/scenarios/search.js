// Issue 14 scenario: the official client's search handle (HTTP, as the client offers it) against
// node 1 for twins created on node 2: a filtered, sorted search paged with its cursor, a count,
// and the same search as a form POST.
'use strict';
const {
  DittoNodeClient, NodeHttpBasicAuth, DefaultSearchOptions, DefaultCountOptions, Ge, Exists, Thing,
} = require('@eclipse-ditto/ditto-javascript-client-node');
const { emit, env } = require('./lib');

function httpClient(domain) {
  return DittoNodeClient.newHttpClient()
    .withoutTls()
    .withDomain(domain)
    .withAuthProvider(NodeHttpBasicAuth.newInstance('ditto', 'ditto'))
    .build();
}

async function main() {
  const writer = httpClient(env('NODE2'));
  const things = writer.getThingsHandle();
  for (let i = 0; i < 5; i++) {
    await things.putThing(Thing.fromObject({ thingId: `org.js.search:t${i}`, attributes: { n: i } }));
  }
  const search = httpClient(env('NODE1')).getSearchHandle();
  let options = DefaultSearchOptions.getInstance()
    .withFilter(Ge('attributes/n', 1))
    .withSort('-attributes/n')
    .withPageSize(2);
  const ids = [];
  for (;;) {
    const page = await search.search(options);
    ids.push(...page.items.map((t) => t.thingId));
    emit({ step: 'page', count: page.items.length, hasCursor: Boolean(page.cursor) });
    if (!page.cursor) break;
    options = DefaultSearchOptions.getInstance().withCursor(page.cursor);
  }
  emit({ step: 'ids', ids });
  const count = await search.count(DefaultCountOptions.getInstance().withFilter(Exists('attributes/n')));
  emit({ step: 'count', count });
  const posted = await search.postSearch(
    DefaultSearchOptions.getInstance().withFilter(Ge('attributes/n', 4)),
  );
  emit({ step: 'post', ids: posted.items.map((t) => t.thingId) });
  process.exit(0);
}

main().catch((e) => {
  emit({ error: String(e && (e.message || e.error || e)), detail: e });
  process.exit(1);
});
