// Back-end app of "Get started with device twins (Node.js)".
//
// Adds location tags to the device's twin, then runs two queries: devices in
// the Redmond43 plant, and those of them that report a cellular connection.
//
// Environment:
//   IOTHUB_CONNECTION_STRING  service connection string (required)
//   IOTHUB_DEVICE_ID          device to tag (default: myDeviceId)
//   NODE_EXTRA_CA_CERTS       CA file to trust, e.g. the emulator's certs/ca.pem
'use strict';

const { Registry } = require('azure-iothub');

const connectionString = process.env.IOTHUB_CONNECTION_STRING;
const deviceId = process.env.IOTHUB_DEVICE_ID || 'myDeviceId';

// Every twin a query returns, following continuation tokens page by page.
async function queryDeviceIds(registry, sql) {
  const query = registry.createQuery(sql, 100);
  const ids = [];
  do {
    const { result } = await query.nextAsTwin();
    ids.push(...result.map((twin) => twin.deviceId));
  } while (query.hasMoreResults);
  return ids;
}

async function queryTwins(registry) {
  const inPlant = await queryDeviceIds(registry,
    "SELECT * FROM devices WHERE tags.location.plant = 'Redmond43'");
  console.log('Devices in Redmond43: ' + inPlant.join(','));

  const cellular = await queryDeviceIds(registry,
    "SELECT * FROM devices WHERE tags.location.plant = 'Redmond43' AND properties.reported.connectivity.type = 'cellular'");
  console.log('Devices in Redmond43 using cellular network: ' + cellular.join(','));
}

async function main() {
  if (!connectionString) {
    console.error('Set IOTHUB_CONNECTION_STRING to the hub\'s service connection string.');
    process.exitCode = 2;
    return;
  }
  const registry = Registry.fromConnectionString(connectionString);

  let twin;
  try {
    ({ responseBody: twin } = await registry.getTwin(deviceId));
  } catch (err) {
    console.error(err.constructor.name + ': ' + err.message);
    process.exitCode = 1;
    return;
  }

  const patch = {
    tags: {
      location: {
        region: 'US',
        plant: 'Redmond43'
      }
    }
  };
  try {
    // Twin.update sends the etag the twin was read with.
    await twin.update(patch);
  } catch (err) {
    console.error('Could not update twin: ' + err.constructor.name + ': ' + err.message);
    process.exitCode = 1;
    return;
  }
  console.log(twin.deviceId + ' twin updated successfully');

  try {
    await queryTwins(registry);
  } catch (err) {
    console.error('Failed to fetch the results: ' + err.message);
    process.exitCode = 1;
  }
}

main();
