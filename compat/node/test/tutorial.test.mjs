// The "Get started with device twins (Node.js)" apps under examples/node, run
// end to end as a newcomer would run them.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { newRegistry, Scope, SERVICE_CONNECTION_STRING } from '../lib/hub.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const examples = path.resolve(here, '..', '..', '..', 'examples', 'node');
const registry = newRegistry();
const scope = new Scope(registry);
after(() => scope.cleanup());

function runApp(script, env) {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [path.join(examples, script)], {
      cwd: examples,
      env: { ...process.env, ...env }, // NODE_EXTRA_CA_CERTS comes from the runner
      timeout: 60_000,
    }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`${script} failed (${err.code ?? err.signal}):\n${stdout}\n${stderr}`));
      } else {
        resolve(stdout);
      }
    });
  });
}

// The device ids printed after `label: `, in order.
function idsAfter(output, label) {
  const line = output.split('\n').find((l) => l.startsWith(`${label}: `) || l === `${label}:`);
  assert.ok(line !== undefined, `no "${label}:" line in:\n${output}`);
  const list = line.slice(label.length + 1).trim();
  return list ? list.split(',') : [];
}

test('tutorial: tags and queries before and after the device reports', async () => {
  const { device, connectionString } = await scope.createDevice('n-tutorial');
  const service = { IOTHUB_CONNECTION_STRING: SERVICE_CONNECTION_STRING, IOTHUB_DEVICE_ID: device.deviceId };

  let out = await runApp('AddTagsAndQuery.js', service);
  assert.match(out, new RegExp(`^${device.deviceId} twin updated successfully$`, 'm'));
  assert.deepEqual(idsAfter(out, 'Devices in Redmond43'), [device.deviceId]);
  assert.deepEqual(idsAfter(out, 'Devices in Redmond43 using cellular network'), []);

  out = await runApp('ReportConnectivity.js', { IOTHUB_DEVICE_CONNECTION_STRING: connectionString });
  assert.match(out, /^client opened$/m);
  assert.match(out, /^twin state reported$/m);

  out = await runApp('AddTagsAndQuery.js', service);
  assert.deepEqual(idsAfter(out, 'Devices in Redmond43'), [device.deviceId]);
  assert.deepEqual(idsAfter(out, 'Devices in Redmond43 using cellular network'), [device.deviceId]);

  const { responseBody: twin } = await registry.getTwin(device.deviceId);
  assert.deepEqual(twin.tags, { location: { region: 'US', plant: 'Redmond43' } });
  assert.deepEqual(twin.properties.reported.connectivity, { type: 'cellular' });
});
