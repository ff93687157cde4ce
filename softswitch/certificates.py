"""`softswitch cert --self-signed DIR`: a demo certificate and key for SIP over TLS in a lab.

The certificate names localhost, 127.0.0.1, ::1 and whatever `--name` adds (host names or IP
addresses, in subjectAltName, which is what TLS clients check). It is its own CA, so a trunk or
phone that verifies needs it as its trusted CA (`tls.ca_file` on another switch).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CERTIFICATE_FILE = "cert.pem"
KEY_FILE = "key.pem"
DEFAULT_NAMES = ("localhost", "127.0.0.1", "::1")
VALID_DAYS = 825  # the longest lifetime browsers and most TLS stacks accept for a leaf


def self_signed(
    directory: Path, names: Iterable[str] = (), *, defaults: bool = True
) -> tuple[Path, Path]:
    """Write DIR/cert.pem and DIR/key.pem (mode 0600); returns their paths. Without `defaults`
    the certificate names only `names` (a test of hostname checks needs one that does not fit)."""
    all_names = list(dict.fromkeys([*names, *(DEFAULT_NAMES if defaults else ())]))
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, all_names[0])])
    alt_names: list[x509.GeneralName] = []
    for name in all_names:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt_names.append(x509.DNSName(name))
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [x509.oid.ExtendedKeyUsageOID.SERVER_AUTH, x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / CERTIFICATE_FILE, directory / KEY_FILE
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_bytes)
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path
