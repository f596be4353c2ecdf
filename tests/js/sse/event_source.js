// An EventSource as browsers implement it (WHATWG HTML "Server-sent events"), without any
// package: reads `text/event-stream`, keeps the last `id:`, and when the stream ends reconnects
// (here to the next of the space-separated SSE_URLS, as a load balancer would) sending `Last-Event-ID`.
// Prints one JSON line per thing it sees: {"open":url}, {"event":{id,data}}, {"comment":true},
// {"status":n,"body":…} (a refused connection ends it, as it ends an EventSource), and exits
// after SSE_EXPECT events.
'use strict';

const urls = process.env.SSE_URLS.split(' ');
const auth = 'Basic ' + Buffer.from(process.env.SSE_USER).toString('base64');
const expect = Number(process.env.SSE_EXPECT);
let lastId = process.env.SSE_LAST_ID || '';
let seen = 0;
let next = 0;

const print = (o) => process.stdout.write(JSON.stringify(o) + '\n');

async function connect(url) {
  const headers = { Accept: 'text/event-stream', Authorization: auth };
  if (lastId) headers['Last-Event-ID'] = lastId;
  const res = await fetch(url, { headers });
  if (res.status !== 200) {
    print({ status: res.status, body: await res.text() });
    process.exit(0);
  }
  print({ open: url });
  const decoder = new TextDecoder();
  let buffer = '';
  let data = [];
  let id = null;
  for await (const chunk of res.body) {
    buffer += decoder.decode(chunk, { stream: true });
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl).replace(/\r$/, '');
      buffer = buffer.slice(nl + 1);
      if (line === '') {
        // Dispatch: an event with data; the id is kept even for one without.
        if (id !== null) lastId = id;
        if (data.length > 0) {
          print({ event: { id: lastId, data: JSON.parse(data.join('\n')) } });
          if (++seen >= expect) process.exit(0);
        }
        data = [];
        id = null;
      } else if (line.startsWith(':')) {
        print({ comment: true });
      } else {
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'data') data.push(value);
        else if (field === 'id') id = value;
      }
    }
  }
}

(async () => {
  for (;;) {
    const url = urls[next % urls.length];
    try {
      await connect(url);
    } catch (e) {
      // A dropped connection is what the reconnect is for.
    }
    next++;
    await new Promise((r) => setTimeout(r, 200));
  }
})();
