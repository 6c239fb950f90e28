// A real Bluesky PDS (@atproto/pds) and its PLC directory (@did-plc/server, in memory), offline,
// for the test suite. The same pair @atproto/dev-env's TestNetworkNoAppView runs, minus dev-env.
//
// Usage: node tests/peers/pds/launch.mjs <pdsPort> <plcPort> <dataDir>
//   -> prints "PDS_READY pds=http://localhost:<pdsPort> plc=http://localhost:<plcPort>"
// Both servers listen on 127.0.0.1 only. Handles are *.test; no invites, no AppView, no relay.
// Exits on SIGTERM/SIGINT at once, and on stdin EOF when PDS_EXIT_ON_STDIN_EOF=1 (the test run
// that started it died without stopping it).
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';

// Both libraries call app.listen(port) without a host, which means every interface. Give any
// such call the loopback address; calls that name a host or a socket path are left alone.
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' && typeof args[1] !== 'string') {
    args.splice(1, 0, '127.0.0.1');
  } else if (args[0] && typeof args[0] === 'object' && args[0].host === undefined && args[0].path === undefined) {
    args[0] = { ...args[0], host: '127.0.0.1' };
  }
  return listen.apply(this, args);
};

const [pdsPort, plcPort] = [Number(process.argv[2]), Number(process.argv[3])];
const dataDir = process.argv[4];
if (!pdsPort || !plcPort || !dataDir) {
  console.error('usage: node launch.mjs <pdsPort> <plcPort> <dataDir>');
  process.exit(2);
}

const exit = () => process.exit(0); // throwaway data: no graceful close (keep-alive would stall it 90 s)
process.on('SIGTERM', exit);
process.on('SIGINT', exit);
if (process.env.PDS_EXIT_ON_STDIN_EOF === '1') {
  process.stdin.on('end', exit).on('close', exit).resume();
}

// Imported after the listen patch so nothing can bind before it. 0.4.x of the PDS is CommonJS.
const plc = await import('@did-plc/server');
const { PDS, envToCfg, envToSecrets } = await import('@atproto/pds');
const { Secp256k1Keypair } = await import('@atproto/crypto');

const plcServer = plc.PlcServer.create({ db: plc.Database.mock(), port: plcPort });
await plcServer.start();
// A hostname, not 127.0.0.1: the PDS's fetcher refuses IP-literal hosts when it resolves DIDs.
const plcUrl = `http://localhost:${plcPort}`;

const hex = async (keypair) => Buffer.from(await keypair.export()).toString('hex');
const rotationKey = await Secp256k1Keypair.create({ exportable: true });
const recoveryKey = await Secp256k1Keypair.create();
await fs.mkdir(path.join(dataDir, 'data'), { recursive: true });

const env = {
  devMode: true, // http:// public URL, relaxed checks
  port: pdsPort,
  hostname: 'localhost', // public URL (and DID documents' serviceEndpoint) http://localhost:<port>
  dataDirectory: path.join(dataDir, 'data'),
  blobstoreDiskLocation: path.join(dataDir, 'blobs'),
  didPlcUrl: plcUrl,
  recoveryDidKey: recoveryKey.did(),
  plcRotationKeyK256PrivateKeyHex: await hex(rotationKey),
  jwtSecret: 'linkarooie-test-jwt-secret',
  adminPassword: 'linkarooie-test-admin',
  serviceHandleDomains: ['.test'],
  inviteRequired: false,
  disableSsrfProtection: true,
  crawlers: [], // no relay to notify
  // no bskyAppViewUrl / modServiceUrl: nothing is proxied off this machine
};
const pds = await PDS.create(envToCfg(env), envToSecrets(env));
await pds.start();
console.log(`PDS_READY pds=http://localhost:${pdsPort} plc=${plcUrl}`);
