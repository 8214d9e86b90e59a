// The monitoring loop a user would write with the official kurento-client (npm,
// 7.3), run side by side with the exporter by `cargo bench --bench exporter`
// against the same simulator and the same populated server.
//
//   node monitor.mjs URL CYCLES [IN_FLIGHT] [MEDIA_TYPES]
//
// One cycle: ServerManager.getPipelines, getChildren of every pipeline, then
// for every child that is a media element: getStats and isMediaFlowingIn for
// each media type (default AUDIO,VIDEO). At most IN_FLIGHT (default 64)
// requests outstanding. Objects without getStats (a Composite is a Hub, a
// MediaObject) are counted in `skipped`. One warm-up cycle first (it pays
// kurento-client's one `describe` per object; later cycles use its cache).
//
// Output on stdout, one JSON object a line:
//   {"event":"warm", ...cycle fields}      after the warm-up cycle
//   {"event":"cycle", "wall_ms", "cpu_user_us", "cpu_system_us",
//    "requests", "pipelines", "elements", "skipped"}   per measured cycle
//   {"event":"done"}
// CPU is process.cpuUsage() (this whole process) over the cycle.
//
// kurento-jsonrpc remembers every answered request id for `duplicates_timeout`
// (default 20 s) and removes each with a scan of all the ids it holds: at
// 10,000 endpoints (31,000 requests a cycle) the removals of the first cycle's
// ids, due 20 s later, cost minutes of CPU and the loop stalls from its third
// cycle. The script lowers it to 100 ms, what a user would have to do too;
// the comparison then measures the library's steady cost, not that stall.
//
// Getters use the callback form: kurento-client 7.3's promise form swallows
// server errors for getters (see crates/kms-sim/tests/js/acceptance.mjs).

import kurentoClient from 'kurento-client';

const [url, cyclesArg, inFlightArg, mediaArg] = process.argv.slice(2);
if (!url || !cyclesArg) {
  console.error('usage: node monitor.mjs URL CYCLES [IN_FLIGHT] [MEDIA_TYPES]');
  process.exit(2);
}
const CYCLES = Number(cyclesArg);
const IN_FLIGHT = Number(inFlightArg || 64);
const MEDIA = (mediaArg || 'AUDIO,VIDEO').split(',').filter((m) => m);

/** Call `obj.method(...args)` in callback form; reject on a server error. */
function k(obj, method, ...args) {
  return new Promise((resolve, reject) => {
    obj[method](...args, (err, value) => (err ? reject(err) : resolve(value)));
  });
}

/** Run async jobs with at most `limit` of them started and not yet settled. */
function limiter(limit) {
  const queue = [];
  let head = 0;
  let active = 0;
  const next = () => {
    while (active < limit && head < queue.length) {
      const { job, resolve, reject } = queue[head];
      queue[head++] = undefined;
      active++;
      job()
        .then(resolve, reject)
        .finally(() => {
          active--;
          next();
        });
    }
    if (head === queue.length) {
      queue.length = 0;
      head = 0;
    }
  };
  return (job) =>
    new Promise((resolve, reject) => {
      queue.push({ job, resolve, reject });
      next();
    });
}

async function cycle(manager, run) {
  let requests = 0;
  let elements = 0;
  let skipped = 0;
  const call = (obj, method, ...args) =>
    run(() => {
      requests++;
      return k(obj, method, ...args);
    });
  const pipelines = await call(manager, 'getPipelines');
  await Promise.all(
    pipelines.map(async (pipeline) => {
      const children = await call(pipeline, 'getChildren');
      await Promise.all(
        children.map(async (element) => {
          if (typeof element.getStats !== 'function') {
            skipped++;
            return;
          }
          elements++;
          await Promise.all([
            call(element, 'getStats'),
            ...MEDIA.map((m) => call(element, 'isMediaFlowingIn', m)),
          ]);
        }),
      );
    }),
  );
  return { requests, pipelines: pipelines.length, elements, skipped };
}

async function timed(manager, run) {
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  const counts = await cycle(manager, run);
  const wallMs = Number(process.hrtime.bigint() - start) / 1e6;
  const used = process.cpuUsage(cpu);
  return { wall_ms: wallMs, cpu_user_us: used.user, cpu_system_us: used.system, ...counts };
}

const client = await kurentoClient(url, {
  failAfter: 1,
  request_timeout: 60000,
  duplicates_timeout: 100,
});
const manager = await client.getServerManager();
const run = limiter(IN_FLIGHT);
console.log(JSON.stringify({ event: 'warm', ...(await timed(manager, run)) }));
for (let i = 0; i < CYCLES; i++) {
  console.log(JSON.stringify({ event: 'cycle', ...(await timed(manager, run)) }));
}
console.log(JSON.stringify({ event: 'done' }));
client.close();
process.exit(0);
