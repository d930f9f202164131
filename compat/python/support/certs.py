"""Test certificates for X.509 devices, made with the openssl command line
(the pinned requirements carry no crypto package)."""

import shutil
import subprocess
from pathlib import Path


def _openssl(*args):
    exe = shutil.which("openssl")
    if exe is None:
        raise RuntimeError("the X.509 tests need the openssl command line tool")
    subprocess.run([exe, *args], check=True, capture_output=True, timeout=30)


def make_ca(directory, name):
    """A self-signed CA: returns (cert_path, key_path)."""
    d = Path(directory)
    cert, key = d / f"{name}.pem", d / f"{name}.key"
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={name}",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    return cert, key


def make_device_cert(directory, cn, ca=None):
    """A device certificate with subject CN cn, signed by ca (a (cert, key)
    pair from make_ca) or self-signed: returns (cert_path, key_path)."""
    d = Path(directory)
    stem = cn.replace("/", "_")
    cert, key = d / f"{stem}.pem", d / f"{stem}.key"
    if ca is None:
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={cn}")
        return cert, key
    csr = d / f"{stem}.csr"
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={cn}")
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]),
             "-CAcreateserial", "-out", str(cert), "-days", "2")
    return cert, key


def thumbprint(cert, digest="sha1"):
    """The certificate's thumbprint as IoT Hub shows it: upper-case hex."""
    exe = shutil.which("openssl")
    out = subprocess.run([exe, "x509", "-in", str(cert), "-noout", "-fingerprint", f"-{digest}"],
                         check=True, capture_output=True, text=True, timeout=30).stdout
    return out.strip().split("=", 1)[1].replace(":", "").upper()
