// Runs the Node compatibility suite against one emulator.
//
// NODE_EXTRA_CA_CERTS is read only when a Node process starts, and the
// emulator writes its CA on first start, so this runner starts the emulator
// first and then runs `node --test` in a child process that trusts that CA.
// It stops the emulator with SIGTERM at the end and counts a clean exit
// (status 0) as one more check. Anything that keeps the emulator from
// starting fails the run; nothing is skipped.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { makeCA } from './lib/certs.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..');
const binary = process.env.COMPAT_EMULATOR_BIN || path.join(repoRoot, 'bin', 'iothub-emulator');

const BIND = '127.0.0.1';
const MQTTS_PORT = 8883;
const HTTPS_PORT = 443;
const AMQPS_PORT = 5671;
const AMQP_PORT = 5672;
// A consumer group besides $Default (test/eventhubs.test.mjs reads it from
// COMPAT_EXTRA_CONSUMER_GROUP).
const EXTRA_CONSUMER_GROUP = 'compat-extra';
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function cleanEnv() {
  // IOTHUB_EMULATOR_* would be read as flags by the emulator.
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('IOTHUB_EMULATOR_')));
}

function ensurePortFree(port) {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', (err) => reject(new Error(`port ${BIND}:${port} is not available: ${err.message}`)));
    srv.listen({ host: BIND, port, exclusive: true }, () => srv.close(resolve));
  });
}

function healthz(caPath) {
  return new Promise((resolve, reject) => {
    // Our own fresh CA also proves the process on 443 is the one we started.
    const req = https.get({
      host: 'localhost', port: HTTPS_PORT, path: '/healthz', ca: fs.readFileSync(caPath), timeout: 2000,
    }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('timeout', () => req.destroy(new Error('healthz timed out')));
    req.on('error', reject);
  });
}

function logTail(logPath, lines = 40) {
  try {
    return fs.readFileSync(logPath, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

async function startEmulator(dataDir, logPath, x509CA) {
  try {
    fs.accessSync(binary, fs.constants.X_OK);
  } catch {
    throw new Error(`emulator binary ${binary} is missing; run \`make build\``);
  }
  for (const port of [MQTTS_PORT, HTTPS_PORT, AMQPS_PORT, AMQP_PORT]) await ensurePortFree(port);
  const log = fs.openSync(logPath, 'w');
  const proc = spawn(binary, [
    'serve', '--bind', BIND,
    '--mqtts-port', String(MQTTS_PORT), '--https-port', String(HTTPS_PORT),
    '--amqps-port', String(AMQPS_PORT), '--amqp-port', String(AMQP_PORT),
    '--consumer-groups', EXTRA_CONSUMER_GROUP,
    '--mqtt-port', 'off', '--http-port', '0',
    '--data-dir', dataDir,
    // debug logs every request, publish and queue step, for a failure's post-mortem.
    '--log-level', process.env.COMPAT_EMULATOR_LOG_LEVEL || 'info',
    // The CA certificateAuthority devices of the X.509 tests chain to.
    '--x509-ca', x509CA,
  ], { stdio: ['ignore', log, log], env: cleanEnv() });
  fs.closeSync(log);
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  proc.exited = exited;
  let status = null;
  exited.then((s) => { status = s; });

  const caPath = path.join(dataDir, 'certs', 'ca.pem');
  const deadline = Date.now() + START_TIMEOUT_MS;
  let lastErr = null;
  while (Date.now() < deadline) {
    if (status) {
      throw new Error(`emulator exited (${JSON.stringify(status)}) during start-up:\n${logTail(logPath)}`);
    }
    if (fs.existsSync(caPath)) {
      try {
        if (await healthz(caPath) === 200) return { proc, caPath };
      } catch (err) {
        lastErr = err;
      }
    }
    await sleep(200);
  }
  proc.kill('SIGKILL');
  throw new Error(`emulator not healthy within ${START_TIMEOUT_MS / 1000}s (last error: ${lastErr && lastErr.message}):\n${logTail(logPath)}`);
}

async function stopEmulator(proc) {
  if (proc.exitCode !== null || proc.signalCode !== null) {
    return { code: proc.exitCode, signal: proc.signalCode };
  }
  proc.kill('SIGTERM');
  const timeout = sleep(STOP_TIMEOUT_MS).then(() => null);
  const status = await Promise.race([proc.exited, timeout]);
  if (status === null) {
    // A Go program dumps every goroutine's stack on SIGQUIT: keep that in
    // the log to show where it is stuck.
    proc.kill('SIGQUIT');
    if (await Promise.race([proc.exited, sleep(5_000).then(() => null)]) === null) proc.kill('SIGKILL');
    await proc.exited;
    return { code: null, signal: `none: it did not stop within ${STOP_TIMEOUT_MS / 1000}s` };
  }
  return status;
}

function runTests(env, tapPath) {
  const testDir = path.join(here, 'test');
  // COMPAT_NODE_ONLY (comma-separated file names or name prefixes) runs only those files, for a quick local check.
  const only = (process.env.COMPAT_NODE_ONLY || '').split(',').filter(Boolean);
  const files = fs.readdirSync(testDir).filter((f) => f.endsWith('.test.mjs'))
    .filter((f) => only.length === 0 || only.some((p) => f.startsWith(p))).sort().map((f) => path.join(testDir, f));
  const args = [
    '--test', '--test-force-exit', '--test-timeout=120000',
    '--test-reporter=spec', '--test-reporter-destination=stdout',
    '--test-reporter=tap', `--test-reporter-destination=${tapPath}`,
    ...files,
  ];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: 'inherit', env, cwd: here });
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

// Top-level results from the TAP file ("ok N" / "not ok N" at column 0; the
// summary comments may be missing when --test-force-exit ends the run).
function tapCounts(tapPath) {
  let text = '';
  try {
    text = fs.readFileSync(tapPath, 'utf8');
  } catch {
    return { pass: 0, fail: 0 };
  }
  const count = (re) => (text.match(re) || []).length;
  return { pass: count(/^ok \d+/gm), fail: count(/^not ok \d+/gm) };
}

async function main() {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'iothub-compat-node-'));
  const dataDir = path.join(base, 'data');
  const logPath = path.join(base, 'emulator.log');
  const tapPath = path.join(base, 'results.tap');

  let emulator;
  let x509CA;
  try {
    x509CA = makeCA(base, 'compat-test-root');
    emulator = await startEmulator(dataDir, logPath, x509CA.cert);
  } catch (err) {
    console.error(`compat-node: ${err.message}`);
    console.log('compat-node: 0 passed, 1 failed');
    return 1;
  }
  const stopOnSignal = () => { emulator.proc.kill('SIGTERM'); };
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);

  const env = {
    ...process.env,
    NODE_EXTRA_CA_CERTS: emulator.caPath,
    COMPAT_CA_CERT: emulator.caPath,
    COMPAT_EMULATOR_BIN: binary,
    COMPAT_EMULATOR_LOG: logPath,
    COMPAT_X509_CA_CERT: x509CA.cert,
    COMPAT_X509_CA_KEY: x509CA.key,
    COMPAT_EXTRA_CONSUMER_GROUP: EXTRA_CONSUMER_GROUP,
  };
  const testStatus = await runTests(env, tapPath);

  const stopped = await stopEmulator(emulator.proc);
  const cleanStop = stopped.code === 0;
  if (cleanStop) {
    console.log('✔ emulator exits with status 0 on SIGTERM');
  } else {
    console.log(`✖ emulator exits with status 0 on SIGTERM (got ${JSON.stringify(stopped)})\n${logTail(logPath)}`);
  }
  if (testStatus !== 0) {
    console.log(`emulator log: ${logPath}`);
  }
  const { pass, fail } = tapCounts(tapPath);
  // A run in which no test ran (a reporter that wrote nothing, every file
  // failing to load) is a failure, never an empty pass.
  const noneRan = pass + fail === 0;
  if (noneRan) console.log('✖ no Node compatibility test ran');
  const failed = fail + (cleanStop ? 0 : 1) + (testStatus !== 0 && fail === 0 ? 1 : 0) + (noneRan ? 1 : 0);
  console.log(`compat-node: ${pass + (cleanStop ? 1 : 0)} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

process.exitCode = await main();
