// The PEM files a configuration names, read as the listeners would read them: a wrong file is named at its field
// before Apply, not met as an OpenSSL error ("PEM routines::no start line") when the relay starts.
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ConfigProblem } from './load.ts';

type Read<T> = { value: T } | { problem: string };

function readFile(file: string): Read<Buffer> {
  try {
    return { value: readFileSync(file) };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { problem: `${file} does not exist` };
    if (code === 'EISDIR') return { problem: `${file} is a folder, not a file` };
    if (code === 'EACCES' || code === 'EPERM') return { problem: `${file} cannot be read by Moat (permission denied)` };
    return { problem: `${file} cannot be read (${code ?? (error as Error).message})` };
  }
}

function readCertificate(file: string): Read<X509Certificate> {
  const bytes = readFile(file);
  if ('problem' in bytes) return bytes;
  try {
    return { value: new X509Certificate(bytes.value) };
  } catch {
    return { problem: `${file} holds no certificate: a PEM file starts with "-----BEGIN CERTIFICATE-----"` };
  }
}

function readKey(file: string): Read<KeyObject> {
  const bytes = readFile(file);
  if ('problem' in bytes) return bytes;
  try {
    return { value: createPrivateKey(bytes.value) };
  } catch {
    return { problem: `${file} holds no private key Moat can use: a PEM file starts with "-----BEGIN PRIVATE KEY-----" (or RSA/EC PRIVATE KEY), and a key protected by a passphrase cannot be used` };
  }
}

/** A certificate and its key, each at its own key path; the key must be the certificate's. */
export function pemPairProblems(cert: { path: string; file: string }, key: { path: string; file: string }): ConfigProblem[] {
  const certificate = readCertificate(cert.file);
  const privateKey = readKey(key.file);
  const problems: ConfigProblem[] = [];
  if ('problem' in certificate) problems.push({ path: cert.path, message: certificate.problem });
  if ('problem' in privateKey) problems.push({ path: key.path, message: privateKey.problem });
  if ('value' in certificate && 'value' in privateKey && !certificate.value.checkPrivateKey(privateKey.value)) {
    problems.push({ path: key.path, message: `the key in ${key.file} does not belong to the certificate in ${cert.file}` });
  }
  return problems;
}

/** A file of CA certificates (the first one read stands for the file). */
export function pemCertificatesProblem(path: string, file: string): ConfigProblem[] {
  const certificate = readCertificate(file);
  return 'problem' in certificate ? [{ path, message: certificate.problem }] : [];
}
