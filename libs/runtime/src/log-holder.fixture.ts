/**
 * Test fixture: a process that holds an embedded log directory until killed, as a running featurelog
 * process would. `node -r @swc-node/register log-holder.fixture.ts <directory>`; prints `holding`.
 */
import { FileEventLog } from '@featurelog/log';

void FileEventLog.open({ directory: process.argv[2]! }).then(() => {
  process.stdout.write('holding\n');
  setInterval(() => undefined, 60_000);
});
