// Device app of "Get started with device twins (Node.js)".
//
// Connects as the device over MQTT, reports {connectivity: {type: 'cellular'}}
// as a reported property, and exits.
//
// Environment:
//   IOTHUB_DEVICE_CONNECTION_STRING  the device's connection string (required)
//   NODE_EXTRA_CA_CERTS              CA file to trust, e.g. the emulator's certs/ca.pem
'use strict';

const { Client } = require('azure-iot-device');
const { Mqtt: Protocol } = require('azure-iot-device-mqtt');

const connectionString = process.env.IOTHUB_DEVICE_CONNECTION_STRING;

async function main() {
  if (!connectionString) {
    console.error('Set IOTHUB_DEVICE_CONNECTION_STRING to the device\'s connection string.');
    process.exitCode = 2;
    return;
  }
  const client = Client.fromConnectionString(connectionString, Protocol);

  try {
    await client.open();
  } catch (err) {
    console.error('could not open IotHub client: ' + err.message);
    process.exitCode = 1;
    return;
  }
  console.log('client opened');

  try {
    const twin = await client.getTwin();
    const patch = {
      connectivity: {
        type: 'cellular'
      }
    };
    // The reported-properties update takes a callback only.
    await new Promise((resolve, reject) => {
      twin.properties.reported.update(patch, (err) => (err ? reject(err) : resolve()));
    });
    console.log('twin state reported');
  } catch (err) {
    console.error('could not update twin: ' + err.message);
    process.exitCode = 1;
  } finally {
    await client.close();
  }
}

main();
