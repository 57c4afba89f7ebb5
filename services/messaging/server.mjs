// ESB's SQS/SNS service: fauxqs (SQS and SNS APIs on one port) with every
// queue, message, topic and subscription written through to SQLite under
// MESSAGING_DATA_DIR, so an accepted message survives a restart.
//
// fauxqs' own CLI keeps everything in memory; persistence is only an option
// of its library API, hence this entrypoint.
//
// Environment:
//   MESSAGING_PORT        listen port (default 4566)
//   MESSAGING_DATA_DIR    SQLite directory, a volume (default /data)
//   AWS_REGION            region of ARNs when a request names none (default us-east-1)
//   MESSAGING_LOG         "true" logs every request (default false)
import { mkdirSync } from "node:fs";
import { startFauxqs } from "fauxqs";

const dataDir = process.env.MESSAGING_DATA_DIR || "/data";
mkdirSync(dataDir, { recursive: true });

const server = await startFauxqs({
	port: Number.parseInt(process.env.MESSAGING_PORT || "4566", 10),
	dataDir,
	defaultRegion: process.env.AWS_REGION || "us-east-1",
	logger: process.env.MESSAGING_LOG === "true",
	// No host: queue URLs carry the Host the client called, so a function
	// gets http://messaging:4566/... and the host's CLI its published port.
});
console.log(`messaging: SQS and SNS on :${server.port}, data in ${dataDir}`);

// Close cleanly on stop, so SQLite is not left mid-write.
for (const sig of ["SIGTERM", "SIGINT"]) {
	process.once(sig, async () => {
		await server.stop();
		process.exit(0);
	});
}
