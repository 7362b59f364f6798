"""Certificates for the local control plane, made with the openssl command line (Debian's openssl 3).

One CA; one serving certificate (127.0.0.1/localhost) for kube-apiserver, kwok's kubelet port and the LWS webhooks;
an admin client certificate (O=system:masters); the service-account signing key pair.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

SERVING_SANS = ("IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,"
                "DNS:kubernetes.default.svc.cluster.local,IP:10.96.0.1")


def _ssl(*args: str, cwd: Path) -> None:
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {r.stderr.strip()}")


def _cert(d: Path, name: str, subj: str, ext: str) -> None:
    _ssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subj, cwd=d)
    (d / f"{name}.ext").write_text(ext)
    _ssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
         "-days", "3650", "-sha256", "-extfile", f"{name}.ext", "-out", f"{name}.crt", cwd=d)


def ensure(d: Path) -> Path:
    """Create the PKI in `d` unless it is complete already; returns `d`."""
    d.mkdir(parents=True, exist_ok=True)
    want = ["ca.crt", "ca.key", "serving.crt", "serving.key", "admin.crt", "admin.key", "sa.key", "sa.pub"]
    if all((d / f).is_file() for f in want):
        return d
    for f in d.iterdir():
        f.unlink()
    _ssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-sha256",
         "-days", "3650", "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=scenario-runner-local-ca",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature", cwd=d)
    _cert(d, "serving", "/CN=localhost",
          f"subjectAltName={SERVING_SANS}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n")
    _cert(d, "admin", "/O=system:masters/CN=scenario-runner-admin",
          "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n")
    _ssl("genrsa", "-out", "sa.key", "2048", cwd=d)
    _ssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=d)
    for f in d.iterdir():
        f.chmod(0o600)
    return d
