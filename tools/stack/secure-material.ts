import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { which } from './preflight';
import { CA_FILE, CREDENTIALS_FILE, STACK_HOST, type StackCredentials } from './stack-env';
import { StackError } from './stack-error';

/** Files of <stack dir>/secure/ that the services' configurations name. */
export interface SecureMaterial {
  dir: string;
  caFile: string;
  /** Server certificate for IP 127.0.0.1 and DNS localhost, signed by the CA, and its PKCS#8 key. */
  certFile: string;
  keyFile: string;
  /** Key and certificate in one PEM file: Kafka's `ssl.keystore.type=PEM` keystore. */
  keystoreFile: string;
  credentials: StackCredentials;
}

const DAYS = '30';

function openssl(args: string[], cwd: string): void {
  const result = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (result.error || result.status !== 0) {
    throw new StackError('OPENSSL_FAILED', `openssl ${args[0]} failed: ${result.error?.message ?? result.stderr}`, {
      hint: 'install it with `apt-get install openssl` (or run `bash tools/stack/install-system.sh`)',
    });
  }
}

/**
 * A CA, a server certificate it signed and the users' passwords, made once per stack directory
 * (`down` deletes them with the data; `down --keep-data` keeps both, since Kafka's SCRAM users are
 * written into its storage at format time). Passwords are random and stay in credentials.json (0600):
 * they are never printed.
 */
export function ensureSecureMaterial(
  secureDir: string,
  progress: (line: string) => void,
  { create = true }: { create?: boolean } = {},
): SecureMaterial {
  const material: Omit<SecureMaterial, 'credentials'> = {
    dir: secureDir,
    caFile: path.join(secureDir, CA_FILE),
    certFile: path.join(secureDir, 'server.pem'),
    keyFile: path.join(secureDir, 'server.key'),
    keystoreFile: path.join(secureDir, 'kafka-keystore.pem'),
  };
  const credentialsFile = path.join(secureDir, CREDENTIALS_FILE);
  const complete = [credentialsFile, material.caFile, material.certFile, material.keyFile, material.keystoreFile].every(
    (file) => fs.existsSync(file),
  );
  if (!create && !complete) {
    throw new StackError('SECURE_MATERIAL_MISSING', `no certificates and credentials in ${secureDir}`, {
      hint: 'a stack started before the secured listeners existed: `npm run stack -- down && npm run stack -- up`',
    });
  }
  fs.mkdirSync(secureDir, { recursive: true, mode: 0o700 });
  if (!fs.existsSync(credentialsFile)) {
    const credentials: StackCredentials = {
      kafkaUsername: 'featurelog',
      // hex: no character that a JAAS line, a Redis ACL rule or a SCRAM format argument would need escaped
      kafkaPassword: randomBytes(16).toString('hex'),
      redisUsername: 'featurelog',
      redisPassword: randomBytes(16).toString('hex'),
    };
    fs.writeFileSync(credentialsFile, JSON.stringify(credentials, null, 2) + '\n', { mode: 0o600 });
  }
  const credentials = JSON.parse(fs.readFileSync(credentialsFile, 'utf8')) as StackCredentials;
  if (create && (credentials.postgresUsername === undefined || credentials.postgresPassword === undefined)) {
    // a stack made before PostgreSQL joined it: its other passwords stay as they are
    credentials.postgresUsername = 'featurelog';
    credentials.postgresPassword = randomBytes(16).toString('hex');
    fs.writeFileSync(credentialsFile, JSON.stringify(credentials, null, 2) + '\n', { mode: 0o600 });
  }
  if (![material.caFile, material.certFile, material.keyFile, material.keystoreFile].every((f) => fs.existsSync(f))) {
    if (which('openssl') === undefined) {
      throw new StackError('OPENSSL_MISSING', 'openssl not found on PATH: the secured listeners need a certificate', {
        hint: 'install it with `apt-get install openssl` (or run `bash tools/stack/install-system.sh`)',
      });
    }
    const started = Date.now();
    const caKey = path.join(secureDir, 'ca.key');
    const csr = path.join(secureDir, 'server.csr');
    const extensions = path.join(secureDir, 'server.ext');
    fs.writeFileSync(
      extensions,
      `subjectAltName=IP:${STACK_HOST},DNS:localhost\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n`,
    );
    openssl(
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', caKey, '-out', material.caFile, '-days', DAYS]
        .concat(['-subj', '/CN=featurelog local stack CA', '-addext', 'basicConstraints=critical,CA:TRUE'])
        .concat(['-addext', 'keyUsage=critical,keyCertSign,cRLSign']),
      secureDir,
    );
    openssl(
      ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', material.keyFile, '-out', csr, '-subj', '/CN=localhost'],
      secureDir,
    );
    openssl(
      ['x509', '-req', '-in', csr, '-CA', material.caFile, '-CAkey', caKey, '-CAcreateserial', '-days', DAYS].concat([
        '-out',
        material.certFile,
        '-extfile',
        extensions,
      ]),
      secureDir,
    );
    fs.writeFileSync(
      material.keystoreFile,
      fs.readFileSync(material.keyFile, 'utf8') + fs.readFileSync(material.certFile, 'utf8'),
      { mode: 0o600 },
    );
    for (const file of [caKey, material.keyFile]) fs.chmodSync(file, 0o600);
    fs.rmSync(csr, { force: true });
    progress(
      `made a CA and a server certificate for ${STACK_HOST}/localhost in ${Date.now() - started} ms (${secureDir})`,
    );
  }
  return { ...material, credentials };
}
